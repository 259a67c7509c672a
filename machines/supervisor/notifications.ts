import type { Delivery, ErrorInfo, Outcome } from '../events.js';

/**
 * How the supervisor told the event's source it ended (what the source's
 * `settle()` is asked to do): `ack` (completed), `nack` (any other outcome:
 * not acknowledged, so a broker redelivers it), `dead-letter` (failed for
 * good: the source dead-letters it, a STOMP source by publishing a copy to
 * its dead-letter queue and then acknowledging it).
 */
export type SettleHow = 'ack' | 'nack' | 'dead-letter';

/**
 * Lifecycle notifications: each step of an event on its way to an outcome,
 * emitted only with `SupervisorInput.lifecycle` (the runtime sets it when
 * something listens to them). `at` is the supervisor's clock (`now()`);
 * `seq` is unique per event within a run (`id` is the source's id, which a
 * redelivery may repeat).
 * - `event.received`: the supervisor admitted it (before it is queued, or settled at once).
 *   `payload` is the object the worker receives (not a copy).
 * - `event.queued`: it entered the queue, first or again for a retry; `position` is the number
 *   of events waiting, this one included.
 * - `event.started`: attempt `attempt` started on slot `slotId`.
 * - `event.timedOut`: attempt `attempt` on `slotId` passed the execution timeout (its run is aborted).
 * - `event.abandoned`: its run on `slotId` was aborted and the slot set aside until the run settles
 *   (after a timeout, or at the end of the shutdown timeout).
 * - `event.settled`: its outcome was handed to its source (sent at the end of the step), as `how`;
 *   only for sources that take outcomes (a broker, an event log), never for interval or stdin.
 */
export type SupervisorLifecycle =
  | {
      type: 'event.received';
      id: string;
      seq: number;
      meta: Delivery['meta'];
      payload: unknown;
      at: number;
      /** Whether its source is told how it ended (`event.settled` follows its outcome): false for one offered again by the inspector. */
      settles: boolean;
    }
  | { type: 'event.queued'; id: string; seq: number; position: number; at: number }
  | { type: 'event.started'; id: string; seq: number; slotId: string; attempt: number; at: number }
  | { type: 'event.timedOut'; id: string; seq: number; slotId: string; attempt: number; at: number }
  | { type: 'event.abandoned'; id: string; seq: number; slotId: string; at: number }
  | { type: 'event.settled'; id: string; seq: number; how: SettleHow; at: number };

export const LIFECYCLE_LIST: readonly SupervisorLifecycle['type'][] = [
  'event.received',
  'event.queued',
  'event.started',
  'event.timedOut',
  'event.abandoned',
  'event.settled',
];

/** The lifecycle notifications' types (see `SupervisorLifecycle`). */
export const LIFECYCLE_TYPES: ReadonlySet<string> = new Set(LIFECYCLE_LIST);

/** Outcome notifications the supervisor emits (`actor.on(type, fn)`), and with `lifecycle` the `SupervisorLifecycle` ones. */
export type SupervisorEmitted =
  | SupervisorLifecycle
  | {
      type: 'event.completed';
      id: string;
      seq: number;
      attempts: number;
      result: unknown;
      meta: Delivery['meta'];
      waitMs?: number | undefined;
      runMs?: number | undefined;
    }
  | {
      [O in Exclude<Outcome, 'completed'>]: {
        type: `event.${O}`;
        id: string;
        seq: number;
        attempts: number;
        error: ErrorInfo;
        deadLetter: boolean;
        meta: Delivery['meta'];
        payload: unknown;
        waitMs?: number | undefined;
        runMs?: number | undefined;
      };
    }[Exclude<Outcome, 'completed'>]
  | { type: 'event.retrying'; id: string; seq: number; attempt: number; delayMs: number; error: ErrorInfo }
  | {
      type: 'slot.replaced';
      slotId: string;
      replacement: string;
      /** Why its run was aborted: ERR_WORKER_TIMEOUT, or ERR_CANCELLED (an operator, through the inspector). */
      reason?: ErrorInfo['code'];
    }
  | { type: 'source.reconnecting'; attempt: number; delayMs: number; error: ErrorInfo }
  | { type: 'dependency.down'; error: ErrorInfo }
  | { type: 'dependency.up'; downForMs: number; probes: number };
