import { Fifo } from './fifo.js';
import { Heap } from './heap.js';
import { KeyMap } from './key-map.js';

/** An event waiting to start, as the queue sees it. */
export interface Waiting {
  /** Arrival sequence number: lower starts first. */
  readonly seq: number;
  /** The ordering key (`[Flow] order by`), when there is one. */
  readonly key: string | undefined;
  /** When it (re-)entered the queue, by the supervisor's clock. */
  readonly enqueuedAt: number;
}

const bySeq = (a: Waiting, b: Waiting): boolean => a.seq < b.seq;
const byAge = (a: Waiting, b: Waiting): number => a.enqueuedAt - b.enqueuedAt || a.seq - b.seq;

/** What `removeWhere` took out, and the queue without it. */
export interface Removal<E extends Waiting> {
  queue: WaitQueue<E>;
  /** Oldest first. */
  removed: E[];
}

/**
 * The supervisor's wait list, as a persistent value: every change returns
 * a new queue and leaves this one as it was (the two share their
 * structure), so a snapshot that holds it never changes.
 *
 * Entries start in sequence order; with keys, at most one entry per key is
 * ready or running at a time and the others wait behind it in arrival order,
 * while other keys go on. A key is held from the moment an entry of it
 * is ready until `release` (its final outcome).
 *
 * - `line`: ready entries in arrival order (a persistent FIFO: O(1) a step);
 * - `ahead`: ready entries out of arrival order, retries and entries whose
 *   key was released (a persistent heap by sequence number: O(log n));
 * - `lanes`: each held key and the entries waiting behind it (a persistent map).
 *
 * `push`, `take` and `release` are the hot path; `oldest`, `removeWhere` and
 * `drain` walk the queue (the expiry timer, a revocation, shutdown).
 */
export class WaitQueue<E extends Waiting> {
  private constructor(
    /** Entries waiting (ready, or behind their key). */
    readonly size: number,
    private readonly line: Fifo<E>,
    private readonly ahead: Heap<E>,
    private readonly lanes: KeyMap<string, Fifo<E>>,
  ) {}

  /** The empty queue. */
  static empty<E extends Waiting>(): WaitQueue<E> {
    return new WaitQueue<E>(0, Fifo.empty(), Heap.empty<E>(bySeq), KeyMap.empty());
  }

  /** This queue with a newly arrived entry: ready, or behind the entry that holds its key. */
  push(entry: E): WaitQueue<E> {
    const { key } = entry;
    if (key === undefined) return new WaitQueue(this.size + 1, this.line.push(entry), this.ahead, this.lanes);
    const lane = this.lanes.get(key);
    if (lane) return new WaitQueue(this.size + 1, this.line, this.ahead, this.lanes.set(key, lane.push(entry)));
    return new WaitQueue(this.size + 1, this.line.push(entry), this.ahead, this.lanes.set(key, Fifo.empty()));
  }

  /** This queue with newly arrived entries, in arrival order (as `push` of each, in one step). */
  pushAll(entries: readonly E[]): WaitQueue<E> {
    if (entries.length === 0) return this;
    if (this.lanes.size === 0 && entries.every((entry) => entry.key === undefined))
      return new WaitQueue(this.size + entries.length, this.line.pushAll(entries), this.ahead, this.lanes);
    let queue: WaitQueue<E> = this;
    for (const entry of entries) queue = queue.push(entry);
    return queue;
  }

  /** This queue with an entry that already holds its key (a retry): ready at once, ahead of all that arrived after it. */
  requeue(entry: E): WaitQueue<E> {
    return new WaitQueue(this.size + 1, this.line, this.ahead.push(entry), this.lanes);
  }

  /** The entry that starts next, or undefined. */
  next(): E | undefined {
    const inLine = this.line.first();
    const early = this.ahead.min();
    if (!early) return inLine;
    return inLine && inLine.seq < early.seq ? inLine : early;
  }

  /** This queue without `next()`; its key stays held until `release`. */
  withoutNext(): WaitQueue<E> {
    const inLine = this.line.first();
    const early = this.ahead.min();
    if (!inLine && !early) return this;
    if (early && !(inLine && inLine.seq < early.seq)) return new WaitQueue(this.size - 1, this.line, this.ahead.pop(), this.lanes);
    return new WaitQueue(this.size - 1, this.line.shift(), this.ahead, this.lanes);
  }

  /** This queue with `key` free (after its entry's final outcome): the next entry of that key becomes ready. */
  release(key: string | undefined): WaitQueue<E> {
    if (key === undefined) return this;
    const lane = this.lanes.get(key);
    if (!lane) return this;
    const head = lane.first();
    if (head === undefined) return new WaitQueue(this.size, this.line, this.ahead, this.lanes.delete(key));
    return new WaitQueue(this.size, this.line, this.ahead.push(head), this.lanes.set(key, lane.shift()));
  }

  /** When the oldest waiting entry entered, or undefined when none waits. */
  oldest(): number | undefined {
    let oldest = this.line.first()?.enqueuedAt;
    const older = (at: number | undefined): void => {
      if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at;
    };
    for (const entry of this.ahead.toArray()) older(entry.enqueuedAt);
    for (const lane of this.lanes.values()) older(lane.first()?.enqueuedAt);
    return oldest;
  }

  /**
   * This queue without the entries that match, and those entries, oldest
   * first (expired ones; events whose source can no longer acknowledge
   * them). A ready entry taken out frees its key for the next of its lane.
   */
  removeWhere(matches: (entry: E) => boolean): Removal<E> {
    const removed: E[] = [];
    const keep = (entry: E): boolean => {
      if (!matches(entry)) return true;
      removed.push(entry);
      return false;
    };
    const line = this.line.toArray().filter(keep);
    const ahead = this.ahead.toArray().filter(keep);
    if (removed.length === 0 && this.lanes.size === 0) return { queue: this, removed };
    // Keys whose ready entry went: the next entry behind it, if any, takes the key.
    const freed = new Set(removed.flatMap((entry) => (entry.key === undefined ? [] : [entry.key])));
    let lanes = KeyMap.empty<string, Fifo<E>>();
    for (const [key, lane] of this.lanes.entries()) {
      const behind = lane.toArray().filter(keep);
      if (!freed.has(key)) lanes = lanes.set(key, Fifo.from(behind));
      else if (behind.length > 0) {
        // The first entry behind takes the key: it is ready, and the rest wait behind it.
        ahead.push(behind[0]!);
        lanes = lanes.set(key, Fifo.from(behind.slice(1)));
      }
    }
    if (removed.length === 0) return { queue: this, removed };
    let heap = Heap.empty<E>(bySeq);
    for (const entry of ahead) heap = heap.push(entry);
    return { queue: new WaitQueue(this.size - removed.length, Fifo.from(line), heap, lanes), removed: removed.sort(byAge) };
  }

  /** Every waiting entry, oldest first. */
  toArray(): E[] {
    const all = [...this.line.toArray(), ...this.ahead.toArray()];
    for (const lane of this.lanes.values()) all.push(...lane.toArray());
    return all.sort(byAge);
  }

  toJSON(): E[] {
    return this.toArray();
  }
}
