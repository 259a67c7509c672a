/**
 * What a built-in app writes records and media to: the folder target and
 * the HTTP target implement it (src/apps/targets.ts picks one from `[Target]`).
 */

/** One record as a target holds it. */
export interface TargetRecord {
  id: string;
  /** Field name (`asset.title`) -> value. */
  fields: Record<string, unknown>;
  /** The names of the media attached to it, in the order they came; empty for a placeholder. */
  media: string[];
  /** The form (Flow's VDF form) its metadata is written in, when a write gave one (`[Vdf] form`). */
  form?: string;
}

/** What `createOrUpdate` did: exactly one of `created`, `updated`, `unchanged` is true. */
export interface TargetWriteResult {
  created: boolean;
  updated: boolean;
  unchanged: boolean;
  /** The record after the call. */
  record: TargetRecord;
}

/** Options of `Target.createOrUpdate`. */
export interface TargetWriteOptions {
  /**
   * The version the change was computed from (`get(id).etag`): the write
   * only succeeds over that version, else ConflictError (for retryOnConflict).
   * @default none: the fields are merged into whatever version is current
   */
  etag?: string;
  /** The form the fields are in (XML import's `[Vdf] form`, which Flow sent with the metadata); kept on the record. @default the record's form */
  form?: string;
  signal?: AbortSignal;
}

/** Options of `Target.attachMedia`. */
export interface AttachOptions {
  /** The media's name on the record. @default the file's base name */
  name?: string;
  signal?: AbortSignal;
}

/**
 * Where the built-in apps write records: a folder (the embedded default) or
 * a REST API. Viz One itself is one such API.
 */
export interface Target {
  /** `folder /data/records` or `http http://host/api/records`, for logs. */
  readonly description: string;
  /** The record and its version, or undefined when there is none. */
  get(id: string, options?: { signal?: AbortSignal }): Promise<{ record: TargetRecord; etag?: string } | undefined>;
  /**
   * Creates the record with `fields`, or merges `fields` over the fields it
   * has (and sets `options.form`); writes nothing when nothing changes. Conflicts are retried inside
   * (refetching) unless `etag` is given, which makes a conflict a
   * ConflictError for the caller to retry.
   */
  createOrUpdate(id: string, fields: Record<string, unknown>, options?: TargetWriteOptions): Promise<TargetWriteResult>;
  /** Takes `file` (it is moved away) and attaches it to the record; ERR_RECORD when the record does not exist. */
  attachMedia(id: string, file: string, options?: AttachOptions): Promise<void>;
  /** Whether the record exists and has media (is no longer a placeholder). */
  hasMedia(id: string): Promise<boolean>;
}
