/**
 * node [--cpu-prof] --import tsx bench/workflow-profile.ts
 *
 * The engine phase of bench/workflow.ts alone, with Redis, for a CPU
 * profile: BENCH_RUNS (default 1,000) runs of the tutorial's workflow with
 * no-op activities started together, BENCH_ROUNDS times (default 5; the
 * first ones warm the JIT up), then as many rounds of the same store's bare
 * writes in the shape bench/workflow.ts gives them, BENCH_APPENDS log
 * appends a run (default: as many as the engine made). Each round prints
 * runs/s and the process's CPU time a run, which a loaded machine disturbs
 * far less than runs/s. Redis must answer on 127.0.0.1:6379; the keys go
 * under flowd-profile-<pid>-*.
 */
import pino from 'pino';
import type { LoggingStore, StoreLogs } from '../actors/stores/store-api.js';
import { createAppServices, type ServiceSettings } from '../src/runtime/app-services.js';
import { createWorkflowEngine } from '../src/workflows/engine.js';
import { MetadataProcessing, ThumbnailGenerator, Transcoding, Upload } from './tutorial-workflow.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const log = pino({ level: 'silent' });

const settings = (round: string): ServiceSettings => ({
  store: { backend: 'redis', url: 'redis://127.0.0.1:6379/0', prefix: `flowd-profile-${process.pid}-${round}:` },
  lock: { backend: 'local', leaseMs: 60_000 },
  api: undefined,
});

/** Runs `work`, printing runs/s and CPU ms a run. */
async function measure(what: string, work: () => Promise<void>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `${what}: ${Math.round((RUNS / ms) * 1000).toLocaleString('en')} runs/s, CPU ${((cpu.user + cpu.system) / RUNS / 1000).toFixed(3)} ms a run`,
  );
}

let appends = Number(process.env.BENCH_APPENDS ?? 0);
for (let round = 1; round <= ROUNDS; round++) {
  const services = createAppServices(settings(`engine-${round}`), `profile-${process.pid}`, log);
  await services.open();
  const logs = (services.store as LoggingStore).logs;
  let appended = 0;
  const counted = Object.create(services.store) as LoggingStore;
  Object.defineProperty(counted, 'logs', {
    value: { read: logs.read.bind(logs), append: (...args: Parameters<StoreLogs['append']>) => (appended++, logs.append(...args)) },
  });
  const engine = createWorkflowEngine({
    workflows: [Upload],
    activities: [Transcoding, ThumbnailGenerator, MetadataProcessing],
    store: counted,
    log,
    executor: { concurrency: 8 },
  });
  await measure(`engine round ${round}`, async () => {
    // Each run's end awaited from its start on (as bench/workflow.ts does).
    await Promise.all(Array.from({ length: RUNS }, (_, i) => engine.start('UploadWorkflow', `v${i}`).then((id) => engine.ended(id))));
  });
  if (!process.env.BENCH_APPENDS) appends = Math.round(appended / RUNS);
  await engine.close();
  await services.close();
}
for (let round = 1; round <= ROUNDS; round++) {
  const services = createAppServices(settings(`bare-${round}`), `profile-${process.pid}`, log);
  await services.open();
  const { store } = services;
  await measure(`bare writes round ${round} (${appends} appends a run)`, async () => {
    await Promise.all(
      Array.from({ length: RUNS }, async (_, chain) => {
        const key = `bench/run/${chain}`;
        const history = `bench/history/${chain}`;
        const list = `bench/open/${chain % 16}`;
        await store.update<string[]>(list, (open = []) => [...open, key]);
        await store.logs.append(history, [{ type: 'workflow.started', at: Date.now(), input: `v${chain}` }], { ifLength: 0 });
        const header = { runId: key, workflow: { name: 'UploadWorkflow', version: 1 }, state: 'running' };
        const { version } = await store.put(key, header, { ifVersion: 0 });
        for (let i = 1; i < appends; i++)
          await store.logs.append(history, [{ type: 'activity.completed', at: Date.now(), callId: `Call#${i}`, result: `v${chain}.mp4` }], {
            ifLength: i,
          });
        await store.put(key, { ...header, state: 'completed', result: `v${chain}` }, { ifVersion: version });
        await store.update<string[]>(list, (open = []) => open.filter((id) => id !== key));
      }),
    );
  });
  await services.close();
}
