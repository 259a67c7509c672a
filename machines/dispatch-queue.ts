import Denque from 'denque';
import TinyQueue from 'tinyqueue';

/** An event waiting to start, as the supervisor tracks it. */
export interface QueueEntry {
  /** Arrival sequence number: lower starts first. */
  readonly seq: number;
  /** The ordering key (`[Flow] order by`), when there is one. */
  readonly key: string | undefined;
  /** When it (re-)entered the queue, by the supervisor's clock. */
  enqueuedAt: number;
  /**
   * `ready` (may start now), `blocked` (behind an earlier entry of its key)
   * or `gone` (started, expired or drained; skipped lazily).
   */
  state: 'ready' | 'blocked' | 'gone';
}

/** A key that is held: one entry of it is ready, running or awaiting a retry; the rest wait here. */
interface KeyLane {
  waiting: Denque<QueueEntry>;
}

/**
 * The supervisor's bounded wait list. Entries start in arrival order; with
 * keys, at most one entry per key is ready or running at a time and the
 * others wait behind it in arrival order, while other keys go on.
 *
 * A plain data structure with no I/O and no clock of its own: the
 * supervisor machine owns one in its context and mutates it only in its
 * actions, which keeps a million-event flood at O(log n) per event instead
 * of copying an array per transition.
 */
export class DispatchQueue<E extends QueueEntry = QueueEntry> {
  private readonly ready = new TinyQueue<E>([], (a, b) => a.seq - b.seq);
  private readonly byArrival = new Denque<E>();
  private readonly lanes = new Map<string, KeyLane>();
  private live = 0;

  /** Entries waiting (ready, or behind their key). */
  get size(): number {
    return this.live;
  }

  /** Adds a newly arrived entry. */
  push(entry: E): void {
    this.live++;
    this.byArrival.push(entry);
    if (entry.key !== undefined) {
      const lane = this.lanes.get(entry.key);
      if (lane) {
        entry.state = 'blocked';
        lane.waiting.push(entry);
        return;
      }
      this.lanes.set(entry.key, { waiting: new Denque() });
    }
    entry.state = 'ready';
    this.ready.push(entry);
  }

  /**
   * Puts back an entry that already holds its key (a retry): it becomes
   * ready at once, ahead of everything that arrived after it.
   */
  requeue(entry: E, now: number): void {
    entry.state = 'ready';
    entry.enqueuedAt = now;
    this.live++;
    this.byArrival.push(entry);
    this.ready.push(entry);
  }

  /** Takes the next entry that may start, or undefined. Its key stays held until `release`. */
  take(): E | undefined {
    while (this.ready.length > 0) {
      const entry = this.ready.pop()!;
      if (entry.state === 'gone') continue;
      entry.state = 'gone';
      this.live--;
      return entry;
    }
    return undefined;
  }

  /** Frees a key after its entry's final outcome: the next entry of that key becomes ready. */
  release(key: string | undefined): void {
    if (key === undefined) return;
    const lane = this.lanes.get(key);
    if (!lane) return;
    while (lane.waiting.length > 0) {
      const next = lane.waiting.shift()!;
      if (next.state === 'gone') continue;
      next.state = 'ready';
      this.ready.push(next as E);
      return;
    }
    this.lanes.delete(key);
  }

  /** Removes and returns every waiting entry that entered at or before `cutoff`, oldest first. */
  expire(cutoff: number): E[] {
    const expired: E[] = [];
    for (;;) {
      const head = this.byArrival.peekFront();
      if (head === undefined) break;
      if (head.state === 'gone') {
        this.byArrival.shift();
        continue;
      }
      if (head.enqueuedAt > cutoff) break;
      this.byArrival.shift();
      this.remove(head);
      expired.push(head);
    }
    return expired;
  }

  /** When the oldest waiting entry entered, or undefined when none waits. */
  oldest(): number | undefined {
    for (;;) {
      const head = this.byArrival.peekFront();
      if (head === undefined) return undefined;
      if (head.state !== 'gone') return head.enqueuedAt;
      this.byArrival.shift();
    }
  }

  /** Removes and returns every waiting entry, oldest first (shutdown). */
  drain(): E[] {
    const drained: E[] = [];
    while (this.byArrival.length > 0) {
      const entry = this.byArrival.shift()!;
      if (entry.state === 'gone') continue;
      entry.state = 'gone';
      drained.push(entry);
    }
    this.live = 0;
    this.lanes.clear();
    while (this.ready.length > 0) this.ready.pop();
    return drained;
  }

  private remove(entry: E): void {
    // A ready entry holds its key: letting it go frees the key for the next one.
    const held = entry.state === 'ready';
    entry.state = 'gone';
    this.live--;
    if (held) this.release(entry.key);
  }
}
