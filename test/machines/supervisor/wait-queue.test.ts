import { describe, expect, it } from 'vitest';
import { WaitQueue, type Waiting } from '../../../machines/supervisor/wait-queue.js';
import { deepFreeze, plainView } from '../../helpers/frozen-view.js';

const entry = (seq: number, key?: string, at = seq): Waiting => ({ seq, key, enqueuedAt: at });
const queueOf = (...entries: Waiting[]) => entries.reduce((q, e) => q.push(e), WaitQueue.empty<Waiting>());

/** Takes every entry that can start now, in order. */
function takeAll(queue: WaitQueue<Waiting>): { queue: WaitQueue<Waiting>; seqs: number[] } {
  const seqs: number[] = [];
  for (let next = queue.next(); next; next = queue.next()) {
    seqs.push(next.seq);
    queue = queue.withoutNext();
  }
  return { queue, seqs };
}

describe('WaitQueue', () => {
  it('hands out unkeyed entries in arrival order', () => {
    const { queue, seqs } = takeAll(queueOf(entry(1), entry(2), entry(3)));
    expect(seqs).toEqual([1, 2, 3]);
    expect(queue.size).toBe(0);
  });

  it('holds later entries of a key until the earlier one is released', () => {
    const { queue, seqs } = takeAll(queueOf(entry(1, 'a'), entry(2, 'a'), entry(3, 'b')));
    expect(seqs).toEqual([1, 3]);
    expect(queue.size).toBe(1);
    expect(takeAll(queue.release('a')).seqs).toEqual([2]);
  });

  it('puts a retried entry ahead of entries that arrived after it', () => {
    const taken = queueOf(entry(1)).withoutNext().push(entry(2));
    const retried = { ...entry(1), enqueuedAt: 50 };
    expect(taken.requeue(retried).next()).toBe(retried);
  });

  it('expires the oldest waiting entries and frees their keys', () => {
    const { queue, removed } = queueOf(entry(1, 'a', 10), entry(2, 'a', 20), entry(3, undefined, 30)).removeWhere(
      (e) => e.enqueuedAt <= 20,
    );
    expect(removed.map((e) => e.seq)).toEqual([1, 2]);
    expect(queue.oldest()).toBe(30);
    expect(takeAll(queue.push(entry(4, 'a', 40))).seqs).toEqual([3, 4]);
  });

  it('removes matching entries wherever they wait, freeing the keys they held', () => {
    const { queue, removed } = queueOf(entry(1, 'a'), entry(2, 'a'), entry(3, 'b'), entry(4)).removeWhere(
      (e) => e.seq === 1 || e.seq === 4,
    );
    expect(removed.map((e) => e.seq)).toEqual([1, 4]);
    expect(queue.size).toBe(2);
    expect(takeAll(queue).seqs).toEqual([2, 3]);
  });

  it("hands a removed ready entry's key to the next of its lane, which holds it against later arrivals", () => {
    const { queue } = queueOf(entry(1, 'a'), entry(2, 'a')).removeWhere((e) => e.seq === 1);
    const { queue: rest, seqs } = takeAll(queue.push(entry(3, 'a')));
    expect([seqs, rest.size]).toEqual([[2], 1]);
    expect(takeAll(rest.release('a')).seqs).toEqual([3]);
  });

  it('skips a removed entry that waited behind its key', () => {
    const running = queueOf(entry(1, 'a'), entry(2, 'a'), entry(3, 'a')).withoutNext();
    const { queue } = running.removeWhere((e) => e.seq === 2);
    const { queue: rest, seqs } = takeAll(queue.release('a'));
    expect([seqs, rest.size]).toEqual([[3], 0]);
  });

  it('keeps nothing of expired entries behind a key that stays held', () => {
    let queue = queueOf(entry(0, 'a', 0)).withoutNext(); // the holder runs for a long time
    for (let i = 1; i <= 1000; i++) queue = queue.push(entry(i, 'a', i)).removeWhere((e) => e.enqueuedAt <= i).queue;
    expect(queue.size).toBe(0);
    expect(queue.toArray()).toEqual([]);
  });

  it('lists every waiting entry, oldest first', () => {
    expect(
      queueOf(entry(1, 'a'), entry(2, 'a'), entry(3))
        .toArray()
        .map((e) => e.seq),
    ).toEqual([1, 2, 3]);
  });

  it('leaves the queue it was called on as it was: two futures of one queue do not see each other', () => {
    const base = deepFreeze(queueOf(entry(1, 'a'), entry(2, 'a'), entry(3, 'b'), entry(4)));
    const view = plainView(base);
    const one = takeAll(base.release('x').push(entry(5, 'b')));
    const two = takeAll(base.removeWhere((e) => e.seq === 1).queue.push(entry(6)));
    expect([one.seqs, two.seqs]).toEqual([
      [1, 3, 4],
      [2, 3, 4, 6],
    ]);
    expect(plainView(base)).toEqual(view);
    expect(takeAll(base).seqs).toEqual([1, 3, 4]);
  });

  it('keeps no trace of entries once they are taken, however many pass through', () => {
    let queue = WaitQueue.empty<Waiting>();
    for (let i = 0; i < 10_000; i++) queue = queue.push(entry(i)).withoutNext();
    expect(queue.size).toBe(0);
    expect(queue.oldest()).toBeUndefined();
    expect(JSON.stringify(plainView(queue)).length).toBeLessThan(500);
  });
});
