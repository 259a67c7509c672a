import type { PromiseActorLogic, PromiseSnapshot } from 'xstate';

/**
 * xstate's `fromPromise` without what a run's decision never uses: the
 * AbortController (and its signal) that `fromPromise` makes each time the
 * actor starts, for a creator that reads no signal. The same events
 * (`xstate.promise.resolve`, `xstate.promise.reject`), snapshots and done or
 * error events to the parent; stopping the actor drops the outcome (the
 * promise runs on, as it would with a signal nobody reads). A workflow run
 * decides a few times, each an invoked actor: this is on its hot path.
 * @example const decide = fromPlainPromise(({ input }) => decideRun(input.runId));
 */
export function fromPlainPromise<TOutput, TInput>(
  create: (args: { input: TInput }) => PromiseLike<TOutput>,
): PromiseActorLogic<TOutput, TInput> {
  type Snapshot = PromiseSnapshot<TOutput, TInput>;
  const logic = {
    config: create,
    transition: (state: Snapshot, event: { type: string; data?: unknown }): Snapshot => {
      if (state.status !== 'active') return state;
      switch (event.type) {
        case 'xstate.promise.resolve':
          return { ...state, status: 'done', output: event.data as TOutput, input: undefined } as Snapshot;
        case 'xstate.promise.reject':
          return { ...state, status: 'error', error: event.data, input: undefined } as Snapshot;
        case 'xstate.stop':
          return { ...state, status: 'stopped', input: undefined } as Snapshot;
        default:
          return state;
      }
    },
    start: (
      state: Snapshot,
      { self, system }: { self: { getSnapshot(): Snapshot }; system: { _relay(from: unknown, to: unknown, event: unknown): void } },
    ) => {
      if (state.status !== 'active') return;
      Promise.resolve(create({ input: state.input as TInput })).then(
        (data) => {
          if (self.getSnapshot().status === 'active') system._relay(self, self, { type: 'xstate.promise.resolve', data });
        },
        (data: unknown) => {
          if (self.getSnapshot().status === 'active') system._relay(self, self, { type: 'xstate.promise.reject', data });
        },
      );
    },
    getInitialSnapshot: (_scope: unknown, input: TInput): Snapshot =>
      ({ status: 'active', output: undefined, error: undefined, input }) as Snapshot,
    getPersistedSnapshot: (snapshot: Snapshot) => snapshot,
    restoreSnapshot: (snapshot: unknown) => snapshot as Snapshot,
  };
  return logic as unknown as PromiseActorLogic<TOutput, TInput>;
}
