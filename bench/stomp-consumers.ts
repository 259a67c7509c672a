import type { IMessage } from '@stomp/stompjs';
import { defineWorker } from '../actors/workers/worker.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { sources } from '../src/runtime/sources.js';
import { awaitQueueMessages, benchQueue, connectClient, deleteBenchQueue, fill, queueMessages, stompUrl } from './stomp-broker.js';

/**
 * The two consumers bench/stomp.ts compares on the machine's RabbitMQ: a
 * bare @stomp/stompjs client and flowd's runtime with a stomp source, both
 * with `ack: client-individual` and the prefetch they are given, and
 * `measure`, which runs one of them on a freshly filled queue of its own.
 */

// A small text body, like a typical notification message.
export const BODY = JSON.stringify({ asset: 'a0b1c2d3e4f5', action: 'updated', at: '2024-01-01T00:00:00.000Z' });

/** Wall time and this process's CPU time (user + system) of a run. */
export interface Timing {
  ms: number;
  cpuMs: number;
  /** The messages the timing covers (the run's, less those before the clock started). */
  messages: number;
}

export interface Shape {
  prefetch: number;
  /** flowd's workers; the bare consumer's lanes when `jobMs` > 0. */
  workers: number;
  /** Each message's job: 0 for none (the bare consumer then ACKs as each arrives), else a timer of this many ms. */
  jobMs: number;
  /** Messages done before the clocks start (0: from before the connection). */
  skip: number;
}
export type Consumer = (queue: string, count: number, shape: Shape) => Promise<Timing>;

/** Starts the clocks; call the result at the end. */
function clock(): (messages: number) => Timing {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return (messages) => {
    const used = process.cpuUsage(cpu);
    return { ms: performance.now() - wall, cpuMs: (used.user + used.system) / 1000, messages };
  };
}

/** Fails the run rather than hang when a consumer stalls. */
function watchdog<T>(what: string, count: number, work: Promise<T>): Promise<T> {
  const ms = 60_000 + count; // a minute, plus a millisecond a message
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish ${count} messages within ${ms}ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

const job = (ms: number) => (ms > 0 ? () => new Promise<void>((resolve) => setTimeout(resolve, ms)) : async (): Promise<void> => {});

/**
 * stompjs alone: with no job, ACKs each message as it arrives; with one, a
 * plain promise pool of `workers` lanes runs it and ACKs. The clock stops at
 * the last ACK.
 */
export const bare: Consumer = async (queue, count, shape) => {
  let stop = clock();
  const client = await connectClient();
  const work = job(shape.jobMs);
  let acked = 0;
  let received = 0;
  let timing: Timing | undefined;
  await watchdog(
    'the bare consumer',
    count,
    new Promise<void>((resolve, reject) => {
      const done = (message: IMessage) => {
        message.ack();
        if (++acked === shape.skip) stop = clock();
        if (acked === count) {
          timing = stop(count - shape.skip);
          resolve();
        }
      };
      const waiting: IMessage[] = [];
      let lanes = 0;
      const lane = async () => {
        lanes++;
        for (let message = waiting.shift(); message; message = waiting.shift()) {
          await work();
          done(message);
        }
        lanes--;
      };
      client.onStompError = (frame) => reject(new Error(`the bare consumer got an ERROR frame: ${frame.headers.message ?? ''}`));
      client.onWebSocketClose = () => reject(new Error(`the bare consumer lost its connection after ${acked} of ${count} messages`));
      client.subscribe(
        `/queue/${queue}`,
        (message: IMessage) => {
          // Reads the body, as any consumer does (flowd hands it to the worker).
          received += message.body.length;
          if (shape.jobMs === 0) return done(message);
          waiting.push(message);
          if (lanes < shape.workers) void lane();
        },
        { ack: 'client-individual', 'prefetch-count': String(shape.prefetch) },
      );
    }),
  );
  await client.deactivate(); // DISCONNECT with a receipt: the broker has every ACK
  if (received !== count * BODY.length) throw new Error(`the bare consumer read ${received} body bytes; expected ${count * BODY.length}`);
  return timing!;
};

/** flowd: the stomp source and `workers` workers; the clock stops when the source has ACKed the last message. */
export const flowd: Consumer = async (queue, count, shape) => {
  const runtime = createRuntime({
    worker: defineWorker({ start: job(shape.jobMs) }),
    source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`), payloadClass: 'text', prefetch: shape.prefetch }),
    workers: shape.workers,
  });
  const acked = () => runtime.snapshot().source.stats?.acked ?? 0;
  let completed = 0;
  let allCompleted!: () => void;
  const finished = new Promise<void>((resolve) => (allCompleted = resolve));
  let stop = clock();
  runtime.on('event.completed', () => {
    if (++completed === shape.skip) stop = clock();
    if (completed === count) allCompleted();
  });
  await runtime.start();
  await watchdog(
    'flowd',
    count,
    (async () => {
      await finished;
      // The ACK goes out as the source hears the outcome, a moment after the supervisor emits it.
      while (acked() < count) await new Promise((resolve) => setImmediate(resolve));
    })(),
  );
  const timing = stop(count - shape.skip);
  const summary = await runtime.stop();
  const stats = runtime.snapshot().source.stats ?? {};
  const expected: Record<string, number> = { received: count, acked: count, nacked: 0, deadLettered: 0, voided: 0, connections: 1 };
  if ('revoked' in stats) expected.revoked = 0;
  const wrong = Object.entries(expected).filter(([key, want]) => stats[key] !== want);
  if (wrong.length > 0 || summary.counters.completed !== count) {
    throw new Error(
      `flowd: unexpected counts ${JSON.stringify({ stats, counters: summary.counters })}; expected ${count} received, completed and acked`,
    );
  }
  return timing;
};

/** One consumer run on its own freshly filled queue; the queue is checked empty and deleted after. */
export async function measure(label: string, consume: Consumer, count: number, shape: Shape): Promise<Timing> {
  const queue = benchQueue(label);
  try {
    await fill(queue, count, BODY);
    await awaitQueueMessages(queue, count);
    globalThis.gc?.();
    const timing = await consume(queue, count, shape);
    const left = await queueMessages(queue);
    if (left === undefined) throw new Error(`${label}: queue ${queue} is gone after the run; expected it empty`);
    if (left !== 0) throw new Error(`${label}: queue ${queue} still holds ${left} messages after the run; expected 0`);
    return timing;
  } finally {
    await deleteBenchQueue(queue).catch((error: unknown) => console.error(`could not delete ${queue}: ${(error as Error).message}`));
  }
}
