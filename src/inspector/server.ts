import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import { isLoopback, type InspectorSettings } from '../config/inspector-settings.js';
import { ConfigError } from '../kernel/errors.js';
import { diagramSvg, machineSvg } from '../graph/index.js';
import { isAllowedHost, isAllowedOrigin, isSameOrigin, localHostNames, loggedPath, tokenIndex } from './auth.js';
import { isJournalAction, isJournalPath, serveJournal, type JournalRoutes } from './journal-api.js';
import type { WorkflowRunView } from './workflow-calls.js';
import type { Inspection, InspectionEvents } from './inspection.js';
import type { RuntimeMetrics } from './metrics.js';
import { inspectorPage, inspectorPageCsp } from './page.js';
import { startStatelyRelay, type StatelyRelay } from './stately.js';

/** Options of `startInspectorServer`. */
export interface InspectorServerOptions {
  settings: Pick<InspectorSettings, 'port' | 'interface' | 'token' | 'stately'> & { tokens?: InspectorSettings['tokens'] | undefined };
  inspection: Inspection;
  metrics: RuntimeMetrics;
  /** Why the runtime is not ready (an empty list when it is): `GET /readyz`. */
  readiness(): string[];
  log?: Logger | undefined;
  /** Comment lines on every SSE stream this often. @default 15000 */
  heartbeatMs?: number;
  /** The event journal: `/api/events` and its actions, and `journal` SSE events. */
  journal?: JournalRoutes | undefined;
  /** A workflow run with its activity calls (`GET /api/workflows/<run id>`), or undefined for an unknown run; only with workflows. */
  workflowRun?: ((runId: string) => Promise<WorkflowRunView | undefined>) | undefined;
}

/** A running inspector. */
export interface InspectorServer {
  /** `http://<interface>:<port>/`, never with the token. */
  url: string;
  port: number;
  /** Stately's relay, with `stately = yes`. */
  stately: StatelyRelay | undefined;
  /** Feeds Stately's relay too (when on): the observer the runtime's actors get. */
  observer: (event: InspectionEvent) => void;
  /** The same for the runs of workers that are actor logic (the inspection's runObserver). */
  runObserver: (event: InspectionEvent) => void;
  /** Ends every SSE stream and connection, and stops listening. Idempotent. */
  close(): Promise<void>;
}

const json = (response: ServerResponse, status: number, body: unknown) =>
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));

/**
 * Serves the inspector: the page (`/`), `/api/state`, `/api/machines/<name>.svg`,
 * `/events` (Server-Sent Events: `actor`, `transition`, `removed`, and with a
 * journal `journal`), the journal's `/api/events` routes, `/metrics`,
 * `/healthz` and `/readyz`. Binds `settings.interface` (127.0.0.1 by default);
 * with a token, every request needs `Authorization: Bearer <token>` or
 * `?token=<token>`, else 401. Refuses a non-loopback interface without a token.
 * Without a token, or on a loopback interface, a request whose `Host` is not
 * a loopback name or the bound address (with this port, or none) gets 421:
 * a DNS-rebinding page cannot read it. Errors are logged with the path only.
 * @example
 * const server = await startInspectorServer({ settings, inspection, metrics, readiness: () => [] });
 * console.log(server.url);
 */
export async function startInspectorServer(options: InspectorServerOptions): Promise<InspectorServer> {
  const { settings, inspection, metrics, log } = options;
  // Who asked, by token: `token` is "the inspector token", each of `tokens` its name.
  const holders = [
    ...(settings.token !== undefined ? [{ name: 'the inspector token', secret: settings.token }] : []),
    ...(settings.tokens ?? []),
  ];
  const secrets = holders.map((holder) => holder.secret);
  const guarded = secrets.length > 0;
  if (!guarded && !isLoopback(settings.interface)) {
    throw new ConfigError(
      { section: 'Inspector', key: 'token' },
      `is required when interface is not a loopback address (found interface = ${settings.interface})`,
    );
  }
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const streams = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const openStream = (request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write('retry: 2000\n: connected\n\n');
    const send =
      <K extends keyof InspectionEvents>(type: K) =>
      (data: InspectionEvents[K]) =>
        response.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    const offs = [
      inspection.on('actor', send('actor')),
      inspection.on('transition', send('transition')),
      inspection.on('removed', send('removed')),
    ];
    if (options.journal)
      offs.push(options.journal.journal.onChange((events) => response.write(`event: journal\ndata: ${JSON.stringify(events)}\n\n`)));
    const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), heartbeatMs);
    heartbeat.unref();
    streams.add(response);
    const end = () => {
      clearInterval(heartbeat);
      offs.forEach((off) => off());
      streams.delete(response);
    };
    request.on('close', end);
    response.on('close', end);
  };

  // Without a token (and on any loopback bind), a page that rebinds its own
  // name to 127.0.0.1 could read everything: only this server's names pass.
  const checkHost = !guarded || isLoopback(settings.interface);
  let names = localHostNames(settings.interface);
  let boundPort = settings.port;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    if (checkHost && !isAllowedHost(request.headers.host, names, boundPort)) {
      return json(response, 421, {
        error: `misdirected request: Host ${JSON.stringify(request.headers.host ?? '')} is not this inspector; expected one of ${[...names].join(', ')}, with port ${boundPort} or none`,
      });
    }
    const holder = guarded ? tokenIndex(request, secrets) : -1;
    if (guarded && holder < 0) {
      response.setHeader('www-authenticate', 'Bearer realm="flowd inspector"');
      return json(response, 401, {
        error: 'unauthorized: this inspector needs its token (Authorization: Bearer <token> or ?token=<token>)',
      });
    }
    const path = new URL(request.url ?? '/', 'http://inspector').pathname;
    const journal = options.journal;
    if (journal && isJournalAction(request.method, path)) {
      // A form on any website can POST to a loopback port: an action from a browser must come from this inspector's page.
      // With a token (the way to serve it past loopback), the page may be reached by any name: its Origin is then the Host it asked.
      if (
        !isAllowedOrigin(request.headers.origin, names, [boundPort]) &&
        !(guarded && isSameOrigin(request.headers.origin, request.headers.host))
      )
        return json(response, 403, { error: `forbidden: an action from Origin ${request.headers.origin} is not this inspector's page` });
      const by = guarded ? holders[holder]!.name : `no token (${request.socket.remoteAddress ?? 'unknown address'})`;
      return serveJournal(request, response, journal, by);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('allow', 'GET, HEAD');
      return json(response, 405, { error: `method ${request.method} is not allowed; expected GET` });
    }
    if (path === '/' || path === '/index.html') {
      return response
        .writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': inspectorPageCsp,
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
        })
        .end(inspectorPage());
    }
    if (path === '/api/state') return json(response, 200, inspection.state());
    if (journal && isJournalPath(path)) return serveJournal(request, response, journal, '');
    const workflowRun = /^\/api\/workflows\/([^/]+)$/.exec(path);
    if (workflowRun && options.workflowRun) {
      let runId: string;
      try {
        runId = decodeURIComponent(workflowRun[1]!);
      } catch {
        return json(response, 400, { error: `run id ${JSON.stringify(workflowRun[1])} is not valid %-encoding`, code: 'ERR_BAD_REQUEST' });
      }
      const view = await options.workflowRun(runId);
      return view
        ? json(response, 200, view)
        : json(response, 404, { error: `no workflow run ${JSON.stringify(runId)}`, code: 'ERR_WORKFLOW' });
    }
    if (path === '/events') return openStream(request, response);
    if (path === '/metrics') {
      const text = await metrics.text();
      return response.writeHead(200, { 'content-type': metrics.contentType }).end(text);
    }
    if (path === '/healthz') return json(response, 200, { status: 'ok' });
    if (path === '/readyz') {
      const reasons = options.readiness();
      return reasons.length === 0 ? json(response, 200, { status: 'ready' }) : json(response, 503, { status: 'not ready', reasons });
    }
    const svg = /^\/api\/machines\/([^/]+)\.svg$/.exec(path);
    if (svg) {
      // The page encodes the machine's id; a name is only ever looked up, never used as a path.
      let name: string;
      try {
        name = decodeURIComponent(svg[1]!);
      } catch {
        return json(response, 404, { error: `no machine named ${JSON.stringify(svg[1])}: not a valid %-encoded name` });
      }
      let text: string;
      try {
        text = await machineSvg(name);
      } catch (error) {
        // Not one of flowd's: a machine the runtime runs (a worker that is a machine) has its diagram drawn too.
        const own = inspection.machine(name);
        if (!own) return json(response, 404, { error: `${(error as Error).message}, or a machine that is running` });
        text = await diagramSvg(own);
      }
      return response.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=3600' }).end(text);
    }
    return json(response, 404, {
      error: `no such page: ${path}; expected /, /api/state, ${journal ? '/api/events, /api/events/<id>, ' : ''}/api/machines/<machine>.svg, /events, /metrics, /healthz or /readyz`,
    });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      log?.error({ err: error }, `inspector: ${loggedPath(request.url)}: ${(error as Error)?.message}`);
      if (!response.headersSent) json(response, 500, { error: (error as Error)?.message ?? String(error) });
      else response.end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.interface, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The address actually bound (localhost resolves to 127.0.0.1 or ::1).
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  names = localHostNames(settings.interface, address);
  boundPort = port;

  let stately: StatelyRelay | undefined;
  if (settings.stately) {
    try {
      stately = await startStatelyRelay({
        host: settings.interface,
        port: settings.port === 0 ? 0 : port + 1,
        tokens: secrets,
        inspectorPort: port,
      });
    } catch (error) {
      server.close();
      throw error;
    }
  }
  const relay = stately;
  const withRelay = (own: (event: InspectionEvent) => void) =>
    relay
      ? (event: InspectionEvent) => {
          own(event);
          relay.observer(event);
        }
      : own;
  const observer = withRelay(inspection.observer);
  const runObserver = withRelay(inspection.runObserver);

  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/`,
    port,
    stately,
    observer,
    runObserver,
    close: () =>
      (closed ??= (async () => {
        inspection.close();
        for (const stream of streams) stream.end();
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await Promise.all([stopped, relay?.close()]);
      })()),
  };
}
