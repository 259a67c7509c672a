import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlowdError } from '../kernel/errors.js';
import { JOURNAL_STATES, type Journal, type JournalState } from './journal.js';

/** What an operator may do to an event through the inspector (see journal-actions.ts). */
export interface JournalActions {
  /** Offers a failed or dead-lettered event again through its source; resolves with how. */
  retry(id: string, by: string): Promise<{ id: string; how: 'republished' | 'offered' }>;
  /** The error `retry(id)` would be refused with now (before offering anything), or undefined when it would be taken. */
  retryRefusal(id: string): FlowdError | undefined;
  /** Aborts a running event's run; it fails with ERR_CANCELLED, without a retry. */
  cancel(id: string, by: string): { id: string };
}

/** What `GET /api/events/<id>` adds to the journal's detail: whether `POST .../retry` would be taken now, and if not, why. */
export interface RetryView {
  retryable: boolean;
  /** The error the retry would be refused with (the state, a retry already made, a message that cannot be republished), or null. */
  retryRefusal: { code: string; message: string } | null;
}

/** The journal's part of the inspector's server. */
export interface JournalRoutes {
  journal: Journal;
  actions: JournalActions;
}

const json = (response: ServerResponse, status: number, body: unknown): void =>
  void response
    .writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
    .end(JSON.stringify(body));

/** The HTTP status of an action's error. */
const STATUS: Record<string, number> = {
  ERR_UNKNOWN_EVENT: 404,
  ERR_INVALID_STATE: 409,
  ERR_NOT_CONNECTED: 503,
  ERR_NO_PUBLISH: 409,
};

const EVENT_PATH = /^\/api\/events\/([^/]+)(?:\/(retry|cancel))?$/;

/** Whether a path is one of the journal's: `/api/events`, `/api/events/<id>`, `/api/events/<id>/retry|cancel`. */
export const isJournalPath = (path: string): boolean => path === '/api/events' || EVENT_PATH.test(path);

/** Whether this request is one of the journal's actions (a POST). */
export const isJournalAction = (method: string | undefined, path: string): boolean =>
  method === 'POST' && EVENT_PATH.exec(path)?.[2] !== undefined;

/**
 * Answers `GET /api/events?state=&key=&limit=`, `GET /api/events/<id>`,
 * `POST /api/events/<id>/retry` and `POST /api/events/<id>/cancel`
 * (the server has already checked the token, the Host and, for a POST, the
 * Origin). `by` is who asked, for the action's log line and timeline.
 */
export async function serveJournal(request: IncomingMessage, response: ServerResponse, routes: JournalRoutes, by: string): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://inspector');
  const path = url.pathname;
  if (path === '/api/events') {
    if (request.method === 'POST') return json(response, 405, { error: 'method POST is not allowed on /api/events; expected GET' });
    const state = url.searchParams.get('state') ?? undefined;
    if (state !== undefined && !JOURNAL_STATES.includes(state as JournalState))
      return json(response, 400, {
        error: `state "${state}" is not a state; expected one of ${JOURNAL_STATES.join(', ')}`,
        code: 'ERR_BAD_REQUEST',
      });
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? undefined : Number(limitText);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000))
      return json(response, 400, { error: `limit "${limitText}" is not a whole number from 1 to 1000`, code: 'ERR_BAD_REQUEST' });
    const key = url.searchParams.get('key') ?? undefined;
    // The counts (of every event kept, by state) and the runtime's clock are for the page: its tabs and elapsed times.
    const events = routes.journal.list({ state: state as JournalState | undefined, key, limit });
    return json(response, 200, { events, counts: routes.journal.counts(), now: routes.journal.now() });
  }
  const match = EVENT_PATH.exec(path)!;
  let id: string;
  try {
    id = decodeURIComponent(match[1]!);
  } catch {
    return json(response, 400, { error: `event id ${JSON.stringify(match[1])} is not valid %-encoding`, code: 'ERR_BAD_REQUEST' });
  }
  const action = match[2] as 'retry' | 'cancel' | undefined;
  if (!action) {
    if (request.method === 'POST') return json(response, 405, { error: `method POST is not allowed on ${path}; expected GET` });
    const event = routes.journal.get(id);
    if (event) {
      // Whether a retry would be taken now, and if not why: the page offers Retry only when it would.
      const refused = routes.actions.retryRefusal(id);
      const retry: RetryView = {
        retryable: refused === undefined,
        retryRefusal: refused ? { code: refused.code, message: refused.message } : null,
      };
      return json(response, 200, { ...event, ...retry });
    }
    return json(response, 404, {
      error: `no event ${JSON.stringify(id)} in the journal (unknown, or no longer kept)`,
      code: 'ERR_UNKNOWN_EVENT',
    });
  }
  if (request.method !== 'POST') {
    response.setHeader('allow', 'POST');
    return json(response, 405, { error: `method ${request.method} is not allowed on ${path}; expected POST` });
  }
  try {
    const done = action === 'retry' ? await routes.actions.retry(id, by) : routes.actions.cancel(id, by);
    return json(response, 202, { ...done, action, by });
  } catch (error) {
    const code = error instanceof FlowdError ? error.code : undefined;
    const status = (code && STATUS[code]) ?? 500;
    return json(response, status, { error: (error as Error).message, ...(code ? { code } : {}) });
  }
}
