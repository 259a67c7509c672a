import type { AnyActorRef } from 'xstate';
import type { ErrorInfo, Settlement, SourcePause, SourceResume, SourceStop } from '../events.js';
import type { PingInput } from '../outage.js';
import type { SupervisorEvent } from './inbox.js';
import type { SupervisorEmitted } from './notifications.js';
import type { JobRecord } from './types.js';

/** The supervisor's timers, by id: one each, but one per event waiting for its retry (`retry-<seq>`). */
export const DEADLINE = 'execution-deadline';
export const EXPIRY = 'queue-expiry';
export const PROBE = 'dependency-probe';
/** The id of the `pingDependency` child. */
export const PING = 'dependency-ping';
export const retryTimer = (seq: number): string => `retry-${seq}`;

/**
 * What the ledger asks the machine to do, in order. The ledger decides; the
 * machine performs (machines/supervisor.ts):
 * - `assign`: send `event.assigned` with `job` to the slot.
 * - `abort`: send `slot.abort` to the slot.
 * - `settle`: send the outcomes of one step to one source, as one message.
 * - `emit`: a notification for `actor.on()`.
 * - `raise`: an event to the supervisor itself, now.
 * - `arm` / `cancel`: a timer that raises `event` after `delayMs`, by id (arming an id again replaces it).
 * - `spawnSlot` / `spawnPing` / `stopChild`: the supervisor's children.
 * - `tellSource`: pause, resume or stop the source.
 */
export type Effect =
  | { type: 'assign'; slotId: string; job: JobRecord }
  | { type: 'abort'; slotId: string; reason: ErrorInfo }
  | { type: 'settle'; origin: AnyActorRef; settlements: Settlement[] }
  | { type: 'emit'; event: SupervisorEmitted }
  | { type: 'raise'; event: SupervisorEvent }
  | { type: 'arm'; id: string; delayMs: number; event: SupervisorEvent }
  | { type: 'cancel'; id: string }
  | { type: 'spawnSlot'; slotId: string }
  | { type: 'spawnPing'; input: PingInput }
  | { type: 'stopChild'; id: string }
  | { type: 'tellSource'; event: SourcePause | SourceResume | SourceStop };
