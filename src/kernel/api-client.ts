/**
 * The API client's surface, which workers see as `ctx.client`: declared in
 * the kernel because the worker layer (actors/workers) hands it out while
 * the client itself (src/toolkit/client.ts, `ApiClient`) lives above it.
 */

/**
 * What a request may carry: a string (sent as is, with the given content
 * type, or `application/xml` when it looks like XML, else `text/plain`),
 * bytes (`application/octet-stream` unless told), or any other value,
 * sent as JSON (`application/json`).
 */
export type RequestBody = string | Uint8Array | object | number | boolean | null;

/** Options of one request. */
export interface RequestOptions {
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Sent as `If-Match`: the write only succeeds on that version, else ConflictError (409 / 412). */
  etag?: string;
  /** The body's content type. @default guessed from the body (see RequestBody) */
  contentType?: string;
  /** Aborts the request and any pause before a retry; the request rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Whether 5xx answers and connection errors are retried. A 429 is retried
   * unless this is set to false: RFC 6585 means it for a request the server
   * refused before acting on it.
   * @default true for GET, HEAD, PUT, DELETE and OPTIONS; false for POST and PATCH
   */
  idempotent?: boolean;
}

/** One request for `client.request()`. */
export interface ApiRequest extends RequestOptions {
  method: string;
  /** A path on the server (`/api/asset/1`), or an absolute URL on the same server (a record's edit link). */
  path: string;
  body?: RequestBody;
}

/** A 2xx response, its body decoded by content type. */
export interface ApiResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** JSON: the value; XML: fast-xml-parser's object (`@_` attributes, entities left as written); text: the string; other: a Buffer; empty: undefined. */
  body: T;
  /** The raw text of a JSON, XML or text response (undefined for bytes). */
  text: string | undefined;
  /** The ETag header: pass it back as `etag` to update this version. */
  etag: string | undefined;
}

/**
 * What createOrUpdate writes: a body, or a function of the record as it is
 * now (undefined when missing) that returns the body, called again on each
 * attempt after a conflict, so a change merges into the latest version.
 */
export type Payload = RequestBody | ((current: ApiResponse | undefined) => RequestBody);

/** Options of createOrUpdate. */
export interface CreateOrUpdateOptions {
  /**
   * Whether the record as it is (`current`) already equals `next`, so
   * nothing is written.
   * @default for a string, the response's raw text equals it; for bytes, the same bytes; otherwise deep equality of the parsed JSON
   */
  compare?: (current: ApiResponse, next: RequestBody) => boolean;
  /** The version the payload was based on: the first write sends it as If-Match instead of the fetched ETag, so a change since then is a conflict. @default the fetched ETag */
  etag?: string;
  /** How a missing record is created: PUT to the record's URL (with `If-None-Match: *`), or POST to `createPath`. @default 'PUT' */
  create?: 'PUT' | 'POST';
  /** Where a missing record is created. @default the record's URL */
  createPath?: string;
  /** The body's content type. @default guessed from the body */
  contentType?: string;
  /** Extra headers for every request (an Accept header, say). */
  headers?: Record<string, string>;
  /** Attempts in all, the first included, each refetching the record (Flow's `max_retries`). @default 3 (the seed's) */
  maxRetries?: number;
  signal?: AbortSignal;
}

/** What createOrUpdate did: exactly one of `created`, `updated`, `unchanged` is true. */
export interface CreateOrUpdateResult {
  created: boolean;
  updated: boolean;
  unchanged: boolean;
  /** The status of the write, or of the GET when unchanged. */
  status: number;
  /** The record as the server returned it (or the payload written, when the write answered without a body). */
  body: unknown;
  /** The record's ETag after the call, when the server sent one. */
  etag: string | undefined;
}

/** What `ctx.client` offers: `ApiClient` implements it. */
export interface RestClient {
  /** The server's origin (`https://vizone.example.com`). */
  readonly origin: string;
  get<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  put<T = unknown>(path: string, body: RequestBody, options?: RequestOptions): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, body: RequestBody, options?: RequestOptions): Promise<ApiResponse<T>>;
  delete<T = unknown>(path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
  /** Reads the record at `url` and writes `payload` unless it is there already, retrying on conflicts. */
  createOrUpdate(url: string, payload: Payload, options?: CreateOrUpdateOptions): Promise<CreateOrUpdateResult>;
  request<T = unknown>(req: ApiRequest): Promise<ApiResponse<T>>;
  close(): Promise<void>;
}
