import { Agent, request } from 'undici';
import { EventLogError } from '../../src/kernel/errors.js';
import type { LogEvent } from '../plugins/plugin-api.js';
import { displayUrl } from '../display-url.js';
import type { EventLogReader, HttpLogOptions } from './event-log-reader.js';
import { checkRange, describeValue, parseId, toLogEvent } from './log-event.js';

/** The largest answer read; a bigger one fails (ask for fewer events with `{n}`). */
export const MAX_FEED_BYTES = 64 * 1024 * 1024;
/** How many events a page of the walk to the latest id asks for. */
const WALK_PAGE = 500;
const EXPECTED_FEED = 'a JSON array of events or { "events": [...] }';
// Statuses a retry may cure besides 5xx: a request timeout and rate limiting.
const RETRYABLE_STATUSES = new Set([408, 429]);

/**
 * Reads the event log from an HTTP JSON feed: a GET of `url` with `{id}`
 * (events after this id) and `{n}` (at most this many) filled in, answering
 * a JSON array of events or `{ "events": [...] }`. Credentials in the URL are
 * sent as Basic auth and never shown.
 * @example const reader = httpLogReader({ kind: 'http', url: 'http://tracker/events?after={id}&limit={n}', latestUrl: undefined, timeoutMs: 30_000 });
 */
export function httpLogReader(options: HttpLogOptions): EventLogReader {
  const shownUrl = displayUrl(options.url);
  if (!options.url.includes('{id}')) {
    throw new EventLogError(
      'ERR_EVENT_LOG',
      `the feed URL ${shownUrl} has no {id}; expected a URL that asks for the events after {id} (and at most {n})`,
    );
  }
  let agent: Agent | undefined;
  const dispatcher = () =>
    (agent ??= new Agent({ connectTimeout: options.timeoutMs, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs }));

  async function getJson(url: string, expected: string, signal: AbortSignal | undefined): Promise<unknown> {
    signal?.throwIfAborted();
    const { target, shown, headers } = prepare(url);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const unavailable = (reason: string, cause?: unknown) =>
      new EventLogError('ERR_EVENT_LOG_UNAVAILABLE', `cannot read the feed ${shown}: ${reason}`, { cause });
    try {
      const response = await request(target, {
        method: 'GET',
        headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        dispatcher: dispatcher(),
      });
      const { statusCode, body } = response;
      if (statusCode < 200 || statusCode >= 300) {
        await body.dump().catch(() => {});
        if (statusCode >= 500 || RETRYABLE_STATUSES.has(statusCode)) throw unavailable(`it answered HTTP ${statusCode}`);
        throw new EventLogError('ERR_EVENT_LOG', `${shown} answered HTTP ${statusCode}; expected HTTP 200 with ${expected}`);
      }
      const tooLarge = () =>
        new EventLogError(
          'ERR_EVENT_LOG',
          `${shown} answered more than ${MAX_FEED_BYTES} bytes; expected at most that (ask for fewer events with {n})`,
        );
      if (Number(response.headers['content-length']) > MAX_FEED_BYTES) {
        body.destroy();
        throw tooLarge();
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_FEED_BYTES) {
          body.destroy();
          throw tooLarge();
        }
        chunks.push(chunk);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new EventLogError('ERR_EVENT_LOG', `${shown} answered text that is not JSON (${describeValue(text)}); expected ${expected}`);
      }
    } catch (error) {
      if (error instanceof EventLogError) throw error;
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) throw unavailable(`no answer within ${options.timeoutMs} ms`, error);
      const { code, message } = error as { code?: string; message?: string };
      if (code === 'UND_ERR_INVALID_ARG') throw new EventLogError('ERR_EVENT_LOG', `cannot request ${shown}: ${message}`, { cause: error });
      throw unavailable(code === 'ECONNREFUSED' ? 'connection refused' : `${message || code}`, error);
    }
  }

  async function read(after: number, limit: number, signal?: AbortSignal): Promise<LogEvent[]> {
    checkRange(after, limit);
    const url = options.url.replaceAll('{id}', encodeURIComponent(after)).replaceAll('{n}', encodeURIComponent(limit));
    const answer = await getJson(url, EXPECTED_FEED, signal);
    const shown = displayUrl(url);
    const items: unknown = Array.isArray(answer) ? answer : (answer as { events?: unknown } | null)?.events;
    if (!Array.isArray(items))
      throw new EventLogError('ERR_EVENT_LOG', `${shown} answered ${describeValue(answer)}; expected ${EXPECTED_FEED}`);
    // A feed that ignores {n} is cut to the limit: the rest comes with the next read.
    const events = items.slice(0, limit).map((item, index) => toLogEvent(item, `feed item ${index + 1} of ${shown}`));
    let previous = after;
    for (const [index, event] of events.entries()) {
      if (event.id <= previous) {
        throw new EventLogError(
          'ERR_EVENT_LOG',
          `feed item ${index + 1} of ${shown} has id ${event.id}, not above ${previous}; expected events after ${after} in increasing id order`,
        );
      }
      previous = event.id;
    }
    return events;
  }

  return {
    displayUrl: shownUrl,
    walksToLatest: options.latestUrl === undefined,
    async connect() {
      await read(0, 1);
    },
    async latestId(signal) {
      if (options.latestUrl !== undefined) {
        const expected = '{ "id": <the latest event id> } or that id';
        const answer = await getJson(options.latestUrl, expected, signal);
        const id = parseId(typeof answer === 'object' && answer !== null ? (answer as { id?: unknown }).id : answer);
        if (id === undefined)
          throw new EventLogError(
            'ERR_EVENT_LOG',
            `${displayUrl(options.latestUrl)} answered ${describeValue(answer)}; expected ${expected}`,
          );
        return id;
      }
      // No latest URL: walk the feed to its end, a page at a time.
      let latest = 0;
      for (;;) {
        const page = await read(latest, WALK_PAGE, signal);
        latest = page.at(-1)?.id ?? latest;
        if (page.length < WALK_PAGE) return latest;
      }
    },
    async earliestId(signal) {
      const [first] = await read(0, 1, signal);
      return first === undefined ? 0 : first.id - 1;
    },
    read,
    async close() {
      const closing = agent;
      agent = undefined;
      await closing?.close();
    },
  };
}

/** The URL to request (credentials taken out, sent as Basic auth) and the URL to show. */
function prepare(url: string): { target: URL; shown: string; headers: Record<string, string> } {
  const shown = displayUrl(url);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new EventLogError('ERR_EVENT_LOG', `${shown} is not a URL; expected http(s)://host/path`);
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.username !== '' || target.password !== '') {
    const credentials = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  return { target, shown, headers };
}
