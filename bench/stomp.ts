/**
 * node --import tsx --expose-gc bench/stomp.ts [messages]
 *
 * N messages (default 100,000) pre-filled in a fresh RabbitMQ queue are
 * consumed by (a) a bare @stomp/stompjs consumer over TCPWrapper and (b)
 * flowd with a stomp source and 8 no-op workers, both with
 * `ack: client-individual` and the same prefetch (defaultPrefetch(8)).
 * Each consumer run gets its own queue, filled with the identical workload
 * before the clock starts. The runs come in pairs (one of each, the order
 * alternating from pair to pair), so a drift in the broker's speed hits both
 * sides of a pair alike. Prints the median messages/s of each, the median of
 * the pairs' ratios flowd / bare with their range (the target is checked on
 * that median), and the peak RSS. Every queue is checked empty and deleted
 * after its run.
 *
 * Then, without the broker: the worker slot's machine alone (interpreted and compiled), and the whole
 * runtime fed by an in-process source that hands over messages the way the
 * broker does at this prefetch (a window of unacknowledged messages, a few
 * per turn), as CPU per message. These two do not vary with the broker's
 * mood, so they are the figures to compare between changes to flowd.
 *
 * `npm run bench:stomp` runs with V8's defaults, as an embedding service
 * would; `node --no-allocation-site-pretenuring --import tsx --expose-gc
 * bench/stomp.ts` measures both consumers with the flag the flowd command
 * sets for itself.
 *
 * Needs RabbitMQ with the STOMP plugin on 127.0.0.1:61613 (guest/guest)
 * and rabbitmqctl. BENCH_MESSAGES (or the first argument), BENCH_ROUNDS
 * (pairs), BENCH_PREFETCH and BENCH_WARMUP (messages, 0 for none) override
 * the defaults.
 */
import os from 'node:os';
import type { IMessage } from '@stomp/stompjs';
import { defaultPrefetch } from '../actors/sources/stomp-url.js';
import { defineWorker } from '../actors/workers/worker.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { sources } from '../src/runtime/sources.js';
import { awaitQueueMessages, benchQueue, connectClient, deleteBenchQueue, fill, queueMessages, stompUrl } from './stomp-broker.js';
import { slotCycleUs, slotLogics } from './slot-cycle.js';
import { windowSource } from './window-source.js';

const argCount = process.argv.slice(2).find((arg) => /^\d[\d_]*$/.test(arg));
const MESSAGES = Number((argCount ?? process.env.BENCH_MESSAGES ?? '100000').replaceAll('_', ''));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WORKERS = 8;
const PREFETCH = Number(process.env.BENCH_PREFETCH ?? defaultPrefetch(WORKERS));
const WARMUP = Number(process.env.BENCH_WARMUP ?? Math.min(5_000, Math.ceil(MESSAGES / 10)));
const TARGET = 0.85;
// A small text body, like a typical notification message.
const BODY = JSON.stringify({ asset: 'a0b1c2d3e4f5', action: 'updated', at: '2024-01-01T00:00:00.000Z' });
const noop = async (): Promise<void> => {};

if (!Number.isInteger(MESSAGES) || MESSAGES < 1)
  throw new Error(`messages: found ${argCount ?? process.env.BENCH_MESSAGES}; expected a positive integer`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1)
  throw new Error(`BENCH_ROUNDS: found ${process.env.BENCH_ROUNDS}; expected a positive whole number of pairs`);
if (!Number.isInteger(PREFETCH) || PREFETCH < 1)
  throw new Error(`BENCH_PREFETCH: found ${process.env.BENCH_PREFETCH}; expected a positive integer`);

/** Wall time and this process's CPU time (user + system) from the start of a consumer to its last ACK. */
interface Timing {
  ms: number;
  cpuMs: number;
}
type Consumer = (queue: string, count: number) => Promise<Timing>;

/** Starts the clocks; call the result at the end. */
function clock(): () => Timing {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    return { ms: performance.now() - wall, cpuMs: (used.user + used.system) / 1000 };
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

/** stompjs alone: ACK each message as it arrives; the clock stops at the last ACK. */
const bare: Consumer = async (queue, count) => {
  const stop = clock();
  const client = await connectClient();
  let acked = 0;
  let received = 0;
  let timing: Timing | undefined;
  await watchdog(
    'the bare consumer',
    count,
    new Promise<void>((resolve, reject) => {
      client.onStompError = (frame) => reject(new Error(`the bare consumer got an ERROR frame: ${frame.headers.message ?? ''}`));
      client.onWebSocketClose = () => reject(new Error(`the bare consumer lost its connection after ${acked} of ${count} messages`));
      client.subscribe(
        `/queue/${queue}`,
        (message: IMessage) => {
          // Reads the body, as any consumer does (flowd hands it to the worker), then ACKs.
          received += message.body.length;
          message.ack();
          if (++acked === count) {
            timing = stop();
            resolve();
          }
        },
        { ack: 'client-individual', 'prefetch-count': String(PREFETCH) },
      );
    }),
  );
  await client.deactivate(); // DISCONNECT with a receipt: the broker has every ACK
  if (received !== count * BODY.length) throw new Error(`the bare consumer read ${received} body bytes; expected ${count * BODY.length}`);
  return timing!;
};

/** flowd: the stomp source and 8 no-op workers; the clock stops when the source has ACKed the last message. */
const flowd: Consumer = async (queue, count) => {
  const runtime = createRuntime({
    worker: defineWorker({ start: noop }),
    source: sources.stomp({
      stompUrl: stompUrl(`/queue/${queue}`),
      payloadClass: 'text',
      ...(process.env.BENCH_PREFETCH ? { prefetch: PREFETCH } : {}),
    }),
    workers: WORKERS,
  });
  const acked = () => runtime.snapshot().source.stats?.acked ?? 0;
  let completed = 0;
  let allCompleted!: () => void;
  const finished = new Promise<void>((resolve) => (allCompleted = resolve));
  runtime.on('event.completed', () => {
    if (++completed === count) allCompleted();
  });
  const stop = clock();
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
  const timing = stop();
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
async function measure(label: string, consume: Consumer, count: number): Promise<Timing> {
  const queue = benchQueue(label);
  try {
    await fill(queue, count, BODY);
    await awaitQueueMessages(queue, count);
    globalThis.gc?.();
    const timing = await consume(queue, count);
    const left = await queueMessages(queue);
    if (left === undefined) throw new Error(`${label}: queue ${queue} is gone after the run; expected it empty`);
    if (left !== 0) throw new Error(`${label}: queue ${queue} still holds ${left} messages after the run; expected 0`);
    return timing;
  } finally {
    await deleteBenchQueue(queue).catch((error: unknown) => console.error(`could not delete ${queue}: ${(error as Error).message}`));
  }
}

/** The cost of the two transitions every event makes in its slot (no-op actions), interpreted by xstate and compiled, rounds alternated. */
function slotCycles(): Map<string, number> {
  const runs = new Map<string, number[]>(slotLogics.map(([name]) => [name, []]));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < slotLogics.length; i++) {
      const [name, logic] = slotLogics[(round + i) % slotLogics.length]!;
      runs.get(name)!.push(slotCycleUs(logic));
    }
  }
  return new Map([...runs].map(([name, us]) => [name, median(us)]));
}

const ALONE_EVENTS = 100_000;
// A socket read brings about half the window here (1.5 kB, five frames, at prefetch 10).
const PER_TURN = Math.max(1, Math.ceil(PREFETCH / 2));

/** The runtime with 8 no-op workers and no broker: an in-process source that keeps PREFETCH events out, PER_TURN a turn. */
async function runtimeAlone(): Promise<{ cpuUs: number; rate: number }> {
  const cpu: number[] = [];
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    const { driver, done } = windowSource(ALONE_EVENTS, { window: PREFETCH, perTurn: PER_TURN });
    const runtime = createRuntime({ worker: defineWorker({ start: noop }), source: driver, workers: WORKERS });
    globalThis.gc?.();
    const stop = clock();
    let timing: Timing;
    try {
      await runtime.start();
      await watchdog('the runtime alone', ALONE_EVENTS, done);
      timing = stop();
    } finally {
      await runtime.stop();
    }
    const { ms, cpuMs } = timing;
    cpu.push((cpuMs * 1000) / ALONE_EVENTS);
    rates.push(Math.round(ALONE_EVENTS / (ms / 1000)));
  }
  return { cpuUs: median(cpu), rate: median(rates) };
}

/** The middle value; for an even count, the mean of the two middle ones (so an even number of pairs is not judged by its better half). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
const rate = (ms: number): number => Math.round(MESSAGES / (ms / 1000));
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const load = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
// The flowd command turns V8's allocation-site pretenuring off (bin/flowd.js); this process runs with the flags it was given.
// V8 reads --no-allocation-site-pretenuring, --noallocation_site_pretenuring and the spellings between alike.
const pretenuringOff = process.execArgv.some((arg) => /^--no-?allocation[-_]site[-_]pretenuring$/.test(arg));
const pretenuring = pretenuringOff ? 'off, as the flowd command runs' : "on (V8's default; the flowd command turns it off)";
console.log(
  `stomp: ${fmt(MESSAGES)} pre-filled messages (${BODY.length} B text, persistent), prefetch ${PREFETCH}, ack client-individual, ${ROUNDS} pairs of rounds, node ${process.version}, allocation-site pretenuring ${pretenuring}`,
);
const loadBefore = load();
if (WARMUP > 0) {
  await measure('warmup-bare', bare, WARMUP);
  await measure('warmup-flowd', flowd, WARMUP);
}
const designs: Record<'bare' | 'flowd', { name: string; consume: Consumer; runs: number[]; cpuUs: number[] }> = {
  bare: { name: 'bare stompjs consumer', consume: bare, runs: [], cpuUs: [] },
  flowd: { name: `flowd (${WORKERS} no-op workers)`, consume: flowd, runs: [], cpuUs: [] },
};
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? (['bare', 'flowd'] as const) : (['flowd', 'bare'] as const);
  for (const key of order) {
    const design = designs[key];
    const { ms, cpuMs } = await measure(`${key}-r${round + 1}`, design.consume, MESSAGES);
    design.runs.push(rate(ms));
    design.cpuUs.push((cpuMs * 1000) / MESSAGES);
  }
}
for (const { name, runs, cpuUs } of Object.values(designs)) {
  console.log(
    `  ${name.padEnd(32)} ${fmt(median(runs)).padStart(10)} messages/s   (rounds: ${runs.map(fmt).join(', ')})   CPU ${median(cpuUs).toFixed(1)} µs/message`,
  );
}
// Each pair ran back to back: its ratio is what the broker's drift between rounds disturbs least.
const pairRatios = designs.flowd.runs.map((rate, i) => rate / designs.bare.runs[i]!);
const ratio = median(pairRatios);
const costUs = (1 / median(designs.flowd.runs) - 1 / median(designs.bare.runs)) * 1e6;
const cpuCostUs = median(designs.flowd.cpuUs) - median(designs.bare.cpuUs);
console.log(
  `  ratio flowd / bare:  ${ratio.toFixed(2)}x, the median of ${pairRatios.length} pairs (range ${Math.min(...pairRatios).toFixed(2)} to ${Math.max(...pairRatios).toFixed(2)}); ` +
    `flowd takes ${costUs.toFixed(1)} µs more wall time and ${cpuCostUs.toFixed(1)} µs more CPU in this process per message`,
);
console.log(`  target: ratio >= ${TARGET}: ${ratio >= TARGET ? 'met' : 'NOT met'}`);
console.log(`  load average ${load()} (before: ${loadBefore}); the broker shares this machine's ${os.availableParallelism()} CPUs`);
console.log(
  `  peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB   (this process: producer, both consumers and the runtime)`,
);
console.log('without the broker, in this process:');
for (const [name, us] of slotCycles()) {
  console.log(
    `  the worker slot's machine alone, ${name.padEnd(20)} ${us.toFixed(1)} µs per event (its two transitions, event.assigned and worker.done, with no-op actions)`,
  );
}
const alone = await runtimeAlone();
console.log(
  `  the whole runtime, fed like the broker  ${alone.cpuUs.toFixed(1)} µs CPU per event, ${fmt(alone.rate)} events/s ` +
    `(${fmt(ALONE_EVENTS)} events, at most ${PREFETCH} out, ${PER_TURN} handed over a turn; median of 3)`,
);
