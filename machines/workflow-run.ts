import { assign, setup, type ActorRef, type EventObject, type Snapshot } from 'xstate';
import { actionNotProvided } from './not-provided.js';

/**
 * One workflow run: it decides (replays the workflow's code over its
 * history and schedules what became ready), then waits for an activity to
 * finish, and decides again, until the code returns, fails or restarts.
 * The `decide` action (given by the engine) starts a decision, which reads
 * and writes the history in the store and answers the run with
 * `decision.made` or `decision.failed`; the machine only says when to
 * decide and how the run ended. A decision is an effect the engine
 * performs, not an invoked actor: a run decides a few times, and an actor
 * each time cost more than the decision's own work (docs/performance.md).
 */

export interface WorkflowRunInput {
  runId: string;
  workflow: { name: string; version: number | string };
}

/** How a run ended, as a decision reports it. */
export type RunOutcome =
  | { kind: 'completed'; result: unknown }
  | { kind: 'failed'; error: { code: string; message: string } }
  | { kind: 'restarted'; input: unknown; next: string };

/** What one decision did. */
export interface DecideOutput {
  /** Calls scheduled by this decision. */
  scheduled: number;
  /** Calls scheduled and not finished, after it. */
  pending: number;
  outcome?: RunOutcome;
}

export interface WorkflowRunContext extends WorkflowRunInput {
  decisions: number;
  pending: number;
  /** An activity finished while deciding: decide once more. */
  again: boolean;
  outcome: RunOutcome | undefined;
  /** The last decision that could not be made (the store was down, say). */
  lastError: { code: string; message: string } | undefined;
}

/** An activity of this run reached its final event (completed, or failed or timed out for the last time). */
export type ActivityFinished = { type: 'activity.finished'; callId: string };
/** The run's workflow duration is over: the next decision fails it. */
export type RunDeadline = { type: 'run.deadline' };
/** The decision the `decide` action started was made (and written). */
export type DecisionMade = { type: 'decision.made'; output: DecideOutput };
/** The decision the `decide` action started could not be made (the store was down, a history this code cannot read). */
export type DecisionFailed = { type: 'decision.failed'; error: unknown };

/** What the `decide` action is given: the run, and the actor to answer with `decision.made` or `decision.failed`. */
export interface DecideArgs {
  context: WorkflowRunContext;
  self: ActorRef<Snapshot<unknown>, DecisionMade | DecisionFailed, EventObject>;
}

const errorInfo = (error: unknown) => ({
  code: typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : 'ERR_WORKFLOW',
  message: error instanceof Error ? error.message : String(error),
});

export const workflowRunMachine = setup({
  types: {} as {
    context: WorkflowRunContext;
    events: ActivityFinished | RunDeadline | DecisionMade | DecisionFailed;
    input: WorkflowRunInput;
    output: { outcome: RunOutcome | undefined };
  },
  guards: {
    isCompleted: ({ event }) => (event as DecisionMade).output.outcome?.kind === 'completed',
    isFailed: ({ event }) => (event as DecisionMade).output.outcome?.kind === 'failed',
    isRestarted: ({ event }) => (event as DecisionMade).output.outcome?.kind === 'restarted',
    hasFinishedMeanwhile: ({ context }) => context.again,
    isStoreDown: ({ event }) => ['ERR_STORE_UNAVAILABLE', 'ERR_CONFLICT'].includes(errorInfo((event as DecisionFailed).error).code),
  },
  actions: {
    decide: actionNotProvided<DecideArgs>('workflow-run', 'decide'),
    recordDecision: assign(({ context, event }) => {
      const { output } = event as DecisionMade;
      return { decisions: context.decisions + 1, pending: output.pending, outcome: output.outcome, again: false, lastError: undefined };
    }),
    markAgain: assign({ again: true }),
    recordError: assign(({ event }) => ({ lastError: errorInfo((event as DecisionFailed).error) })),
    failWithError: assign(({ event }) => ({
      outcome: { kind: 'failed' as const, error: errorInfo((event as DecisionFailed).error) },
    })),
  },
  delays: { retryDecision: 1000 },
}).createMachine({
  id: 'workflow-run',
  context: ({ input }) => ({ ...input, decisions: 0, pending: 0, again: false, outcome: undefined, lastError: undefined }),
  initial: 'deciding',
  states: {
    deciding: {
      description: 'Replaying the code over the history and scheduling every call whose inputs are ready.',
      entry: 'decide',
      on: {
        'decision.made': [
          { guard: 'isCompleted', target: 'completed', actions: 'recordDecision' },
          { guard: 'isFailed', target: 'failed', actions: 'recordDecision' },
          { guard: 'isRestarted', target: 'restarted', actions: 'recordDecision' },
          { guard: 'hasFinishedMeanwhile', target: 'deciding', reenter: true, actions: 'recordDecision' },
          { target: 'waiting', actions: 'recordDecision' },
        ],
        'decision.failed': [
          { guard: 'isStoreDown', target: 'retrying', actions: 'recordError' },
          { target: 'failed', actions: 'failWithError' },
        ],
        'activity.finished': { actions: 'markAgain' },
        'run.deadline': { actions: 'markAgain' },
      },
    },
    waiting: {
      description: 'Activities are running; the next decision comes when one of them finishes, or when the run passes its duration.',
      on: { 'activity.finished': 'deciding', 'run.deadline': 'deciding' },
    },
    retrying: {
      description: 'The history could not be read or written (the store is down, or another writer came first): deciding again shortly.',
      after: { retryDecision: 'deciding' },
      on: { 'activity.finished': { actions: 'markAgain' }, 'run.deadline': { actions: 'markAgain' } },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    restarted: { type: 'final', description: 'Continued as new: a new run carries on with the input the code gave `wf.restart()`.' },
  },
  output: ({ context }) => ({ outcome: context.outcome }),
});
