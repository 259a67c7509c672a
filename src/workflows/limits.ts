/**
 * A workflow's limits, as Flowy's (SWF's) were: how long a run may last
 * (`workflow duration`), how many new calls one decision may schedule
 * (`rate limit`), and how large an input or a result may be, in characters
 * of JSON. Defaults come from `[Workflow]`; `duration` and `rateLimit` in a
 * workflow's definition override them for that workflow.
 */
import { brandError, FlowdError, type ErrorInfo } from '../kernel/errors.js';
import { formatDuration } from '../kernel/duration.js';
import type { JsonValue } from './history.js';

/** The limits a decision and a run keep. */
export interface WorkflowLimits {
  /** How long a run may last from its start; past it the run fails with ERR_WORKFLOW_TIMEOUT. @default 3_600_000 (Flowy's 1 h) */
  durationMs: number;
  /** New calls (activities and child workflows) one decision may schedule; the rest wait for a later decision. @default 64 (Flowy's) */
  rateLimit: number;
  /** The longest input (of a run, an activity call, a child run or a restart), in characters of JSON. @default 1_048_576 */
  maxInputSize: number;
  /** The longest result (of an activity call or a run), in characters of JSON. @default 1_048_576 */
  maxResultSize: number;
}

/** Flowy's duration and rate limit; sizes far above SWF's 32,768 characters, as the history lives in the app's store. */
export const DEFAULT_LIMITS: Readonly<WorkflowLimits> = {
  durationMs: 3_600_000,
  rateLimit: 64,
  maxInputSize: 1_048_576,
  maxResultSize: 1_048_576,
};

/** The `[Workflow]` key of each size limit, for messages. */
const SIZE_KEYS = { input: 'max input size', result: 'max result size' } as const;

/**
 * An input or a result is larger than its limit. Code ERR_WORKFLOW_SIZE;
 * the message names the run (or workflow), what was too large, its size
 * and the limit.
 */
export class WorkflowSizeError extends FlowdError {
  /** Its size, in characters of JSON. */
  readonly size: number;
  /** The limit it passed. */
  readonly limit: number;
  constructor(what: string, size: number, limit: number, kind: 'input' | 'result') {
    super(
      'ERR_WORKFLOW_SIZE',
      `${what} is ${size.toLocaleString('en')} characters of JSON, over the limit of ${limit.toLocaleString('en')} ([Workflow] ${SIZE_KEYS[kind]})`,
    );
    this.size = size;
    this.limit = limit;
  }
}
brandError(WorkflowSizeError, 'WorkflowSizeError');

/**
 * Throws a WorkflowSizeError when `value`, as JSON, is longer than the input
 * or result limit; `what` (or what it returns, made only then) names it.
 * A scalar whose JSON cannot pass the limit is not serialised to know it.
 */
export function checkSize(
  value: JsonValue,
  what: string | (() => string),
  limits: Pick<WorkflowLimits, 'maxInputSize' | 'maxResultSize'>,
  kind: 'input' | 'result',
): void {
  const limit = kind === 'input' ? limits.maxInputSize : limits.maxResultSize;
  // No scalar's JSON is longer than 25 characters (-0.0000012345678901234567 is 25; -1.7976931348623157e+308 is 24).
  if (limit >= 25 && (value === null || typeof value === 'boolean' || typeof value === 'number')) return;
  // A string's JSON is at most 6 characters a UTF-16 unit (\u0000) and its quotes.
  if (typeof value === 'string' && value.length * 6 + 2 <= limit) return;
  const size = JSON.stringify(value).length;
  if (size > limit) throw new WorkflowSizeError(typeof what === 'string' ? what : what(), size, limit, kind);
}

/** A run's duration: the definition's `duration`, else `[Workflow] workflow duration`. */
export function durationOf(workflow: { durationMs?: number | undefined }, limits: Pick<WorkflowLimits, 'durationMs'>): number {
  return workflow.durationMs ?? limits.durationMs;
}

/** What a run that passed its duration fails with. */
export function workflowTimeout(runName: string, durationMs: number, startedAt: number): ErrorInfo {
  return {
    code: 'ERR_WORKFLOW_TIMEOUT',
    message: `${runName} passed its workflow duration of ${formatDuration(durationMs)} (started ${new Date(startedAt).toISOString()}); the calls still running are abandoned`,
  };
}

/** What decide() keeps: the rate limit and the size limits, and the run's id for its messages. */
export interface DecideLimits extends Pick<WorkflowLimits, 'rateLimit' | 'maxInputSize' | 'maxResultSize'> {
  /** Named in the messages of size errors. */
  runId?: string | undefined;
}

/**
 * A new run's record fields (recordRun's argument) for a run started outside
 * the deciding engine (`flowd workflow start`, a daemon that does not
 * decide): its input checked against `max input size`, its deadline set.
 */
export function newRun(
  workflow: { name: string; version: string | number; durationMs?: number | undefined },
  runId: string,
  input: JsonValue,
  at: number,
  limits: WorkflowLimits,
): { runId: string; workflow: { name: string; version: string | number }; input: JsonValue; at: number; deadline: number } {
  checkSize(input, `workflow ${workflow.name} run ${runId}: its input`, limits, 'input');
  return { runId, workflow: { name: workflow.name, version: workflow.version }, input, at, deadline: at + durationOf(workflow, limits) };
}
