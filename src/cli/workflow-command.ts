/**
 * `flowd workflow start app.ini NAME [--input JSON] [--wait]` and
 * `flowd workflow status app.ini ID [--json]`: they work on the app's store
 * directly, so a daemon need not be asked. A run started here is recorded
 * as open; the app's deciding daemon (`flowd run app.ini`) takes it up
 * within its `poll interval`. `--wait` follows a run that continues as new
 * (`wf.restart(input)`) to the run that continues it.
 */
import { randomUUID } from 'node:crypto';
import { withAppStore } from '../runtime/app-store.js';
import type { AppConfig } from '../config/app-config.js';
import { FlowdError, UsageError } from '../kernel/errors.js';
import { latestWorkflow, readRun, recordRun, type RunRecord } from '../workflows/engine.js';
import { formatDuration } from '../kernel/duration.js';
import { readHistory, toJson, type HistoryEvent, type JsonValue, type ScheduledCall } from '../workflows/history.js';
import type { WorkflowDefinitions } from '../workflows/module.js';
import { newRun } from '../workflows/limits.js';

/** Parses `--input`: JSON, or nothing (null). A UsageError names what is wrong. */
export function parseInput(text: string | undefined): JsonValue {
  if (text === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--input: ${(error as Error).message}; expected JSON, e.g. --input '{"videoId":"v1"}'`);
  }
  return toJson(value, '--input');
}

/**
 * Records a new run of `name` in the app's store and returns its id; the
 * app's deciding daemon takes it up. A UsageError names a workflow the
 * module does not export.
 * @example
 * const runId = await startWorkflowRun(config, definitions, 'UploadWorkflow', { video: 'cat.mov' });
 */
export async function startWorkflowRun(
  config: AppConfig,
  definitions: WorkflowDefinitions,
  name: string,
  input: JsonValue,
): Promise<string> {
  let workflow;
  try {
    workflow = latestWorkflow(definitions.workflows, name);
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (in ${config.workflow!.module})`);
  }
  return withAppStore(config, async (store) => {
    const runId = randomUUID();
    await recordRun(store, newRun(workflow, runId, input, Date.now(), config.workflow!.limits));
    return runId;
  });
}

/** A clock for waiting: `Date.now` and `setTimeout` unless a test gives its own. */
export interface WaitClock {
  now(): number;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
}

const realClock: WaitClock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

/** What waitForWorkflowRun tells while it waits. */
export interface WaitOptions {
  /** How often the store is read. */
  pollMs: number;
  /** Stop waiting after this long (ms) and resolve with undefined; the run goes on. */
  timeoutMs?: number;
  /** A line for each activity call scheduled or settled (`Transcoding#1 completed (1 done, 2 scheduled so far)`). */
  onProgress?: (line: string) => void;
  /** A run ended as restarted (`wf.restart(input)`) and `next` continues it; the wait follows `next`. */
  onContinued?: (runId: string, next: string) => void | Promise<void>;
  /**
   * No daemon has taken up the run yet (its history holds only its start):
   * called once `unclaimedAfterMs` have passed, then every
   * `unclaimedEveryMs` while that lasts, with how long the wait has lasted.
   */
  onUnclaimed?: (runId: string, waitedMs: number) => void;
  /** A run that onUnclaimed was called for has been taken up after all. */
  onClaimed?: (runId: string) => void;
  /** @default 3000 */
  unclaimedAfterMs?: number;
  /** @default 15000 */
  unclaimedEveryMs?: number;
  /** @default the system clock */
  clock?: WaitClock;
}

/**
 * Polls the app's store until the run ends completed or failed, following
 * a run that continues as new (`restarted`, with a `next` run) to the run
 * that continues it. Returns the record of the last run, or undefined when
 * `timeoutMs` passed first (the run, or the one `onContinued` last named,
 * is still running).
 * @example
 * const record = await waitForWorkflowRun(config, runId, { pollMs: 500, timeoutMs: 60_000, onContinued: (id, next) => console.log(next) });
 * if (record?.state !== 'completed') process.exitCode = 1;
 */
export function waitForWorkflowRun(config: AppConfig, runId: string, wait: WaitOptions): Promise<RunRecord | undefined> {
  return withAppStore(config, (store) => followRun((id) => readRun(store, id), runId, wait));
}

/**
 * waitForWorkflowRun over any way of reading a run's record: the waiting,
 * the progress lines, the runs that continue as new and the notes about a
 * run no daemon has taken up.
 */
export async function followRun(
  read: (runId: string) => Promise<RunRecord | undefined>,
  runId: string,
  wait: WaitOptions,
): Promise<RunRecord | undefined> {
  const clock = wait.clock ?? realClock;
  const began = clock.now();
  const deadline = wait.timeoutMs === undefined ? Infinity : began + wait.timeoutMs;
  const unclaimedAfterMs = wait.unclaimedAfterMs ?? 3000;
  const unclaimedEveryMs = wait.unclaimedEveryMs ?? 15_000;
  let current = runId;
  let told = new Set<string>();
  // When the next note about a run no daemon has taken up is due, and whether one was given for this run.
  let noteAt = began + unclaimedAfterMs;
  let noted = false;
  for (;;) {
    // The next run may not be recorded yet when its predecessor already names it.
    const record = await read(current);
    if (record && wait.onProgress) for (const line of progressLines(record, told)) wait.onProgress(line);
    const claimed = record !== undefined && (record.state !== 'running' || record.history.length > 1);
    if (claimed && noted) {
      noted = false;
      wait.onClaimed?.(current);
    }
    if (record?.state === 'restarted' && record.next !== undefined) {
      await wait.onContinued?.(current, record.next);
      current = record.next;
      told = new Set();
      noteAt = clock.now() + unclaimedAfterMs;
      continue;
    }
    if (record && record.state !== 'running') return record;
    const now = clock.now();
    if (!claimed && now >= noteAt) {
      noted = true;
      wait.onUnclaimed?.(current, now - began);
      noteAt = now + unclaimedEveryMs;
    }
    const left = deadline - now;
    if (left <= 0) return undefined;
    await clock.sleep(Math.min(wait.pollMs, left, claimed ? Infinity : Math.max(1, noteAt - now)));
  }
}

/** A run's record from the app's store; a FlowdError (exit 2) for an id it does not hold. */
export function readWorkflowRun(config: AppConfig, runId: string): Promise<RunRecord> {
  return withAppStore(config, async (store) => {
    const record = await readRun(store, runId);
    if (!record)
      throw new FlowdError(
        'ERR_CONFIG',
        `no workflow run "${runId}" in the store of app ${config.app.name}; expected the id that flowd workflow start printed`,
      );
    return record;
  });
}

/**
 * A line for each call that was scheduled or settled since the last look
 * (`told` remembers what was said), in the history's order; the counts are
 * those at that point of the history.
 */
export function progressLines(record: RunRecord, told: Set<string>): string[] {
  const { calls } = readHistory(record.history);
  const steps: Array<{ at: number; callId: string; settled: boolean }> = [];
  for (const [callId, call] of calls) {
    steps.push({ at: record.history.indexOf(call.scheduled), callId, settled: false });
    if (call.settledAt !== undefined) steps.push({ at: call.settledAt, callId, settled: true });
  }
  steps.sort((a, b) => a.at - b.at);
  const lines: string[] = [];
  let scheduled = 0;
  let settled = 0;
  for (const step of steps) {
    const key = `${step.callId} ${step.settled ? 'settled' : 'scheduled'}`;
    if (!step.settled) scheduled++;
    else settled++;
    if (told.has(key)) continue;
    told.add(key);
    const outcome = calls.get(step.callId)!.outcome;
    lines.push(
      !step.settled || outcome === undefined
        ? `${step.callId} scheduled`
        : `${step.callId} ${outcome.ok ? 'completed' : `failed: ${outcome.error.message}`} (${settled} done, ${scheduled} scheduled so far)`,
    );
  }
  return lines;
}

const iso = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString());
const short = (value: unknown) => {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

/** One row per activity call: its state, attempts and times. */
function callRows(history: readonly HistoryEvent[]): string[][] {
  const rows = [['CALL', 'ACTIVITY', 'STATE', 'ATTEMPTS', 'SCHEDULED', 'ENDED', 'RESULT']];
  const { calls } = readHistory(history);
  for (const [callId, call] of calls) {
    const events = history.filter((event) => 'callId' in event && event.callId === callId);
    const attempts = Math.max(0, ...events.map((event) => ('attempt' in event ? event.attempt : 0)));
    const last = events.at(-1)!;
    const settled = call.settledAt === undefined ? undefined : history[call.settledAt];
    const state = settled
      ? settled.type.replace('activity.', '')
      : last.type === 'activity.started' || last.type === 'activity.heartbeat'
        ? 'running'
        : last.type === 'activity.scheduled'
          ? 'scheduled'
          : 'retrying';
    const outcome =
      call.outcome === undefined
        ? ''
        : call.outcome.ok
          ? short(call.outcome.result)
          : `${call.outcome.error.code}: ${call.outcome.error.message}`;
    rows.push([
      callId,
      `${call.scheduled.activity.name} ${call.scheduled.activity.version}`,
      state,
      String(attempts),
      iso(call.scheduled.at),
      iso(settled?.at),
      outcome,
    ]);
  }
  return rows;
}

/** One row per child run: its call, workflow, run id (for `flowd workflow status`) and outcome as the parent has it. */
function childRows(history: readonly HistoryEvent[]): string[][] {
  const rows = [['CALL', 'WORKFLOW', 'RUN', 'STATE', 'RESULT']];
  for (const [callId, child] of readHistory(history).children) {
    const { started, outcome } = child;
    rows.push([
      callId,
      `${started.workflow.name} ${started.workflow.version}`,
      started.runId,
      outcome === undefined ? 'running' : outcome.ok ? 'completed' : 'failed',
      outcome === undefined ? '' : outcome.ok ? short(outcome.result) : `${outcome.error.code}: ${outcome.error.message}`,
    ]);
  }
  return rows;
}

const table = (rows: string[][]) => {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  '))
    .join('\n');
};

/** The task list and options a call was scheduled with, after the three layers (`task list video, startToClose 300ms, retry 1`). */
function scheduledWith(call: ScheduledCall): string {
  const { options } = call;
  const parts = [`task list ${call.taskList}`];
  for (const key of ['delay', 'scheduleToStart', 'startToClose', 'scheduleToClose', 'heartbeat'] as const) {
    const ms = options[key];
    if (ms !== undefined) parts.push(`${key} ${formatDuration(ms)}`);
  }
  parts.push(
    options.retryDelays === undefined ? `retry ${options.retries}` : `retry [${options.retryDelays.map(formatDuration).join(', ')}]`,
  );
  if (options.retryErrors === true) parts.push('retryErrors');
  return parts.join(', ');
}

/** One history event on a line: when, what, which call and attempt, and what it carried. */
function historyLine(event: HistoryEvent): string {
  const parts = [iso(event.at), event.type];
  if ('callId' in event) parts.push(event.callId);
  if ('input' in event) parts.push(`input ${short(event.input)}`);
  if (event.type === 'activity.scheduled') parts.push(scheduledWith(event));
  if ('attempt' in event) parts.push(`attempt ${event.attempt}`);
  if ('runId' in event) parts.push(`run ${event.runId}`);
  if (event.type === 'activity.timedOut') parts.push(event.kind);
  if ('final' in event && event.final === false) parts.push('(retried)');
  if ('details' in event && event.details !== undefined) parts.push(short(event.details));
  if ('error' in event && event.error) parts.push(`${event.error.code}: ${event.error.message}`);
  if ('result' in event) parts.push(short(event.result));
  return parts.join('  ');
}

/** `flowd workflow status`: the run's state, its calls, and its result or error. */
export function renderRun(record: RunRecord, json: boolean): string {
  if (json) return JSON.stringify(record, null, 2);
  const lines = [`run ${record.runId}: workflow ${record.workflow.name} ${record.workflow.version}, ${record.state}`];
  if (record.previous) lines.push(`continues run ${record.previous}`);
  if (record.next) lines.push(`continued as new by run ${record.next}`);
  if (record.parent) lines.push(`child of run ${record.parent.runId} (its call ${record.parent.callId})`);
  lines.push(`input: ${short((record.history[0] as { input?: unknown }).input ?? null)}`);
  if (record.state === 'completed') lines.push(`result: ${short(record.result ?? null)}`);
  if (record.error) lines.push(`error: ${record.error.code}: ${record.error.message}`);
  const rows = callRows(record.history);
  lines.push(rows.length > 1 ? table(rows) : 'no activity calls yet');
  const children = childRows(record.history);
  if (children.length > 1) lines.push('child runs:', table(children));
  lines.push(`history (${record.history.length} events):`);
  for (const event of record.history) lines.push(`  ${historyLine(event)}`);
  return lines.join('\n');
}
