import { describe, expect, it } from 'vitest';
import { WriterHorizon } from '../../actors/sources/event-log-writers.js';

describe('WriterHorizon', () => {
  it('is Infinity while no transaction holds the sequence, and 0 for one open at the first list (it may hold any id)', () => {
    const horizon = new WriterHorizon();
    expect(horizon.observe([], 10)).toBe(Number.POSITIVE_INFINITY);
    const fresh = new WriterHorizon();
    expect(fresh.observe(['3/7'], 10)).toBe(0);
    expect(fresh.observe(['3/7'], 20)).toBe(0);
    expect(fresh.observe([], 30)).toBe(Number.POSITIVE_INFINITY);
  });

  it('bounds a transaction first listed after a list without it by the ids read before that list, and keeps that bound while it stays open', () => {
    const horizon = new WriterHorizon();
    expect(horizon.observe([], 100)).toBe(Number.POSITIVE_INFINITY);
    // 4/1 was not holding the sequence at the last list, taken after reads up to 100: its ids are above 100.
    expect(horizon.observe(['4/1'], 150)).toBe(100);
    expect(horizon.observe(['4/1', '5/2'], 180)).toBe(100);
    // 4/1 ended; 5/2 was absent from the list after reads up to 150.
    expect(horizon.observe(['5/2'], 200)).toBe(150);
    expect(horizon.observe([], 210)).toBe(Number.POSITIVE_INFINITY);
  });

  it('takes a prepared transaction (a virtual id of -1/xid, new at PREPARE) to hold any id', () => {
    const horizon = new WriterHorizon();
    horizon.observe([], 100);
    expect(horizon.observe(['-1/745'], 150)).toBe(0);
  });

  it('forgets its lists on reset: the next transactions may hold any id', () => {
    const horizon = new WriterHorizon();
    horizon.observe([], 100);
    horizon.reset();
    expect(horizon.observe(['4/1'], 150)).toBe(0);
  });
});
