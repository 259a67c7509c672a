/**
 * What workers see as `ctx.store`: one namespace per app (the seed's
 * per-application store), JSON values, optimistic versions.
 */

/** A value with the version it was read at. `version` is 0 when the key has no value. */
export interface Versioned<T = unknown> {
  value: T | undefined;
  version: number;
}

/** Conditions on a write. */
export interface PutOptions {
  /**
   * Write only if the key is still at this version (0: only if it has no
   * value); otherwise throw ConflictError (ERR_CONFLICT).
   */
  ifVersion?: number;
  /**
   * A lock's fencing token (`lock.fence`). The store remembers the highest
   * token it accepted for the key and refuses an older one with FencedError
   * (ERR_FENCED): a holder whose lease lapsed cannot overwrite its successor.
   */
  fence?: number;
}

/** Conditions on a delete. */
export interface DeleteOptions {
  /**
   * Delete only if the key is still at this version (0: only if it has no
   * value); otherwise throw ConflictError (ERR_CONFLICT).
   */
  ifVersion?: number;
  /**
   * A lock's fencing token (`lock.fence`), checked before `ifVersion` as for
   * put: a token older than the highest the key accepted is refused with
   * FencedError (ERR_FENCED) and the value stays, so a holder whose lease
   * lapsed cannot delete what its successor wrote. The key keeps the highest
   * token after the delete, so that holder stays fenced.
   */
  fence?: number;
}

/** Options for `update`. */
export interface UpdateOptions {
  /** Attempts in all, the first included (as retryOnConflict's `maxRetries`). @default 10 */
  maxRetries?: number;
  /** Stops retrying (the event's `ctx.signal`). */
  signal?: AbortSignal;
}

/** The app's store (`ctx.store`). */
export interface Store {
  /** The value under `key`, or undefined. */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** The value and its version (0 when there is none). */
  getVersioned<T = unknown>(key: string): Promise<Versioned<T>>;
  /**
   * Stores a JSON value (anything JSON cannot hold is a StoreError, ERR_STORE) and
   * returns it with its new version.
   */
  put<T = unknown>(key: string, value: T, options?: PutOptions): Promise<Versioned<T>>;
  /**
   * Removes the value; true when there was one. `ifVersion` and `fence` as
   * for put (the fence is checked first; the key keeps the highest token).
   */
  delete(key: string, options?: DeleteOptions): Promise<boolean>;
  /**
   * Read-modify-write: calls `fn(current)` and stores what it returns, only
   * if nobody wrote in between; on a conflict it reads again and calls `fn`
   * again (retryOnConflict with a jittered backoff).
   * @example await ctx.store.update('count', (n = 0) => n + 1);
   */
  update<T = unknown>(key: string, fn: (current: T | undefined) => T | Promise<T>, options?: UpdateOptions): Promise<Versioned<T>>;
}

/** Conditions on a log append. */
export interface AppendOptions {
  /**
   * Append only if the log still holds this many entries (0: only if it is
   * empty); otherwise throw ConflictError (ERR_CONFLICT).
   */
  ifLength?: number;
  /** A lock's fencing token, as for put: refused with FencedError (ERR_FENCED) when older than the highest the log accepted. */
  fence?: number;
}

/**
 * Append-only logs beside a store's records (internal: flowd keeps
 * workflow histories in them). A log under a key is not the record under
 * that key. Appending costs the same however long the log is: a Redis
 * list, a PostgreSQL row per entry, a JSON-lines file.
 */
export interface StoreLogs {
  /** Appends JSON values, in order, as one step; returns the log's new length. */
  append(key: string, values: readonly unknown[], options?: AppendOptions): Promise<number>;
  /** The log's entries from index `from` (default 0) to its end; none when there is no log. */
  read<T = unknown>(key: string, from?: number): Promise<T[]>;
}

/** A store that keeps logs too (the stores flowd opens all do). */
export interface LoggingStore extends Store {
  readonly logs: StoreLogs;
}
