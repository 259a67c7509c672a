import { randomUUID } from 'node:crypto';
import { createServer, validateHeaderName, validateHeaderValue, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import bytes from 'bytes';
import type { Settlement } from '../../machines/events.js';
import type { Feed, SourceDriver } from './driver.js';
import { isLoopback, type DurationOption, type SourceKind } from './source-kind.js';
import type { SectionReader } from '../../src/kernel/section-reader.js';
import { FlowdError } from '../../src/kernel/errors.js';

/** `[Source] type = http`, compiled. */
export interface HttpOptions {
  /** @default '127.0.0.1' */
  interface: string;
  /** 0 picks a free port (logged). */
  port: number;
  /** The path prefix, without a trailing slash ('' for the root). */
  path: string;
  /** `sync`: the worker's result is the response; `async`: 202 with an id to poll. */
  reply: 'sync' | 'async';
  maxBodySize: number;
  /** Seconds a 503 asks the client to wait. */
  retryAfterS: number;
  /** How many finished events `GET <path>/events/<id>` remembers (async). */
  keepResults: number;
  /**
   * How many connections are served at once. Beyond it a connection's
   * request is answered 503 and the connection closed; beyond twice it a
   * connection is closed at once.
   */
  maxConnections: number;
}

/** How long a client has to send a request's headers once connected (Node's own default is 60 s). */
const HTTP_HEADERS_TIMEOUT_MS = 20_000;
/** How long a refused connection (over `max connections`) is kept to answer its request with a 503. */
const REFUSED_CONNECTION_MS = 2_000;

/** What the worker receives for each request. */
export interface HttpEvent {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

type Log = { info(fields: object, message: string): void; warn(fields: object, message: string): void };

interface Outcome {
  state: 'pending' | Settlement['outcome'];
  result?: unknown;
  error?: { code: string; message: string };
}

class BadRequest extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), ...headers }).end(text);
}

const errorBody = (code: string, message: string) => ({ error: { code, message } });

/** A response ready to write: its status, headers and bytes checked and made before anything is sent. */
interface Response {
  status: number;
  headers: Record<string, string | string[]>;
  text: string | undefined;
}

/**
 * A worker's return value as an HTTP response: text, JSON, or `{ status,
 * headers, body }` as given. Throws a FlowdError ERR_RESPONSE, before
 * anything is written, for what cannot be sent: a status outside
 * 200-999 (1xx are informational: the server sends those itself), a
 * header name or value HTTP does not allow (a CR or LF taken from user
 * input: response splitting), a header that frames the message
 * (content-length, transfer-encoding, connection, ...: flowd frames the
 * response), one header given twice, a body on a 204 or 304, a body JSON
 * cannot hold (a BigInt, a cycle, nesting too deep).
 */
export function toResponse(result: unknown): Response {
  try {
    return makeResponse(result);
  } catch (error) {
    if (error instanceof FlowdError && error.code === 'ERR_RESPONSE') throw error;
    // A getter that throws, a proxy: whatever reading the result did.
    throw responseError(`reading it failed: ${(error as Error)?.message ?? String(error)}`, error);
  }
}

function makeResponse(result: unknown): Response {
  if (result === undefined || result === null) return { status: 204, headers: {}, text: undefined };
  let status = 200;
  let headers: Record<string, string | string[]> = {};
  let body: unknown = result;
  if (typeof result === 'object' && typeof (result as { status?: unknown }).status === 'number') {
    const given = result as { status: number; headers?: unknown; body?: unknown };
    if (!Number.isInteger(given.status) || given.status < 200 || given.status > 999) {
      throw responseError(`status ${String(given.status)} is not a final HTTP status; expected a whole number from 200 to 999`);
    }
    status = given.status;
    headers = checkHeaders(given.headers);
    body = given.body;
    if (body !== undefined && (status === 204 || status === 304)) throw responseError(`a ${status} response has no body; found one`);
  }
  if (body === undefined) return { status, headers, text: undefined };
  let text: string;
  try {
    text = typeof body === 'string' ? body : ((JSON.stringify(body) as string | undefined) ?? '');
  } catch (error) {
    throw responseError(`the body cannot be written as JSON: ${(error as Error).message}`, error);
  }
  if (typeof body !== 'string' && text === '') throw responseError(`the body is ${typeof body}, which JSON cannot hold`);
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  return { status, headers: { 'content-type': type, ...headers, 'content-length': String(Buffer.byteLength(text)) }, text };
}

// Headers that frame the message or the connection: flowd sets what is needed; a worker's would desynchronise the stream.
const FRAMING_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
]);

function checkHeaders(given: unknown): Record<string, string | string[]> {
  if (given === undefined || given === null) return {};
  if (typeof given !== 'object' || Array.isArray(given))
    throw responseError(`headers must be an object of names and values; found ${typeof given}`);
  const headers: Record<string, string | string[]> = {};
  const scalar = (value: unknown) =>
    typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined) continue;
    const texts = Array.isArray(value) ? value.map(scalar) : [scalar(value)];
    if (texts.some((text) => text === undefined)) {
      throw responseError(
        `header ${JSON.stringify(name)} is ${Array.isArray(value) ? 'an array holding something else' : typeof value}; expected a string, a number or an array of strings`,
      );
    }
    try {
      validateHeaderName(name);
      for (const text of texts) validateHeaderValue(name, text!);
    } catch (error) {
      throw responseError(`header ${JSON.stringify(name)} cannot be sent: ${(error as Error).message}`, error);
    }
    const lower = name.toLowerCase();
    if (FRAMING_HEADERS.has(lower))
      throw responseError(`header ${JSON.stringify(name)} frames the message, which flowd does; leave it out`);
    if (Object.hasOwn(headers, lower))
      throw responseError(
        `header ${JSON.stringify(name)} is given twice (names are case-insensitive); give it once, with an array for several values`,
      );
    headers[lower] = Array.isArray(value) ? (texts as string[]) : texts[0]!;
  }
  return headers;
}

const responseError = (problem: string, cause?: unknown) =>
  new FlowdError(
    'ERR_RESPONSE',
    `the worker's result cannot be sent as the response: ${problem}`,
    cause === undefined ? undefined : { cause },
  );

function write(res: ServerResponse, response: Response): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(response.status, response.headers).end(response.text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    throw new BadRequest(413, 'ERR_BODY_TOO_LARGE', `the body is ${declared} bytes; at most ${limit} are accepted`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BadRequest(413, 'ERR_BODY_TOO_LARGE', `the body is over ${limit} bytes; at most ${limit} are accepted`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A web interface as a source: each request is an event. In `sync` mode
 * the response waits for the worker; in `async` mode the request is
 * answered 202 with an id at once. While the supervisor's queue is past its
 * high watermark (the source is paused) requests are answered 503 with
 * Retry-After instead of queueing; on stop, new requests get 503 while
 * in-flight ones finish. Binds 127.0.0.1 unless told otherwise.
 */
export function httpDriver(
  options: HttpOptions,
  log: Log = { info: () => {}, warn: () => {} },
): SourceDriver & { address(): string | undefined } {
  let server: Server | undefined;
  let feed: Feed | undefined;
  let paused = false;
  let stopping = false;
  const waiting = new Map<string, ServerResponse>();
  const outcomes = new Map<string, Outcome>();
  const prefix = options.path;
  const busy = (res: ServerResponse, why: string) =>
    send(res, 503, errorBody('ERR_UNAVAILABLE', why), { 'retry-after': String(options.retryAfterS) });
  // Connections past `max connections`: their request gets a 503, then they are closed.
  const refused = new WeakSet<Socket>();
  let served = 0;
  let refusing = 0;

  /** Counts each connection; past the cap it is marked refused (answered 503), past twice the cap closed at once. */
  function admit(socket: Socket): void {
    if (served < options.maxConnections) {
      served++;
      socket.once('close', () => served--);
      return;
    }
    if (refusing >= options.maxConnections) {
      socket.destroy();
      return;
    }
    refusing++;
    refused.add(socket);
    const timer = setTimeout(() => socket.destroy(), REFUSED_CONNECTION_MS).unref();
    socket.once('close', () => {
      refusing--;
      clearTimeout(timer);
    });
  }

  const remember = (id: string, outcome: Outcome) => {
    outcomes.delete(id);
    outcomes.set(id, outcome);
    while (outcomes.size > options.keepResults) outcomes.delete(outcomes.keys().next().value!);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (refused.has(req.socket)) {
      req.resume();
      res.setHeader('connection', 'close');
      return busy(res, `the service has ${options.maxConnections} connections open (max connections); try again later`);
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return send(res, 400, errorBody('ERR_BAD_REQUEST', `the request target ${JSON.stringify(req.url)} is not a URL path`));
    }
    const within = url.pathname === prefix || url.pathname.startsWith(`${prefix}/`) || prefix === '';
    if (!within) return send(res, 404, errorBody('ERR_NOT_FOUND', `no route for ${url.pathname}; this source serves ${prefix || '/'}`));
    const route = url.pathname.slice(prefix.length) || '/';

    if (options.reply === 'async' && req.method === 'GET' && route.startsWith('/events/')) {
      let id: string;
      try {
        id = decodeURIComponent(route.slice('/events/'.length));
      } catch {
        return send(res, 400, errorBody('ERR_BAD_REQUEST', `the event id in ${JSON.stringify(route)} is not valid percent-encoding`));
      }
      const outcome = outcomes.get(id);
      if (!outcome) return send(res, 404, errorBody('ERR_UNKNOWN_EVENT', `no event with id "${id}" (unknown, or no longer remembered)`));
      return send(res, 200, { id, ...outcome });
    }
    if (stopping || !feed) return busy(res, 'the service is stopping');
    if (paused) return busy(res, 'the queue is full; try again later');

    let raw: Buffer;
    try {
      raw = await readBody(req, options.maxBodySize);
    } catch (error) {
      if (error instanceof BadRequest) {
        res.setHeader('connection', 'close');
        return send(res, error.status, errorBody(error.code, error.message));
      }
      throw error;
    }
    let body: unknown = raw.length > 0 ? raw.toString('utf8') : undefined;
    const type = String(req.headers['content-type'] ?? '');
    if (/^application\/([\w.+-]+\+)?json\b/i.test(type) && raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        return send(res, 400, errorBody('ERR_INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`));
      }
    }
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of url.searchParams) {
      const seen = query[key];
      query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
    const event: HttpEvent = { method: req.method ?? 'GET', path: route, query, headers: { ...req.headers }, body };
    const id = randomUUID();
    if (options.reply === 'sync') {
      waiting.set(id, res);
      res.on('close', () => waiting.delete(id));
    } else {
      remember(id, { state: 'pending' });
    }
    feed.deliver(event, { id, meta: { requestId: id } });
    if (options.reply === 'async') send(res, 202, { id });
  }

  function onSettled(settlement: Settlement): void {
    const { id, outcome, result, error } = settlement;
    if (options.reply === 'async') {
      remember(id, { state: outcome, ...(result !== undefined ? { result } : {}), ...(error ? { error } : {}) });
      return;
    }
    const res = waiting.get(id);
    if (!res) return;
    waiting.delete(id);
    if (outcome === 'completed') {
      let response: Response;
      try {
        response = toResponse(result);
      } catch (error) {
        // This request gets a 500 naming the problem; every other request goes on being served.
        const { code, message } = error as FlowdError;
        log.warn({ event: id, error: { code, message } }, `http: event ${id}: ${message}`);
        return send(res, 500, errorBody(code, message));
      }
      return write(res, response);
    }
    const info = error ?? { code: 'ERR_WORKER_FAILED', message: outcome };
    if (outcome === 'failed') return send(res, info.code === 'ERR_WORKER_TIMEOUT' ? 504 : 500, errorBody(info.code, info.message));
    return busy(res, info.message);
  }

  return {
    type: 'http',
    address() {
      const address = server?.address() as AddressInfo | null | undefined;
      return address
        ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}${prefix}/`
        : undefined;
    },
    async connect() {
      stopping = false;
      served = 0;
      refusing = 0;
      // Idle connections do not pile up: headers must come within 20 s of connecting (408 otherwise,
      // checked every 2 s), and a kept-alive connection closes after 5 s without a request (Node's default).
      server = createServer({ headersTimeout: HTTP_HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 2_000 }, (req, res) => {
        handle(req, res).catch((error: Error) => {
          log.warn({ error: error.message }, `http: request failed: ${error.message}`);
          send(res, 500, errorBody('ERR_INTERNAL', 'the request could not be handled'));
        });
      });
      server.on('connection', admit);
      await new Promise<void>((resolve, reject) => {
        server!.once('error', (error: NodeJS.ErrnoException) =>
          reject(
            new FlowdError(
              'ERR_SOURCE',
              `http: cannot listen on ${options.interface}:${options.port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`,
            ),
          ),
        );
        server!.listen(options.port, options.interface, () => resolve());
      });
      log.info({ url: this.address() }, `http: listening on ${this.address()}`);
    },
    start(f) {
      feed = f;
    },
    stop() {
      stopping = true;
      feed = undefined;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
    },
    settle: onSettled,
    async disconnect() {
      stopping = true;
      for (const res of waiting.values()) busy(res, 'the service stopped before the request finished');
      waiting.clear();
      const current = server;
      server = undefined;
      if (!current) return;
      await new Promise<void>((resolve) => {
        current.close(() => resolve());
        current.closeIdleConnections();
      });
    },
  };
}

/** `sources.http({ ... })`: the `[Source] type = http` keys, in camelCase. */
export interface HttpSourceOptions {
  /** The address to listen on. @default '127.0.0.1' */
  interface?: string;
  /** The port; 0 picks a free one (logged). @default 8080 */
  port?: number;
  /** The path prefix served. @default '/' */
  path?: string;
  /** `sync`: the worker's result is the response; `async`: 202 with an id to poll. @default 'sync' */
  reply?: HttpOptions['reply'];
  /** The largest request body, such as `512kB`. @default '1MB' */
  maxBodySize?: string;
  /** How long a 503 asks the client to wait (whole seconds, at least 1). @default '1s' */
  retryAfter?: DurationOption;
  /** How many finished events `GET <path>/events/<id>` remembers (async). @default 10000 */
  keepResults?: number;
  /** How many connections are served at once; beyond it a request gets 503 with Retry-After. @default 1000 */
  maxConnections?: number;
}

/** `[Source] type = http`: reads its keys and makes its driver. */
export const httpSource: SourceKind = {
  compile(reader: SectionReader) {
    const host = reader.string('interface', '127.0.0.1');
    const port = reader.integer('port', 8080, { min: 0, max: 65535 });
    const prefixText = reader.string('path', '/');
    if (!prefixText.startsWith('/')) reader.fail('path', `found "${prefixText}"; expected a path starting with /`);
    const sizeText = reader.string('max body size', '1MB');
    const maxBodySize = bytes.parse(sizeText);
    if (maxBodySize === null || !Number.isFinite(maxBodySize) || maxBodySize < 0)
      reader.fail('max body size', `found "${sizeText}"; expected a size such as 1MB, 512kB or 1048576`);
    const options: HttpOptions = {
      interface: host,
      port,
      path: prefixText.replace(/\/+$/, ''),
      reply: reader.choice('reply', ['sync', 'async'] as const, 'sync'),
      maxBodySize,
      retryAfterS: Math.max(1, Math.round(reader.duration('retry after', 1000) / 1000)),
      keepResults: reader.integer('keep results', 10_000, { min: 1 }),
      maxConnections: reader.integer('max connections', 1000, { min: 1 }),
    };
    const where = `http://${host.includes(':') ? `[${host}]` : host}:${port}${options.path}/`;
    return {
      type: 'http',
      description: `http on ${where} (reply ${options.reply})${isLoopback(host) ? '' : ', NOT loopback'}`,
      create: (deps = {}) => httpDriver(options, deps.log),
    };
  },
};
