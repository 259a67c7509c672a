import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { handleSignals, type SignalHost, type SignalPolicy } from '../../../src/runtime/signals.js';

/** A process stand-in: signals are emitted by the test, exits recorded. */
function fakeProcess(): SignalHost & { emitter: EventEmitter; exits: number[]; listeners(): number } {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return {
    emitter,
    exits,
    on: (signal, listener) => emitter.on(signal, listener),
    off: (signal, listener) => emitter.off(signal, listener),
    exit: (code) => void exits.push(code),
    listeners: () => emitter.listenerCount('SIGINT') + emitter.listenerCount('SIGTERM'),
  };
}

/** A runtime as the listeners see it, with its log lines. */
function fakeTarget(options: { started?: boolean; summary?: Promise<{ reason: string }> } = {}) {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push((JSON.parse(line) as { msg: string }).msg) });
  let endRun!: () => void;
  const done = new Promise<void>((resolve) => (endRun = resolve));
  const target = {
    logger,
    appName: 'orders',
    shutdownTimeoutMs: 30_000,
    started: options.started ?? true,
    isStarted: () => target.started,
    stop: vi.fn(() => options.summary ?? Promise.resolve({ reason: 'requested' })),
    done,
  };
  return { target, lines, endRun };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function install(policy?: SignalPolicy, options?: Parameters<typeof fakeTarget>[0]) {
  const host = fakeProcess();
  const run = fakeTarget(options);
  handleSignals(run.target, policy, host);
  return { host, ...run };
}

describe('handleSignals', () => {
  it('drains on the first signal, then exits 0 when the run ended as requested', async () => {
    const { host, target, lines } = install();
    host.emitter.emit('SIGTERM', 'SIGTERM');
    expect(target.stop).toHaveBeenCalledTimes(1);
    await flush();
    expect(host.exits).toEqual([0]);
    expect(lines).toEqual(['SIGTERM: stopping (in-flight work has 30s to finish)']);
  });

  it('exits 1 after the drain when the source failed, or when stop() failed', async () => {
    const failed = install(undefined, { summary: Promise.resolve({ reason: 'source failed' }) });
    failed.host.emitter.emit('SIGINT', 'SIGINT');
    await flush();
    expect(failed.host.exits).toEqual([1]);

    const broken = install(undefined, { summary: Promise.reject(new Error('no ack')) });
    broken.host.emitter.emit('SIGINT', 'SIGINT');
    await flush();
    expect(broken.host.exits).toEqual([1]);
    expect(broken.lines).toContain('orders did not stop cleanly: no ack');
  });

  it('exits 1 at once on a second signal', () => {
    const { host, target, lines } = install(undefined, { summary: new Promise(() => {}) });
    host.emitter.emit('SIGINT', 'SIGINT');
    host.emitter.emit('SIGTERM', 'SIGTERM');
    expect(target.stop).toHaveBeenCalledTimes(1);
    expect(host.exits).toEqual([1]);
    expect(lines).toContain('SIGTERM again: exiting without waiting for in-flight work');
  });

  it('exits 1 at once on a signal during start-up, naming the step and telling the policy', () => {
    const told: string[] = [];
    const { host, target, lines } = install(
      { startupStep: 'worker "busy" finished configure()', onStartupSignal: (signal, step) => told.push(`${signal} ${step}`) },
      { started: false },
    );
    host.emitter.emit('SIGTERM', 'SIGTERM');
    expect(target.stop).not.toHaveBeenCalled();
    expect(host.exits).toEqual([1]);
    expect(lines).toEqual(['SIGTERM during start-up: exiting before worker "busy" finished configure()']);
    expect(told).toEqual(['SIGTERM worker "busy" finished configure()']);
  });

  it('names the app as the start-up step by default', () => {
    const { host, lines } = install(undefined, { started: false });
    host.emitter.emit('SIGINT', 'SIGINT');
    expect(lines).toEqual(['SIGINT during start-up: exiting before orders started']);
  });

  it('leaves the exit to whoever awaits the run with exitWhenDrained: false, even when stop() fails', async () => {
    const { host, target } = install({ exitWhenDrained: false }, { summary: Promise.reject(new Error('no ack')) });
    host.emitter.emit('SIGTERM', 'SIGTERM');
    await flush();
    expect(target.stop).toHaveBeenCalledTimes(1);
    expect(host.exits).toEqual([]);
    // A second signal still exits at once.
    host.emitter.emit('SIGTERM', 'SIGTERM');
    expect(host.exits).toEqual([1]);
  });

  it('removes its listeners when the run ends, or when the returned function is called', async () => {
    const { host, endRun } = install();
    expect(host.listeners()).toBe(2);
    endRun();
    await flush();
    expect(host.listeners()).toBe(0);

    const other = fakeProcess();
    const remove = handleSignals(fakeTarget().target, {}, other);
    remove();
    expect(other.listeners()).toBe(0);
  });
});
