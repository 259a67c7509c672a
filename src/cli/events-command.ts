/**
 * `flowd events app.ini [--state STATE] [--id ID] [--json]`: reads the event
 * journal of the app's running daemon through its inspector's JSON API, for
 * a server without a browser. The daemon is found through the app's state
 * folder (`inspector.json`, written while its inspector listens); the token,
 * if any, is the INI file's `[Inspector] token`.
 */
import path from 'node:path';
import { loadAppConfig } from '../config/app-config.js';
import { FlowdError } from '../kernel/errors.js';
import { ADDRESS_FILE, readAddressFile } from '../inspector/address-file.js';
import type { JournalDetail, JournalStep, JournalSummary } from '../inspector/journal.js';

/** What `flowd events` was asked. */
export interface EventsRequest {
  file: string;
  name?: string | undefined;
  state?: string | undefined;
  id?: string | undefined;
  json?: boolean | undefined;
}

/** Reads the daemon's journal and returns what to print; throws a FlowdError (exit 1) when the daemon cannot be read. */
export async function eventsCommand(request: EventsRequest): Promise<string> {
  const config = await loadAppConfig(request.file, { email: false, ...(request.name !== undefined ? { appName: request.name } : {}) });
  const file = path.join(config.app.stateDir, ADDRESS_FILE);
  const start = `start it with: flowd run ${config.file} --inspect (or give it an [Inspector] section)`;
  let address;
  try {
    address = await readAddressFile(file);
  } catch (error) {
    throw new FlowdError('ERR_INVALID_STATE', `cannot read ${file}: ${(error as Error).message}`);
  }
  if (!address)
    throw new FlowdError('ERR_INVALID_STATE', `no daemon of app ${config.app.name} serves an inspector (${file} is missing); ${start}`);
  if (!isAlive(address.pid))
    throw new FlowdError(
      'ERR_INVALID_STATE',
      `the daemon of app ${config.app.name} that wrote ${file} (pid ${address.pid}) is no longer running; ${start}`,
    );
  const target = new URL(request.id !== undefined ? `api/events/${encodeURIComponent(request.id)}` : 'api/events', address.url);
  if (request.state !== undefined) target.searchParams.set('state', request.state);
  if (request.id === undefined) target.searchParams.set('limit', '1000');
  // `token`, else the first of `tokens`.
  const token = config.inspector?.token ?? config.inspector?.tokens[0]?.secret;
  let response: Response;
  try {
    response = await fetch(target, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
    throw new FlowdError(
      'ERR_CONNECT',
      `cannot reach the inspector of app ${config.app.name} at ${address.url} (pid ${address.pid}): ${cause}`,
    );
  }
  const body = (await response.json().catch(() => ({}))) as { error?: string; events?: JournalSummary[] } & Partial<JournalDetail>;
  if (response.status === 401)
    throw new FlowdError(
      'ERR_INVALID_STATE',
      `the inspector at ${address.url} refused the request: ${token ? "[Inspector] token is not the daemon's" : 'it needs a token: set [Inspector] token in ' + config.file}`,
    );
  if (response.status === 404 && request.id !== undefined && body.error?.startsWith('no event'))
    throw new FlowdError(
      'ERR_UNKNOWN_EVENT',
      `no event ${request.id} in the journal of app ${config.app.name} (unknown, or no longer kept)`,
    );
  if (response.status === 404)
    throw new FlowdError(
      'ERR_INVALID_STATE',
      `the inspector at ${address.url} has no event journal (it is off with [Inspector] journal size = 0, or the daemon's flowd is older)`,
    );
  if (!response.ok)
    throw new FlowdError('ERR_INVALID_STATE', `the inspector at ${address.url} answered ${response.status}: ${body.error ?? ''}`);
  if (request.json) return JSON.stringify(request.id !== undefined ? body : body.events, null, 2);
  return request.id !== undefined ? renderDetail(body as JournalDetail) : renderList(body.events ?? [], request.state);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const time = (ms: number) => new Date(ms).toISOString();

/** One line per event, newest first, in aligned columns. */
export function renderList(events: JournalSummary[], state: string | undefined): string {
  if (events.length === 0) return state ? `no ${state} events in the journal` : 'no events in the journal';
  const rows = [
    ['RECEIVED', 'ID', 'STATE', 'ATTEMPT', 'KEY', 'ERROR'],
    ...events.map((e) => [
      time(e.receivedAt),
      e.id,
      e.state + (e.slotId ? ` (${e.slotId})` : ''),
      String(e.attempt),
      e.key ?? '',
      e.error ? `${e.error.code}: ${e.error.message}` : '',
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** What a step says, after its time. */
function describeStep(step: JournalStep): string {
  switch (step.step) {
    case 'queued':
      return `queued (position ${step.position})`;
    case 'started':
      return `started on ${step.slotId} (attempt ${step.attempt})`;
    case 'retrying':
      return `retrying in ${step.delayMs}ms after attempt ${step.attempt}: ${step.error.code}: ${step.error.message}`;
    case 'timedOut':
      return `timed out on ${step.slotId} (attempt ${step.attempt})`;
    case 'abandoned':
      return `abandoned on ${step.slotId}`;
    case 'settled':
      return `settled with the source (${step.how})`;
    case 'retryRequested':
      return `retry requested by ${step.by}`;
    case 'cancelRequested':
      return `cancel requested by ${step.by}`;
    case 'received':
      return 'received';
    default:
      return `${step.step} after ${step.attempts} attempt(s)${step.error ? `: ${step.error.code}: ${step.error.message}` : ''}`;
  }
}

/** An event with its timeline and, for a failure, its error and stack. */
export function renderDetail(event: JournalDetail): string {
  const lines = [
    `event ${event.id} (seq ${event.seq}, source ${event.source}${event.key !== null ? `, key ${event.key}` : ''}): ${event.state}, attempt ${event.attempt}`,
    `payload: ${event.payload}`,
    ...(event.meta ? [`meta: ${event.meta}`] : []),
    ...(event.retryOf ? [`a retry of ${event.retryOf}`] : []),
    'timeline:',
    ...event.steps.map((step, index) => {
      const line = `  ${time(step.at)}  ${describeStep(step)}`;
      return index === 4 && event.stepsDropped > 0 ? `  … ${event.stepsDropped} step(s) left out\n${line}` : line;
    }),
  ];
  if (event.error) {
    lines.push(`error: ${event.error.code}: ${event.error.message}`);
    if (event.error.stack) lines.push(...event.error.stack.split('\n').map((line) => `  ${line}`));
  }
  return lines.join('\n');
}
