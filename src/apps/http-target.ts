import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { deepEqual } from '../toolkit/client/body.js';
import { createOrUpdate, type RequestSender } from '../toolkit/client/create-or-update.js';
import type { ApiResponse } from '../kernel/api-client.js';
import { FlowdError, HttpError } from '../kernel/errors.js';
import { moveFile } from './move-file.js';
import { checkMediaName, checkRecordId } from './record-names.js';
import type { AttachOptions, Target, TargetRecord, TargetWriteOptions, TargetWriteResult } from './target.js';

/**
 * `[Target] type = http`: records on a REST API, through the app's API
 * client (`[Api]`: basic auth, retries of idempotent requests, ETags).
 *
 * The REST shape it expects (`<path>` is `[Target] path`, default `/records`):
 *
 * - `GET <path>/<id>` answers `200` with JSON `{ "id": "A1", "fields": { "asset.title": "..." }, "media": ["clip.mxf"] }`
 *   and an `ETag`, or `404` when there is no such record.
 * - `PUT <path>/<id>` with JSON `{ "id": "A1", "fields": { ... } }` (and
 *   `"form"` when the write gives one, `[Vdf] form`) creates the
 *   record (sent with `If-None-Match: *`) or replaces its fields (sent with
 *   `If-Match: <etag>`); `409` or `412` when the version does not match. The
 *   server keeps the record's `media`.
 * - `POST <path>/<id>/media` with `Content-Type: text/uri-list` and a body of
 *   `file://` URIs, one a line (`file:///srv/media/A1/clip.mxf\r\n`), attaches
 *   that media; the server reads the file and adds its name to `media`.
 *
 * A media file is first moved into `<media folder>/<id>/<name>`, its
 * lasting home, so the URI stays valid for the server to read.
 */
export class HttpTarget implements Target {
  readonly description: string;

  constructor(
    readonly client: RequestSender,
    readonly path: string,
    readonly mediaFolder: string,
    origin = '',
  ) {
    this.description = `http ${origin}${path}`;
  }

  /** The record's path on the server. */
  urlFor(id: string): string {
    return `${this.path}/${encodeURIComponent(checkRecordId(id, this.description))}`;
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<{ record: TargetRecord; etag?: string } | undefined> {
    const url = this.urlFor(id);
    let response: ApiResponse;
    try {
      response = await this.client.request({
        method: 'GET',
        path: url,
        headers: { accept: 'application/json' },
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (error instanceof HttpError && error.status === 404) return undefined;
      throw error;
    }
    const record = toRecord(response.body, id, `GET ${url}`);
    return response.etag === undefined ? { record } : { record, etag: response.etag };
  }

  async createOrUpdate(id: string, fields: Record<string, unknown>, options: TargetWriteOptions = {}): Promise<TargetWriteResult> {
    const url = this.urlFor(id);
    let media: string[] = [];
    const result = await createOrUpdate(
      this.client,
      url,
      (current) => {
        const record = current && toRecord(current.body, id, `GET ${url}`);
        media = record?.media ?? [];
        const form = options.form ?? record?.form;
        return { id, ...(form !== undefined ? { form } : {}), fields: { ...record?.fields, ...fields } };
      },
      {
        // Only the fields and the form count: the server's own keys (media, links) never make a write.
        compare: (current, next) => {
          const record = toRecord(current.body, id, `GET ${url}`);
          const { fields: nextFields, form } = next as { fields: unknown; form?: string };
          return deepEqual(record.fields, nextFields) && record.form === form;
        },
        contentType: 'application/json',
        headers: { accept: 'application/json' },
        // With an etag the caller computed the change from that version: a conflict is theirs to retry.
        ...(options.etag !== undefined ? { etag: options.etag, maxRetries: 1 } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
    const written = isRecordBody(result.body) ? toRecord(result.body, id, `PUT ${url}`) : undefined;
    const record = written ?? {
      id,
      fields: (result.body as { fields?: Record<string, unknown> } | undefined)?.fields ?? fields,
      media,
      ...(options.form !== undefined ? { form: options.form } : {}),
    };
    return { created: result.created, updated: result.updated, unchanged: result.unchanged, record };
  }

  async attachMedia(id: string, file: string, options: AttachOptions = {}): Promise<void> {
    const url = `${this.urlFor(id)}/media`;
    const name = checkMediaName(options.name ?? path.basename(file), this.description);
    const home = path.join(this.mediaFolder, checkRecordId(id, this.description), name);
    await mkdir(path.dirname(home), { recursive: true });
    await moveFile(file, home);
    await this.client.request({
      method: 'POST',
      path: url,
      body: `${pathToFileURL(home).href}\r\n`,
      contentType: 'text/uri-list',
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async hasMedia(id: string): Promise<boolean> {
    return ((await this.get(id))?.record.media.length ?? 0) > 0;
  }
}

function isRecordBody(body: unknown): boolean {
  return !!body && typeof body === 'object' && typeof (body as { fields?: unknown }).fields === 'object';
}

/** A response body as a record; ERR_RECORD when it is not `{ fields, media? }`. */
function toRecord(body: unknown, id: string, what: string): TargetRecord {
  if (!isRecordBody(body) || (body as { fields: unknown }).fields === null) {
    throw new FlowdError(
      'ERR_RECORD',
      `${what} answered ${describe(body)}; expected a JSON record { "id", "fields": { ... }, "media": [ ... ] }`,
    );
  }
  const { fields, media, form } = body as { fields: Record<string, unknown>; media?: unknown; form?: unknown };
  const names = Array.isArray(media) ? media.filter((m): m is string => typeof m === 'string') : [];
  return { id, fields, media: names, ...(typeof form === 'string' ? { form } : {}) };
}

function describe(body: unknown): string {
  if (body === undefined) return 'an empty body';
  if (typeof body === 'string') return `text "${body.slice(0, 80)}"`;
  if (Array.isArray(body)) return 'a JSON array';
  if (body && typeof body === 'object') return `an object with keys ${Object.keys(body).join(', ') || '(none)'}`;
  return `${typeof body} ${String(body)}`;
}
