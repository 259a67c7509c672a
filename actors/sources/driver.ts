import { fromCallback, fromPromise, type AnyActorRef } from 'xstate';
import { eventReceived, eventsReceived, type Delivery, type ErrorInfo, type Settlement } from '../../machines/events.js';
import { sourceMachine, type SourceEvent } from '../../machines/source.js';

/** What a source driver calls while it runs. */
export interface Feed {
  /** Hands one event to the supervisor. */
  deliver(payload: unknown, options?: { id?: string; meta?: Record<string, unknown>; error?: ErrorInfo }): void;
  /** The input is exhausted (end of stdin): the source stops once this is called. */
  end(): void;
  /** The connection was lost: `retryable` errors lead to a reconnect with backoff. */
  lost(error: ErrorInfo & { retryable?: boolean }): void;
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
}

/** Turns a driver into source actor logic for the supervisor to spawn. */
export function createSourceLogic(driver: SourceDriver) {
  let sequence = 0;
  /** Whether the driver was last told to pause (it outlives each feed). */
  let driverPaused = false;
  return sourceMachine.provide({
    actors: {
      connect: fromPromise(async () => {
        await driver.connect?.();
      }),
      feed: fromCallback<SourceEvent, { sink: AnyActorRef; batchSize: number; paused: boolean }>(({ input, sendBack, receive, self }) => {
        // Deliveries made in one tick go over together: at once when the batch is full
        // (so a pause can land), else on the next microtask.
        let batch: Delivery[] = [];
        let flushQueued = false;
        const flush = () => {
          flushQueued = false;
          if (batch.length === 0) return;
          const deliveries = batch;
          batch = [];
          input.sink.send(deliveries.length === 1 ? eventReceived(deliveries[0]!) : eventsReceived(deliveries));
        };
        // Only a driver that takes settlements is told each event's outcome.
        const origin = driver.settle ? self : undefined;
        const feed: Feed = {
          deliver(payload, options = {}) {
            const delivery: Delivery = { id: options.id ?? String(++sequence), payload };
            if (origin) delivery.origin = origin;
            if (options.meta) delivery.meta = options.meta;
            if (options.error) delivery.error = options.error;
            batch.push(delivery);
            if (batch.length >= input.batchSize) flush();
            else if (!flushQueued) {
              flushQueued = true;
              queueMicrotask(flush);
            }
          },
          end: () => {
            flush();
            sendBack({ type: 'feed.ended' });
          },
          lost: (error) => sendBack({ type: 'feed.lost', error }),
        };
        receive((event) => {
          if (event.type === 'source.pause') {
            driverPaused = true;
            driver.pause?.();
          } else if (event.type === 'source.resume') {
            driverPaused = false;
            driver.resume?.();
          } else if (event.type === 'event.settled') {
            try {
              driver.settle?.(event.settlement);
            } catch (error) {
              // A driver that cannot take outcomes cannot acknowledge: the source fails rather than lose them silently.
              sendBack({ type: 'feed.lost', error: { code: 'ERR_SOURCE', message: `the ${driver.type} source's settle() threw: ${(error as Error).message}` } });
            }
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
          sendBack({ type: 'feed.lost', error: { code: 'ERR_SOURCE', message: `the ${driver.type} source's start() threw: ${(error as Error).message}` } });
        }
        return () => driver.stop?.();
      }),
      disconnect: fromPromise(async () => {
        await driver.disconnect?.();
      }),
    },
  });
}
