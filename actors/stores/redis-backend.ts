import type * as IoredisModule from 'ioredis';
import type { Redis } from 'ioredis';
import { lazy } from '../../src/kernel/lazy.js';
import { StoreError } from '../../src/kernel/errors.js';
import { untilAborted } from '../../src/kernel/ping.js';
import type {
  AppendConditions,
  AppendOutcome,
  BackendRecord,
  BackendStatus,
  RemoveOutcome,
  StoreBackend,
  WriteConditions,
  WriteOutcome,
} from './backend.js';
import { displayUrl } from '../display-url.js';

// ioredis loads when a Redis backend is opened, not with flowd.
const ioredis = lazy<typeof IoredisModule>('ioredis');

/** Options of the Redis backend. */
export interface RedisBackendOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://...` (TLS). */
  url: string;
  /** The store's namespace (the app name). */
  namespace: string;
  /** What every key of this store starts with. @default `flowd:store:<namespace>:` */
  prefix?: string;
  /** A command with no answer after this long fails with ERR_STORE_UNAVAILABLE. @default 5000 */
  commandTimeoutMs?: number;
  /** A connection attempt given up after this long. @default 5000 */
  connectTimeoutMs?: number;
}

// KEYS[1] the record (a hash: value, version, fence), KEYS[2] the namespace's version counter.
// ARGV: value JSON, ifVersion ('' for none), fence ('' for none). The fence is checked first.
const WRITE = `
local found = redis.call('HMGET', KEYS[1], 'value', 'version', 'fence')
local version = 0
if found[1] then version = tonumber(found[2]) end
local fence = tonumber(found[3]) or 0
if ARGV[3] ~= '' then
  local offered = tonumber(ARGV[3])
  if offered < fence then return {'fenced', tostring(fence)} end
  fence = offered
end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= version then return {'conflict', tostring(version)} end
local new = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'version', new, 'fence', tostring(fence))
return {'written', tostring(new)}
`;

// KEYS[1] the record. ARGV: ifVersion ('' for none), fence ('' for none); the fence is checked first, as in WRITE.
// A key that accepted a fence keeps the highest as a tombstone (a hash with only `fence`), even one never written.
const REMOVE = `
local found = redis.call('HMGET', KEYS[1], 'value', 'version', 'fence')
local version = 0
if found[1] then version = tonumber(found[2]) end
local accepted = tonumber(found[3]) or 0
local fence = accepted
if ARGV[2] ~= '' then
  local offered = tonumber(ARGV[2])
  if offered < accepted then return {'fenced', tostring(accepted)} end
  fence = offered
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= version then return {'conflict', tostring(version)} end
if fence > accepted then redis.call('HSET', KEYS[1], 'fence', tostring(fence)) end
if not found[1] then return {'absent', '0'} end
if fence > 0 then redis.call('HDEL', KEYS[1], 'value', 'version') else redis.call('DEL', KEYS[1]) end
return {'removed', tostring(version)}
`;

// KEYS[1] the log (a list), KEYS[2] its highest fencing token. ARGV: ifLength ('' for none), fence ('' for none),
// then the entries. The fence is checked first, then the length; the token is kept only when the entries are.
const APPEND = `
local accepted = tonumber(redis.call('GET', KEYS[2])) or 0
if ARGV[2] ~= '' and tonumber(ARGV[2]) < accepted then return {'fenced', tostring(accepted)} end
local length = redis.call('LLEN', KEYS[1])
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= length then return {'conflict', tostring(length)} end
if ARGV[2] ~= '' and tonumber(ARGV[2]) > accepted then redis.call('SET', KEYS[2], ARGV[2]) end
for i = 3, #ARGV do length = redis.call('RPUSH', KEYS[1], ARGV[i]) end
return {'appended', tostring(length)}
`;

interface ScriptedRedis {
  flowdLogAppend(log: string, fence: string, ifLength: string, offered: string, ...entries: string[]): Promise<[string, string]>;
  flowdStoreWrite(record: string, counter: string, json: string, ifVersion: string, fence: string): Promise<[string, string]>;
  flowdStoreRemove(record: string, ifVersion: string, fence: string): Promise<[string, string]>;
}

/**
 * The backend several daemons share: one Redis hash per key
 * (`<prefix><key>`: value, version, fence) and one counter per namespace
 * (the key `<prefix>` itself, which no non-empty store key can equal) that
 * gives every write a version never used before in the namespace, so a
 * key deleted and written again never repeats a version (no ABA).
 * Compare-and-set and fencing run in Lua scripts, atomically.
 *
 * While Redis is unreachable, calls fail at once with StoreError
 * ERR_STORE_UNAVAILABLE (no offline queue, no resending, a command timeout)
 * and ioredis reconnects on its own with a capped, jittered backoff. A write
 * that fails that way may or may not have been applied: the caller reads
 * again before deciding (update() does not retry it).
 */
export class RedisBackend implements StoreBackend {
  readonly kind = 'redis';
  readonly where: string;
  /** What every key of this store starts with. */
  readonly prefix: string;
  private readonly namespace: string;
  private readonly client: Redis;
  private readonly listeners = new Set<(status: BackendStatus) => void>();
  private available = false;
  private lastError: Error | undefined;

  constructor(options: RedisBackendOptions) {
    this.namespace = options.namespace;
    this.where = displayUrl(options.url);
    this.prefix = options.prefix ?? `flowd:store:${options.namespace}:`;
    this.client = new (ioredis().Redis)(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      // A command in flight when the connection drops fails at once and is never resent:
      // a compare-and-set replayed after a reconnect could apply twice, or conflict with itself.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 5000,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      // Capped at 500ms, so the store is back within half a second of Redis (one TCP connect
      // an attempt), and jittered, so daemons that lost Redis together do not return together.
      retryStrategy: (times) => Math.min(500, 50 * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2),
    });
    this.client.defineCommand('flowdStoreWrite', { numberOfKeys: 2, lua: WRITE });
    this.client.defineCommand('flowdStoreRemove', { numberOfKeys: 1, lua: REMOVE });
    this.client.defineCommand('flowdLogAppend', { numberOfKeys: 2, lua: APPEND });
    // Without a listener ioredis prints every connection error; the status carries it instead.
    this.client.on('error', (error: Error) => (this.lastError = error));
    this.client.on('ready', () => this.setAvailable(true));
    this.client.on('close', () => this.setAvailable(false));
  }

  async open(): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      // ioredis keeps reconnecting; the store hears `available` when it succeeds.
      throw this.unavailable(error);
    }
  }

  async read(key: string): Promise<BackendRecord | undefined> {
    const [json, version] = await this.call(() => this.client.hmget(this.prefix + key, 'value', 'version'));
    if (json === null || json === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}": the Redis key ${JSON.stringify(this.prefix + key)} at ${this.where} is corrupt (its value is not JSON: ${(error as Error).message})`,
        { cause: error },
      );
    }
    const number = Number(version);
    if (!Number.isSafeInteger(number) || number < 1) {
      throw new StoreError(
        'ERR_STORE',
        `Store "${this.namespace}": the Redis key ${JSON.stringify(this.prefix + key)} at ${this.where} is corrupt (expected a version of at least 1, found ${JSON.stringify(version)})`,
      );
    }
    return { value, version: number };
  }

  async write(key: string, json: string, { ifVersion, fence }: WriteConditions): Promise<WriteOutcome> {
    const [kind, number] = await this.call(() =>
      this.scripts.flowdStoreWrite(
        this.prefix + key,
        this.prefix,
        json,
        ifVersion === undefined ? '' : String(ifVersion),
        fence === undefined ? '' : String(fence),
      ),
    );
    if (kind === 'fenced') return { kind, fence: Number(number) };
    if (kind === 'conflict') return { kind, version: Number(number) };
    return { kind: 'written', version: Number(number) };
  }

  async remove(key: string, { ifVersion, fence }: WriteConditions): Promise<RemoveOutcome> {
    const [kind, number] = await this.call(() =>
      this.scripts.flowdStoreRemove(
        this.prefix + key,
        ifVersion === undefined ? '' : String(ifVersion),
        fence === undefined ? '' : String(fence),
      ),
    );
    if (kind === 'fenced') return { kind, fence: Number(number) };
    if (kind === 'conflict') return { kind, version: Number(number) };
    return { kind: kind === 'removed' ? 'removed' : 'absent' };
  }

  /**
   * Logs are Redis lists under `<prefix>` + NUL + `log:<key>` (a record's
   * key names no log: flowd's keys and a worker's do not start with NUL),
   * each with its highest fencing token beside it (the same + NUL + `fence`).
   */
  private logKey(key: string): string {
    return `${this.prefix}\u0000log:${key}`;
  }

  async append(key: string, jsons: readonly string[], { ifLength, fence }: AppendConditions): Promise<AppendOutcome> {
    const log = this.logKey(key);
    const [kind, number] = await this.call(() =>
      this.scripts.flowdLogAppend(
        log,
        `${log}\u0000fence`,
        ifLength === undefined ? '' : String(ifLength),
        fence === undefined ? '' : String(fence),
        ...jsons,
      ),
    );
    if (kind === 'fenced') return { kind, fence: Number(number) };
    if (kind === 'conflict') return { kind, length: Number(number) };
    return { kind: 'appended', length: Number(number) };
  }

  async readLog(key: string, from: number): Promise<unknown[]> {
    const log = this.logKey(key);
    const entries = await this.call(() => this.client.lrange(log, from, -1));
    return entries.map((json, index) => {
      try {
        return JSON.parse(json) as unknown;
      } catch (error) {
        throw new StoreError(
          'ERR_STORE',
          `Store "${this.namespace}": entry ${from + index} of the Redis list ${JSON.stringify(log)} at ${this.where} is corrupt (it is not JSON: ${(error as Error).message})`,
          { cause: error },
        );
      }
    });
  }

  /** PING on the backend's own connection: fails at once while it is down (no offline queue), within the command timeout when Redis hangs. */
  async ping(signal?: AbortSignal): Promise<void> {
    await untilAborted(
      this.call(() => this.client.ping()),
      signal,
    );
  }

  async close(): Promise<void> {
    this.listeners.clear();
    // QUIT lets commands in flight finish; with Redis down it fails at once, so just drop the socket.
    await this.client.quit().catch(() => this.client.disconnect());
  }

  onStatus(listener: (status: BackendStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private get scripts(): ScriptedRedis {
    return this.client as unknown as ScriptedRedis;
  }

  private setAvailable(available: boolean): void {
    if (available === this.available) return;
    this.available = available;
    const status: BackendStatus = available
      ? { available }
      : { available, error: { code: 'ERR_STORE_UNAVAILABLE', message: this.unavailable(this.lastError).message } };
    for (const listener of [...this.listeners]) listener(status);
  }

  /** The connection's socket is corked until the next tick: see call(). */
  private corked = false;

  /**
   * Runs a command, with Redis's errors as StoreErrors. Commands sent in the
   * same turn of the event loop go out in one socket write: the socket is
   * corked at the first and uncorked on the next tick. Many runs or workers
   * answered by one read send their next commands together, and a write
   * costs a system call and a wake-up of Redis each (bench:workflow, 2,000
   * runs: the store's writes alone and the workflow engine each about a
   * quarter faster). No command waits longer than the turn it was sent in.
   */
  private async call<T>(command: () => Promise<T>): Promise<T> {
    const stream = (this.client as unknown as { stream?: { cork?(): void; uncork?(): void; writable?: boolean } }).stream;
    if (!this.corked && stream?.cork && stream.writable) {
      this.corked = true;
      stream.cork();
      process.nextTick(() => {
        this.corked = false;
        stream.uncork!();
      });
    }
    try {
      return await command();
    } catch (error) {
      if (isServerRefusal(error)) {
        throw new StoreError(
          'ERR_STORE',
          `Store "${this.namespace}": Redis at ${this.where} refused a command: ${(error as Error).message}`,
          { cause: error },
        );
      }
      throw this.unavailable(error);
    }
  }

  private unavailable(error: unknown): StoreError {
    // ioredis's own words for "not connected" say less than the socket error that caused it.
    const vague = !(error instanceof Error) || !error.message || /^(Connection is closed|Stream isn't writeable)/.test(error.message);
    const detail = vague && this.lastError ? this.lastError : error;
    const reason = detail instanceof Error && detail.message ? detail.message : 'the connection is down';
    return new StoreError(
      'ERR_STORE_UNAVAILABLE',
      `Store "${this.namespace}" cannot reach Redis at ${this.where}: ${reason} (reconnecting)`,
      { cause: error },
    );
  }
}

/** A reply error from a reachable server (a bad script, a key of the wrong type), as opposed to a lost connection. */
function isServerRefusal(error: unknown): boolean {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return false;
  // A server that is loading, busy or without its master is as good as down.
  return !/^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY)\b/.test(error.message);
}
