// The flood of bench:dispatch, in a process of its own so its peak RSS is the flood's alone. Plain JavaScript:
// `node bench/flood.mjs dist` runs it against the compiled runtime, as `flowd run` runs a JavaScript app and an
// embedding service runs flowd (with `--import tsx` too, as `flowd run` runs a TypeScript app: it imports tsx);
// `node --import tsx bench/flood.mjs src` against the TypeScript sources, as the other benches do. Prints one line of JSON.
import { floodSource } from './flood-source.mjs';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const SLOTS = 8;
const from = process.argv[2] === 'dist' ? '../dist/src/index.js' : '../src/index.ts';
const { createRuntime, defineWorker } = await import(from);

// Workers that yield a turn each (slower than the no-op), against a source with no limit but backpressure.
const worker = defineWorker({ start: () => new Promise((resolve) => setImmediate(resolve)) });
const runtime = createRuntime({ worker, source: floodSource(EVENTS), workers: SLOTS });
// The queue's length, read every 1,000th outcome (a snapshot each time would weigh on what is measured).
let peakQueue = 0;
let completed = 0;
runtime.on('event.completed', () => {
  if (++completed % 1000 !== 0) return;
  const { waiting } = runtime.snapshot();
  if (waiting > peakQueue) peakQueue = waiting;
});
// What the process holds before the first event (node, the modules, with tsx its loader): the flood adds to it.
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
    peakQueue,
    startRssKb,
    maxRssKb: process.resourceUsage().maxRSS,
  }),
);
