import type * as UndiciModule from 'undici';
import { lazy } from '../kernel/lazy.js';
import { normalizeTerm, readDictionary, redact } from './dictionary-feed.js';
import { FlowdError, HttpError, ParseError } from '../kernel/errors.js';

const undici = lazy<typeof UndiciModule>('undici');

/** What fetching one dictionary page returned. */
export interface DictionaryResponse {
  status: number;
  /** The Content-Type header. */
  contentType: string | undefined;
  /** The Location header of a redirect. */
  location?: string | undefined;
  /** The body (empty unless the status is 2xx). */
  text: string;
}

/**
 * Fetches one dictionary page. A narrow interface, so the API client (with
 * its credentials) or a test can stand in for the default, undici's `request`.
 */
export type DictionaryFetch = (url: string, options: { signal: AbortSignal; maxBytes: number }) => Promise<DictionaryResponse>;

/** Options of a DictionaryCache. */
export interface DictionaryCacheOptions {
  /** How long a fetched dictionary is used before it is fetched again, counted from when it arrived. @default 300000 (5 minutes) */
  ttlMs?: number;
  /** The clock, in ms. @default Date.now */
  now?: () => number;
  /** @default undiciDictionaryFetch (a GET with undici's `request`; credentials in the URL become Basic auth) */
  fetch?: DictionaryFetch;
  /** Gives up on one page after this long. @default 30000 */
  timeoutMs?: number;
  /** Refuses a page larger than this. @default 16777216 (16 MiB) */
  maxBytes?: number;
  /** Follows an Atom feed's `<link rel="next">` at most this many pages. @default 50 */
  maxPages?: number;
}

/** Terms (trimmed, runs of white space made one space) to values. */
export type Dictionary = ReadonlyMap<string, string>;

interface Entry {
  loadedAt: number | undefined;
  terms: Promise<Dictionary>;
}

/**
 * Dictionaries by URL, each fetched once and reused for `ttlMs`; lookups
 * that come while it is being fetched share that one fetch. A failed fetch
 * is not kept: the next lookup tries again.
 *
 * A dictionary is an Atom feed, each `<entry>` a term: its `<title>` is the
 * term and its `<id>` the value (its first `<link href>` when it has no id);
 * or JSON, either `[{ "term": "Sport", "value": "urn:x:1" }, ...]` or
 * `{ "Sport": "urn:x:1", ... }`. When a term occurs twice the first wins.
 * @example
 * const dictionaries = new DictionaryCache({ ttlMs: 60_000 });
 * await dictionaries.lookup('https://vizone.example/dictionary/genres', 'Sport'); // 'urn:x:1' or undefined
 */
export class DictionaryCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly fetch: DictionaryFetch;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxPages: number;

  constructor(options: DictionaryCacheOptions = {}) {
    const {
      ttlMs = 300_000,
      now = Date.now,
      fetch = undiciDictionaryFetch,
      timeoutMs = 30_000,
      maxBytes = 16 * 1024 * 1024,
      maxPages = 50,
    } = options;
    for (const [name, value] of Object.entries({ ttlMs, timeoutMs, maxBytes, maxPages })) {
      if (!Number.isFinite(value) || value < 0)
        throw new FlowdError('ERR_INVALID_ARGUMENT', `DictionaryCache: ${name} is ${value}; expected a number of at least 0`);
    }
    this.ttlMs = ttlMs;
    this.now = now;
    this.fetch = fetch;
    this.timeoutMs = timeoutMs;
    this.maxBytes = maxBytes;
    this.maxPages = maxPages;
  }

  /** The value of `term` in the dictionary at `url`, or undefined. `signal` stops this caller waiting, not a fetch others share. */
  async lookup(url: string, term: string, signal?: AbortSignal): Promise<string | undefined> {
    const terms = await this.load(url, signal);
    return terms.get(normalizeTerm(term));
  }

  /** The whole dictionary at `url`, from the cache while it is fresh. Throws an HttpError or a ParseError naming the URL. */
  load(url: string, signal?: AbortSignal): Promise<Dictionary> {
    let entry = this.entries.get(url);
    if (entry?.loadedAt !== undefined && this.now() - entry.loadedAt >= this.ttlMs) entry = undefined;
    if (entry === undefined) {
      const fresh: Entry = { loadedAt: undefined, terms: this.fetchAll(url) };
      void fresh.terms.then(
        () => (fresh.loadedAt = this.now()),
        () => this.entries.get(url) === fresh && this.entries.delete(url),
      );
      this.entries.set(url, fresh);
      entry = fresh;
    }
    return signal === undefined ? entry.terms : abandonable(entry.terms, signal);
  }

  /** Forgets every dictionary. */
  clear(): void {
    this.entries.clear();
  }

  private async fetchAll(url: string): Promise<Dictionary> {
    const terms = new Map<string, string>();
    const seen = new Set<string>();
    for (let page: string | undefined = url; page !== undefined;) {
      if (seen.size >= this.maxPages)
        throw new ParseError('dictionary feed', undefined, redact(url), `it has more than ${this.maxPages} pages (maxPages)`);
      seen.add(page);
      const response = await this.fetchPage(page);
      const next: string | undefined = readDictionary(response.text, response.contentType, page, terms);
      page = next !== undefined && !seen.has(next) ? next : undefined;
    }
    return terms;
  }

  private async fetchPage(url: string): Promise<DictionaryResponse> {
    let response: DictionaryResponse;
    try {
      response = await this.fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), maxBytes: this.maxBytes });
    } catch (error) {
      if (error instanceof FlowdError) throw error;
      const reason =
        (error as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs}ms` : ((error as Error).message ?? String(error));
      throw new HttpError('GET', redact(url), undefined, `cannot fetch the dictionary at ${redact(url)}: ${reason}`, { cause: error });
    }
    const { status, location } = response;
    if (status >= 200 && status < 300) return response;
    const moved = status >= 300 && status < 400 && location ? `; it moved to ${location}: set source to that URL` : '';
    throw new HttpError('GET', redact(url), status, `the dictionary at ${redact(url)} answered HTTP ${status}; expected 200${moved}`);
  }
}

const ACCEPT = 'application/atom+xml, application/json;q=0.9, */*;q=0.1';

/** The default DictionaryFetch: a GET with undici's `request`. Credentials in the URL are sent as Basic auth, never in the URL. */
export const undiciDictionaryFetch: DictionaryFetch = async (url, { signal, maxBytes }) => {
  const target = new URL(url);
  const headers: Record<string, string> = { accept: ACCEPT };
  if (target.username !== '' || target.password !== '') {
    const user = decodeURIComponent(target.username);
    const password = decodeURIComponent(target.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  const { statusCode, headers: answer, body } = await undici().request(target, { method: 'GET', headers, signal });
  const contentType = first(answer['content-type']);
  const location = first(answer.location);
  if (statusCode < 200 || statusCode >= 300) {
    await body.dump();
    return { status: statusCode, contentType, location, text: '' };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new ParseError('dictionary feed', undefined, redact(url), `it is larger than ${maxBytes} bytes (maxBytes)`);
    }
    chunks.push(chunk);
  }
  return { status: statusCode, contentType, location, text: Buffer.concat(chunks).toString('utf8') };
};

/** The cache every MultiParser uses unless given its own. */
export const sharedDictionaries = new DictionaryCache();

function first(header: string | string[] | undefined): string | undefined {
  return Array.isArray(header) ? header[0] : header;
}

function abandonable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
