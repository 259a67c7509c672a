import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../../actors/plugins/plugin-api.js';
import { LogWindow } from '../../actors/sources/event-log-window.js';

const TIMEOUT = 300_000;
const event = (id: number, createdAt?: string): LogEvent => ({
  id,
  type: id % 2 === 0 ? 'even' : 'odd',
  entity: null,
  attributes: [],
  createdAt,
  meta: null,
});
const everything = () => true;

describe('LogWindow', () => {
  it('hands a plugin the events after its cursor in id order, skipping those it does not want', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(
      0,
      [1, 2, 3, 4].map((id) => event(id)),
      0,
    );
    const odd = (e: LogEvent) => e.type === 'odd';
    expect(window.next(0, 0, odd)).toMatchObject({ kind: 'event', event: { id: 1 }, skippedTo: 0 });
    expect(window.next(1, 0, odd)).toMatchObject({ kind: 'event', event: { id: 3 }, skippedTo: 2 });
    expect(window.next(3, 0, odd)).toEqual({ kind: 'caught-up', skippedTo: 4 });
  });

  it('holds a plugin at a gap until the missing event arrives', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(0, [event(1), event(3)], 1000);
    expect(window.next(1, 1000, everything)).toMatchObject({
      kind: 'blocked',
      gap: { from: 2, to: 2 },
      until: 1000 + TIMEOUT,
      skippedTo: 1,
    });
    expect(window.openGapAfter()).toMatchObject({ from: 2, to: 2 });
    // The gap is read again from just before it: the late commit fills it.
    expect(window.add(1, [event(2), event(3)], 2000)).toEqual([]);
    expect(window.next(1, 2000, everything)).toMatchObject({ kind: 'event', event: { id: 2 } });
    expect(window.next(2, 2000, everything)).toMatchObject({ kind: 'event', event: { id: 3 } });
    expect(window.openGapAfter()).toBeUndefined();
  });

  it('gives a gap up once its backlog timeout has passed, and reports it once', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(0, [event(1), event(5)], 0);
    expect(window.next(1, TIMEOUT - 1, everything).kind).toBe('blocked');
    expect(window.next(1, TIMEOUT, everything)).toMatchObject({ kind: 'event', event: { id: 5 }, skippedTo: 4 });
    expect(window.takeGivenUp()).toMatchObject([{ from: 2, to: 4, givenUp: true }]);
    expect(window.takeGivenUp()).toEqual([]);
    // Arriving after it was given up, the event is reported late.
    expect(window.add(1, [event(3)], TIMEOUT + 1).map((e) => e.id)).toEqual([3]);
  });

  it('closes a drained gap that a later read still misses, at once and without reporting it given up; a gap above the horizon waits', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(0, [event(1), event(3), event(6), event(9)], 0);
    // Writers that may hold ids 7 and up are open: the gaps 2 and 4-5 are drained, 7-8 is not.
    expect(window.drain(6)).toBe(2);
    // The read after the list finds 4 (its transaction had committed in between): the rest of 4-5 and 2 close.
    window.add(1, [event(3), event(4), event(6), event(9)], 0);
    expect(window.closeDrained()).toMatchObject([
      { from: 2, to: 2, givenUp: true },
      { from: 5, to: 5, givenUp: true },
    ]);
    expect(window.takeGivenUp()).toEqual([]);
    expect(window.next(1, 0, everything)).toMatchObject({ kind: 'event', event: { id: 3 }, skippedTo: 2 });
    expect(window.next(6, 0, everything)).toMatchObject({ kind: 'blocked', gap: { from: 7, to: 8 } });
    expect(window.closeDrained()).toEqual([]);
    expect(window.drain(Number.POSITIVE_INFINITY)).toBe(1);
    expect(window.closeDrained()).toMatchObject([{ from: 7, to: 8 }]);
    expect(window.next(6, 0, everything)).toMatchObject({ kind: 'event', event: { id: 9 }, skippedTo: 8 });
    expect(window.hasOpenGaps).toBe(false);
  });

  it('splits a gap that fills in the middle', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(0, [event(1), event(10)], 0);
    window.add(1, [event(5), event(10)], 10);
    expect(window.backlogAfter(1)).toEqual([
      [2, 4, TIMEOUT],
      [6, 9, TIMEOUT],
    ]);
    expect(window.next(1, 10, everything)).toMatchObject({ kind: 'blocked', gap: { from: 2, to: 4 } });
  });

  it('expires at once a gap behind an event written longer ago than the timeout', () => {
    const window = new LogWindow(0, TIMEOUT);
    const now = Date.parse('2026-11-22T12:00:00Z');
    window.add(0, [event(1, '2026-11-22T10:59:00Z'), event(3, '2026-11-22T11:00:00Z')], now);
    expect(window.next(1, now, everything)).toMatchObject({ kind: 'event', event: { id: 3 } });
  });

  it('waits at a gap behind events written long ago when old gaps do not expire (gaps that close on proof), for the timeout from when it was seen', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.expiresOldGaps = false;
    const now = Date.parse('2026-11-22T12:00:00Z');
    window.add(0, [event(1, '2026-11-22T10:59:00Z'), event(3, '2026-11-22T11:00:00Z')], now);
    expect(window.next(1, now, everything)).toMatchObject({ kind: 'blocked', gap: { from: 2, to: 2 }, until: now + TIMEOUT });
  });

  it('waits at a gap behind an old event when the event before it is recent (a long transaction, not an old hole)', () => {
    const window = new LogWindow(0, TIMEOUT);
    const now = Date.parse('2026-11-22T12:00:00Z');
    window.add(0, [event(1, '2026-11-22T11:59:59Z'), event(3, '2026-11-22T11:00:00Z')], now);
    expect(window.next(1, now, everything)).toMatchObject({ kind: 'blocked', gap: { from: 2, to: 2 } });
  });

  it('reads a gap given up at its deadline again after every plugin passed it, and returns its event once as late', async () => {
    const window = new LogWindow(0, TIMEOUT);
    const log = [1, 2, 4, 5].map((id) => event(id));
    window.add(0, log, 0);
    expect(window.next(2, TIMEOUT, everything)).toMatchObject({ kind: 'event', event: { id: 4 }, skippedTo: 3 });
    window.evict(5);
    const read = async (after: number) => log.filter((e) => e.id > after).sort((a, b) => a.id - b.id);
    expect(await window.rereadLate(read, 10, TIMEOUT + 1)).toEqual([]);
    log.push(event(3));
    expect((await window.rereadLate(read, 10, TIMEOUT + 2)).map((e) => e.id)).toEqual([3]);
    expect(await window.rereadLate(read, 10, TIMEOUT + 3)).toEqual([]);
    expect(window.lateRangeCount).toBe(0);
  });

  it('forgets a given-up range after ten backlog timeouts (an hour at least), without reading it', async () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(0, [event(1), event(3)], 0);
    window.next(1, TIMEOUT, everything);
    const reads: number[] = [];
    const read = async (after: number) => (reads.push(after), []);
    await window.rereadLate(read, 10, TIMEOUT + 3_600_000 - 1);
    expect(reads).toEqual([1]);
    await window.rereadLate(read, 10, TIMEOUT + 3_600_000);
    expect([reads, window.lateRangeCount]).toEqual([[1], 0]);
  });

  it('keeps a stored backlog deadline for a gap seen again after a restart', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.remember([[2, 2, 50_000]]);
    window.add(0, [event(1), event(3)], 40_000);
    expect(window.next(1, 40_000, everything)).toMatchObject({ kind: 'blocked', until: 50_000 });
  });

  it('forgets what every plugin has passed and says when a cursor is behind it', () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(
      0,
      [1, 2, 3, 4, 5].map((id) => event(id)),
      0,
    );
    window.evict(3);
    expect(window.eventCount).toBe(2);
    expect(window.next(2, 0, everything)).toEqual({ kind: 'behind' });
    expect(window.next(3, 0, everything)).toMatchObject({ kind: 'event', event: { id: 4 } });
  });

  it('looks again at every open gap, one read past the other while reads come back full', async () => {
    const window = new LogWindow(0, TIMEOUT);
    window.add(
      0,
      [1, 3, 4, 6, 7, 9].map((id) => event(id)),
      0,
    );
    const log = [1, 2, 3, 4, 6, 7, 8, 9].map((id) => event(id));
    const reads: number[] = [];
    await window.recheckGaps(
      async (after) => {
        reads.push(after);
        return log.filter((e) => e.id > after).slice(0, 2);
      },
      2,
      () => 0,
    );
    // From before gap 2 (gets 2, 3), then before gap 5 (gets 6, 7), then before gap 8 (gets 8, 9), then a short read.
    expect(reads).toEqual([1, 4, 7]);
    expect(window.backlogAfter(0)).toEqual([[5, 5, TIMEOUT]]);
  });

  it('property: with out-of-order commits inside the timeout, each plugin sees every matching event exactly once, in id order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 20 }), rolledBack: fc.boolean() }), { minLength: 60, maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
        async (count, commits, batch, moduli) => {
          // Event i becomes visible at step i + delay (or never): commits land out of id order.
          const visibleAt = (id: number) => (commits[id - 1]!.rolledBack && id % 5 === 0 ? Infinity : id + commits[id - 1]!.delay);
          const timeout = 1000; // far longer than any commit delay: nothing is given up but real holes
          const window = new LogWindow(0, timeout);
          const plugins = moduli.map((m) => ({ wants: (e: LogEvent) => e.id % m === 0, last: 0, seen: [] as number[] }));
          const read = (after: number, step: number) => {
            const events: LogEvent[] = [];
            for (let id = after + 1; id <= count && events.length < batch; id++) if (visibleAt(id) <= step) events.push(event(id));
            return events;
          };
          for (let step = 0; step < count + 25 + timeout + 5; step += step > count + 25 ? timeout : 1) {
            const floor = Math.min(...plugins.map((p) => p.last));
            window.evict(floor);
            await window.recheckGaps(
              async (after) => read(after, step),
              batch,
              () => step,
            );
            const after = window.high;
            window.add(after, read(after, step), step);
            for (const plugin of plugins) {
              for (;;) {
                const next = window.next(plugin.last, step, plugin.wants);
                if (next.kind === 'behind') throw new Error('a cursor fell behind the window');
                plugin.last = Math.max(plugin.last, next.skippedTo);
                if (next.kind !== 'event') break;
                plugin.seen.push(next.event.id);
                plugin.last = next.event.id;
              }
            }
          }
          for (const [index, plugin] of plugins.entries()) {
            const expected = Array.from({ length: count }, (_, i) => i + 1).filter(
              (id) => visibleAt(id) !== Infinity && id % moduli[index]! === 0,
            );
            expect(plugin.seen).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
