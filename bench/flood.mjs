// The flood of bench:dispatch, in a process of its own so its peak RSS is the flood's alone. Plain JavaScript:
// `node bench/flood.mjs dist` runs it against the compiled runtime, as `flowd run` runs a JavaScript app and an
// embedding service runs flowd; `node bench/flood.mjs dist-ts` the same with the worker in a TypeScript module
// (bench/flood-worker.ts) loaded as `flowd run` loads a TypeScript app's (actors/import-module.ts);
// `node --import tsx bench/flood.mjs src` against the TypeScript sources, as the other benches do. Prints one line of JSON.
import { fileURLToPath } from 'node:url';
import { floodSource } from './flood-source.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const SLOTS = 8;
const mode = process.argv[2];
const from = mode === 'dist' || mode === 'dist-ts' ? '../dist/src/index.js' : '../src/index.ts';
const loaded = performance.now();
const { createRuntime, defineWorker } = await import(from);
const { importModule } = mode === 'dist-ts' ? await import('../dist/actors/import-module.js') : {};

// Workers that yield a turn each (slower than the no-op), against a source with no limit but backpressure.
const worker =
  mode === 'dist-ts'
    ? (await importModule(fileURLToPath(new URL('./flood-worker.ts', import.meta.url)))).yielding
    : defineWorker({ start: () => new Promise((resolve) => setImmediate(resolve)) });
const loadMs = performance.now() - loaded;
const runtime = createRuntime({ worker, source: floodSource(EVENTS), workers: SLOTS });
// The queue's length, read every 1,000th outcome (a snapshot each time would weigh on what is measured).
let peakQueue = 0;
let completed = 0;
runtime.on('event.completed', () => {
  if (++completed % 1000 !== 0) return;
  const { waiting } = runtime.snapshot();
  if (waiting > peakQueue) peakQueue = waiting;
});
// What the process holds before the first event (node, the modules, the app's worker): the flood adds to it.
const startRssKb = process.memoryUsage().rss / 1024;
const started = performance.now();
await runtime.start();
const summary = await runtime.done;
const ms = performance.now() - started;
console.log(
  JSON.stringify({
    completed: summary.counters.completed,
    rejected: summary.counters.rejected,
    ms,
    loadMs,
    peakQueue,
    startRssKb,
    maxRssKb: process.resourceUsage().maxRSS,
  }),
);
