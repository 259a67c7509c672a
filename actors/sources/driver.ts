import { fromCallback, fromPromise } from 'xstate';
import {
  eventReceived,
  eventsReceived,
  eventsRevoked,
  type Delivery,
  type ErrorInfo,
  type EventSettled,
  type EventsSettled,
  type Settlement,
} from '../../machines/events.js';
import { compileMachine } from '../../machines/compile.js';
import { sourceMachine, type FeedInput, type SourceEvent } from '../../machines/source.js';
import { inMicrotask } from '../../src/kernel/microtask.js';

/** What a source driver calls while it runs. */
export interface Feed {
  /** Hands one event to the supervisor; `raw` is the bytes it was read from, for a retry that writes it back (see Delivery). */
  deliver(payload: unknown, options?: { id?: string; meta?: Record<string, unknown>; error?: ErrorInfo; raw?: Uint8Array }): void;
  /** The input is exhausted (end of stdin): the source stops once this is called. */
  end(): void;
  /** The connection was lost: `retryable` errors lead to a reconnect with backoff. */
  lost(error: ErrorInfo & { retryable?: boolean }): void;
  /**
   * These delivered events can no longer be acknowledged (their connection
   * died): those still waiting are dropped and settle as `returned` with
   * `error`, since the broker redelivers them. Call it before `lost`.
   */
  revoke(ids: string[], error: ErrorInfo): void;
}

/**
 * The part of a source that touches the world. The source machine drives it:
 * `connect`, then `start` (deliver events until `stop`), `pause`/`resume`
 * under backpressure, `settle` for each event's outcome, and `disconnect`.
 */
export interface SourceDriver {
  /** The `[Source] type`, for logs and snapshots. */
  readonly type: string;
  connect?(): Promise<void>;
  start(feed: Feed): void;
  stop?(): void;
  pause?(): void;
  resume?(): void;
  settle?(settlement: Settlement): void;
  disconnect?(): Promise<void>;
  /** Sends a message through the source's connection: `ctx.publish` in workers. Resolves when the broker has it. */
  publish?(destination: string, body: string | Uint8Array | object, headers?: Record<string, string | number | boolean>): Promise<void>;
  /** The source's own counts, for `runtime.snapshot()`. */
  stats?(): Record<string, number>;
}

/** Where a source logs what it cannot hand back: a pino logger fits. */
export interface SourceLog {
  error(fields: object, message: string): void;
}

/**
 * Turns a driver into source actor logic for the supervisor to spawn. A
 * driver's `settle()` that throws is logged on `log`, never fatal.
 */
export function createSourceLogic(driver: SourceDriver, log: SourceLog = { error: () => {} }) {
  let sequence = 0;
  /** Whether the driver was last told to pause (it outlives each feed). */
  let driverPaused = false;
  // Compiled (machines/compile.ts): the same snapshots, events and diagram, a table's cost an event.
  return compileMachine(
    sourceMachine.provide({
      actors: {
        connect: fromPromise(async () => {
          await driver.connect?.();
        }),
        feed: fromCallback<SourceEvent, FeedInput>(({ input, sendBack, receive }) => {
          // Deliveries made in one tick go over together: at once when the batch is full
          // (so a pause can land), else on the next microtask. A tick's only delivery goes alone, with no array.
          let first: Delivery | undefined;
          let batch: Delivery[] | undefined;
          let count = 0;
          let flushQueued = false;
          const flush = () => {
            flushQueued = false;
            if (count === 0) return;
            const message = batch ? eventsReceived(batch) : eventReceived(first!);
            first = batch = undefined;
            count = 0;
            input.sink.send(message);
          };
          // Only a driver that takes settlements is told each event's outcome, through the
          // source actor (which outlives this feed, so outcomes after a reconnect still arrive).
          const origin = driver.settle ? input.source : undefined;
          const feed: Feed = {
            deliver(payload, options = {}) {
              const delivery: Delivery = { id: options.id ?? String(++sequence), payload };
              if (origin) delivery.origin = origin;
              if (options.meta) delivery.meta = options.meta;
              if (options.error) delivery.error = options.error;
              if (options.raw) delivery.raw = options.raw;
              if (count++ === 0) first = delivery;
              else (batch ??= [first!]).push(delivery);
              if (count >= input.batchSize) flush();
              else if (!flushQueued) {
                flushQueued = true;
                inMicrotask(flush);
              }
            },
            end: () => {
              flush();
              sendBack({ type: 'feed.ended' });
            },
            lost: (error) => sendBack({ type: 'feed.lost', error }),
            revoke: (ids, error) => {
              flush();
              if (ids.length > 0) input.sink.send(eventsRevoked(ids, error));
            },
          };
          receive((event) => {
            if (event.type === 'source.pause') {
              driverPaused = true;
              driver.pause?.();
            } else if (event.type === 'source.resume') {
              driverPaused = false;
              driver.resume?.();
            }
          });
          // After a reconnect the driver may be out of step with what the supervisor last said.
          if (input.paused && !driverPaused) {
            driverPaused = true;
            driver.pause?.();
          } else if (!input.paused && driverPaused) {
            driverPaused = false;
            driver.resume?.();
          }
          try {
            driver.start(feed);
          } catch (error) {
            sendBack({
              type: 'feed.lost',
              error: { code: 'ERR_SOURCE', message: `the ${driver.type} source's start() threw: ${(error as Error).message}` },
            });
          }
          return () => driver.stop?.();
        }),
        disconnect: fromPromise(async () => {
          await driver.disconnect?.();
        }),
      },
      actions: {
        settleEvent: ({ event }) => {
          const settlements = event.type === 'events.settled' ? (event as EventsSettled).settlements : [(event as EventSettled).settlement];
          for (const settlement of settlements) {
            try {
              driver.settle?.(settlement);
            } catch (error) {
              // One outcome that cannot be told never takes the source down: every other event goes on
              // being served. A broker redelivers what was not acknowledged; the failure is logged.
              const message = `the ${driver.type} source's settle() threw for event ${settlement.id}: ${(error as Error)?.message ?? String(error)}`;
              log.error({ event: settlement.id, outcome: settlement.outcome, error: { code: 'ERR_SOURCE', message } }, message);
            }
          }
        },
      },
    }),
  );
}
