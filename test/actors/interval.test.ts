import { DateTime } from 'luxon';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Feed } from '../../actors/sources/driver.js';
import { intervalDriver, intervalSource } from '../../actors/sources/interval.js';
import { SectionReader } from '../../src/kernel/section-reader.js';
import type { TimeWindow } from '../../actors/sources/window.js';

const H = 3600;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const clock = { now: () => Date.now() };

const utc = (iso: string): number => DateTime.fromISO(iso, { zone: 'UTC' }).toMillis();

function fakeFeed() {
  const feed = {
    deliver: vi.fn<Feed['deliver']>(),
    end: vi.fn<Feed['end']>(),
    lost: vi.fn<Feed['lost']>(),
    revoke: vi.fn<Feed['revoke']>(),
  };
  /** Each delivery as [id, firedAt]. */
  const ticks = () => feed.deliver.mock.calls.map(([, options]) => [options?.id, options?.meta?.firedAt]);
  const ids = () => feed.deliver.mock.calls.map(([, options]) => options?.id);
  return { feed, ticks, ids };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('intervalDriver', () => {
  it('is an interval source that can pause and resume', () => {
    const driver = intervalDriver({ intervalMs: 1000, window: undefined }, clock);
    expect(driver.type).toBe('interval');
    expect(typeof driver.pause).toBe('function');
    expect(typeof driver.resume).toBe('function');
  });

  it('delivers a null payload with id tick-1 at once on start', () => {
    vi.setSystemTime(utc('2025-01-15T12:00:00'));
    const { feed } = fakeFeed();
    intervalDriver({ intervalMs: MINUTE, window: undefined }, clock).start(feed);
    expect(feed.deliver).toHaveBeenCalledTimes(1);
    expect(feed.deliver).toHaveBeenCalledWith(null, { id: 'tick-1', meta: { firedAt: '2025-01-15T12:00:00.000Z' } });
  });

  it('delivers the next tick only when a full interval has passed', () => {
    vi.setSystemTime(utc('2025-01-15T12:00:00'));
    const { feed, ticks } = fakeFeed();
    intervalDriver({ intervalMs: MINUTE, window: undefined }, clock).start(feed);
    vi.advanceTimersByTime(MINUTE - 1);
    expect(feed.deliver).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(ticks()).toEqual([
      ['tick-1', '2025-01-15T12:00:00.000Z'],
      ['tick-2', '2025-01-15T12:01:00.000Z'],
    ]);
  });

  it('numbers ticks tick-1, tick-2, ... once every interval', () => {
    vi.setSystemTime(utc('2025-01-15T12:00:00'));
    const { feed, ids } = fakeFeed();
    intervalDriver({ intervalMs: 250, window: undefined }, clock).start(feed);
    vi.advanceTimersByTime(1000);
    expect(ids()).toEqual(['tick-1', 'tick-2', 'tick-3', 'tick-4', 'tick-5']);
    expect(feed.deliver.mock.calls.every(([payload]) => payload === null)).toBe(true);
  });

  it('never ends the feed nor reports it lost', () => {
    const { feed } = fakeFeed();
    intervalDriver({ intervalMs: 10, window: undefined }, clock).start(feed);
    vi.advanceTimersByTime(10_000);
    expect(feed.deliver).toHaveBeenCalledTimes(1001);
    expect(feed.end).not.toHaveBeenCalled();
    expect(feed.lost).not.toHaveBeenCalled();
  });

  it('keeps a single timer pending at a time', () => {
    const { feed } = fakeFeed();
    intervalDriver({ intervalMs: 100, window: undefined }, clock).start(feed);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('stops delivering and clears its timer on stop()', () => {
    const { feed } = fakeFeed();
    const driver = intervalDriver({ intervalMs: 100, window: undefined }, clock);
    driver.start(feed);
    vi.advanceTimersByTime(250);
    expect(feed.deliver).toHaveBeenCalledTimes(3);
    driver.stop!();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(feed.deliver).toHaveBeenCalledTimes(3);
  });

  // BUG: setTimeout treats a delay over 2^31-1 ms (about 24.8 days) as 1 ms, and
  // the driver passes the interval to it as it is, so `interval = 30d` (a valid
  // duration) fires about once a millisecond instead of once a month.
  it('waits a whole interval longer than 24.8 days before the second tick', () => {
    vi.setSystemTime(utc('2025-01-01T00:00:00'));
    const { feed } = fakeFeed();
    intervalDriver({ intervalMs: 30 * 24 * HOUR, window: undefined }, clock).start(feed);
    vi.advanceTimersByTime(SECOND);
    expect(feed.deliver).toHaveBeenCalledTimes(1);
  });

  describe('while paused', () => {
    it('delivers nothing', () => {
      const { feed } = fakeFeed();
      const driver = intervalDriver({ intervalMs: 100, window: undefined }, clock);
      driver.start(feed);
      driver.pause!();
      vi.advanceTimersByTime(1000);
      expect(feed.deliver).toHaveBeenCalledTimes(1);
    });

    it('skips the missed ticks instead of piling them up for resume()', () => {
      vi.setSystemTime(utc('2025-01-15T12:00:00'));
      const { feed } = fakeFeed();
      const driver = intervalDriver({ intervalMs: 100, window: undefined }, clock);
      driver.start(feed);
      driver.pause!();
      vi.advanceTimersByTime(1050);
      expect(vi.getTimerCount()).toBe(1);
      driver.resume!();
      expect(feed.deliver).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(49);
      expect(feed.deliver).toHaveBeenCalledTimes(1);
      vi.advanceTimersByTime(1);
      expect(feed.deliver).toHaveBeenCalledTimes(2);
      expect(feed.deliver.mock.lastCall![1]?.meta).toEqual({ firedAt: '2025-01-15T12:00:01.100Z' });
    });

    it('gives every delivered tick a distinct, increasing id across a pause', () => {
      const { feed, ids } = fakeFeed();
      const driver = intervalDriver({ intervalMs: 100, window: undefined }, clock);
      driver.start(feed);
      driver.pause!();
      vi.advanceTimersByTime(300);
      driver.resume!();
      vi.advanceTimersByTime(200);
      const numbers = ids().map((id) => Number(/^tick-(\d+)$/.exec(id ?? '')?.[1]));
      expect(numbers).toHaveLength(3);
      expect(numbers[0]).toBe(1);
      expect(numbers[1]!).toBeGreaterThan(numbers[0]!);
      expect(numbers[2]!).toBeGreaterThan(numbers[1]!);
    });
  });

  describe('with a window', () => {
    it('delivers at once when started inside the window', () => {
      vi.setSystemTime(utc('2025-01-15T09:30:00'));
      const { feed } = fakeFeed();
      intervalDriver({ intervalMs: HOUR, window: { start: 9 * H, end: 17 * H, zone: 'UTC' } }, clock).start(feed);
      expect(feed.deliver).toHaveBeenCalledTimes(1);
    });

    it('delivers nothing when started before the window and first fires at its opening', () => {
      vi.setSystemTime(utc('2025-01-15T06:00:00'));
      const { feed, ticks } = fakeFeed();
      intervalDriver({ intervalMs: MINUTE, window: { start: 9 * H, end: 17 * H, zone: 'UTC' } }, clock).start(feed);
      expect(feed.deliver).not.toHaveBeenCalled();
      vi.advanceTimersByTime(3 * HOUR - 1);
      expect(feed.deliver).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(ticks()).toEqual([['tick-1', '2025-01-15T09:00:00.000Z']]);
    });

    it("does not fire at the exclusive end and waits for the next day's opening", () => {
      vi.setSystemTime(utc('2025-01-15T09:00:00'));
      const { feed, ticks } = fakeFeed();
      intervalDriver({ intervalMs: 30 * MINUTE, window: { start: 9 * H, end: 10 * H, zone: 'UTC' } }, clock).start(feed);
      vi.advanceTimersByTime(HOUR);
      expect(ticks()).toEqual([
        ['tick-1', '2025-01-15T09:00:00.000Z'],
        ['tick-2', '2025-01-15T09:30:00.000Z'],
      ]);
      vi.advanceTimersByTime(23 * HOUR - 1);
      expect(feed.deliver).toHaveBeenCalledTimes(2);
      vi.advanceTimersByTime(1);
      expect(ticks()[2]).toEqual(['tick-3', '2025-01-16T09:00:00.000Z']);
    });

    it('restarts the schedule at the opening when the interval overshoots the window end', () => {
      vi.setSystemTime(utc('2025-01-15T09:45:00'));
      const { feed, ticks } = fakeFeed();
      intervalDriver({ intervalMs: 20 * MINUTE, window: { start: 9 * H, end: 10 * H, zone: 'UTC' } }, clock).start(feed);
      vi.advanceTimersByTime(utc('2025-01-16T09:50:00') - Date.now());
      expect(ticks()).toEqual([
        ['tick-1', '2025-01-15T09:45:00.000Z'],
        ['tick-2', '2025-01-16T09:00:00.000Z'],
        ['tick-3', '2025-01-16T09:20:00.000Z'],
        ['tick-4', '2025-01-16T09:40:00.000Z'],
      ]);
    });

    it('fires only inside a window that wraps midnight', () => {
      vi.setSystemTime(utc('2025-01-15T12:00:00'));
      const window: TimeWindow = { start: 22 * H, end: 2 * H, zone: 'UTC' };
      const { feed, ticks } = fakeFeed();
      intervalDriver({ intervalMs: HOUR, window }, clock).start(feed);
      expect(feed.deliver).not.toHaveBeenCalled();
      vi.advanceTimersByTime(10 * HOUR - 1);
      expect(feed.deliver).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1 + 24 * HOUR);
      expect(ticks()).toEqual([
        ['tick-1', '2025-01-15T22:00:00.000Z'],
        ['tick-2', '2025-01-15T23:00:00.000Z'],
        ['tick-3', '2025-01-16T00:00:00.000Z'],
        ['tick-4', '2025-01-16T01:00:00.000Z'],
        ['tick-5', '2025-01-16T22:00:00.000Z'],
      ]);
    });

    it('delivers nothing outside the window over several days', () => {
      vi.setSystemTime(utc('2025-01-15T00:00:00'));
      const window: TimeWindow = { start: 22 * H, end: 2 * H, zone: 'UTC' };
      const { feed } = fakeFeed();
      intervalDriver({ intervalMs: 7 * MINUTE, window }, clock).start(feed);
      vi.advanceTimersByTime(5 * 24 * HOUR);
      expect(feed.deliver.mock.calls.length).toBeGreaterThan(100);
      for (const [, options] of feed.deliver.mock.calls) {
        const firedAt = DateTime.fromISO(String(options?.meta?.firedAt), { zone: 'UTC' });
        expect(firedAt.hour >= 22 || firedAt.hour < 2, firedAt.toISO()!).toBe(true);
      }
    });

    it('opens the window in its own zone (Asia/Tokyo), not in UTC', () => {
      // 09:00-10:00 in Tokyo is 00:00-01:00 UTC.
      vi.setSystemTime(utc('2025-01-15T23:30:00'));
      const tokyo = fakeFeed();
      intervalDriver({ intervalMs: 15 * MINUTE, window: { start: 9 * H, end: 10 * H, zone: 'Asia/Tokyo' } }, clock).start(tokyo.feed);
      const inUtc = fakeFeed();
      intervalDriver({ intervalMs: 15 * MINUTE, window: { start: 9 * H, end: 10 * H, zone: 'UTC' } }, clock).start(inUtc.feed);
      expect(tokyo.feed.deliver).not.toHaveBeenCalled();
      expect(inUtc.feed.deliver).not.toHaveBeenCalled();

      vi.advanceTimersByTime(2 * HOUR);
      expect(tokyo.ticks().map(([, firedAt]) => firedAt)).toEqual([
        '2025-01-16T00:00:00.000Z',
        '2025-01-16T00:15:00.000Z',
        '2025-01-16T00:30:00.000Z',
        '2025-01-16T00:45:00.000Z',
      ]);
      expect(inUtc.feed.deliver).not.toHaveBeenCalled();

      vi.advanceTimersByTime(utc('2025-01-16T09:00:00') - Date.now());
      expect(inUtc.ticks()).toEqual([['tick-1', '2025-01-16T09:00:00.000Z']]);
      expect(tokyo.feed.deliver).toHaveBeenCalledTimes(4);
    });

    it('starting inside the Tokyo window fires at once where the same hours in UTC do not', () => {
      vi.setSystemTime(utc('2025-01-16T00:30:00'));
      const tokyo = fakeFeed();
      intervalDriver({ intervalMs: HOUR, window: { start: 9 * H, end: 10 * H, zone: 'Asia/Tokyo' } }, clock).start(tokyo.feed);
      const inUtc = fakeFeed();
      intervalDriver({ intervalMs: HOUR, window: { start: 9 * H, end: 10 * H, zone: 'UTC' } }, clock).start(inUtc.feed);
      expect(tokyo.feed.deliver).toHaveBeenCalledTimes(1);
      expect(inUtc.feed.deliver).not.toHaveBeenCalled();
    });

    it("while paused inside the window, skips the window's ticks and resumes on schedule", () => {
      vi.setSystemTime(utc('2025-01-15T08:00:00'));
      const { feed, ticks } = fakeFeed();
      const driver = intervalDriver({ intervalMs: 30 * MINUTE, window: { start: 9 * H, end: 11 * H, zone: 'UTC' } }, clock);
      driver.start(feed);
      driver.pause!();
      vi.advanceTimersByTime(2 * HOUR); // 10:00: ticks at 09:00, 09:30 and 10:00 skipped
      driver.resume!();
      expect(feed.deliver).not.toHaveBeenCalled();
      vi.advanceTimersByTime(30 * MINUTE);
      expect(ticks().map(([, firedAt]) => firedAt)).toEqual(['2025-01-15T10:30:00.000Z']);
    });

    it('stop() before the window opens means nothing is ever delivered', () => {
      vi.setSystemTime(utc('2025-01-15T06:00:00'));
      const { feed } = fakeFeed();
      const driver = intervalDriver({ intervalMs: MINUTE, window: { start: 9 * H, end: 17 * H, zone: 'UTC' } }, clock);
      driver.start(feed);
      expect(vi.getTimerCount()).toBe(1);
      driver.stop!();
      expect(vi.getTimerCount()).toBe(0);
      vi.advanceTimersByTime(2 * 24 * HOUR);
      expect(feed.deliver).not.toHaveBeenCalled();
    });
  });
});

describe('[Source] type = interval', () => {
  /** The source compiled from these keys, started at `now` (UTC): the ticks it fires over `hours`. */
  function ticksOf(keys: Record<string, string>, now: string, hours: number) {
    const compiled = intervalSource.compile(
      new SectionReader(new Map(Object.entries({ timezone: 'UTC', ...keys })), { section: 'Source' }),
      {
        dir: '/app',
        stateDir: '/app/.flowd/app',
      },
    );
    vi.setSystemTime(utc(now));
    const { feed, ticks } = fakeFeed();
    const driver = compiled.create();
    driver.start(feed);
    vi.advanceTimersByTime(hours * HOUR);
    driver.stop?.();
    return { description: compiled.description, fired: ticks().map(([, firedAt]) => String(firedAt).slice(11, 16)) };
  }

  it('takes window start alone as Flow does: from that time to the end of the day', () => {
    const { description, fired } = ticksOf({ interval: '1h', 'window start': '21:00' }, '2025-01-15T12:00:00', 24);
    expect(description).toBe('interval every 1h between 21:00:00 and 24:00:00 (UTC)');
    expect(fired).toEqual(['21:00', '22:00', '23:00']);
  });

  it('takes window end alone as Flow does: from midnight to that time', () => {
    const { fired } = ticksOf({ interval: '1h', 'window end': '02:30' }, '2025-01-15T22:00:00', 12);
    expect(fired).toEqual(['00:00', '01:00', '02:00']);
  });

  it('takes window start equal to window end as Flow does: the whole day', () => {
    const { description, fired } = ticksOf({ interval: '6h', 'window start': '01:00', 'window end': '01:00' }, '2025-01-15T12:00:00', 24);
    expect(description).toBe('interval every 6h between 00:00:00 and 24:00:00 (UTC)');
    expect(fired).toEqual(['12:00', '18:00', '00:00', '06:00', '12:00']);
  });

  it('names the key of a time that is not HH[:MM[:SS]]', () => {
    expect(() => ticksOf({ 'window start': '25:00' }, '2025-01-15T12:00:00', 1)).toThrow(
      /"window start": found "25:00"; expected HH\[:MM\[:SS\]\]/,
    );
  });
});
