/**
 * flowd's error family. Every error has a stable `code` that programs can
 * match on; docs/errors.md lists them all. `cause` is always passed on.
 */

/** Stable error codes. */
export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_USAGE'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_INVALID_STATE'
  | 'ERR_INTERNAL'
  | 'ERR_WORKER_LOAD'
  | 'ERR_WORKER_CONFIGURE'
  | 'ERR_WORKER_FAILED'
  | 'ERR_WORKER_TIMEOUT'
  | 'ERR_QUEUE_TIMEOUT'
  | 'ERR_QUEUE_FULL'
  | 'ERR_SHUTDOWN'
  | 'ERR_PAYLOAD'
  | 'ERR_SOURCE'
  | 'ERR_CONNECT'
  | 'ERR_CONNECTION_LOST'
  | 'ERR_STOMP_REFUSED'
  | 'ERR_STOMP_ERROR'
  | 'ERR_RECEIPT_TIMEOUT'
  | 'ERR_NOT_CONNECTED'
  | 'ERR_NO_PUBLISH'
  | 'ERR_INVALID_DESTINATION'
  | 'ERR_CONFLICT'
  | 'ERR_RETRY'
  | 'ERR_FENCED'
  | 'ERR_STORE'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_STORE_CLOSED'
  | 'ERR_LOCK_LOST'
  | 'ERR_LOCK_UNAVAILABLE'
  | 'ERR_PARSE'
  | 'ERR_HTTP'
  | 'ERR_RESPONSE'
  | 'ERR_EXPRESSION'
  | 'ERR_XML'
  | 'ERR_RECORD'
  | 'ERR_TRANSFER'
  | 'ERR_EVENT_LOG'
  | 'ERR_EVENT_LOG_UNAVAILABLE'
  | 'ERR_CURSOR'
  | 'ERR_PLUGIN'
  | 'ERR_PLUGIN_LOAD'
  | 'ERR_TASK'
  | 'ERR_NONDETERMINISTIC'
  | 'ERR_WORKFLOW'
  | 'ERR_WORKFLOW_STATE'
  | 'ERR_WORKFLOW_SUSPENDED'
  | 'ERR_WORKFLOW_RESTART'
  | 'ERR_WORKFLOW_TIMEOUT'
  | 'ERR_WORKFLOW_SIZE'
  | 'ERR_ACTIVITY_TIMEOUT'
  | 'ERR_ACTIVITY_CANCELLED'
  | 'ERR_CANCELLED'
  | 'ERR_UNKNOWN_EVENT';

// Where a class keeps its brand: `Symbol.for`, so every copy of flowd in a process uses the same keys.
const kBrand = Symbol.for('flowd.error.brand');

/**
 * Brands an error class, as undici and Temporal's SDK do: its prototype
 * carries `Symbol.for('flowd.error.<name>')`, and `instanceof` against the
 * class asks for that symbol rather than for this copy's prototype. An
 * error thrown by one copy of flowd (a worker that resolved another copy,
 * a library bundling its own) is then `instanceof ConflictError` against
 * any other copy. A class that is not branded itself (a subclass of your
 * own) keeps the ordinary prototype check.
 */
export function brandError(errorClass: abstract new (...args: never[]) => Error, name: string): void {
  const brand = Symbol.for(`flowd.error.${name}`);
  Object.defineProperty(errorClass, kBrand, { value: brand });
  Object.defineProperty(errorClass.prototype, brand, { value: true });
}

/** Base class: a message that says what was expected and found, and a code. */
export class FlowdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** `instanceof` by brand (see brandError), so it holds across copies of flowd. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    const brand = Object.hasOwn(this, kBrand) ? (this as unknown as Record<symbol, symbol>)[kBrand] : undefined;
    if (brand === undefined) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
brandError(FlowdError, 'FlowdError');

/** Where a configuration value came from, for error messages. */
export interface ConfigLocation {
  file?: string | undefined;
  section?: string | undefined;
  key?: string | undefined;
  line?: number | undefined;
}

/**
 * A bad configuration: names the file, section and key, the value found and
 * what was expected. The CLI exits 2 on it.
 */
export class ConfigError extends FlowdError {
  readonly file: string | undefined;
  readonly section: string | undefined;
  readonly key: string | undefined;
  readonly line: number | undefined;
  constructor(where: ConfigLocation, problem: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', `${formatLocation(where)}${problem}`, options);
    this.file = where.file;
    this.section = where.section;
    this.key = where.key;
    this.line = where.line;
  }
}
brandError(ConfigError, 'ConfigError');

/** `file:line [Section] "key": `, the prefix of a ConfigError's message (empty without a location). */
export function formatLocation({ file, section, key, line }: ConfigLocation): string {
  const parts: string[] = [];
  if (file !== undefined) parts.push(line !== undefined ? `${file}:${line}` : file);
  if (section !== undefined) parts.push(`[${section}]`);
  if (key !== undefined) parts.push(`"${key}"`);
  return parts.length > 0 ? `${parts.join(' ')}: ` : '';
}

/** Bad command-line usage. The CLI exits 2 on it. */
export class UsageError extends FlowdError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}
brandError(UsageError, 'UsageError');

/** A worker module or export could not be loaded. The CLI exits 2 on it. */
export class WorkerLoadError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WORKER_LOAD', message, options);
  }
}
brandError(WorkerLoadError, 'WorkerLoadError');

/** A worker's configure() failed at start-up. The CLI exits 1 on it. */
export class WorkerConfigureError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WORKER_CONFIGURE', message, options);
  }
}
brandError(WorkerConfigureError, 'WorkerConfigureError');

export type { ErrorInfo } from './error-info.js';

/**
 * Another writer came first: a store's `put(key, value, { ifVersion })`
 * found a newer version, or the API client got HTTP 409 or 412.
 * retryOnConflict retries on it.
 */
export class ConflictError extends FlowdError {
  /** The HTTP status (409 or 412) when the API client raised it. */
  readonly status: number | undefined;
  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super('ERR_CONFLICT', message, options);
    this.status = options?.status;
  }
}
brandError(ConflictError, 'ConflictError');

/** Thrown by a function under retryOnConflict to ask for another attempt for a reason other than a conflict. */
export class Retry extends FlowdError {
  constructor(message = 'retry requested', options?: { cause?: unknown }) {
    super('ERR_RETRY', message, options);
  }
}
brandError(Retry, 'Retry');

/**
 * A write carried a fencing token older than one the store has already
 * accepted for that key: its lock was lost (the lease lapsed) and another
 * holder wrote since. Never retried: the writer no longer holds the lock.
 */
export class FencedError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FENCED', message, options);
  }
}
brandError(FencedError, 'FencedError');

/**
 * A store problem: `ERR_STORE` for a bad value or a corrupt record (the
 * message names the file or key), `ERR_STORE_UNAVAILABLE` while the backend
 * is down, `ERR_STORE_CLOSED` after the store was closed.
 */
export class StoreError extends FlowdError {
  constructor(code: 'ERR_STORE' | 'ERR_STORE_UNAVAILABLE' | 'ERR_STORE_CLOSED', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
brandError(StoreError, 'StoreError');

/** A lock problem: `ERR_LOCK_LOST` when a lease lapsed, `ERR_LOCK_UNAVAILABLE` while the backend is down. */
export class LockError extends FlowdError {
  constructor(code: 'ERR_LOCK_LOST' | 'ERR_LOCK_UNAVAILABLE', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
brandError(LockError, 'LockError');

/** A value MultiParser could not convert; names the type, the format and the value. */
export class ParseError extends FlowdError {
  readonly type: string;
  readonly format: string | undefined;
  readonly value: unknown;
  constructor(type: string, format: string | undefined, value: unknown, problem: string, options?: { cause?: unknown }) {
    super(
      'ERR_PARSE',
      `cannot parse ${JSON.stringify(value)} as ${type}${format === undefined ? '' : ` with format "${format}"`}: ${problem}`,
      options,
    );
    this.type = type;
    this.format = format;
    this.value = value;
  }
}
brandError(ParseError, 'ParseError');

/** An HTTP request of the API client failed: a status other than 2xx (409 and 412 are ConflictError), or no answer after its retries. */
export class HttpError extends FlowdError {
  /** The response status; undefined when no response came (connection refused, timeout). */
  readonly status: number | undefined;
  readonly method: string;
  /** The URL without credentials. */
  readonly url: string;
  constructor(method: string, url: string, status: number | undefined, message: string, options?: { cause?: unknown }) {
    super('ERR_HTTP', message, options);
    this.method = method;
    this.url = url;
    this.status = status;
  }
}
brandError(HttpError, 'HttpError');

/**
 * A mapping expression failed while it was evaluated (a parse problem is a
 * ConfigError at start-up instead): names the INI location, the expression
 * and what went wrong.
 */
export class ExpressionError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_EXPRESSION', message, options);
  }
}
brandError(ExpressionError, 'ExpressionError');

/**
 * The event log could not be read: `ERR_EVENT_LOG_UNAVAILABLE` while it is
 * unreachable (retried with backoff), `ERR_EVENT_LOG` when what it holds or
 * answers is not an event log (a missing table, a row or feed item of the
 * wrong shape: the source fails). Messages name the URL without its password.
 */
export class EventLogError extends FlowdError {
  constructor(code: 'ERR_EVENT_LOG' | 'ERR_EVENT_LOG_UNAVAILABLE', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
brandError(EventLogError, 'EventLogError');

/** A plugin's remembered cursor cannot be read or is corrupt: the daemon stops rather than start over from latest. */
export class CursorError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CURSOR', message, options);
  }
}
brandError(CursorError, 'CursorError');

/**
 * A plugin failed: `ERR_PLUGIN_LOAD` when its module cannot be loaded or its
 * `registerCallbacks` threw; `ERR_PLUGIN` when a callback with stopOnError
 * threw (the message names the plugin, the callback and the event id).
 */
export class PluginError extends FlowdError {
  readonly plugin: string;
  readonly callback: string | undefined;
  readonly eventId: number | undefined;
  constructor(
    code: 'ERR_PLUGIN' | 'ERR_PLUGIN_LOAD',
    plugin: string,
    message: string,
    options?: { cause?: unknown; callback?: string; eventId?: number },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.plugin = plugin;
    this.callback = options?.callback;
    this.eventId = options?.eventId;
  }
}
brandError(PluginError, 'PluginError');
