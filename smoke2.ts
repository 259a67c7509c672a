import { createRuntime } from './src/runtime.js';
import { defineWorker } from './actors/workers/worker.js';
import type { SourceDriver } from './actors/sources/driver.js';
function countSource(n: number): SourceDriver {
  let paused = false, sent = 0, feedRef: any;
  const loop = () => { while (!paused && sent < n) { sent++; feedRef.deliver(sent); } if (sent >= n) feedRef.end(); };
  return { type: 'count', canPause: true, start(f) { feedRef = f; setImmediate(loop); }, pause() { paused = true; }, resume() { paused = false; setImmediate(loop); } };
}
const N = 300_000;
const rt = createRuntime({ worker: defineWorker({ async start() {} }), source: countSource(N), workers: 8 });
const t = performance.now();
await rt.start();
const s = await rt.done;
const dt = performance.now() - t;
console.log(s.counters.completed, Math.round(N / (dt / 1000)), 'events/s');
