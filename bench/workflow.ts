/**
 * npm run bench:workflow
 *
 * 1. The tutorial's workflow (two activities at once, then a third on both
 *    results) with no-op activities: N runs (default 1,000) started together,
 *    decided by the workflow engine with their histories in (a) the file store,
 *    (b) Redis and (c) PostgreSQL. Prints runs/s and activities/s, and, as the
 *    baseline in the same process, how fast the same store takes the same
 *    writes alone, in the shape a run makes them (the shared lists of open
 *    runs, the header at start and end, one log append per write of history
 *    events), as many chains as runs. The ratio is the engine's share:
 *    replaying the code, the run actors, the executor and the JSON. The two
 *    alternate, BENCH_ROUNDS times (default 5), after BENCH_WARMUP rounds of
 *    each (default 1; printed, not counted: the JIT has not compiled the
 *    engine's code yet in the first); medians are printed.
 * 2. Heartbeats: BENCH_BEAT_RUNS runs (default 10) whose one call sends 10
 *    heartbeats, and runs whose call sends 1,000, each heartbeat recorded
 *    through the engine before the next (as an activity's reports are), in
 *    alternating rounds: the time a heartbeat costs in each, and their ratio.
 *
 * BENCH_RUNS overrides the count, BENCH_STORES=file, redis or postgres (or
 * a comma-separated list) runs those stores only; Redis must answer on
 * 127.0.0.1:6379, PostgreSQL on 127.0.0.1:5432 (database test, user
 * postgres, or BENCH_POSTGRES_URL; BENCH_POOL_SIZE its [Store] pool size);
 * its tables are dropped at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import pino from 'pino';
import { loadavg } from 'node:os';
import type { AppendOptions, LoggingStore, Store, StoreLogs } from '../actors/stores/store-api.js';
import { createAppServices, type ServiceSettings } from '../src/runtime/app-services.js';
import { createWorkflowEngine, openKey } from '../src/workflows/engine.js';
import type { HistoryEvent } from '../src/workflows/history.js';
import { defineActivity, defineWorkflow } from '../src/workflows/workflow-api.js';
import { MetadataProcessing, ThumbnailGenerator, Transcoding, Upload } from './tutorial-workflow.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1);
const BEAT_RUNS = Number(process.env.BENCH_BEAT_RUNS ?? 10);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_RUNS: found ${process.env.BENCH_RUNS}; expected a positive integer`);
const log = pino({ level: 'silent' });
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const POOL_SIZE = Number(process.env.BENCH_POOL_SIZE ?? 4);

/** Counts the writes that reach the store, per key. */
function counting(store: Store): { store: Store; writes: () => number; appends: () => number } {
  let writes = 0;
  let appends = 0;
  const counted = Object.create(store) as Store;
  counted.update = ((key, change, options) => {
    writes++;
    return store.update(key, change, options);
  }) as Store['update'];
  counted.put = ((key, value, options) => {
    writes++;
    return store.put(key, value, options);
  }) as Store['put'];
  const logs = (store as LoggingStore).logs;
  Object.defineProperty(counted, 'logs', {
    value: {
      read: logs.read.bind(logs),
      append: (key: string, values: readonly unknown[], options?: AppendOptions) => {
        appends++;
        return logs.append(key, values, options);
      },
    } satisfies StoreLogs,
  });
  return { store: counted, writes: () => writes + appends, appends: () => appends };
}

const newServices = (settings: ServiceSettings) =>
  createAppServices(settings, `bench-${process.pid}-${Math.random().toString(36).slice(2)}`, log);

async function engineRun(settings: ServiceSettings): Promise<{ runsPerS: number; writesPerRun: number; appendsPerRun: number }> {
  const services = newServices(settings);
  await services.open();
  const { store, writes, appends } = counting(services.store);
  const engine = createWorkflowEngine({
    workflows: [Upload],
    activities: [Transcoding, ThumbnailGenerator, MetadataProcessing],
    store,
    log,
    executor: { concurrency: 8 },
  });
  const started = performance.now();
  // Each run's end is awaited from its start on, as a caller of one run would: one that ended before every
  // start had returned would otherwise be read back from the store, a read that is the bench's, not the engine's.
  const records = await Promise.all(
    Array.from({ length: RUNS }, (_, i) => engine.start('UploadWorkflow', `v${i}`).then((id) => engine.ended(id))),
  );
  const ms = performance.now() - started;
  const failed = records.filter((record) => record.state !== 'completed');
  if (failed.length > 0) throw new Error(`${failed.length} run(s) did not complete: ${JSON.stringify(failed[0])}`);
  await engine.close();
  await services.close();
  return { runsPerS: (RUNS / ms) * 1000, writesPerRun: writes() / RUNS, appendsPerRun: appends() / RUNS };
}

/**
 * The same writes, alone, in the shape a run makes them: its id onto one
 * of the 16 shared lists of open runs, its first event onto its log and its
 * header, one append a write of history events, its header again at the
 * end, and its id off the list.
 */
let bareRound = 0;
async function bareWrites(settings: ServiceSettings, appendsPerRun: number): Promise<number> {
  const round = ++bareRound;
  const services = newServices(settings);
  await services.open();
  const { store } = services;
  const appends = Math.max(0, Math.round(appendsPerRun) - 1);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: RUNS }, async (_, chain) => {
      const key = `bench/${round}/run/${chain}`;
      const log = `bench/${round}/history/${chain}`;
      const list = `bench/${openKey(key)}`;
      await store.update<string[]>(list, (open = []) => [...open, key]);
      await store.logs.append(log, [{ type: 'workflow.started', at: Date.now(), input: `v${chain}` }], { ifLength: 0 });
      const header = { runId: key, workflow: { name: 'UploadWorkflow', version: 1 }, state: 'running' };
      const { version } = await store.put(key, header, { ifVersion: 0 });
      for (let i = 0; i < appends; i++)
        await store.logs.append(log, [{ type: 'activity.completed', at: Date.now(), callId: `Call#${i}`, result: `v${chain}.mp4` }], {
          ifLength: i + 1,
        });
      await store.put(key, { ...header, state: 'completed', result: `v${chain}` }, { ifVersion: version });
      await store.update<string[]>(list, (open = []) => open.filter((id) => id !== key));
    }),
  );
  const ms = performance.now() - started;
  await services.close();
  return (RUNS / ms) * 1000;
}

const Beating = defineActivity({ name: 'Beating', version: 1 }, () => null);
const Beats = defineWorkflow({ name: 'Beats', version: 1 }, (wf) => {
  const beating = wf.activity(Beating);
  return () => beating().result();
});

/**
 * BEAT_RUNS runs whose one call sends `beats` heartbeats, each recorded by
 * the engine (report awaited) before the next, the runs at once; resolves
 * with the time one heartbeat took, in microseconds.
 */
async function heartbeatRound(settings: ServiceSettings, beats: number): Promise<number> {
  const services = newServices(settings);
  await services.open();
  const reports: Array<(event: HistoryEvent) => Promise<void>> = [];
  let submitted!: () => void;
  const allSubmitted = new Promise<void>((resolve) => (submitted = resolve));
  const runner = {
    submit: (_task: unknown, report: (event: HistoryEvent) => Promise<void>) => {
      reports.push(report);
      if (reports.length === BEAT_RUNS) submitted();
    },
    cancel: () => {},
    stats: () => ({}),
    close: async () => {},
  };
  const engine = createWorkflowEngine({ workflows: [Beats], activities: [Beating], store: services.store, log, runner: runner as never });
  const ids = await Promise.all(Array.from({ length: BEAT_RUNS }, () => engine.start('Beats', null)));
  await allSubmitted;
  const callId = 'Beating#1';
  await Promise.all(reports.map((report) => report({ type: 'activity.started', at: Date.now(), callId, attempt: 1 })));
  const started = performance.now();
  await Promise.all(
    reports.map(async (report) => {
      for (let i = 1; i <= beats; i++) await report({ type: 'activity.heartbeat', at: Date.now(), callId, details: { done: i } });
    }),
  );
  const us = ((performance.now() - started) * 1000) / (BEAT_RUNS * beats);
  await Promise.all(reports.map((report) => report({ type: 'activity.completed', at: Date.now(), callId, result: null })));
  await Promise.all(ids.map((id) => engine.ended(id)));
  await engine.close();
  await services.close();
  return us;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const load = () => loadavg()[0]!.toFixed(2);

async function main(): Promise<void> {
  console.log(
    `workflow: ${RUNS} runs of the tutorial's workflow (3 no-op activities, 2 at once), started together, node ${process.version}`,
  );
  const folder = mkdtempSync(path.join(tmpdir(), 'flowd-bench-workflow-'));
  try {
    const backends: Array<[string, ServiceSettings]> = [
      [
        'file store',
        { store: { backend: 'file', folder: path.join(folder, 'engine') }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
      ],
      [
        'redis',
        {
          store: { backend: 'redis', url: 'redis://127.0.0.1:6379/0', prefix: `flowd-bench-${process.pid}:` },
          lock: { backend: 'local', leaseMs: 60_000 },
          api: undefined,
        },
      ],
      [
        'postgres',
        {
          store: {
            backend: 'postgres',
            url: POSTGRES_URL,
            table: `flowd_bench_${process.pid}_engine`,
            queryTimeoutMs: 5000,
            poolSize: POOL_SIZE,
          },
          lock: { backend: 'local', leaseMs: 60_000 },
          api: undefined,
        },
      ],
    ];
    const only = process.env.BENCH_STORES?.split(',').map((name) => name.trim());
    for (const [name, settings] of backends.filter(([name]) => !only || only.includes(name.split(' ')[0]!))) {
      const bareSettings =
        settings.store.backend === 'file'
          ? { ...settings, store: { ...settings.store, folder: path.join(folder, 'bare') } }
          : settings.store.backend === 'postgres'
            ? { ...settings, store: { ...settings.store, table: `flowd_bench_${process.pid}_bare` } }
            : settings;
      const engine: number[] = [];
      const bare: number[] = [];
      let shape = { writesPerRun: 0, appendsPerRun: 0 };
      for (let round = -WARMUP; round < ROUNDS; round++) {
        const run = await engineRun(settings);
        const alone = await bareWrites(bareSettings, run.appendsPerRun);
        console.log(
          `  ${name.padEnd(10)} ${round < 0 ? 'warm-up' : `round ${round + 1}`}: engine ${Math.round(run.runsPerS).toLocaleString('en')} runs/s, the same writes alone ${Math.round(alone).toLocaleString('en')} runs/s (${(run.runsPerS / alone).toFixed(2)}x), load ${load()}`,
        );
        if (round < 0) continue;
        shape = run;
        engine.push(run.runsPerS);
        bare.push(alone);
      }
      const ratios = engine.map((runs, i) => runs / bare[i]!);
      console.log(
        `  ${name.padEnd(10)} median ${Math.round(median(engine)).toLocaleString('en')} runs/s (${Math.round(median(engine) * 3).toLocaleString('en')} activities/s), ${shape.writesPerRun.toFixed(1)} store writes a run (${shape.appendsPerRun.toFixed(1)} log appends)`,
      );
      console.log(
        `  ${''.padEnd(10)} the same writes alone: median ${Math.round(median(bare)).toLocaleString('en')} runs/s; ratio engine / store alone: median ${median(ratios).toFixed(2)}x (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
      );
      if (settings.store.backend === 'file' && !process.env.BENCH_BEAT_RUNS) continue; // an fsync a heartbeat: set BENCH_BEAT_RUNS to run it
      const few: number[] = [];
      const many: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        few.push(await heartbeatRound(settings, 10));
        many.push(await heartbeatRound(settings, 1000));
      }
      console.log(
        `  ${''.padEnd(10)} heartbeats (${BEAT_RUNS} runs at once): ${median(few).toFixed(0)} µs each in runs of 10, ${median(many).toFixed(0)} µs each in runs of 1,000: ratio 1,000 / 10 median ${median(many.map((m, i) => m / few[i]!)).toFixed(2)}x, load ${load()}`,
      );
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
    await dropBenchTables();
    await dropBenchKeys();
  }
}

/** Deletes the Redis keys a redis run made (its prefix's; log keys hold a NUL, so they are scanned as bytes). */
async function dropBenchKeys(): Promise<void> {
  if (process.env.BENCH_STORES && !process.env.BENCH_STORES.includes('redis')) return;
  const redis = new Redis('redis://127.0.0.1:6379/0');
  try {
    for await (const keys of redis.scanBufferStream({ match: `flowd-bench-${process.pid}:*`, count: 1000 }) as AsyncIterable<Buffer[]>)
      if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

/** Drops the tables a postgres run made (none when it did not run). */
async function dropBenchTables(): Promise<void> {
  if (process.env.BENCH_STORES && !process.env.BENCH_STORES.includes('postgres')) return;
  const client = new pg.Client(POSTGRES_URL);
  try {
    await client.connect();
    for (const kind of ['engine', 'bare'])
      await client.query(`DROP TABLE IF EXISTS flowd_bench_${process.pid}_${kind}, "flowd_bench_${process.pid}_${kind}$log"`);
  } finally {
    await client.end();
  }
}

await main();
