import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { defineWorker } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { deleteQueues, numbered, produce, queueCounts, rabbitmqctl, stompUrl, uniqueQueue } from '../helpers/broker.js';

// Restarts the machine's RabbitMQ application: it runs alone, after every other test file (see vitest.config.ts).

let runtime: Runtime | undefined;
afterEach(async () => {
  if (runtime && runtime.snapshot().state !== 'stopped') await runtime.stop();
  runtime = undefined;
});

describe('stomp source and a broker restart', () => {
  it('goes through reconnecting when the broker restarts mid-stream and loses nothing', async () => {
    const queue = uniqueQueue('restart');
    onTestFinished(() => deleteQueues(queue));
    await produce(`/queue/${queue}`, numbered(600));
    const seen = new Set<string>();
    let stopRequested: Promise<string> | undefined;
    const r = createRuntime({
      worker: defineWorker({
        async start(event: StompEvent) {
          seen.add(event.headers['x-id']!);
          if (seen.size === 100) stopRequested ??= rabbitmqctl('stop_app');
          // Every run from the 100th on waits until the broker is down, so the stream is cut mid-way.
          if (stopRequested) await stopRequested;
        },
      }),
      source: sources.stomp({
        stompUrl: stompUrl(`/queue/${queue}`),
        payloadClass: 'json',
        reconnectDelay: '100ms',
        reconnectMaxDelay: '500ms',
      }),
      workers: 2,
    });
    runtime = r;
    const states: string[] = [];
    let seenWhileDown = 0;
    const reconnecting = new Promise((resolve) => r.on('source.reconnecting', resolve));
    await r.start();
    try {
      await vi.waitFor(() => expect(stopRequested).toBeDefined(), { timeout: 20_000 });
      await stopRequested;
      await reconnecting;
      states.push(r.snapshot().source.state);
      seenWhileDown = seen.size;
    } finally {
      await rabbitmqctl('start_app');
    }
    await vi.waitFor(() => expect(seen.size).toBe(600), { timeout: 60_000, interval: 100 });
    // The broker went down with most of the stream still in it.
    expect(seenWhileDown).toBeLessThan(200);
    await r.stop();
    expect(states[0]).toMatch(/^(reconnecting|connecting)$/);
    expect(r.snapshot().source.stats!.connections).toBeGreaterThanOrEqual(2);
    expect(await queueCounts(queue)).toMatchObject({ messages: 0 });
  }, 120_000);
});
