import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/kernel/duration.js';

describe('parseDuration', () => {
  it('reads a bare number as seconds', () => {
    expect(parseDuration('30')).toBe(30_000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('1.5')).toBe(1500);
  });

  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['0.5s', 500],
    ['1.5m', 90_000],
    ['2.25h', 8_100_000],
  ])('reads %s as %d milliseconds', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('ignores spaces around the text and between the number and its unit', () => {
    expect(parseDuration('  5m  ')).toBe(300_000);
    expect(parseDuration('5 m')).toBe(300_000);
    expect(parseDuration('\t250 ms')).toBe(250);
  });

  it('rounds fractions of a millisecond to the nearest millisecond', () => {
    expect(parseDuration('1.4ms')).toBe(1);
    expect(parseDuration('0.0001s')).toBe(0);
    expect(parseDuration('0.0016s')).toBe(2);
  });

  it.each([
    ['5 parsecs'],
    ['-1'],
    ['-5s'],
    ['+5s'],
    [''],
    ['   '],
    ['s'],
    ['ms'],
    ['.5s'],
    ['5.s'],
    ['1.2.3'],
    ['1e3'],
    ['0x10'],
    ['Infinity'],
    ['NaN'],
    ['5 m s'],
    ['5w'],
    ['5sec'],
    ['1h30m'],
  ])('rejects %j as not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('rejects a number too large to be finite', () => {
    expect(parseDuration(`1${'0'.repeat(400)}`)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [30_000, '30s'],
    [1234, '1.23s'],
    [60_000, '1m'],
    [90_000, '1.5m'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [5_400_000, '1.5h'],
    [86_400_000, '24h'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('formats what parseDuration reads back to the same number of milliseconds', () => {
    for (const text of ['250ms', '1.5s', '30s', '5m', '1.5m', '1h', '1.5h']) {
      const ms = parseDuration(text)!;
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
