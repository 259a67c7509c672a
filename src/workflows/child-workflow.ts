/**
 * Child workflows, as Flowy's workflow proxies: `wf.workflow(definition)`
 * returns a proxy whose call starts a child run and returns a placeholder
 * at once; the child's result or error comes back to it as an activity's
 * does. The child is a run of its own (`flowd workflow status` shows it,
 * with a link to its parent). Here: the proxy's options, and the error a
 * failed child gives its placeholder.
 */
import { brandError, type ErrorInfo } from '../kernel/errors.js';
import { parseDuration } from '../kernel/duration.js';
import { TaskError, WorkflowError } from './errors.js';
import type { WorkflowRef } from './history.js';
import type { ChildWorkflowOptions } from './workflow-api.js';

/**
 * A child run failed (its body threw, it timed out, or its workflow is not
 * defined here): `placeholder.result()` throws it. A TaskError (code
 * ERR_TASK), so code that handles a failed activity handles a failed child
 * the same way; `runId` names the child's run.
 * @example
 * try { encode(video).result(); } catch (error) {
 *   if (error instanceof ChildWorkflowError) log(error.runId, error.cause.code);
 * }
 */
export class ChildWorkflowError extends TaskError {
  /** The child's run id (the first of its runs, when it continued as new). */
  readonly runId: string;
  /** The child's workflow name. */
  readonly workflow: string;
  constructor(workflow: string, callId: string, runId: string, cause: ErrorInfo) {
    super(workflow, callId, cause);
    this.message = `Workflow "${workflow}" (call ${callId}, child run ${runId}) failed: ${cause.message} [${cause.code}]`;
    this.runId = runId;
    this.workflow = workflow;
  }
}
brandError(ChildWorkflowError, 'ChildWorkflowError');

/** A workflow reference a proxy is given: a definition, or `{ name, version }`; ERR_WORKFLOW for anything else. */
export function checkWorkflowRef(ref: unknown, where: string): WorkflowRef {
  const { name, version } = (ref ?? {}) as { name?: unknown; version?: unknown };
  const goodVersion = (typeof version === 'string' && version !== '') || (typeof version === 'number' && Number.isFinite(version));
  if (typeof name !== 'string' || name === '' || !goodVersion)
    throw new WorkflowError(
      `${where}: wf.workflow() needs a workflow from defineWorkflow(), or { name, version }; found ${JSON.stringify(ref) ?? String(ref)}`,
    );
  return { name, version: version as string | number };
}

/** A child proxy's options, checked: `duration` in ms. ERR_WORKFLOW names `where`, the option and what was found. */
export function compileChildOptions(options: ChildWorkflowOptions | undefined, where: string): { durationMs?: number } {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object')
    throw new WorkflowError(`${where}: options must be an object; found ${String(options)}`);
  const compiled: { durationMs?: number } = {};
  for (const [key, value] of Object.entries(options)) {
    if (key !== 'duration') throw new WorkflowError(`${where}: unknown option "${key}"; expected duration`);
    if (value === undefined) continue;
    const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined || !Number.isFinite(ms) || ms <= 0)
      throw new WorkflowError(
        `${where}: option duration must be a duration such as '2h' or '30m', or a positive number of milliseconds; found ${JSON.stringify(value) ?? String(value)}`,
      );
    compiled.durationMs = Math.round(ms);
  }
  return compiled;
}
