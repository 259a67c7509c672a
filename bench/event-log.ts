/**
 * npm run bench:event-log
 *
 * One plugin taking every event of an in-memory log of N events (default
 * 3,000), with its cursor in (a) the file store and (b) Redis: prints
 * events/s and, as the baseline run in the same process, how many
 * sequential cursor writes per second the same store takes alone. A plugin
 * waits for its cursor write before its next event, so the store bounds it.
 *
 * Then, against PostgreSQL (127.0.0.1:5432, database test): how long an
 * event committed behind a rolled-back id waits before its plugin gets it,
 * with the gap closed from pg_locks, and as before, held until the backlog
 * timeout (set to 5 s here; 5 min by default).
 *
 * BENCH_EVENTS overrides the count; Redis must answer on 127.0.0.1:6379.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { postgresLogReader } from '../actors/sources/event-log-postgres.js';
import type { EventLogReader } from '../actors/sources/event-log-reader.js';
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

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const FETCH_MS = 1000;

/**
 * Milliseconds from each ROLLBACK to the delivery of the event committed behind its id, over `trials` rollbacks;
 * with `rollback` false, from the commit of an event with no gap before it (the baseline: the wait for the next poll).
 */
async function behindRollback(closesGaps: boolean, trials: number, rollback = true): Promise<number[]> {
  const db = new pg.Client(POSTGRES_URL);
  const rolled = new pg.Client(POSTGRES_URL);
  await db.connect();
  await rolled.connect();
  const table = `flowd_bench_${process.pid}_${closesGaps ? 'closes' : 'waits'}_${rollback ? 'gap' : 'none'}`;
  await db.query(
    `CREATE TABLE ${table} (id bigserial PRIMARY KEY, type text NOT NULL, entity jsonb, attributes jsonb, created_at timestamptz NOT NULL DEFAULT clock_timestamp(), meta jsonb)`,
  );
  const reader = postgresLogReader({ kind: 'postgres', url: POSTGRES_URL, table, queryTimeoutMs: 10_000 });
  // As before the change: a reader that cannot list the writers leaves every gap to the backlog timeout.
  const { idOrder: _order, openWriters: _writers, ...waiting } = reader;
  const delivered = new Map<number, number>();
  const host = stubHost({ p: { run: (event) => void delivered.set(event.id, performance.now()) } });
  const run = path.join(folder, `pg-${closesGaps}-${rollback}`);
  const { runtime, services } = eventLogRuntime({
    reader: closesGaps ? reader : (waiting as EventLogReader),
    host,
    folder: run,
    source: { fetchIntervalMs: FETCH_MS, backlogTimeoutMs: 5000, startFrom: 'earliest' },
  });
  await runtime.start();
  const waits: number[] = [];
  try {
    for (let trial = 0; trial < trials; trial++) {
      await rolled.query('BEGIN');
      if (rollback) await rolled.query(`INSERT INTO ${table} (type) VALUES ('rolled back')`);
      const { rows } = await db.query<{ id: string }>(`INSERT INTO ${table} (type) VALUES ('behind') RETURNING id`);
      const behind = Number(rows[0]!.id);
      await rolled.query('ROLLBACK');
      const rolledBackAt = performance.now();
      while (!delivered.has(behind)) await new Promise((resolve) => setTimeout(resolve, 5));
      waits.push(delivered.get(behind)! - rolledBackAt);
    }
  } finally {
    await runtime.stop();
    await services.close();
    await db.query(`DROP TABLE ${table}`);
    await Promise.all([db.end(), rolled.end()]);
  }
  return waits;
}

const summary = (waits: number[]) => {
  const sorted = [...waits].sort((a, b) => a - b);
  return `median ${Math.round(sorted[Math.floor(sorted.length / 2)]!)} ms, max ${Math.round(sorted.at(-1)!)} ms over ${sorted.length}`;
};
console.log(`event-log: an event committed behind a rolled-back id, PostgreSQL, fetch interval ${FETCH_MS} ms`);
console.log(`  no gap (the baseline):              ${summary(await behindRollback(true, 10, false))}`);
console.log(`  gap closed from pg_locks:           ${summary(await behindRollback(true, 10))}`);
console.log(`  held until backlog timeout (5 s):   ${summary(await behindRollback(false, 3))}`);
rmSync(folder, { recursive: true, force: true });
process.exit(0);
