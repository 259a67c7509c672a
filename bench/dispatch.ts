/**
 * npm run bench:dispatch
 *
 * 1. Throughput: N no-op events (default 1,000,000) through 8 slots, for
 *    (a) the flowd runtime, (b) a plain promise pool of 8 with no actors,
 *    (c) the naive actor design (a fromPromise child per event), and
 *    (d, e) flowd's supervisor, source and slots without the rest of the
 *    runtime, all interpreted by xstate (as the naive design's supervisor
 *    is) and all compiled (machines/compile.ts, as the runtime runs them), all
 *    in this process, the designs alternated round by round (the order rotates, so
 *    a drift in the machine's load hits all three alike); prints each
 *    round's figure with the load average then, the medians and ratios.
 *    The flowd runtime's rounds also print its CPU time per event.
 * 2. The worker slot's machine alone, interpreted by xstate and compiled
 *    (machines/compile.ts), rounds alternated: µs per idle -> busy -> idle
 *    cycle, with no-op actions.
 * 3. Isolation: the cost per event of `isolation = thread` (each slot's
 *    worker in a worker thread; the event and result cross as structured
 *    clones) against in-process, BENCH_THREAD_EVENTS no-op events (default
 *    20,000), rounds alternated, timed from the end of start() (the threads'
 *    start-up is not counted).
 * 4. Tracing: BENCH_TRACE_EVENTS no-op events (default 200,000) with no
 *    OpenTelemetry tracer provider registered (the API's no-op: flowd makes
 *    no spans and asks for no lifecycle notifications), with none but the
 *    lifecycle notifications on (a listener, as tracing adds), with a provider
 *    that samples nothing, and with one that records every span (to a
 *    processor that drops them), rounds alternated; prints the cost per event.
 * 5. Memory: in a fresh child process (bench/flood.mjs), a source far faster
 *    than the workers floods N events; prints the peak RSS, for the compiled
 *    runtime (dist/, which `npm run bench:dispatch` builds first), for the
 *    same with the worker in a TypeScript module loaded as `flowd run` loads
 *    a TypeScript app's (bench/flood-worker.ts) and for the TypeScript
 *    sources under tsx.
 *
 * BENCH_EVENTS, BENCH_THREAD_EVENTS, BENCH_TRACE_EVENTS and BENCH_ROUNDS override the defaults;
 * `--tracing` runs only 4, `--flood` only 5.
 */
import { spawnSync } from 'node:child_process';
import os, { loadavg } from 'node:os';
import { trace } from '@opentelemetry/api';
import { AlwaysOffSampler, BasicTracerProvider, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { fileURLToPath } from 'node:url';
import { defineWorker } from '../actors/workers/worker.js';
import { compileMachine } from '../machines/compile.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { floodSource } from './flood-source.mjs';
import { naiveSlotLogic } from './naive-slot.js';
import { slotCycleUs, slotLogics } from './slot-cycle.js';
import pino from 'pino';
import { createActor, type AnyActorLogic } from 'xstate';
import { createSlotLogic, provideSlotMachine, type SlotDeps } from '../actors/workers/slot.js';
import { createSourceLogic } from '../actors/sources/driver.js';
import { compileFlowSettings } from '../src/config/flow-settings.js';
import { SectionReader } from '../src/kernel/section-reader.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const THREAD_EVENTS = Number(process.env.BENCH_THREAD_EVENTS ?? 20_000);
const TRACE_EVENTS = Number(process.env.BENCH_TRACE_EVENTS ?? 200_000);
const NOOP_MODULE = { file: fileURLToPath(new URL('./noop-worker.ts', import.meta.url)), export: 'noop' };
const SLOTS = 8;
const noop = async (): Promise<void> => {};

async function flowd(count: number, lifecycle = false): Promise<number> {
  const runtime = createRuntime({ worker: defineWorker({ start: noop }), source: floodSource(count), workers: SLOTS });
  // A listener of a lifecycle notification turns them all on (as the inspector's journal and tracing do).
  if (lifecycle) runtime.on('event.queued', () => {});
  const started = performance.now();
  await runtime.start();
  const summary = await runtime.done;
  if (summary.counters.completed !== count) throw new Error(`flowd completed ${summary.counters.completed} of ${count}`);
  return performance.now() - started;
}

async function promisePool(count: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      await noop();
    }
  };
  await Promise.all(Array.from({ length: SLOTS }, lane));
  return performance.now() - started;
}

/** The naive design: flowd's supervisor and source interpreted by xstate (as they always were here), each slot invoking a `fromPromise` child per event. */
const naive = (count: number): Promise<number> => supervised(naiveSlotLogic(noop), count, 'interpreted');

/** The runtime's slot with a no-op worker, as createRuntime makes it (no logger output, no services). */
const slotDeps: SlotDeps = {
  runner: { name: 'noop', source: undefined, configure: async () => {}, run: noop },
  log: pino({ level: 'silent' }),
  app: { name: 'bench', dir: '.', stateDir: '.' },
  config: {},
};

/**
 * flowd's supervisor and slots alone (no runtime around them), the slots given as `slot`; the supervisor
 * and its source `compiled` (as the runtime runs them) or `interpreted` by xstate.
 */
async function supervised(slot: AnyActorLogic, count: number, how: 'compiled' | 'interpreted'): Promise<number> {
  const settings = compileFlowSettings(new SectionReader(new Map([['workers', SLOTS]]), { section: 'bench' })).settings;
  const source = createSourceLogic(floodSource(count));
  const provided = supervisorMachine.provide({
    actors: { workerSlot: slot as never, source: (how === 'compiled' ? source : source.machine) as never },
  });
  const machine: AnyActorLogic = how === 'compiled' ? compileMachine(provided) : provided;
  const actor = createActor(machine, { input: { settings, now: Date.now, random: Math.random } });
  const started = performance.now();
  const finished = new Promise<void>((resolve, reject) => actor.subscribe({ complete: resolve, error: reject }));
  actor.start();
  await finished;
  const output = actor.getSnapshot().output as { counters: { completed: number } };
  if (output.counters.completed !== count) throw new Error(`the supervisor completed ${output.counters.completed} of ${count}`);
  return performance.now() - started;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const rate = (ms: number): number => Math.round(EVENTS / (ms / 1000));
const fmt = (n: number): string => n.toLocaleString('en-US');
/** The 1-, 5- and 15-minute load averages, printed with each figure: on a shared machine they say how far to trust it. */
const load = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');

async function throughput(): Promise<void> {
  console.log(
    `dispatch: ${fmt(EVENTS)} no-op events, ${SLOTS} slots, ${ROUNDS} rounds alternated, node ${process.version}, ${os.availableParallelism()} CPUs, load average ${load()}`,
  );
  const designs: Array<[string, (n: number) => Promise<number>]> = [
    ['flowd runtime', flowd],
    ['promise pool (no actors)', promisePool],
    ['naive actors (fromPromise per event)', naive],
    ['supervisor + slots interpreted (xstate)', (n) => supervised(provideSlotMachine(slotDeps), n, 'interpreted')],
    ['supervisor + slots compiled', (n) => supervised(createSlotLogic(slotDeps), n, 'compiled')],
  ];
  await flowd(Math.min(EVENTS, 50_000)); // warm-up
  const runs = new Map<string, number[]>(designs.map(([name]) => [name, []]));
  // CPU time (user + system) per event: on a shared machine it moves less with the load than the wall time does.
  const cpuUs = new Map<string, number[]>(designs.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Round r starts with design r mod n: each design runs first, second, ... in turn.
    for (let i = 0; i < designs.length; i++) {
      const [name, run] = designs[(round + i) % designs.length]!;
      globalThis.gc?.();
      const cpu = process.cpuUsage();
      const figure = rate(await run(EVENTS));
      const used = process.cpuUsage(cpu);
      const us = (used.user + used.system) / EVENTS;
      runs.get(name)!.push(figure);
      cpuUs.get(name)!.push(us);
      console.log(
        `    round ${round + 1}: ${name.padEnd(40)} ${fmt(figure).padStart(10)} events/s, ${us.toFixed(2).padStart(6)} µs CPU/event   (load average ${load()})`,
      );
    }
  }
  const rates = new Map<string, number>();
  const cpuOf = (name: string) => median(cpuUs.get(name)!);
  for (const [name] of designs) {
    const rounds = runs.get(name)!;
    rates.set(name, median(rounds));
    console.log(
      `  ${name.padEnd(40)} ${fmt(median(rounds)).padStart(10)} events/s, ${cpuOf(name).toFixed(2).padStart(6)} µs CPU/event   (medians; rounds: ${rounds.map(fmt).join(', ')})`,
    );
  }
  const flowdRate = rates.get('flowd runtime')!;
  console.log(
    `  ratio flowd / naive actors:  ${(flowdRate / rates.get('naive actors (fromPromise per event)')!).toFixed(2)}x   (target >= 5x)`,
  );
  const interpreted = rates.get('supervisor + slots interpreted (xstate)')!;
  const compiled = rates.get('supervisor + slots compiled')!;
  const cpuSaved = cpuOf('supervisor + slots interpreted (xstate)') - cpuOf('supervisor + slots compiled');
  console.log(
    `  ratio slots compiled / interpreted:  ${(compiled / interpreted).toFixed(2)}x events/s, ${cpuSaved.toFixed(2)} µs less CPU per event   (the same supervisor, in the same rounds)`,
  );
  console.log(`  flowd runtime: ${cpuOf('flowd runtime').toFixed(2)} µs CPU per event   (target <= 10 µs)`);
  const poolRate = rates.get('promise pool (no actors)')!;
  const costUs = (1 / flowdRate - 1 / poolRate) * 1e6;
  console.log(
    `  ratio flowd / promise pool:  ${(flowdRate / poolRate).toFixed(4)}x   (the actor layer costs ${costUs.toFixed(1)} µs per event)`,
  );
  console.log(`  target: >= 100,000 events/s on ${SLOTS} slots: ${flowdRate >= 100_000 ? 'met' : 'NOT met'}   (load average ${load()})`);
}

/** The slot's machine alone, interpreted and compiled, alternated round by round. */
function slotMachine(): void {
  console.log(`slot machine alone: 200,000 idle -> busy -> idle cycles with no-op actions, ${ROUNDS} rounds alternated`);
  for (const [, logic] of slotLogics) slotCycleUs(logic, 20_000); // warm-up
  const runs = new Map<string, number[]>(slotLogics.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < slotLogics.length; i++) {
      const [name, logic] = slotLogics[(round + i) % slotLogics.length]!;
      globalThis.gc?.();
      runs.get(name)!.push(slotCycleUs(logic));
    }
  }
  for (const [name, us] of runs)
    console.log(
      `  ${name.padEnd(24)} ${median(us).toFixed(2).padStart(6)} µs per cycle   (rounds: ${us.map((u) => u.toFixed(2)).join(', ')})`,
    );
  const [interpreted, compiled] = slotLogics.map(([name]) => median(runs.get(name)!));
  console.log(`  compiled is ${(interpreted! / compiled!).toFixed(1)}x faster   (load average ${load()})`);
}

/** `count` no-op events in-process or in threads; the time from the end of start() (threads up and configured) to the last outcome. */
async function isolated(isolation: 'process' | 'thread', count: number): Promise<number> {
  const runtime =
    isolation === 'thread'
      ? createRuntime({ isolation, workerModule: NOOP_MODULE, source: floodSource(count), workers: SLOTS })
      : createRuntime({ worker: defineWorker({ start: noop }), source: floodSource(count), workers: SLOTS });
  await runtime.start();
  const started = performance.now();
  const summary = await runtime.done;
  if (summary.counters.completed !== count) throw new Error(`${isolation} completed ${summary.counters.completed} of ${count}`);
  return performance.now() - started;
}

async function isolation(): Promise<void> {
  console.log(`isolation: ${fmt(THREAD_EVENTS)} no-op events, ${SLOTS} slots, ${ROUNDS} rounds alternated`);
  const runs = { process: [] as number[], thread: [] as number[] };
  await isolated('thread', Math.min(THREAD_EVENTS, 2_000)); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ['process', 'thread'] as const) {
      globalThis.gc?.();
      runs[kind].push(await isolated(kind, THREAD_EVENTS));
    }
  }
  console.log(`  (load average ${load()})`);
  const us = (ms: number): number => (ms * 1000) / THREAD_EVENTS;
  for (const kind of ['process', 'thread'] as const) {
    const ms = median(runs[kind]);
    console.log(
      `  isolation = ${kind.padEnd(8)} ${fmt(Math.round(THREAD_EVENTS / (ms / 1000))).padStart(10)} events/s   ${us(ms).toFixed(1).padStart(6)} µs per event   (rounds: ${runs[kind].map((r) => us(r).toFixed(1)).join(', ')} µs)`,
    );
  }
  console.log(`  isolation = thread costs ${(us(median(runs.thread)) - us(median(runs.process))).toFixed(1)} µs more per event`);
}

/**
 * The tracer providers compared: none (the API's no-op); none but with the supervisor's lifecycle notifications on
 * (what a provider turns on, without the spans); one that samples nothing; one that records every span.
 */
const TRACING = {
  none: undefined,
  'none, lifecycle on': undefined,
  'sampled out': () => new BasicTracerProvider({ sampler: new AlwaysOffSampler() }),
  recorded: () => new BasicTracerProvider({ spanProcessors: [new NoopSpanProcessor()] }),
} as const;

async function traced(kind: keyof typeof TRACING, count: number): Promise<number> {
  const provider = TRACING[kind]?.();
  if (provider) trace.setGlobalTracerProvider(provider);
  try {
    return await flowd(count, kind === 'none, lifecycle on');
  } finally {
    trace.disable();
    await provider?.shutdown();
  }
}

async function tracing(): Promise<void> {
  const load = loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
  console.log(`tracing: ${fmt(TRACE_EVENTS)} no-op events, ${SLOTS} slots, ${ROUNDS} rounds alternated, load average ${load}`);
  const kinds = Object.keys(TRACING) as Array<keyof typeof TRACING>;
  const runs = Object.fromEntries(kinds.map((kind) => [kind, [] as number[]])) as Record<keyof typeof TRACING, number[]>;
  await traced('recorded', Math.min(TRACE_EVENTS, 20_000)); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of kinds) {
      globalThis.gc?.();
      runs[kind].push(await traced(kind, TRACE_EVENTS));
    }
  }
  const us = (ms: number): number => (ms * 1000) / TRACE_EVENTS;
  for (const kind of kinds) {
    const ms = median(runs[kind]);
    console.log(
      `  ${`provider: ${kind}`.padEnd(24)} ${fmt(Math.round(TRACE_EVENTS / (ms / 1000))).padStart(10)} events/s   ${us(ms).toFixed(2).padStart(6)} µs per event   (rounds: ${runs[kind].map((r) => us(r).toFixed(2)).join(', ')} µs)`,
    );
  }
  const none = us(median(runs.none));
  for (const kind of kinds.slice(1))
    console.log(`  provider ${kind} costs ${(us(median(runs[kind])) - none).toFixed(2)} µs more per event than none`);
  console.log(
    `  load average after: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
}

interface FloodResult {
  completed: number;
  rejected: number;
  ms: number;
  peakQueue: number;
  startRssKb: number;
  maxRssKb: number;
  /** From importing flowd to the worker loaded. */
  loadMs: number;
}

/**
 * The flood (bench/flood.mjs) in a fresh process, so the peak RSS is the flood's alone: against the compiled
 * runtime (`dist`, as `flowd run` runs a JavaScript app and a service embeds flowd; `npm run bench:dispatch`
 * builds it first), the same with the worker in a TypeScript module loaded as `flowd run` loads a TypeScript
 * app's (`dist-ts`: actors/import-module.ts), or flowd's TypeScript sources under tsx (`src`, as these benches run).
 */
function flood(from: 'dist' | 'dist-ts' | 'src'): FloodResult {
  const script = fileURLToPath(new URL('./flood.mjs', import.meta.url));
  const args = from === 'src' ? ['--import', 'tsx', script, 'src'] : [script, from];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', env: process.env });
  if (child.status !== 0) throw new Error(`the flood (${from}) failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as FloodResult;
}

function printFlood(what: string, result: FloodResult): void {
  const mb = result.maxRssKb / 1024;
  const startMb = result.startRssKb / 1024;
  console.log(
    `  ${what}: peak RSS ${mb.toFixed(0)} MB   (target < 150 MB: ${mb < 150 ? 'met' : 'NOT met'}); ${startMb.toFixed(0)} MB before the first event (loaded in ${result.loadMs.toFixed(0)} ms), the flood added ${(mb - startMb).toFixed(0)} MB; ${fmt(Math.round(result.completed / (result.ms / 1000)))} events/s, queue peak ${result.peakQueue}, rejected ${result.rejected}   (load average ${load()})`,
  );
}

if (process.argv.includes('--tracing')) {
  await tracing();
  process.exit(0);
}
// `--flood` runs only the floods (`npm run -s build && node --import tsx bench/dispatch.ts --flood`).
if (!process.argv.includes('--flood')) {
  await throughput();
  slotMachine();
  await isolation();
  await tracing();
}
console.log(`flood: ${fmt(EVENTS)} events from a source with no limit but backpressure, ${SLOTS} slots yielding a turn each`);
printFlood('compiled (dist/), a JavaScript app or a service', flood('dist'));
printFlood('compiled, a TypeScript app (its worker as flowd run loads it)', flood('dist-ts'));
printFlood("flowd's sources under tsx (src/), as the benches run", flood('src'));
