import type * as BasicFtpModule from 'basic-ftp';
import { Readable } from 'node:stream';
import type { Client } from 'basic-ftp';
import { lazy } from '../kernel/lazy.js';
import type { SectionReader } from '../kernel/section-reader.js';
import { FlowdError } from '../kernel/errors.js';

const basicFtp = lazy<typeof BasicFtpModule>('basic-ftp');

/** `[Destination]`, compiled: the credentials and time-out of an FTP destination. */
export interface DestinationSettings {
  /** `username`, when the destination URL names none. @default undefined (the data's settings, else anonymous) */
  username: string | undefined;
  /** `password`, usually `${NAME}` from the environment; never logged. @default undefined */
  password: string | undefined;
  /** `timeout`: the longest wait for the server on the control and data connections. @default 30_000 (30s) */
  timeoutMs: number;
}

/** Reads `[Destination]` (every key is optional). */
export function compileDestinationSettings(reader: SectionReader): DestinationSettings {
  return {
    username: reader.string('username'),
    password: reader.string('password'),
    timeoutMs: reader.duration('timeout', 30_000, { minMs: 1 }),
  };
}

/** Where an FTP upload goes. */
export interface FtpTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The remote folder, created when missing. */
  dir: string;
  timeoutMs: number;
}

/** One file to upload: a local path or the bytes themselves. */
export interface FtpUpload {
  /** The remote file name, in `dir`. */
  name: string;
  from: string | Uint8Array;
}

/**
 * The target of an `ftp://[user[:password]@]host[:port]/folder/` URL. The
 * URL's credentials win over `credentials` (the data's settings, then
 * `[Destination]`); without any the login is anonymous.
 */
export function ftpTarget(
  url: string,
  credentials: { username?: string | undefined; password?: string | undefined },
  timeoutMs = 30_000,
): FtpTarget {
  const parsed = new URL(url);
  if (parsed.protocol !== 'ftp:') throw new FlowdError('ERR_TRANSFER', `${redactFtp(url)} is not an ftp:// URL`);
  const user = parsed.username ? decodeURIComponent(parsed.username) : (credentials.username ?? 'anonymous');
  const password = parsed.password ? decodeURIComponent(parsed.password) : (credentials.password ?? (parsed.username ? '' : 'anonymous@'));
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 21,
    user,
    password,
    dir: decodeURIComponent(parsed.pathname) || '/',
    timeoutMs,
  };
}

/** The target as a URL for messages: the user, never the password. */
export function describeFtpTarget(target: FtpTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `ftp://${encodeURIComponent(target.user)}@${host}:${target.port}${target.dir}`;
}

function redactFtp(url: string): string {
  return url.replace(/(\/\/[^/:@]*:)[^@/]*@/, '$1***@');
}

/**
 * Uploads files in passive mode, each to `name.part` and then renamed to
 * `name`, so a reader never sees half a file under its real name. Stops
 * when the signal aborts. The password is never logged nor put in an error.
 * @throws FlowdError ERR_TRANSFER naming the target (without the password) and the server's answer
 */
export async function uploadFiles(
  target: FtpTarget,
  files: readonly FtpUpload[],
  options: { signal?: AbortSignal; /** Runs after each file is in place. */ uploaded?: (name: string) => void | Promise<void> } = {},
): Promise<void> {
  const client = new (basicFtp().Client)(target.timeoutMs);
  const onAbort = () => client.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let current: string | undefined;
  try {
    options.signal?.throwIfAborted();
    // basic-ftp only speaks passive mode (EPSV, then PASV), which is what firewalls and NAT allow.
    await client.access({ host: target.host, port: target.port, user: target.user, password: target.password, secure: false });
    await client.ensureDir(target.dir);
    for (const file of files) {
      current = file.name;
      const source = typeof file.from === 'string' ? file.from : Readable.from([Buffer.from(file.from)]);
      await client.uploadFrom(source, `${file.name}.part`);
      await client.rename(`${file.name}.part`, file.name);
      current = undefined;
      await options.uploaded?.(file.name);
    }
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    const what = current === undefined ? '' : ` (${current})`;
    const message = scrub((error as Error).message, target.password);
    if (current !== undefined && !client.closed) await client.remove(`${current}.part`, true).catch(() => {});
    throw new FlowdError('ERR_TRANSFER', `FTP upload to ${describeFtpTarget(target)}${what} failed: ${message}`, { cause: error });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    client.close();
  }
}

/** Removes a password from a server's or library's message (a short one cannot be told from other text, and is not echoed by servers anyway). */
function scrub(message: string, password: string): string {
  return password.length >= 3 ? message.split(password).join('***') : message;
}
