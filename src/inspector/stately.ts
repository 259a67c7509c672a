import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInspector } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { isLoopback } from '../config/inspector-settings.js';
import { isAllowedHost, isAllowedOrigin, isAuthorized, localHostNames } from './auth.js';
import { sanitize } from './summaries.js';

/** Stately's inspector relay, started with `[Inspector] stately = yes`. */
export interface StatelyRelay {
  /** The bridge page, which embeds https://stately.ai/inspect and relays the events to it. */
  url: string;
  /** The same inspection events the inspector gets. */
  observer: (event: InspectionEvent) => void;
  close(): Promise<void>;
}

/** Events kept for a browser that connects late (actor registrations are kept while the actor lives). */
const REPLAY = 200;

type Adapter = Parameters<typeof createInspector>[0];

const bridgePage = (inspectorUrl: string) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>flowd: Stately inspector</title>
<style>*{margin:0;padding:0}html,body{height:100%}iframe{width:100%;height:100%;border:none}</style></head>
<body><iframe id="inspector" src="${inspectorUrl}"></iframe>
<script>
  const iframe = document.getElementById('inspector');
  const buffer = [];
  let connected = false;
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected') {
      connected = true;
      for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, '*');
    }
  });
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' + location.search);
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (connected) iframe.contentWindow.postMessage(data, '*');
    else buffer.push(data);
  };
</script></body></html>`;

// Deep enough for a slot's `event.assigned` to show the payload's top-level values (redacted, truncated).
const safeEvent = (event: unknown) => sanitize(event, { depth: 4 }) as { type: string };

/**
 * An `@xstate.actor` message's `definition` (the machine's config, as JSON)
 * with its static `context` sanitized as snapshots' contexts are.
 */
export function safeDefinition(definition: string | undefined): string | undefined {
  if (definition === undefined) return undefined;
  let config: unknown;
  try {
    config = JSON.parse(definition);
  } catch {
    // Never send what could not be sanitized.
    return undefined;
  }
  if (!config || typeof config !== 'object' || !('context' in config)) return definition;
  return JSON.stringify({ ...config, context: sanitize(config.context, { depth: 3 }) });
}

/** Options of `startStatelyRelay`. */
export interface StatelyRelayOptions {
  /** The interface to bind. */
  host: string;
  /** 0 picks a free one. */
  port: number;
  /** The secrets of `[Inspector] token` and `tokens`: a request needs one of them; none leaves it to loopback. @default [] */
  tokens?: readonly string[] | undefined;
  /** The inspector's port: its page's origin may open the WebSocket too. @default undefined */
  inspectorPort?: number | undefined;
  /** The UI the bridge page embeds. @default 'https://stately.ai/inspect' */
  inspectorUrl?: string;
}

/**
 * Starts a WebSocket relay in @statelyai/inspect's format on `host:port`
 * (same auth as the inspector) and serves a bridge page that forwards the
 * events to Stately's inspector UI. Contexts (definitions' included) and
 * events are redacted and truncated before they leave the process.
 * Without a token, only a local `Host` is served and a WebSocket opens only
 * without an `Origin` or from the relay's or the inspector's own origin
 * (403 otherwise); with a token, the token is required and suffices.
 */
export async function startStatelyRelay(options: StatelyRelayOptions): Promise<StatelyRelay> {
  const tokens = options.tokens ?? [];
  const registrations = new Map<string, string>();
  const recent: string[] = [];
  const sockets = new WebSocketServer({ noServer: true });
  const adapter: Adapter = {
    send(event) {
      const text = JSON.stringify(event.type === '@xstate.actor' ? { ...event, definition: safeDefinition(event.definition) } : event);
      if (event.type === '@xstate.actor') registrations.set(event.sessionId, text);
      else {
        recent.push(text);
        if (recent.length > REPLAY) recent.shift();
        if (event.type === '@xstate.snapshot' && (event.snapshot as { status?: string }).status !== 'active')
          registrations.delete(event.sessionId);
      }
      for (const client of sockets.clients) if (client.readyState === WebSocket.OPEN) client.send(text);
    },
  };
  const inspector = createInspector(adapter, { autoStart: true });
  sockets.on('connection', (client) => {
    for (const text of [...registrations.values(), ...recent]) client.send(text);
  });

  const checkHost = tokens.length === 0 || isLoopback(options.host);
  let names = localHostNames(options.host);
  let relayPort = options.port;
  const misdirected = (host: string | undefined) =>
    `misdirected request: Host ${JSON.stringify(host ?? '')} is not this relay; expected one of ${[...names].join(', ')}, with port ${relayPort} or none`;

  const http: Server = createServer((request, response) => {
    if (checkHost && !isAllowedHost(request.headers.host, names, relayPort)) {
      response.writeHead(421, { 'content-type': 'application/json' }).end(JSON.stringify({ error: misdirected(request.headers.host) }));
      return;
    }
    if (!isAuthorized(request, tokens)) {
      response
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'unauthorized: a token is required (Authorization: Bearer <token> or ?token=<token>)' }));
      return;
    }
    response
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end(bridgePage(options.inspectorUrl ?? 'https://stately.ai/inspect'));
  });
  http.on('upgrade', (request, socket, head) => {
    if (checkHost && !isAllowedHost(request.headers.host, names, relayPort)) {
      socket.end('HTTP/1.1 421 Misdirected Request\r\nconnection: close\r\n\r\n');
      return;
    }
    if (!isAuthorized(request, tokens)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n');
      return;
    }
    // Browsers let any website open a WebSocket anywhere: without a token, only our own pages (or non-browsers) may.
    const ports = options.inspectorPort === undefined ? [relayPort] : [relayPort, options.inspectorPort];
    if (tokens.length === 0 && !isAllowedOrigin(request.headers.origin, names, ports)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (client) => sockets.emit('connection', client, request));
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const { port, address } = http.address() as AddressInfo;
  names = localHostNames(options.host, address);
  relayPort = port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;

  const observer = (event: InspectionEvent) => {
    const ref = event.actorRef as AnyActorRef;
    if (event.type === '@xstate.actor') {
      inspector.actor(ref, { status: 'active' });
    } else if (event.type === '@xstate.snapshot') {
      const snapshot = event.snapshot as {
        status?: 'active' | 'done' | 'error' | 'stopped';
        value?: unknown;
        context?: unknown;
        output?: unknown;
      };
      inspector.snapshot(
        ref,
        {
          status: snapshot.status ?? 'active',
          value: snapshot.value,
          context: sanitize(snapshot.context, { depth: 3 }),
          output: sanitize(snapshot.output, { depth: 2 }),
        },
        { event: safeEvent(event.event) },
      );
    } else if (event.type === '@xstate.event') {
      inspector.event(ref, safeEvent(event.event), event.sourceRef ? { source: event.sourceRef as AnyActorRef } : {});
    }
  };
  return {
    url: `http://${host}:${port}/`,
    observer,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
