/**
 * The narrow interface a store backend implements (BullMQ style): the store
 * depends on this, never on a backend's class. A backend keeps one
 * namespace; it validates nothing about values (the store did) and speaks
 * in JSON text.
 */

/** One record as a backend read it. */
export interface BackendRecord {
  /** The value, parsed from its JSON text. */
  value: unknown;
  /** Its version: a positive whole number, never reused for the key (no ABA). */
  version: number;
}

/** Conditions on a backend write. */
export interface WriteConditions {
  /** Write only if the key is at this version (0: only if it has no value). */
  ifVersion?: number | undefined;
  /** A fencing token: refused when older than the highest the key accepted. */
  fence?: number | undefined;
}

/**
 * What a write or remove found. `written`/`removed` carry the new version;
 * `conflict` the version found; `fenced` the highest token the key accepted.
 */
export type WriteOutcome = { kind: 'written'; version: number } | { kind: 'conflict'; version: number } | { kind: 'fenced'; fence: number };

/** What a remove found; `fenced` carries the highest token the key accepted. */
export type RemoveOutcome =
  { kind: 'removed' } | { kind: 'absent' } | { kind: 'conflict'; version: number } | { kind: 'fenced'; fence: number };

/** Conditions on a log append. */
export interface AppendConditions {
  /** Append only if the log holds exactly this many entries (0: only if it is empty or absent). */
  ifLength?: number | undefined;
  /** A fencing token: refused when older than the highest the log accepted. */
  fence?: number | undefined;
}

/**
 * What an append found. `appended` carries the log's new length;
 * `conflict` the length found; `fenced` the highest token the log accepted.
 */
export type AppendOutcome = { kind: 'appended'; length: number } | { kind: 'conflict'; length: number } | { kind: 'fenced'; fence: number };

/** The backend's connection state, for backends that can lose theirs. */
export type BackendStatus = { available: true } | { available: false; error: { code: string; message: string } };

/** A store backend: `file` (embedded), `redis` or `postgres` (shared by several daemons). */
export interface StoreBackend {
  /** `file`, `redis` or `postgres`, for messages. */
  readonly kind: string;
  /** Where the records live, safe to print (a folder, a URL without its password). */
  readonly where: string;
  /** Gets ready: creates the folder, connects. Rejects when it cannot. */
  open(): Promise<void>;
  /** The record under `key`, or undefined. Throws StoreError ERR_STORE for a corrupt record. */
  read(key: string): Promise<BackendRecord | undefined>;
  /** Compare-and-set: stores `json` under `key` when the conditions hold. Fence is checked first. */
  write(key: string, json: string, conditions: WriteConditions): Promise<WriteOutcome>;
  /**
   * Removes the value; `ifVersion` and `fence` as for write (fence first).
   * The key keeps the highest fencing token it accepted, this one included.
   */
  remove(key: string, conditions: WriteConditions): Promise<RemoveOutcome>;
  /** Waits for writes in flight, then lets go of every resource. */
  close(): Promise<void>;
  /** Tells `listener` when the backend loses or regains its connection; returns an unsubscribe function. */
  onStatus?(listener: (status: BackendStatus) => void): () => void;
  /**
   * A cheap health check (`Pingable`; Redis: PING on the backend's connection; a
   * folder: it is there and writable): resolves when the backend can
   * serve, rejects with StoreError ERR_STORE_UNAVAILABLE when it cannot,
   * or with the signal's reason once `signal` aborts. Optional: while the
   * app's store is down, a backend without it is probed by running one
   * held event instead.
   */
  ping?(signal?: AbortSignal): Promise<void>;
  /**
   * Appends entries (JSON texts) to the append-only log under `key` when the
   * conditions hold (fence first), in one atomic step: a log's cost per
   * entry does not grow with its length. Logs are a namespace of their own
   * beside the records (a log and a record may share a name). Optional: a
   * backend without logs gets them emulated by one record per log
   * (`recordLogs`), rewritten whole at each append.
   */
  append?(key: string, jsons: readonly string[], conditions: AppendConditions): Promise<AppendOutcome>;
  /** The log's entries from index `from` (0: the first) to its end, parsed; none when it has none. ERR_STORE for a corrupt entry. */
  readLog?(key: string, from: number): Promise<unknown[]>;
}
