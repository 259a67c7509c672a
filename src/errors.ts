/**
 * flowd's error family. Every error has a stable `code` that programs can
 * match on; the README lists them all. `cause` is always passed on.
 */

/** Stable error codes. */
export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_USAGE'
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
  | 'ERR_INVALID_DESTINATION';

/** Base class: a message that says what was expected and found, and a code. */
export class FlowdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

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

function formatLocation({ file, section, key, line }: ConfigLocation): string {
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

/** A worker module or export could not be loaded. The CLI exits 2 on it. */
export class WorkerLoadError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WORKER_LOAD', message, options);
  }
}

/** A worker's configure() failed at start-up. The CLI exits 1 on it. */
export class WorkerConfigureError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WORKER_CONFIGURE', message, options);
  }
}

export type { ErrorInfo } from '../machines/events.js';
