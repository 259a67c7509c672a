import {
  createActor,
  fromCallback,
  fromPromise,
  SimulatedClock,
  type ActorLogic,
  type AnyActorRef,
  type InspectionEvent,
  type Snapshot,
} from 'xstate';
import {
  eventReceived,
  workerDone,
  workerFailed,
  type Delivery,
  type ErrorInfo,
  type Job,
  type Settlement,
} from '../../machines/events.js';
import type { PingInput, PingResult } from '../../machines/outage.js';
import { supervisorMachine, type SupervisorEmitted, type SupervisorInput, type SupervisorSettings } from '../../machines/supervisor.js';
import { workerSlotMachine, type SlotActionArgs } from '../../machines/worker-slot.js';

/** One attempt the supervisor started on a slot. */
export interface Run {
  job: Job;
  /** The attempt number when this run started (the job record itself moves on). */
  attempt: number;
  slotId: string;
  aborted: boolean;
  settled: boolean;
  finish(output?: unknown): void;
  fail(error?: ErrorInfo): void;
}

export const testSettings = (overrides: Partial<SupervisorSettings> = {}): SupervisorSettings => ({
  workers: 2,
  queueSize: 10,
  highWatermark: 8,
  lowWatermark: 4,
  queueTimeoutMs: 1000,
  executionTimeoutMs: 500,
  shutdownTimeoutMs: 300,
  retries: 0,
  backoff: { kind: 'exponential', delayMs: 100, maxDelayMs: 1000 },
  orderBy: undefined,
  ...overrides,
});

/** One ping the supervisor asked for during an outage; the test answers it. */
export interface Ping {
  input: PingInput;
  /** When it was asked (the simulated clock). */
  at: number;
  answer(result?: PingResult): void;
  fail(error?: unknown): void;
}

/**
 * An actor that answers as it starts: done with what `answer` returns, or
 * failed with what it throws. Its parent hears `xstate.done.actor.<id>` (or
 * `xstate.error.actor.<id>`) in the same step (a promise actor would
 * answer a microtask later).
 */
const answersAtOnce = <T, TInput>(answer: (input: TInput) => T): ActorLogic<Snapshot<T> & { output: T | undefined }, never, TInput> => ({
  transition: (snapshot) => snapshot,
  getInitialSnapshot: (_scope, input) => {
    try {
      return { status: 'done', output: answer(input), error: undefined };
    } catch (error) {
      return { status: 'error', output: undefined, error };
    }
  },
  getPersistedSnapshot: (snapshot) => snapshot,
});

/**
 * The real supervisor and slot machines, with a stub worker (runs are
 * finished or failed by the test), a stub source that records what the
 * supervisor tells it, and simulated time. No I/O.
 *
 * Pings of an outage: by default the dependency cannot be pinged (the
 * supervisor probes by running a held event); with `pings: true` each ping
 * waits in `pings` for the test to answer it (then `await flush()`); with
 * a function, each ping is answered at once with what it returns (it
 * throws: still down).
 */
export function startSupervisor(
  overrides: Partial<SupervisorSettings> = {},
  hooks: {
    onStart?: (run: Run) => void;
    onAbort?: (run: Run) => void;
    sourceClosesAtOnce?: boolean;
    pings?: boolean | ((input: PingInput) => PingResult);
    /** Emit the lifecycle notifications (`SupervisorInput.lifecycle`): all, or those types. */
    lifecycle?: SupervisorInput['lifecycle'];
    /** xstate's inspection feed of the supervisor and its children (as the inspector gets it). */
    inspect?: (event: InspectionEvent) => void;
  } = {},
) {
  const clock = new SimulatedClock();
  const runs: Run[] = [];
  const toSource: Array<{ type: string }> = [];
  const settlements: Settlement[] = [];
  /** The type of each settlement message the source got (one `events.settled` carries several). */
  const settleMessages: string[] = [];
  const emitted: SupervisorEmitted[] = [];
  let sink: AnyActorRef | undefined;
  const current = new Map<string, Run>();

  const slot = workerSlotMachine.provide({
    actions: {
      startWorker: ({ context, self }: SlotActionArgs) => {
        const run = context.run;
        const record: Run = {
          job: context.job!,
          attempt: context.job!.attempt,
          slotId: context.slotId,
          aborted: false,
          settled: false,
          finish: (output) => {
            record.settled = true;
            self.send(workerDone(run, output));
          },
          fail: (error = { code: 'ERR_WORKER_FAILED', message: 'boom' }) => {
            record.settled = true;
            self.send(workerFailed(run, error));
          },
        };
        runs.push(record);
        current.set(context.slotId, record);
        hooks.onStart?.(record);
      },
      abortWorker: ({ context }: SlotActionArgs) => {
        const record = current.get(context.slotId);
        if (record && !record.aborted) {
          record.aborted = true;
          hooks.onAbort?.(record);
        }
      },
    },
  });
  const source = fromCallback<{ type: string }, { sink: AnyActorRef }>(({ input, receive }) => {
    sink = input.sink;
    receive((event) => {
      toSource.push(event);
      // By default a source that closes at once when told to stop.
      if (event.type === 'source.stop' && hooks.sourceClosesAtOnce !== false) input.sink.send({ type: 'source.stopped' });
    });
  });
  const origin = createActor(
    fromCallback<{ type: 'event.settled'; settlement: Settlement } | { type: 'events.settled'; settlements: Settlement[] }>(
      ({ receive }) => {
        receive((event) => {
          settleMessages.push(event.type);
          if (event.type === 'events.settled') settlements.push(...event.settlements);
          else settlements.push(event.settlement);
        });
      },
    ),
  ).start();

  const pings: Ping[] = [];
  const { pings: answer } = hooks;
  const pingDependency =
    typeof answer === 'function'
      ? answersAtOnce(answer)
      : answer
        ? fromPromise<PingResult, PingInput>(
            ({ input }) =>
              new Promise<PingResult>((resolve, reject) =>
                pings.push({
                  input,
                  at: clock.now(),
                  answer: (result = 'up') => resolve(result),
                  fail: (error = new Error('down')) => reject(error),
                }),
              ),
          )
        : answersAtOnce<PingResult, PingInput>(() => 'unsupported');
  const actor = createActor(
    supervisorMachine.provide({ actors: { workerSlot: slot, source: source as never, pingDependency: pingDependency as never } }),
    {
      input: { settings: testSettings(overrides), now: () => clock.now(), random: () => 0.5, lifecycle: hooks.lifecycle },
      clock,
      ...(hooks.inspect ? { inspect: hooks.inspect } : {}),
    },
  );
  actor.on('*', (event) => emitted.push(event as SupervisorEmitted));
  actor.start();

  let nextId = 0;
  return {
    actor,
    clock,
    runs,
    pings,
    toSource,
    settlements,
    settleMessages,
    emitted,
    /** Delivers one event as the source would. */
    deliver(payload: unknown = null, options: Partial<Delivery> = {}): string {
      const id = options.id ?? `e${++nextId}`;
      sink!.send(eventReceived({ id, payload, origin, ...options }));
      return id;
    },
    /** Attempts not yet finished, failed or aborted. */
    running: () => runs.filter((run) => !run.settled && !run.aborted),
    state: () => {
      const value = actor.getSnapshot().value;
      return typeof value === 'string' ? value : JSON.stringify(value);
    },
    outcomeOf: (id: string) => settlements.filter((s) => s.id === id).map((s) => s.outcome),
    /** The supervisor's ledger now (its context's working set: queue, slots, counters, ...). */
    ledger: () => actor.getSnapshot().context.ledger,
  };
}

export type SupervisorHarness = ReturnType<typeof startSupervisor>;
