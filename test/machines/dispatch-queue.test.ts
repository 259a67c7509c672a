import { describe, expect, it } from 'vitest';
import { DispatchQueue, type QueueEntry } from '../../machines/dispatch-queue.js';

const entry = (seq: number, key?: string, at = seq): QueueEntry => ({ seq, key, enqueuedAt: at, state: 'ready' });

describe('DispatchQueue', () => {
  it('hands out unkeyed entries in arrival order', () => {
    const q = new DispatchQueue();
    [1, 2, 3].forEach((s) => q.push(entry(s)));
    expect([q.take()?.seq, q.take()?.seq, q.take()?.seq, q.take()]).toEqual([1, 2, 3, undefined]);
    expect(q.size).toBe(0);
  });

  it('holds later entries of a key until the earlier one is released', () => {
    const q = new DispatchQueue();
    q.push(entry(1, 'a'));
    q.push(entry(2, 'a'));
    q.push(entry(3, 'b'));
    expect(q.take()?.seq).toBe(1);
    expect(q.take()?.seq).toBe(3);
    expect(q.take()).toBeUndefined();
    expect(q.size).toBe(1);
    q.release('a');
    expect(q.take()?.seq).toBe(2);
  });

  it('puts a retried entry ahead of entries that arrived after it', () => {
    const q = new DispatchQueue();
    const first = entry(1);
    q.push(first);
    q.take();
    q.push(entry(2));
    q.requeue(first, 50);
    expect(q.take()).toBe(first);
    expect(first.enqueuedAt).toBe(50);
  });

  it('expires the oldest waiting entries and frees their keys', () => {
    const q = new DispatchQueue();
    q.push(entry(1, 'a', 10));
    q.push(entry(2, 'a', 20));
    q.push(entry(3, undefined, 30));
    expect(q.expire(20).map((e) => e.seq)).toEqual([1, 2]);
    expect(q.oldest()).toBe(30);
    q.push(entry(4, 'a', 40));
    expect([q.take()?.seq, q.take()?.seq]).toEqual([3, 4]);
  });

  it('removes matching entries wherever they wait, freeing the keys they held', () => {
    const q = new DispatchQueue();
    q.push(entry(1, 'a'));
    q.push(entry(2, 'a'));
    q.push(entry(3, 'b'));
    q.push(entry(4));
    expect(q.remove((e) => e.seq === 1 || e.seq === 4).map((e) => e.seq)).toEqual([1, 4]);
    expect(q.size).toBe(2);
    expect([q.take()?.seq, q.take()?.seq, q.take()]).toEqual([2, 3, undefined]);
  });

  it('skips a removed entry that waited behind its key', () => {
    const q = new DispatchQueue();
    q.push(entry(1, 'a'));
    q.push(entry(2, 'a'));
    q.push(entry(3, 'a'));
    expect(q.take()?.seq).toBe(1);
    q.remove((e) => e.seq === 2);
    q.release('a');
    expect([q.take()?.seq, q.size]).toEqual([3, 0]);
  });

  it('keeps nothing of expired entries behind a key that stays held', () => {
    const q = new DispatchQueue();
    q.push(entry(0, 'a', 0));
    q.take(); // the holder runs for a long time
    for (let i = 1; i <= 1000; i++) {
      q.push(entry(i, 'a', i));
      q.expire(i);
    }
    expect(q.size).toBe(0);
    expect((q as unknown as { lanes: Map<string, { waiting: { length: number } }> }).lanes.get('a')!.waiting.length).toBe(0);
  });

  it('drains every waiting entry in arrival order', () => {
    const q = new DispatchQueue();
    q.push(entry(1, 'a'));
    q.push(entry(2, 'a'));
    q.push(entry(3));
    expect(q.drain().map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(q.size).toBe(0);
    expect(q.take()).toBeUndefined();
  });

  it('keeps no trace of entries once they are taken, however many pass through', () => {
    const q = new DispatchQueue();
    for (let i = 0; i < 10_000; i++) {
      q.push(entry(i));
      q.take();
    }
    expect(q.size).toBe(0);
    expect(q.oldest()).toBeUndefined();
  });
});
