import { HttpError } from '../../kernel/errors.js';
import { retryOnConflict } from '../../kernel/retry-on-conflict.js';
import { deepEqual } from './body.js';
import type {
  ApiRequest,
  ApiResponse,
  CreateOrUpdateOptions,
  CreateOrUpdateResult,
  Payload,
  RequestBody,
} from '../../kernel/api-client.js';

export type { CreateOrUpdateOptions, CreateOrUpdateResult, Payload } from '../../kernel/api-client.js';

/** The narrow interface createOrUpdate needs from a client. */
export interface RequestSender {
  request<T = unknown>(req: ApiRequest): Promise<ApiResponse<T>>;
}

/**
 * The seed's create_or_update_asset for any REST record: GET it; when
 * missing (404) create it; when present write the payload with If-Match
 * only if it differs. A 409 / 412 refetches and tries again (retryOnConflict).
 * @example
 * const result = await createOrUpdate(client, '/api/asset/1', { title: 'Hello' });
 * // { created: false, updated: true, unchanged: false, status: 200, body: {...}, etag: '"7"' }
 */
export async function createOrUpdate(
  client: RequestSender,
  url: string,
  payload: Payload,
  options: CreateOrUpdateOptions = {},
): Promise<CreateOrUpdateResult> {
  const { compare = sameContent, create = 'PUT', createPath = url, contentType, headers, signal, maxRetries = 3 } = options;
  return retryOnConflict(
    async ({ attempt }) => {
      const current = await fetchRecord(client, url, headers, signal);
      const next = typeof payload === 'function' ? payload(current) : payload;
      if (current === undefined) {
        const method = create;
        const path = method === 'PUT' ? url : createPath;
        // A PUT create must not overwrite a record someone created meanwhile: that is a 412, and the next attempt updates it.
        const createHeaders = method === 'PUT' ? { ...headers, 'if-none-match': '*' } : headers;
        const written = await client.request({ method, path, body: next, contentType, headers: createHeaders, signal });
        return outcome('created', written, next);
      }
      if (compare(current, next)) return outcome('unchanged', current, current.body);
      const etag = attempt === 1 && options.etag !== undefined ? options.etag : current.etag;
      const written = await client.request({ method: 'PUT', path: url, body: next, contentType, headers, etag, signal });
      return outcome('updated', written, next);
    },
    { maxRetries, ...(signal ? { signal } : {}) },
  );
}

async function fetchRecord(
  client: RequestSender,
  url: string,
  headers: Record<string, string> | undefined,
  signal: AbortSignal | undefined,
): Promise<ApiResponse | undefined> {
  try {
    return await client.request({ method: 'GET', path: url, headers, signal });
  } catch (error) {
    if (error instanceof HttpError && error.status === 404) return undefined;
    throw error;
  }
}

function outcome(what: 'created' | 'updated' | 'unchanged', response: ApiResponse, written: unknown): CreateOrUpdateResult {
  return {
    created: what === 'created',
    updated: what === 'updated',
    unchanged: what === 'unchanged',
    status: response.status,
    body: response.body === undefined ? written : response.body,
    etag: response.etag,
  };
}

/** The default comparison: raw text for a string payload, bytes for bytes, else deep JSON equality. */
export function sameContent(current: ApiResponse, next: RequestBody): boolean {
  if (typeof next === 'string') return current.text === next;
  if (next instanceof Uint8Array) return current.body instanceof Uint8Array && Buffer.compare(current.body, next) === 0;
  return deepEqual(current.body, next);
}
