/**
 * node --import tsx --expose-gc bench/stomp.ts [messages]
 *
 * Against the machine's RabbitMQ, a bare @stomp/stompjs consumer and flowd
 * (bench/stomp-consumers.ts), both with `ack: client-individual` and the
 * same prefetch, each run on a fresh queue filled with the identical
 * workload before the clock starts, checked empty and deleted after. Runs
 * come in pairs, one of each, the order alternating from pair to pair, so a
 * drift in the broker's speed hits both sides of a pair alike; ratios are
 * the median of the pairs' ratios, printed with their range, and the load
 * average is printed with each section.
 *
 * 1. main: N messages (default 100,000), 8 no-op workers, flowd's default
 *    prefetch for 8 workers: messages/s and CPU per message of each, the
 *    ratios, and the targets (flowd's throughput at least 0.85x the bare
 *    consumer's, its CPU per message at most 1.5x).
 * 2. curve: the same at several prefetches (BENCH_CURVE, default
 *    10,16,50,100,200, 16 being the default for 8 workers; BENCH_CURVE_MESSAGES a run, default 20,000), each
 *    prefetch's pairs alternated: the curve the default prefetch is chosen
 *    from (docs/performance.md).
 * 3. low: a low rate: one worker with a 5 ms job (a timer) against a bare
 *    consumer feeding a plain promise pool of one, at flowd's default
 *    prefetch for one worker, BENCH_LOW_MESSAGES (default 3,000) a run, the
 *    first BENCH_LOW_WARMUP (2,000) not counted, since V8 optimizes the hot
 *    path only after about a thousand events: CPU per event (target: flowd
 *    at most 2x).
 * 4. alone: without the broker, the worker slot's machine alone (interpreted and compiled); the
 *    whole runtime fed by an in-process source that hands over messages the
 *    way the broker does at this prefetch; and stompjs fed recorded frames,
 *    as the bare consumer and as flowd use it (bench/stomp-replay.ts), as
 *    CPU per message. These do not vary with the broker's mood, so they are
 *    the figures to compare between changes to flowd.
 *
 * BENCH_ONLY (a comma-separated list of main, curve, low, alone) runs only
 * those sections. `npm run bench:stomp` runs with V8's defaults, as an
 * embedding service would; `node --no-allocation-site-pretenuring --import
 * tsx --expose-gc bench/stomp.ts` measures with the flag the flowd command
 * sets for itself.
 *
 * Needs RabbitMQ with the STOMP plugin on 127.0.0.1:61613 (guest/guest)
 * and rabbitmqctl. BENCH_MESSAGES (or the first argument), BENCH_ROUNDS
 * (pairs), BENCH_PREFETCH, BENCH_WARMUP (messages, 0 for none),
 * BENCH_CURVE, BENCH_CURVE_MESSAGES, BENCH_CURVE_ROUNDS, BENCH_LOW_MESSAGES,
 * BENCH_LOW_WARMUP and BENCH_LOW_ROUNDS override the defaults.
 */
import os from 'node:os';
import { defaultPrefetch } from '../actors/sources/stomp-url.js';
import { defineWorker } from '../actors/workers/worker.js';
import { eventAssigned, workerDone, type Job } from '../machines/events.js';
import { workerSlotMachine } from '../machines/worker-slot.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { bare, BODY, flowd, measure, type Consumer, type Shape, type Timing } from './stomp-consumers.js';
import { replayStompjs } from './stomp-replay.js';
import { slotCycleUs, slotLogics } from './slot-cycle.js';
import { windowSource } from './window-source.js';

const positive = (name: string, fallback: number, min = 1): number => {
  const text = process.env[name];
  const value = Number((text ?? String(fallback)).replaceAll('_', ''));
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}: found ${text}; expected a whole number of at least ${min}`);
  return value;
};
const argCount = process.argv.slice(2).find((arg) => /^\d[\d_]*$/.test(arg));
if (argCount) process.env.BENCH_MESSAGES = argCount;
const MESSAGES = positive('BENCH_MESSAGES', 100_000);
const ROUNDS = positive('BENCH_ROUNDS', 5);
const WORKERS = 8;
const PREFETCH = positive('BENCH_PREFETCH', defaultPrefetch(WORKERS));
const WARMUP = positive('BENCH_WARMUP', Math.min(5_000, Math.ceil(MESSAGES / 10)), 0);
const CURVE = (process.env.BENCH_CURVE ?? `10,${defaultPrefetch(WORKERS)},50,100,200`).split(',').map((text) => {
  const value = Number(text.trim());
  if (!Number.isInteger(value) || value < 1) throw new Error(`BENCH_CURVE: found "${text}"; expected prefetches such as 10,50,100`);
  return value;
});
const CURVE_MESSAGES = positive('BENCH_CURVE_MESSAGES', 20_000);
const CURVE_ROUNDS = positive('BENCH_CURVE_ROUNDS', 2);
const LOW_MESSAGES = positive('BENCH_LOW_MESSAGES', 3_000);
const LOW_ROUNDS = positive('BENCH_LOW_ROUNDS', 3);
// V8 optimizes flowd's hot path only after a thousand or so events; at 5 ms an event that takes seconds, and a daemon runs far longer.
const LOW_SKIP = positive('BENCH_LOW_WARMUP', 2_000, 0);
const LOW_JOB_MS = 5;
const SECTIONS = new Set((process.env.BENCH_ONLY ?? 'main,curve,low,alone').split(',').map((name) => name.trim()));
for (const name of SECTIONS)
  if (!['main', 'curve', 'low', 'alone'].includes(name)) throw new Error(`BENCH_ONLY: found "${name}"; expected main, curve, low or alone`);
if (LOW_MESSAGES <= LOW_SKIP) throw new Error(`BENCH_LOW_MESSAGES: found ${LOW_MESSAGES}; expected more than ${LOW_SKIP}`);
const TARGET_RATE = 0.85;
const TARGET_CPU = 1.5;
const TARGET_LOW_CPU = 2;
const noop = async (): Promise<void> => {};

/** The middle value; for an even count, the mean of the two middle ones (so an even number of pairs is not judged by its better half). */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const range = (values: number[]): string => `${Math.min(...values).toFixed(2)} to ${Math.max(...values).toFixed(2)}`;
const load = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

interface Side {
  rates: number[];
  cpuUs: number[];
}
interface Pairs {
  bare: Side;
  flowd: Side;
}

const emptyPairs = (): Pairs => ({ bare: { rates: [], cpuUs: [] }, flowd: { rates: [], cpuUs: [] } });

/** One pair of runs of `count` messages in `shape`, added to `into`: bare then flowd, or flowd first. */
async function pair(into: Pairs, label: string, count: number, shape: Shape, flowdFirst: boolean): Promise<void> {
  const consumers: Record<keyof Pairs, Consumer> = { bare, flowd };
  for (const key of flowdFirst ? (['flowd', 'bare'] as const) : (['bare', 'flowd'] as const)) {
    const { ms, cpuMs, messages }: Timing = await measure(`${label}-${key}`, consumers[key], count, shape);
    into[key].rates.push(messages / (ms / 1000));
    into[key].cpuUs.push((cpuMs * 1000) / messages);
  }
}

/** `rounds` pairs, the order alternating from pair to pair. */
async function pairs(label: string, count: number, shape: Shape, rounds: number): Promise<Pairs> {
  const result = emptyPairs();
  for (let round = 0; round < rounds; round++) await pair(result, `${label}-r${round + 1}`, count, shape, round % 2 === 1);
  return result;
}
const rateRatios = (p: Pairs) => p.flowd.rates.map((rate, i) => rate / p.bare.rates[i]!);
const cpuRatios = (p: Pairs) => p.flowd.cpuUs.map((cpu, i) => cpu / p.bare.cpuUs[i]!);

// The flowd command turns V8's allocation-site pretenuring off (bin/flowd.js); this process runs with the flags it was given.
// V8 reads --no-allocation-site-pretenuring, --noallocation_site_pretenuring and the spellings between alike.
const pretenuringOff = process.execArgv.some((arg) => /^--no-?allocation[-_]site[-_]pretenuring$/.test(arg));
const pretenuring = pretenuringOff ? 'off, as the flowd command runs' : "on (V8's default; the flowd command turns it off)";
console.log(
  `stomp: ${BODY.length} B persistent text messages, ack client-individual, node ${process.version}, allocation-site pretenuring ${pretenuring}; ` +
    `the broker shares this machine's ${os.availableParallelism()} CPUs`,
);

if (SECTIONS.has('main')) {
  const shape: Shape = { prefetch: PREFETCH, workers: WORKERS, jobMs: 0, skip: 0 };
  console.log(
    `main: ${fmt(MESSAGES)} messages a run, ${WORKERS} no-op workers, prefetch ${PREFETCH}, ${ROUNDS} pairs (load before: ${load()})`,
  );
  if (WARMUP > 0) {
    await measure('warmup-bare', bare, WARMUP, shape);
    await measure('warmup-flowd', flowd, WARMUP, shape);
  }
  const result = await pairs('main', MESSAGES, shape, ROUNDS);
  for (const [name, side] of [
    ['bare stompjs consumer', result.bare],
    [`flowd (${WORKERS} no-op workers)`, result.flowd],
  ] as const) {
    console.log(
      `  ${name.padEnd(32)} ${fmt(median(side.rates)).padStart(10)} messages/s   (rounds: ${side.rates.map(fmt).join(', ')})   CPU ${median(side.cpuUs).toFixed(1)} µs/message (rounds: ${side.cpuUs.map((us) => us.toFixed(1)).join(', ')})`,
    );
  }
  const rate = median(rateRatios(result));
  const cpu = median(cpuRatios(result));
  console.log(`  throughput flowd / bare: ${rate.toFixed(2)}x, the median of ${ROUNDS} pairs (range ${range(rateRatios(result))})`);
  console.log(`  CPU a message flowd / bare: ${cpu.toFixed(2)}x (range ${range(cpuRatios(result))})`);
  console.log(
    `  targets: throughput >= ${TARGET_RATE}x: ${rate >= TARGET_RATE ? 'met' : 'NOT met'}; CPU <= ${TARGET_CPU}x: ${cpu <= TARGET_CPU ? 'met' : 'NOT met'}`,
  );
  console.log(
    `  load average ${load()}; peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB (producer, both consumers)`,
  );
}

if (SECTIONS.has('curve')) {
  console.log(
    `curve: ${fmt(CURVE_MESSAGES)} messages a run, ${WORKERS} no-op workers, ${CURVE_ROUNDS} pairs a prefetch, the prefetches alternated (load before: ${load()})`,
  );
  const results = new Map(CURVE.map((prefetch) => [prefetch, emptyPairs()]));
  for (let round = 0; round < CURVE_ROUNDS; round++) {
    // One pair of each prefetch a round, the prefetches and each pair's order alternating, so drift spreads over the curve.
    for (const prefetch of round % 2 === 0 ? CURVE : [...CURVE].reverse()) {
      const shape: Shape = { prefetch, workers: WORKERS, jobMs: 0, skip: 0 };
      await pair(results.get(prefetch)!, `curve${prefetch}-r${round + 1}`, CURVE_MESSAGES, shape, round % 2 === 1);
    }
  }
  console.log('  prefetch   bare msg/s  CPU µs   flowd msg/s  CPU µs   throughput flowd/bare   CPU flowd/bare');
  for (const prefetch of CURVE) {
    const r = results.get(prefetch)!;
    console.log(
      `  ${String(prefetch).padStart(8)} ${fmt(median(r.bare.rates)).padStart(12)} ${median(r.bare.cpuUs).toFixed(1).padStart(7)} ${fmt(median(r.flowd.rates)).padStart(13)} ${median(r.flowd.cpuUs).toFixed(1).padStart(7)}   ${median(rateRatios(r)).toFixed(2).padStart(6)}x (${range(rateRatios(r))})   ${median(cpuRatios(r)).toFixed(2).padStart(5)}x (${range(cpuRatios(r))})`,
    );
  }
  console.log(`  load average ${load()}`);
}

if (SECTIONS.has('low')) {
  const shape: Shape = { prefetch: defaultPrefetch(1), workers: 1, jobMs: LOW_JOB_MS, skip: LOW_SKIP };
  console.log(
    `low rate: ${fmt(LOW_MESSAGES)} messages a run (the first ${fmt(LOW_SKIP)} not counted), one worker with a ${LOW_JOB_MS} ms job, prefetch ${shape.prefetch}, ${LOW_ROUNDS} pairs (load before: ${load()})`,
  );
  const result = await pairs('low', LOW_MESSAGES, shape, LOW_ROUNDS);
  for (const [name, side] of [
    ['bare stompjs + promise pool of 1', result.bare],
    ['flowd (1 worker)', result.flowd],
  ] as const) {
    console.log(
      `  ${name.padEnd(32)} CPU ${median(side.cpuUs).toFixed(0).padStart(5)} µs/event (rounds: ${side.cpuUs.map((us) => us.toFixed(0)).join(', ')})   ${fmt(median(side.rates))} events/s`,
    );
  }
  const cpu = median(cpuRatios(result));
  console.log(
    `  CPU an event flowd / pool: ${cpu.toFixed(2)}x (range ${range(cpuRatios(result))}); target <= ${TARGET_LOW_CPU}x: ${cpu <= TARGET_LOW_CPU ? 'met' : 'NOT met'}`,
  );
  console.log(`  load average ${load()}`);
}

/** The slot machine alone, interpreted and compiled (bench/slot-cycle.ts), alternated over 3 rounds: µs per event, median. */
function slotCycles(): Map<string, number> {
  const runs = new Map<string, number[]>(slotLogics.map(([name]) => [name, []]));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < slotLogics.length; i++) {
      const [name, logic] = slotLogics[(round + i) % slotLogics.length]!;
      runs.get(name)!.push(slotCycleUs(logic));
    }
  }
  return new Map([...runs].map(([name, values]) => [name, median(values)]));
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
    const wall = performance.now();
    const before = process.cpuUsage();
    try {
      await runtime.start();
      await done;
      const used = process.cpuUsage(before);
      cpu.push((used.user + used.system) / ALONE_EVENTS);
      rates.push(ALONE_EVENTS / ((performance.now() - wall) / 1000));
    } finally {
      await runtime.stop();
    }
  }
  return { cpuUs: median(cpu), rate: median(rates) };
}

if (SECTIONS.has('alone')) {
  console.log(`without the broker, in this process (load before: ${load()}):`);
  for (const [name, us] of slotCycles())
    console.log(
      `  the worker slot's machine alone, ${name.padEnd(20)} ${us.toFixed(1)} µs per event (its two transitions, event.assigned and worker.done, with no-op actions)`,
    );
  const alone = await runtimeAlone();
  console.log(
    `  the whole runtime, fed like the broker  ${alone.cpuUs.toFixed(1)} µs CPU per event, ${fmt(alone.rate)} events/s ` +
      `(${fmt(ALONE_EVENTS)} events, at most ${PREFETCH} out, ${PER_TURN} handed over a turn; median of 3)`,
  );
  const replay = await replayStompjs(100_000, 5);
  console.log(
    `  stompjs alone, fed recorded frames      ${replay.stock.toFixed(1)} µs CPU per message as the bare consumer uses it, ` +
      `${replay.flowd.toFixed(1)} as flowd does over TCP (its own MESSAGE reader, ACKs as one string; 100,000 messages, five a read, median of 5 alternated)`,
  );
  console.log(`  load average ${load()}`);
}
