import { describe, expect, it } from 'vitest';
import { flush, until } from './wait.js';

describe('until', () => {
  it('resolves once a sync or async check holds, checking again after each turn', async () => {
    let checks = 0;
    await until(() => ++checks === 3);
    expect(checks).toBe(3);
    await until(async () => ++checks === 5, { interval: 1 });
    expect(checks).toBe(5);
  });

  it('rejects after the timeout, naming what it waited for', async () => {
    await expect(until(() => false, { timeout: 20, interval: 5, what: 'the door to open' })).rejects.toThrow(
      'timed out after 20ms waiting for the door to open',
    );
  });

  it('rejects at once with the error abortOn resolves to', async () => {
    const started = Date.now();
    const exited = new Error('flowd exited (1) before the door opened');
    await expect(until(() => false, { timeout: 5_000, abortOn: Promise.resolve(exited) })).rejects.toBe(exited);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('flush', () => {
  it('resolves after the promise callbacks and immediates already scheduled', async () => {
    const ran: string[] = [];
    setImmediate(() => ran.push('immediate'));
    void Promise.resolve().then(() => ran.push('promise'));
    await flush();
    expect(ran).toEqual(['promise', 'immediate']);
  });
});
