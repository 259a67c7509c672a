/**
 * The errors of workflows: TaskError (what `placeholder.result()` throws
 * for an activity that failed), NondeterminismError and WorkflowError, and
 * the two internal signals that unwind a workflow body during a decision.
 */
import { brandError, FlowdError, type ErrorInfo } from '../kernel/errors.js';

/**
 * An activity failed after its retries, or timed out for the last time:
 * `placeholder.result()` throws it, and so does the placeholder of every
 * call that was handed this placeholder in its input (the error propagates
 * unchanged: it names the call that failed). Unhandled, it fails the
 * workflow with code ERR_TASK.
 * @example
 * try { transcode(source).result(); } catch (error) {
 *   if (error instanceof TaskError && error.cause.code === 'ERR_ACTIVITY_TIMEOUT') ...
 * }
 */
export class TaskError extends FlowdError {
  /** Why the activity failed, as its worker reported it (`ERR_ACTIVITY_TIMEOUT` for a time-out). */
  override readonly cause: ErrorInfo;
  /** The activity's name. */
  readonly activity: string;
  /** The failed call, e.g. `Transcoding#2`. */
  readonly callId: string;
  constructor(activity: string, callId: string, cause: ErrorInfo) {
    super('ERR_TASK', `Activity "${activity}" (call ${callId}) failed: ${cause.message} [${cause.code}]`, { cause });
    this.cause = cause;
    this.activity = activity;
    this.callId = callId;
  }
}
brandError(TaskError, 'TaskError');

/**
 * Replaying a workflow's code over its history did something the history
 * says it did not: it called another activity version or input at a call id
 * than the history holds, or no longer made a call the history has. The
 * workflow fails with code ERR_NONDETERMINISTIC; the message names the call
 * id, what the history has and what the code did now.
 */
export class NondeterminismError extends FlowdError {
  /** The call id where code and history disagree. */
  readonly callId: string;
  constructor(callId: string, message: string) {
    super('ERR_NONDETERMINISTIC', message);
    this.callId = callId;
  }
}
brandError(NondeterminismError, 'NondeterminismError');

/**
 * A workflow is used wrongly: an async body, a factory that returns no
 * function, a proxy or placeholder used after its decision ended, a history
 * that does not begin with `workflow.started`. Code ERR_WORKFLOW.
 */
export class WorkflowError extends FlowdError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WORKFLOW', message, options);
  }
}
brandError(WorkflowError, 'WorkflowError');

/**
 * Internal: thrown by `result()` (and `first`, `wait`, `finishOrder`) when a
 * result is not known yet, to unwind the workflow body. The decision then
 * schedules what the body called so far. A body must not catch it; if it
 * does, the decision still counts as suspended at the first signal.
 */
export class WorkflowSuspend extends FlowdError {
  constructor(reason: string) {
    // Thrown at every result() not known yet, in every replay: a stack nobody reads is not taken.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super('ERR_WORKFLOW_SUSPENDED', `workflow suspended: ${reason} (an internal signal: let it pass, do not catch it)`);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
brandError(WorkflowSuspend, 'WorkflowSuspend');

/**
 * Internal: thrown by `wf.restart(input)` to end this run and continue as
 * new with `input`. A body must not catch it.
 */
export class WorkflowRestart extends FlowdError {
  /** The new run's input, serialised. */
  readonly input: unknown;
  constructor(input: unknown) {
    super('ERR_WORKFLOW_RESTART', 'workflow restarts as new (an internal signal: let it pass, do not catch it)');
    this.input = input;
  }
}
brandError(WorkflowRestart, 'WorkflowRestart');

/** True for what unwinds a body without being its failure: the two signals, and a NondeterminismError (which decide reports itself). */
export function isWorkflowSignal(error: unknown): error is WorkflowSuspend | WorkflowRestart | NondeterminismError {
  return error instanceof WorkflowSuspend || error instanceof WorkflowRestart || error instanceof NondeterminismError;
}
