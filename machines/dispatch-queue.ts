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
   * or `gone` (started, expired or drained).
   */
  state: 'ready' | 'blocked' | 'gone';
  /** Links in the arrival list (owned by the queue). */
  older?: QueueEntry | undefined;
  newer?: QueueEntry | undefined;
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
 * Waiting entries are linked in arrival order (so expiry looks only at the
 * oldest, and taking one unlinks it in O(1)); the ready ones are also in a
 * heap by sequence number (so a retried event goes ahead of later ones).
 * Memory is proportional to the entries waiting, never to the events seen.
 *
 * A plain data structure with no I/O and no clock of its own: the
 * supervisor machine owns one in its context and mutates it only in its
 * actions, which keeps a flood at O(log n) per event instead of copying an
 * array per transition.
 */
export class DispatchQueue<E extends QueueEntry = QueueEntry> {
  private ready = new TinyQueue<E>([], (a, b) => a.seq - b.seq);
  /** Ready entries that left the heap's view without being popped (expired). */
  private readyGone = 0;
  private oldestEntry: E | undefined;
  private newestEntry: E | undefined;
  private readonly lanes = new Map<string, KeyLane>();
  private live = 0;

  /** Entries waiting (ready, or behind their key). */
  get size(): number {
    return this.live;
  }

  /** Adds a newly arrived entry. */
  push(entry: E): void {
    this.link(entry);
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
    entry.enqueuedAt = now;
    entry.state = 'ready';
    this.link(entry);
    this.ready.push(entry);
  }

  /** Takes the next entry that may start, or undefined. Its key stays held until `release`. */
  take(): E | undefined {
    while (this.ready.length > 0) {
      const entry = this.ready.pop()!;
      if (entry.state === 'gone') {
        this.readyGone--;
        continue;
      }
      this.unlink(entry);
      entry.state = 'gone';
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
    while (this.oldestEntry && this.oldestEntry.enqueuedAt <= cutoff) {
      const entry = this.oldestEntry;
      this.drop(entry);
      expired.push(entry);
    }
    this.compactReady();
    return expired;
  }

  /** Removes and returns every waiting entry that matches, oldest first (events whose source can no longer acknowledge them). */
  remove(matches: (entry: E) => boolean): E[] {
    const removed: E[] = [];
    for (let entry = this.oldestEntry; entry;) {
      const next = entry.newer as E | undefined;
      if (matches(entry)) {
        this.drop(entry);
        removed.push(entry);
      }
      entry = next;
    }
    this.compactReady();
    return removed;
  }

  /** When the oldest waiting entry entered, or undefined when none waits. */
  oldest(): number | undefined {
    return this.oldestEntry?.enqueuedAt;
  }

  /** Removes and returns every waiting entry, oldest first (shutdown). */
  drain(): E[] {
    const drained: E[] = [];
    while (this.oldestEntry) {
      const entry = this.oldestEntry;
      this.unlink(entry);
      entry.state = 'gone';
      drained.push(entry);
    }
    this.lanes.clear();
    this.ready = new TinyQueue<E>([], (a, b) => a.seq - b.seq);
    this.readyGone = 0;
    return drained;
  }

  /** Takes one waiting entry out: a ready one frees its key for the next of its lane. */
  private drop(entry: E): void {
    const held = entry.state === 'ready';
    this.unlink(entry);
    entry.state = 'gone';
    if (held) {
      this.readyGone++;
      this.release(entry.key);
    } else if (entry.key !== undefined) {
      // Gone entries at the head of a lane are dropped there, or a key held for long
      // would keep every expired entry behind it (expiry goes oldest first, so they head it).
      const lane = this.lanes.get(entry.key);
      while (lane && lane.waiting.length > 0 && lane.waiting.peekFront()!.state === 'gone') lane.waiting.shift();
    }
  }

  private link(entry: E): void {
    entry.older = this.newestEntry;
    entry.newer = undefined;
    if (this.newestEntry) this.newestEntry.newer = entry;
    else this.oldestEntry = entry;
    this.newestEntry = entry;
    this.live++;
  }

  private unlink(entry: E): void {
    const { older, newer } = entry;
    if (older) older.newer = newer;
    else this.oldestEntry = newer as E | undefined;
    if (newer) newer.older = older;
    else this.newestEntry = older as E | undefined;
    entry.older = entry.newer = undefined;
    this.live--;
  }

  /** Expired entries linger in the heap until popped; rebuild it when they outnumber the live ones. */
  private compactReady(): void {
    if (this.readyGone < 64 || this.readyGone * 2 < this.ready.length) return;
    const live = this.ready.data.filter((entry) => entry.state === 'ready');
    this.ready = new TinyQueue<E>(live, (a, b) => a.seq - b.seq);
    this.readyGone = 0;
  }
}
