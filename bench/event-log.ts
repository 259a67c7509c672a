/**
 * npm run bench:event-log
 *
 * One plugin taking every event of an in-memory log of N events (default
 * 3,000), with its cursor in (a) the file store and (b) Redis: prints
 * events/s and, as the baseline run in the same process, how many
 * sequential cursor writes per second the same store takes alone. A plugin
 * waits for its cursor write before its next event, so the store bounds it.
 *
 * BENCH_EVENTS overrides the count; Redis must answer on 127.0.0.1:6379.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createAppServices, type ServiceSettings } from '../src/runtime/app-services.js';
import { eventLogRuntime, logEvent, memoryLog, stubHost } from '../test/helpers/event-log.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 3000);
const log = pino({ level: 'silent' });

async function plugin(settings: ServiceSettings, folder: string): Promise<number> {
  const services = createAppServices(settings, `bench-${process.pid}-${Math.random().toString(36).slice(2)}`, log);
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const reader = memoryLog(Array.from({ length: EVENTS }, (_, i) => logEvent(i + 1)));
  const host = stubHost({ all: { run: () => void (++seen === EVENTS && done()) } });
  const { runtime } = eventLogRuntime({ reader, host, folder, services, source: { maxBatchSize: 500 } });
  const started = performance.now();
  await runtime.start();
  await finished;
  const ms = performance.now() - started;
  await runtime.stop();
  await services.close();
  return (EVENTS / ms) * 1000;
}

async function writes(settings: ServiceSettings): Promise<number> {
  const services = createAppServices(settings, `bench-${process.pid}-${Math.random().toString(36).slice(2)}`, log);
  await services.open();
  const count = Math.min(EVENTS, 2000);
  const started = performance.now();
  for (let i = 1; i <= count; i++) await services.store.put('event-log/plugin/all', { last: i, backlog: [] }, { fence: 1 });
  const ms = performance.now() - started;
  await services.close();
  return (count / ms) * 1000;
}

const folder = mkdtempSync(path.join(tmpdir(), 'flowd-bench-event-log-'));
const lock = { backend: 'local', leaseMs: 60_000 } as const;
// A file store's folder, and a Redis store's prefix, is its namespace: each run gets its own.
const stores: Array<[string, (run: string) => ServiceSettings]> = [
  ['file', (run) => ({ store: { backend: 'file', folder: path.join(folder, run) }, lock, api: undefined })],
  [
    'redis',
    (run) => ({
      store: { backend: 'redis', url: 'redis://127.0.0.1:6379', prefix: `flowd-bench:${process.pid}:${run}:` },
      lock,
      api: undefined,
    }),
  ],
];
console.log(`event-log: one plugin taking all of ${EVENTS.toLocaleString('en')} events`);
for (const [name, settings] of stores) {
  const rate = await plugin(settings('plugin'), folder);
  const baseline = await writes(settings('writes'));
  console.log(
    `  ${name.padEnd(5)} store: ${Math.round(rate).toLocaleString('en').padStart(7)} events/s; the store alone: ${Math.round(baseline).toLocaleString('en').padStart(7)} cursor writes/s; ratio ${(rate / baseline).toFixed(2)}x`,
  );
}
rmSync(folder, { recursive: true, force: true });
process.exit(0);
