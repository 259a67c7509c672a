import type { LogEvent } from '../plugins/plugin-api.js';

/**
 * Ids missing from the log between two events that were read: a transaction
 * that has not committed yet, or one that rolled back. Plugins wait at a gap
 * until it fills, it is proved never to fill (closed), or its deadline
 * passes (given up).
 */
export interface Gap {
  from: number;
  to: number;
  /** When it was first seen missing (or, when old gaps expire, when the event after it was written, if earlier): its deadline is this plus the backlog timeout. */
  firstSeen: number;
  /** Passed by every plugin: given up at its deadline, or closed. */
  givenUp: boolean;
  /** No transaction that could still write its ids was open at the last list of writers: a read after that list closes it if it is still missing. */
  drained?: boolean;
}

type Entry = { id: number; event: LogEvent } | Gap;

const isGap = (entry: Entry): entry is Gap => 'from' in entry;
const startOf = (entry: Entry) => (isGap(entry) ? entry.from : entry.id);
const endOf = (entry: Entry) => (isGap(entry) ? entry.to : entry.id);

/** What a plugin whose cursor is at `last` should do next. */
export type NextStep =
  /** Run this event; every id before it that the plugin had not passed did not match or was given up: its cursor may move to `skippedTo` first. */
  | { kind: 'event'; event: LogEvent; skippedTo: number }
  /** Wait: `gap` has not filled and its deadline (`until`) has not passed. */
  | { kind: 'blocked'; gap: Gap; until: number; skippedTo: number }
  /** Nothing more has been read yet. */
  | { kind: 'caught-up'; skippedTo: number }
  /** The cursor is below what the window holds: reset it there and read again. */
  | { kind: 'behind' };

/** Ids given up at their deadline, read again now and then until `until`: one that appears there is a late event. */
export interface LateRange {
  from: number;
  to: number;
  until: number;
}

/** How many given-up ranges are kept for late events at most (the oldest go first). */
export const MAX_LATE_RANGES = 1000;

/** A gap as it is kept in a plugin's backlog: `[from, to, deadline]`. */
export type BacklogRange = [from: number, to: number, deadline: number];

/**
 * The part of the event log that is read and not yet passed by every active
 * plugin: events and gaps tiling `(base, high]` in id order. Pure: the
 * reader's results and the time come in as arguments, so it is tested (and
 * property-tested) without a database or a clock.
 */
export class LogWindow {
  private entries: Entry[] = [];
  /** Ids up to `base` are behind every active plugin and forgotten. */
  base: number;
  /** The highest id read. */
  high: number;
  /** Deadlines remembered from plugins' backlogs (a restart keeps them). */
  private known: BacklogRange[] = [];
  /** Gaps given up since the last `takeGivenUp()`, for the log. */
  private givenUpNow: Gap[] = [];
  /**
   * A gap between two events both written longer ago than the timeout
   * (their `created_at`) is given up at once. Off where gaps close on proof
   * (PostgreSQL's pg_locks check): `created_at` is another machine's clock
   * (or a transaction's start), and trusting it there could give up an id
   * whose transaction is still open; a gap then times out on this clock,
   * from when it was first seen. @default true
   */
  expiresOldGaps = true;
  /** Gaps given up at their deadline, still looked for (rereadLate). */
  private late: LateRange[] = [];

  constructor(
    base: number,
    private readonly backlogTimeoutMs: number,
  ) {
    this.base = base;
    this.high = base;
  }

  /** Forgets everything and starts again after `base` (a plugin came back from far behind, or the reader reconnected). */
  reset(base: number): void {
    this.entries = [];
    this.base = base;
    this.high = base;
  }

  /** Deadlines of gaps from plugins' stored backlogs: a gap seen again in these ranges keeps its old deadline. */
  remember(backlog: readonly BacklogRange[]): void {
    this.known.push(...backlog);
  }

  /** How many events the window holds. */
  get eventCount(): number {
    return this.entries.reduce((n, entry) => n + (isGap(entry) ? 0 : 1), 0);
  }

  /**
   * Takes the events a read returned (`id > after`, in id order). Ids in the
   * range read that did not come back are gaps; an event inside a gap fills
   * it. Returns the events that came after their gap was given up (late: for
   * the plugins that went past them, out of order).
   */
  add(after: number, events: readonly LogEvent[], now: number): LogEvent[] {
    const late: LogEvent[] = [];
    for (const event of events) {
      if (event.id <= after) continue;
      // Behind every active plugin: only an id given up and still looked for is news (a late event).
      if (event.id <= this.base) {
        if (this.takeLate(event.id)) late.push(event);
        continue;
      }
      if (event.id > this.high) {
        // A read again from below (a plugin back from behind) can meet an id given up before.
        if (this.takeLate(event.id)) late.push(event);
        if (event.id > this.high + 1) {
          const last = this.entries.at(-1);
          const before = last && !isGap(last) ? last.event : undefined;
          this.entries.push(this.newGap(this.high + 1, event.id - 1, before, event, now));
        }
        this.entries.push({ id: event.id, event });
        this.high = event.id;
        continue;
      }
      const index = this.indexOf(event.id);
      const entry = this.entries[index];
      if (!entry || !isGap(entry)) continue;
      if (this.takeLate(event.id) || entry.givenUp) late.push(event);
      const parts: Entry[] = [];
      if (entry.from < event.id) parts.push({ ...entry, to: event.id - 1 });
      parts.push({ id: event.id, event });
      if (event.id < entry.to) parts.push({ ...entry, from: event.id + 1 });
      this.entries.splice(index, 1, ...parts);
    }
    return late;
  }

  /** The next step for a plugin whose cursor is at `last`; `wants` says whether it has a callback for an event. */
  next(last: number, now: number, wants: (event: LogEvent) => boolean): NextStep {
    if (last < this.base) return { kind: 'behind' };
    let skippedTo = last;
    for (let index = this.indexAfter(last); index < this.entries.length; index++) {
      const entry = this.entries[index]!;
      if (isGap(entry)) {
        if (!entry.givenUp) {
          const until = entry.firstSeen + this.backlogTimeoutMs;
          if (now < until) return { kind: 'blocked', gap: entry, until, skippedTo };
          entry.givenUp = true;
          this.givenUpNow.push(entry);
          this.keepLate(entry.from, entry.to, now);
        }
        skippedTo = entry.to;
      } else if (wants(entry.event)) {
        return { kind: 'event', event: entry.event, skippedTo };
      } else {
        skippedTo = entry.id;
      }
    }
    return { kind: 'caught-up', skippedTo: Math.max(skippedTo, this.high) };
  }

  /** Forgets what every active plugin has passed. */
  evict(floor: number): void {
    if (floor <= this.base) return;
    let drop = 0;
    while (drop < this.entries.length && endOf(this.entries[drop]!) <= floor) drop++;
    this.entries.splice(0, drop);
    const first = this.entries[0];
    if (first && isGap(first) && first.from <= floor) first.from = floor + 1;
    this.base = floor;
    if (floor > this.high) this.high = floor;
  }

  /** The first gap after `id` that nobody has given up yet: where a read looks again for late events. */
  openGapAfter(id = Number.NEGATIVE_INFINITY): Gap | undefined {
    return this.entries.find((entry): entry is Gap => isGap(entry) && !entry.givenUp && entry.from > id);
  }

  /**
   * The reads that look again at every open gap: from just before the first,
   * then from just past what each read reached, while a read comes back full.
   * `read(after)` returns what it read; the window takes it in.
   */
  async recheckGaps(read: (after: number) => Promise<readonly LogEvent[]>, limit: number, now: () => number): Promise<LogEvent[]> {
    const late: LogEvent[] = [];
    let gap = this.openGapAfter();
    while (gap) {
      const after = gap.from - 1;
      const events = await read(after);
      late.push(...this.add(after, events, now()));
      // A short read reached the end of the log: every gap was looked at.
      if (events.length < limit) break;
      gap = this.openGapAfter(events.at(-1)!.id);
    }
    return late;
  }

  /** How many given-up ranges are still looked for. */
  get lateRangeCount(): number {
    return this.late.length;
  }

  /**
   * Reads the ranges given up at their deadline again (at most `maxReads`
   * reads, from the lowest): an id that appears is taken in and returned, a
   * late event, for the plugins that went past it. Ranges older than their
   * `until` are forgotten first.
   */
  async rereadLate(read: (after: number) => Promise<readonly LogEvent[]>, limit: number, now: number, maxReads = 20): Promise<LogEvent[]> {
    this.late = this.late.filter((range) => range.until > now);
    const ranges = [...this.late].sort((a, b) => a.from - b.from);
    const late: LogEvent[] = [];
    let covered = Number.NEGATIVE_INFINITY;
    let reads = 0;
    for (const range of ranges) {
      if (range.to <= covered) continue;
      if (reads++ >= maxReads) break;
      const after = Math.max(range.from - 1, covered);
      const events = await read(after);
      // Only ids the window has passed: above it, the next read in order takes them (and tells a late one).
      const found = events.filter((event) => event.id <= this.high && this.late.some((r) => r.from <= event.id && event.id <= r.to));
      late.push(...this.add(after, found, now));
      covered = events.length < limit ? Number.POSITIVE_INFINITY : events.at(-1)!.id;
    }
    return late;
  }

  /** The open gaps after `last`, with their deadlines, for a plugin's stored backlog (at most `max`). */
  backlogAfter(last: number, max = 1000): BacklogRange[] {
    const ranges: BacklogRange[] = [];
    for (const entry of this.entries) {
      if (ranges.length >= max) break;
      if (isGap(entry) && !entry.givenUp && entry.to > last)
        ranges.push([Math.max(entry.from, last + 1), entry.to, entry.firstSeen + this.backlogTimeoutMs]);
    }
    return ranges;
  }

  /** The event with the highest id at most `last` that the window holds, or undefined. */
  eventAtOrBefore(last: number): LogEvent | undefined {
    if (this.entries.length === 0 || startOf(this.entries[0]!) > last) return undefined;
    for (let index = this.indexOf(last); index >= 0; index--) {
      const entry = this.entries[index]!;
      if (!isGap(entry)) return entry.event;
    }
    return undefined;
  }

  /**
   * Marks the open gaps that end at or below `horizon` (see WriterHorizon)
   * as drained; returns how many are. Call it after the reads that saw the
   * gaps, with a horizon from a list of writers asked for after them.
   */
  drain(horizon: number): number {
    let drained = 0;
    for (const entry of this.entries) {
      if (isGap(entry) && !entry.givenUp && entry.to <= horizon) entry.drained = true;
      if (isGap(entry) && entry.drained && !entry.givenUp) drained++;
    }
    return drained;
  }

  /**
   * Closes the drained gaps that are still missing: call it after reads
   * that started after the list of writers that drained them (recheckGaps
   * reads every open gap). They are given up at once, without a deadline,
   * and returned for the log.
   */
  closeDrained(): Gap[] {
    const closed: Gap[] = [];
    for (const entry of this.entries) {
      if (isGap(entry) && entry.drained && !entry.givenUp) {
        entry.givenUp = true;
        closed.push(entry);
      }
    }
    return closed;
  }

  /** True when a gap that has not been passed is waiting. */
  get hasOpenGaps(): boolean {
    return this.openGapAfter() !== undefined;
  }

  /** The gaps given up since the last call. */
  takeGivenUp(): Gap[] {
    const gaps = this.givenUpNow;
    this.givenUpNow = [];
    return gaps;
  }

  /** Looks for a given-up range's ids for a while: 10 backlog timeouts, an hour at least. */
  private keepLate(from: number, to: number, now: number): void {
    this.late.push({ from, to, until: now + Math.max(10 * this.backlogTimeoutMs, 3_600_000) });
    if (this.late.length > MAX_LATE_RANGES) this.late.splice(0, this.late.length - MAX_LATE_RANGES);
  }

  /** Takes `id` out of the given-up ranges: true when it was in one. */
  private takeLate(id: number): boolean {
    const index = this.late.findIndex((range) => range.from <= id && id <= range.to);
    if (index < 0) return false;
    const range = this.late[index]!;
    const parts: LateRange[] = [];
    if (range.from < id) parts.push({ ...range, to: id - 1 });
    if (id < range.to) parts.push({ ...range, from: id + 1 });
    this.late.splice(index, 1, ...parts);
    return true;
  }

  private newGap(from: number, to: number, before: LogEvent | undefined, next: LogEvent, now: number): Gap {
    // A gap between events both written long ago is old news (a plugin back from far behind): it expires at once.
    // Both sides, since created_at = now() is a transaction's start: one long transaction alone proves nothing.
    const time = (e: LogEvent | undefined) => (e?.createdAt === undefined ? Number.NaN : Date.parse(e.createdAt));
    const written = !this.expiresOldGaps ? Number.NaN : before ? Math.max(time(before), time(next)) : time(next);
    let firstSeen = Number.isFinite(written) ? Math.min(now, written) : now;
    for (const [knownFrom, knownTo, deadline] of this.known) {
      if (knownFrom <= to && knownTo >= from) firstSeen = Math.min(firstSeen, deadline - this.backlogTimeoutMs);
    }
    return { from, to, firstSeen, givenUp: false };
  }

  /** The index of the entry holding `id` (the last entry starting at or before it). */
  private indexOf(id: number): number {
    let low = 0;
    let high = this.entries.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (startOf(this.entries[mid]!) <= id) low = mid;
      else high = mid - 1;
    }
    return low;
  }

  /** The index of the first entry that ends after `last`. */
  private indexAfter(last: number): number {
    if (this.entries.length === 0) return 0;
    const index = this.indexOf(last);
    return endOf(this.entries[index]!) > last ? index : index + 1;
  }
}
