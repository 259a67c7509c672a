import type * as UndiciModule from 'undici';
import { DateTime } from 'luxon';
import type { Dispatcher } from 'undici';
import { lazy } from '../kernel/lazy.js';
import { createOrUpdate } from './client/create-or-update.js';
import { decodeBody, encodeBody, excerpt } from './client/body.js';
import type {
  ApiRequest,
  ApiResponse,
  CreateOrUpdateOptions,
  CreateOrUpdateResult,
  Payload,
  RequestBody,
  RequestOptions,
  RestClient,
} from '../kernel/api-client.js';
import type { ApiSettings } from '../config/api-settings.js';
import { formatDuration } from '../kernel/duration.js';
import { ConflictError, HttpError } from '../kernel/errors.js';
import { pause } from '../kernel/retry-on-conflict.js';

const undici = lazy<typeof UndiciModule>('undici');

export type {
  RequestBody,
  RequestOptions,
  ApiRequest,
  ApiResponse,
  CreateOrUpdateOptions,
  CreateOrUpdateResult,
  Payload,
  RestClient,
} from '../kernel/api-client.js';

/** Where the client logs: a pino logger fits. Lines carry the method, the URL and the status, never a header. */
export interface ClientLog {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Options of createClient besides the settings. */
export interface ClientOptions {
  /** @default no logging */
  log?: ClientLog;
  /** Sends the requests instead of the client's own keep-alive Pool; the caller owns it (close() leaves it open). @default a Pool for the settings' origin */
  dispatcher?: Dispatcher;
  /** [0, 1), for the jitter of the pause between retries. @default Math.random */
  random?: () => number;
  /** Waits between retries; rejects when the signal aborts. @default a timer (fake timers drive it) */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

// Network failures worth another attempt: the server was down, went away, or did not answer in time.
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** A failure that may be retried, and why. */
interface Transient {
  reason: string;
  status?: number;
  cause?: unknown;
  /** The server refused the request without acting on it (429): retried whatever the method. */
  refused?: boolean;
  /** The answer's `Retry-After`, in ms from now. */
  retryAfterMs?: number;
}

/**
 * A REST client for one server (Viz One or any other): basic auth, JSON and
 * XML bodies, ETags and `If-Match`, retries of idempotent requests on 5xx
 * and connection errors with a jittered exponential backoff, and of any
 * request on 429; a `Retry-After` is waited out when it is within `retry
 * max delay`. 409 and 412 raise ConflictError (retryOnConflict retries it);
 * any other non-2xx raises HttpError. The password never reaches a log
 * line or an error.
 */
export class ApiClient implements RestClient {
  /** The server, as `http(s)://host[:port]`. */
  readonly origin: string;
  readonly #settings: ApiSettings;
  readonly #authorization: string | undefined;
  readonly #secrets: string[];
  readonly #dispatcher: Dispatcher;
  readonly #ownDispatcher: boolean;
  readonly #log: ClientLog | undefined;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #closed = false;
  /** Aborted by close(): ends the pauses between retries. */
  readonly #closing = new AbortController();

  constructor(settings: ApiSettings, options: ClientOptions = {}) {
    this.#settings = settings;
    this.origin = new URL(settings.origin).origin;
    const token = settings.username === undefined ? undefined : Buffer.from(`${settings.username}:${settings.password}`).toString('base64');
    this.#authorization = token === undefined ? undefined : `Basic ${token}`;
    // A very short password cannot be scrubbed from text without garbling it; the token always can.
    this.#secrets = [token, settings.password.length >= 3 ? settings.password : undefined].filter((s): s is string => s !== undefined);
    this.#ownDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ??
      new (undici().Pool)(this.origin, {
        connect: { timeout: settings.timeOutMs, rejectUnauthorized: settings.checkCertificates },
        keepAliveTimeout: 4_000,
      });
    this.#log = options.log;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? pause;
  }

  /** GET a record. */
  get<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>({ ...options, method: 'GET', path });
  }

  /** PUT a body; with `etag`, only over that version. */
  put<T = unknown>(path: string, body: RequestBody, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>({ ...options, method: 'PUT', path, body });
  }

  /** POST a body; not retried unless `idempotent: true`. */
  post<T = unknown>(path: string, body: RequestBody, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>({ ...options, method: 'POST', path, body });
  }

  /** DELETE a record; with `etag`, only that version. */
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>> {
    return this.request<T>({ ...options, method: 'DELETE', path });
  }

  /**
   * Creates the record at `url` when it is missing, or writes `payload` over
   * it when it differs; retries on conflict, refetching each time.
   * @example
   * const { created, updated } = await ctx.client.createOrUpdate(`/api/asset/${id}`, (current) => ({ ...current?.body, title }));
   */
  createOrUpdate(url: string, payload: Payload, options?: CreateOrUpdateOptions): Promise<CreateOrUpdateResult> {
    return createOrUpdate(this, url, payload, options);
  }

  /**
   * Sends one request and returns its 2xx response.
   * @throws ConflictError on 409 / 412; HttpError on any other non-2xx, or
   * when no answer came after the retries; the signal's reason when it aborts.
   * @example
   * const asset = await ctx.client.request({ method: 'GET', path: '/api/asset/1', headers: { accept: 'application/atom+xml' } });
   */
  async request<T = unknown>(req: ApiRequest): Promise<ApiResponse<T>> {
    const method = req.method.toUpperCase();
    const url = this.#resolve(method, req.path);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
    const encoded = encodeBody(req.body, req.contentType ?? headers['content-type']);
    if (encoded) headers['content-type'] = encoded.contentType;
    if (req.etag !== undefined) headers['if-match'] = req.etag;
    if (this.#authorization !== undefined) headers.authorization = this.#authorization;
    const idempotent = req.idempotent ?? IDEMPOTENT.has(method);
    const attempts = 1 + this.#settings.retries;
    const closed = () => new HttpError(method, url, undefined, `${method} ${url} was not sent: the client is closed`);
    const pauseSignal = req.signal ? AbortSignal.any([req.signal, this.#closing.signal]) : this.#closing.signal;
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw closed();
      req.signal?.throwIfAborted();
      const outcome = await this.#attempt<T>(method, url, headers, encoded?.data, req.signal);
      if (!('reason' in outcome)) return outcome;
      const fail = (why: string): never => {
        throw new HttpError(method, url, outcome.status, this.#scrub(`${method} ${url} ${outcome.reason}${why}`), { cause: outcome.cause });
      };
      const tries = attempt > 1 ? ` after ${attempt} attempts` : '';
      // An explicit idempotent: false is never sent twice, not even after a 429.
      if (outcome.refused ? req.idempotent === false : !idempotent) fail(tries);
      if (attempt >= attempts) fail(tries);
      const { retryMaxDelayMs } = this.#settings;
      const cap = Math.min(retryMaxDelayMs, this.#settings.retryDelayMs * 2 ** (attempt - 1));
      let delayMs: number;
      let why = '';
      if (outcome.retryAfterMs === undefined) delayMs = Math.floor(this.#random() * cap);
      else {
        // The server's wait, plus some of the backoff's jitter so that many clients told the same do not come back at once.
        if (outcome.retryAfterMs > retryMaxDelayMs) {
          fail(
            `; it asks for a wait of ${formatDuration(outcome.retryAfterMs)} (Retry-After), longer than the retry max delay of ${formatDuration(retryMaxDelayMs)}`,
          );
        }
        delayMs = outcome.retryAfterMs + Math.floor(this.#random() * Math.min(cap, retryMaxDelayMs - outcome.retryAfterMs));
        why = ' (Retry-After)';
      }
      this.#log?.warn(
        { method, url, status: outcome.status, attempt, delayMs },
        this.#scrub(`${method} ${url} ${outcome.reason}; retrying in ${delayMs}ms${why} (attempt ${attempt} of ${attempts})`),
      );
      try {
        await this.#sleep(delayMs, pauseSignal);
      } catch (error) {
        if (this.#closed && !req.signal?.aborted) throw closed();
        throw error;
      }
    }
  }

  /** Closes the client's own connections (not a dispatcher given in the options); later requests fail. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    if (this.#ownDispatcher) await this.#dispatcher.close();
  }

  /** One attempt: the response, a transient failure to retry, or a final error thrown. */
  async #attempt<T>(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ApiResponse<T> | Transient> {
    const started = Date.now();
    let status: number;
    let responseHeaders: ApiResponse['headers'];
    let bytes: Uint8Array;
    try {
      const response = await undici().request(url, {
        dispatcher: this.#dispatcher,
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        signal,
        headersTimeout: this.#settings.timeOutMs,
        bodyTimeout: this.#settings.timeOutMs,
      });
      status = response.statusCode;
      responseHeaders = response.headers;
      bytes = new Uint8Array(await response.body.arrayBuffer());
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const code = errorCode(error);
      const reason = `failed: ${(error as Error).message || code || String(error)}`;
      if (this.#closed || code === 'UND_ERR_DESTROYED' || code === 'UND_ERR_CLOSED') {
        throw new HttpError(method, url, undefined, `${method} ${url} was not sent: the client is closed`, { cause: error });
      }
      if (code !== undefined && TRANSIENT.has(code)) return { reason, cause: error };
      throw new HttpError(method, url, undefined, this.#scrub(`${method} ${url} ${reason}`), { cause: error });
    }
    const contentType = header(responseHeaders, 'content-type');
    const etag = header(responseHeaders, 'etag');
    this.#log?.debug({ method, url, status, ms: Date.now() - started }, `${method} ${url} ${status}`);
    const decoded = decodeBody(bytes, contentType);
    if (status >= 200 && status < 300) {
      if (decoded.problem !== undefined)
        throw new HttpError(method, url, status, this.#scrub(`${method} ${url} answered ${status}, but ${decoded.problem}`));
      return { status, headers: responseHeaders, body: decoded.body as T, text: decoded.text, etag };
    }
    // An error page without a content type is still worth quoting.
    const detail = excerpt(decoded.text ?? Buffer.from(bytes.subarray(0, 1024)).toString('utf8'));
    const answered = `answered ${status}${detail ? `: ${detail}` : ''}`;
    if (status === 409 || status === 412) {
      const ifMatch = headers['if-match'] === undefined ? '' : ` (If-Match ${headers['if-match']})`;
      throw new ConflictError(this.#scrub(`${method} ${url}${ifMatch} ${answered}`), { status });
    }
    if (status >= 500 || status === 429) {
      // An HTTP date is read against the server's own clock (its Date header) when it sends one.
      const serverNow = DateTime.fromHTTP(header(responseHeaders, 'date') ?? '', { zone: 'utc' });
      const retryAfterMs = parseRetryAfter(header(responseHeaders, 'retry-after'), serverNow.isValid ? serverNow.toMillis() : Date.now());
      return {
        reason: answered,
        status,
        ...(status === 429 ? { refused: true } : {}),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    throw new HttpError(method, url, status, this.#scrub(`${method} ${url} ${answered}`));
  }

  /** The full URL of a path, without credentials; refuses another server, so the credentials never leave for it. */
  #resolve(method: string, path: string): string {
    let url: URL;
    try {
      url = new URL(path, `${this.origin}/`);
    } catch (error) {
      throw new HttpError(method, path, undefined, `${method} "${path}" was not sent: not a path or URL`, { cause: error });
    }
    url.username = '';
    url.password = '';
    if (url.origin !== this.origin) {
      throw new HttpError(
        method,
        url.href,
        undefined,
        `${method} ${url.href} was not sent: it is not on ${this.origin}, the server this client (and its credentials) is for`,
      );
    }
    return url.href;
  }

  /** Text with the password and the Authorization token replaced, for errors and logs. */
  #scrub(text: string): string {
    let clean = text;
    for (const secret of this.#secrets) clean = clean.split(secret).join('[redacted]');
    return clean;
  }
}

/**
 * Creates the API client for `[Api]` / `[Viz One]`; `ctx.client` in a worker.
 * Close it when done.
 * @example
 * const client = createClient(compileApiSettings(reader), { log });
 * const { body, etag } = await client.get('/api/asset/1');
 * await client.put('/api/asset/1', { ...body, title: 'new' }, { etag });
 * await client.close();
 */
export function createClient(settings: ApiSettings, options: ClientOptions = {}): ApiClient {
  return new ApiClient(settings, options);
}

function header(headers: ApiResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A `Retry-After` value as ms from `now`: delay-seconds or an HTTP date (a
 * past date is 0); undefined when absent or neither.
 * @example parseRetryAfter('120', Date.now()) // 120_000
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = DateTime.fromHTTP(text, { zone: 'utc' });
  return date.isValid ? Math.max(0, date.toMillis() - now) : undefined;
}

/** The error's code, or its cause's, or that of the first of its errors (a failed happy-eyeballs connect is an AggregateError). */
function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown }; errors?: Array<{ code?: unknown }> } | undefined;
  const code = e?.code ?? e?.cause?.code ?? e?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}
