import type { AnyActorRef } from 'xstate';
import type { ErrorInfo, Outcome, Settlement } from '../events.js';
import { PING_TIMEOUT_MS, type OutageStep } from '../outage.js';
import { EXPIRY, PROBE, type Effect } from './effects.js';
import type { SupervisorEvent } from './inbox.js';
import { isSettled, type Clock, type Ledger, type LedgerStep } from './ledger-state.js';
import type { SettleHow, SupervisorEmitted } from './notifications.js';
import type { SlotTable } from './slot-table.js';
import type { JobRecord, SupervisorCounters } from './types.js';

type Draft = { -readonly [K in keyof Ledger]: Ledger[K] } & { counters: SupervisorCounters };

/**
 * One ledger function's work in progress: a private copy of the ledger's
 * top level that only this step sees (its small tables are copied the
 * first time the step changes them), and the effects decided so far. The
 * ledger it started from is never changed; `done()` hands over the next one.
 */
export class Step {
  readonly next: Draft;
  readonly effects: Effect[] = [];
  readonly now: number;
  readonly random: () => number;
  /** The queue's size when the step began, for its watermark crossings. */
  private readonly sizeBefore: number;
  /** Outcomes decided in this step, by source: one message per source, sent before any new assignment. */
  private outbox: Array<{ origin: AnyActorRef; settlements: Settlement[] }> | undefined;
  private ownsSlots = false;
  private ownsIdle = false;
  private ownsTerminating = false;

  constructor(ledger: Ledger, clock: Clock) {
    this.next = draftOf(ledger);
    this.now = clock.now;
    this.random = clock.random;
    this.sizeBefore = ledger.queue.size;
  }

  /** The slot table, writable in this step (a copy made at the first change). */
  slots(): SlotTable {
    if (!this.ownsSlots) {
      this.next.slots = this.next.slots.copy();
      this.ownsSlots = true;
    }
    return this.next.slots;
  }

  /** The idle slots, writable in this step. */
  idle(): string[] {
    if (!this.ownsIdle) {
      this.next.idle = [...this.next.idle];
      this.ownsIdle = true;
    }
    return this.next.idle as string[];
  }

  /** The runs being terminated, writable in this step. */
  terminating(): Map<string, { job: JobRecord; error: ErrorInfo }> {
    if (!this.ownsTerminating) {
      this.next.terminating = new Map(this.next.terminating);
      this.ownsTerminating = true;
    }
    return this.next.terminating as Map<string, { job: JobRecord; error: ErrorInfo }>;
  }

  count(counter: keyof SupervisorCounters): void {
    this.next.counters[counter]++;
  }

  emit(event: SupervisorEmitted): void {
    this.effects.push({ type: 'emit', event });
  }

  raise(event: SupervisorEvent): void {
    this.effects.push({ type: 'raise', event });
  }

  /** Queues `effect` after the outcomes decided so far are sent (an ack never trails the next run's frames). */
  afterSettlements(effect: Effect): void {
    this.flushSettlements();
    this.effects.push(effect);
  }

  /**
   * The event's outcome: its source is told (in one message per source at
   * the end of the step), and the outcome is emitted.
   */
  settle(job: JobRecord, outcome: Outcome, detail: { result: unknown } | { error: ErrorInfo }): void {
    const { delivery } = job;
    const deadLetter = outcome === 'failed';
    const error = 'error' in detail ? detail.error : undefined;
    const result = 'result' in detail ? detail.result : undefined;
    if (delivery.origin) {
      const settlement: Settlement = {
        id: delivery.id,
        outcome,
        ack: outcome === 'completed',
        attempts: job.attempt,
        deadLetter,
        ...(result !== undefined ? { result } : {}),
        ...(error ? { error } : {}),
        ...(delivery.meta ? { meta: delivery.meta } : {}),
      };
      // Nearly always one source: a scan of a short list.
      const box = (this.outbox ??= []);
      const entry = box.find((other) => other.origin === delivery.origin);
      if (entry) entry.settlements.push(settlement);
      else box.push({ origin: delivery.origin, settlements: [settlement] });
    }
    const { id, meta, payload } = delivery;
    const { seq, attempt: attempts, waitMs, runMs } = job;
    if (outcome === 'completed') this.emit({ type: 'event.completed', id, seq, attempts, result, meta, waitMs, runMs });
    else this.emit({ type: `event.${outcome}`, id, seq, attempts, error: error!, deadLetter, meta, payload, waitMs, runMs });
    if (this.next.emits['event.settled'] && delivery.origin) {
      const how: SettleHow = outcome === 'completed' ? 'ack' : deadLetter ? 'dead-letter' : 'nack';
      this.emit({ type: 'event.settled', id, seq, how, at: this.now });
    }
  }

  /** Emits `event.queued` for a job just put in the queue (`position`: the events waiting, it included), when asked for. */
  noteQueued(job: JobRecord, position = this.next.queue.size): void {
    if (this.next.emits['event.queued'])
      this.emit({ type: 'event.queued', id: job.delivery.id, seq: job.seq, position, at: job.enqueuedAt });
  }

  /** Takes an outage decision: pause or resume the source for `dependency`, say it is down or back, schedule the probe, ping. */
  outage(step: OutageStep): void {
    this.next.outage = step.outage;
    for (const effect of step.effects) {
      if (effect.type === 'pause') this.effects.push({ type: 'tellSource', event: { type: 'source.pause', reason: 'dependency' } });
      else if (effect.type === 'resume') this.effects.push({ type: 'tellSource', event: { type: 'source.resume', reason: 'dependency' } });
      else if (effect.type === 'down') this.emit({ type: 'dependency.down', error: effect.error });
      else if (effect.type === 'up') this.emit({ type: 'dependency.up', downForMs: effect.downForMs, probes: effect.probes });
      else if (effect.type === 'ping')
        this.effects.push({ type: 'spawnPing', input: { dependencies: effect.dependencies, timeoutMs: PING_TIMEOUT_MS } });
      else this.effects.push({ type: 'arm', id: PROBE, delayMs: effect.delayMs, event: { type: 'dependency.probeDue' } });
    }
  }

  /** One timer watches the oldest waiting event: it fires when that one passes the queue timeout. */
  armExpiry(): void {
    this.armExpiryAfter(0);
  }

  /**
   * After the expiry timer fired: it watches the next oldest event, but
   * fires again no sooner than a tenth of the queue timeout (at most 1 s)
   * later, since each firing walks the queue: a saturated queue is walked a
   * bounded number of times a second, not once per expired event. An event
   * past its timeout never starts meanwhile (`dispatch` checks); only its
   * outcome may be sent that much later.
   */
  rearmExpiry(): void {
    this.armExpiryAfter(Math.min(1000, Math.max(1, Math.floor(this.next.settings.queueTimeoutMs / 10))));
  }

  private armExpiryAfter(minimumMs: number): void {
    const oldest = this.next.queue.oldest();
    if (oldest === undefined) return;
    const delayMs = Math.max(minimumMs, oldest + this.next.settings.queueTimeoutMs - this.now);
    this.effects.push({ type: 'arm', id: EXPIRY, delayMs, event: { type: 'queue.expiryDue' } });
  }

  /** Raises the queue's watermark crossings since the step began, and arms or cancels the expiry timer. */
  signalCrossings(): void {
    const before = this.sizeBefore;
    const after = this.next.queue.size;
    const { highWatermark, lowWatermark } = this.next.settings;
    if (before < highWatermark && after >= highWatermark) this.raise({ type: 'queue.filled' });
    if (before > lowWatermark && after <= lowWatermark) this.raise({ type: 'queue.drained' });
    if (before === 0 && after > 0) this.armExpiry();
    if (before > 0 && after === 0) this.effects.push({ type: 'cancel', id: EXPIRY });
  }

  /** Once the source has ended or a stop was asked for, the last outcome moves the supervisor on. */
  raiseIfDrained(): void {
    if (isSettled(this.next) && (this.next.sourceEnded || this.next.stopReason !== undefined)) this.raise({ type: 'work.drained' });
  }

  /** The next ledger and the effects, the outcomes last. */
  done(): LedgerStep {
    this.flushSettlements();
    return { ledger: this.next, effects: this.effects };
  }

  private flushSettlements(): void {
    const box = this.outbox;
    if (!box) return;
    this.outbox = undefined;
    for (const { origin, settlements } of box) this.effects.push({ type: 'settle', origin, settlements });
  }
}

/**
 * A copy of the ledger's fields for one step (an object literal of every
 * field: several times cheaper than a spread with an override, and one
 * shape). The context's other fields stay in the context.
 */
function draftOf(ledger: Ledger): Draft {
  return {
    settings: ledger.settings,
    queue: ledger.queue,
    slots: ledger.slots,
    idle: ledger.idle,
    running: ledger.running,
    deadlineArmed: ledger.deadlineArmed,
    retrying: ledger.retrying,
    abandoned: ledger.abandoned,
    terminating: ledger.terminating,
    nextSeq: ledger.nextSeq,
    nextSlot: ledger.nextSlot,
    counters: copyCounters(ledger.counters),
    sourceEnded: ledger.sourceEnded,
    sourceStopped: ledger.sourceStopped,
    stopReason: ledger.stopReason,
    sourceError: ledger.sourceError,
    outage: ledger.outage,
    vouched: ledger.vouched,
    emits: ledger.emits,
  };
}

function copyCounters(c: Readonly<SupervisorCounters>): SupervisorCounters {
  return {
    received: c.received,
    started: c.started,
    completed: c.completed,
    failed: c.failed,
    expired: c.expired,
    rejected: c.rejected,
    returned: c.returned,
    retried: c.retried,
    deadLettered: c.deadLettered,
    timedOut: c.timedOut,
  };
}
