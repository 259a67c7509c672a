import pino from 'pino';
import { createRuntime } from './src/runtime.js';
import { defineWorker } from './actors/workers/worker.js';
import type { SourceDriver } from './actors/sources/driver.js';

function countSource(n: number): SourceDriver {
  let paused = false, sent = 0, feedRef: any;
  const loop = () => {
    while (!paused && sent < n) { sent++; feedRef.deliver({ n: sent, key: sent % 3 }); }
    if (sent >= n) feedRef.end();
  };
  return { type: 'count', canPause: true, start(f) { feedRef = f; setImmediate(loop); }, pause() { paused = true; }, resume() { paused = false; setImmediate(loop); } };
}
const seen: number[] = [];
const rt = createRuntime({
  worker: defineWorker({ async start(e: any) { seen.push(e.n); if (e.n === 5) throw new Error('boom'); return e.n * 2; } }),
  source: countSource(20), workers: 3, retries: 1, retryDelay: 5, queueSize: 4,
  logger: pino({ level: 'warn' }),
});
rt.on('event.completed', (e) => {});
await rt.start();
const summary = await rt.done;
console.log(summary, seen.length, rt.snapshot());
