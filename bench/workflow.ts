/**
 * npm run bench:workflow
 *
 * The tutorial's workflow (two activities at once, then a third on both
 * results) with no-op activities: N runs (default 300) started together,
 * decided by the workflow engine with their histories in (a) the file store,
 * (b) Redis and (c) PostgreSQL. Prints runs/s and activities/s, and, as the baseline run
 * in the same process, how fast the same store takes the same writes alone,
 * in the shape a run makes them (the shared lists of open runs, the record,
 * one update a history event), as many chains as runs. The ratio is the engine's share:
 * replaying the code, the run actors, the executor and the JSON.
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
import pg from 'pg';
import pino from 'pino';
import type { Store } from '../actors/stores/store-api.js';
import { createAppServices, type ServiceSettings } from '../src/runtime/app-services.js';
import { createWorkflowEngine, openKey } from '../src/workflows/engine.js';
import { defineActivity, defineWorkflow } from '../src/workflows/workflow-api.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 300);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_RUNS: found ${process.env.BENCH_RUNS}; expected a positive integer`);
const log = pino({ level: 'silent' });
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const POOL_SIZE = Number(process.env.BENCH_POOL_SIZE ?? 4);

const Transcoding = defineActivity({ name: 'Transcoding', version: 1 }, (video: string) => `${video}.mp4`);
const ThumbnailGenerator = defineActivity({ name: 'ThumbnailGenerator', version: 1 }, (video: string) => [`${video}.jpg`]);
const MetadataProcessing = defineActivity({ name: 'MetadataProcessing', version: 1 }, (input: { file: string; thumbnails: string[] }) => ({
  ...input,
  status: 'published',
}));
const Upload = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
  const transcode = wf.activity(Transcoding);
  const thumbnails = wf.activity(ThumbnailGenerator);
  const metadata = wf.activity(MetadataProcessing);
  return (video: string) => {
    const file = transcode(video);
    const thumbs = thumbnails(video);
    return metadata({ file: file.result(), thumbnails: thumbs.result() }).result();
  };
});

/** Counts the writes that reach the store, per key. */
function counting(store: Store): { store: Store; writes: () => number } {
  let writes = 0;
  const counted = Object.create(store) as Store;
  counted.update = ((key, change, options) => {
    writes++;
    return store.update(key, change, options);
  }) as Store['update'];
  counted.put = ((key, value, options) => {
    writes++;
    return store.put(key, value, options);
  }) as Store['put'];
  return { store: counted, writes: () => writes };
}

const newServices = (settings: ServiceSettings) =>
  createAppServices(settings, `bench-${process.pid}-${Math.random().toString(36).slice(2)}`, log);

async function engineRun(settings: ServiceSettings): Promise<{ runsPerS: number; writesPerRun: number }> {
  const services = newServices(settings);
  await services.open();
  const { store, writes } = counting(services.store);
  const engine = createWorkflowEngine({
    workflows: [Upload],
    activities: [Transcoding, ThumbnailGenerator, MetadataProcessing],
    store,
    log,
    executor: { concurrency: 8 },
  });
  const started = performance.now();
  const ids = await Promise.all(Array.from({ length: RUNS }, (_, i) => engine.start('UploadWorkflow', `v${i}`)));
  const records = await Promise.all(ids.map((id) => engine.ended(id)));
  const ms = performance.now() - started;
  const failed = records.filter((record) => record.state !== 'completed');
  if (failed.length > 0) throw new Error(`${failed.length} run(s) did not complete: ${JSON.stringify(failed[0])}`);
  await engine.close();
  await services.close();
  return { runsPerS: (RUNS / ms) * 1000, writesPerRun: writes() / RUNS };
}

/**
 * The same writes, alone, in the shape a run makes them: its id onto one
 * of the 16 shared lists of open runs, its record, one update a history event (the
 * record growing as a history does), and its id off the list again.
 */
async function bareWrites(settings: ServiceSettings, writesPerRun: number): Promise<number> {
  const services = newServices(settings);
  await services.open();
  const { store } = services;
  const updates = Math.max(0, Math.round(writesPerRun) - 3);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: RUNS }, async (_, chain) => {
      const key = `bench/run/${chain}`;
      const list = `bench/${openKey(key)}`;
      await store.update<string[]>(list, (open = []) => [...open, key]);
      await store.put(key, { runId: key, history: [{ type: 'workflow.started', at: Date.now(), input: `v${chain}` }] }, { ifVersion: 0 });
      for (let i = 0; i < updates; i++) {
        await store.update<{ history: unknown[] }>(key, (record) => ({
          ...record!,
          history: [...record!.history, { type: 'activity.completed', at: Date.now(), callId: `Call#${i}`, result: `v${chain}.mp4` }],
        }));
      }
      await store.update<string[]>(list, (open = []) => open.filter((id) => id !== key));
    }),
  );
  const ms = performance.now() - started;
  await services.close();
  return (RUNS / ms) * 1000;
}

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
      const { runsPerS, writesPerRun } = await engineRun(settings);
      const bareSettings =
        settings.store.backend === 'file'
          ? { ...settings, store: { ...settings.store, folder: path.join(folder, 'bare') } }
          : settings.store.backend === 'postgres'
            ? { ...settings, store: { ...settings.store, table: `flowd_bench_${process.pid}_bare` } }
            : settings;
      const bare = await bareWrites(bareSettings, writesPerRun);
      console.log(
        `  ${name.padEnd(10)} ${Math.round(runsPerS).toLocaleString('en')} runs/s (${Math.round(runsPerS * 3).toLocaleString('en')} activities/s), ${writesPerRun.toFixed(1)} store writes a run`,
      );
      console.log(
        `  ${''.padEnd(10)} the same writes alone: ${Math.round(bare).toLocaleString('en')} runs/s; ratio engine / store alone: ${(runsPerS / bare).toFixed(2)}x`,
      );
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
    await dropBenchTables();
  }
}

/** Drops the tables a postgres run made (none when it did not run). */
async function dropBenchTables(): Promise<void> {
  if (process.env.BENCH_STORES && !process.env.BENCH_STORES.includes('postgres')) return;
  const client = new pg.Client(POSTGRES_URL);
  try {
    await client.connect();
    for (const kind of ['engine', 'bare']) await client.query(`DROP TABLE IF EXISTS flowd_bench_${process.pid}_${kind}`);
  } finally {
    await client.end();
  }
}

await main();
