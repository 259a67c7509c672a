import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deleteQueues, queueCounts, stompUrl, uniqueQueue } from '../helpers/broker.js';
import { flowd, ROOT, type FlowdProcess } from '../helpers/cli.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { ensureRabbitStomp } from '../helpers/services.js';

// The tutorial's app (examples/video) with `[Workflow] broker`: three daemons on one INI file serve the
// task list over the real RabbitMQ, one of them decides, and the activities run in more than one process.

const cleanups = cleanupsAfterEach();

beforeAll(async () => {
  await ensureRabbitStomp();
}, 120_000);

interface Execution {
  activity: string;
  video: string;
  pid: number;
}

/** examples/video with a broker, in a folder of its own (its own store): `extra` lines go into [Workflow]. */
async function brokerApp(base: string, extra = '') {
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-workflow-broker-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  const text = (await readFile(path.join(ROOT, 'examples/video/video.ini'), 'utf8'))
    .replace(/^module = \.\/workflows\.ts$/m, `module = ${path.join(ROOT, 'examples/video/workflows.ts')}`)
    .replace(/^; broker = .*$/m, `broker = ${stompUrl(`/queue/${base}`, 'guest:${BROKER_PASSWORD}')}${extra}`)
    .replace(/^concurrency = 4$/m, 'concurrency = 2');
  expect(text, 'examples/video/video.ini has its broker line').toContain(`broker = stomp://guest:\${BROKER_PASSWORD}@`);
  const ini = path.join(dir, 'video.ini');
  await writeFile(ini, text);
  const log = path.join(dir, 'video.log');
  const env = { VIDEO_LOG: log, BROKER_PASSWORD: 'guest' };
  const executions = (): Execution[] => {
    try {
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Execution);
    } catch {
      return [];
    }
  };
  const daemon = (): FlowdProcess => {
    const proc = flowd(['run', ini], { env });
    cleanups.push(async () => {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      await proc.exit;
    });
    return proc;
  };
  return { ini, env, executions, daemon };
}

describe('workflows with [Workflow] broker, as daemons', () => {
  it('shares the task list between daemons: one decides, the activities run in several processes, and every run completes', async () => {
    const base = uniqueQueue('wf-daemons');
    cleanups.push(() => deleteQueues(`${base}.video`, `${base}.default`, `${base}.reports`));
    const app = await brokerApp(base);
    // Another machine: its own folder and store, activities only; it must not take the decider's reports.
    const remote = await brokerApp(base, '\ndecide = no');
    const worker = remote.daemon();
    await worker.waitFor('stderr', /this daemon runs activities only/);
    const first = app.daemon();
    await first.waitFor('stderr', /workflows: deciding for app video/);
    const others = [app.daemon(), app.daemon()];
    for (const other of others)
      await other.waitFor('stderr', /workflows: serving 3 activities over stomp:\/\/guest:\*\*\*@127\.0\.0\.1:61613\/queue\//);
    for (const other of others) await other.waitFor('stderr', /another daemon decides for app video/);
    const runs = [];
    for (let i = 0; i < 6; i++) {
      const start = flowd(
        ['workflow', 'start', app.ini, 'UploadWorkflow', '--input', JSON.stringify({ video: `v${i}.mov`, seconds: 0.4 }), '--wait'],
        { env: app.env },
      );
      runs.push(start.exit.then(({ code }) => ({ code, stdout: start.stdout(), stderr: start.stderr() })));
    }
    for (const run of await Promise.all(runs)) {
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/workflow UploadWorkflow 1, completed/);
    }
    const executions = [...app.executions(), ...remote.executions()];
    for (let i = 0; i < 6; i++) {
      expect(
        executions
          .filter((e) => e.video === `v${i}.mov`)
          .map((e) => e.activity)
          .sort(),
      ).toEqual(['MetadataProcessing', 'ThumbnailGenerator', 'Transcoding']);
    }
    const pids = new Set(executions.map((e) => e.pid));
    expect(pids.size, `activities ran in ${[...pids].join(', ')}`).toBeGreaterThanOrEqual(2);
    const remoteRuns = remote.executions();
    expect(remoteRuns.length, 'the activities-only daemon took part').toBeGreaterThan(0);
    expect(remoteRuns.every((e) => e.pid === worker.child.pid)).toBe(true);
    expect(worker.stderr()).not.toMatch(/deciding for app/);
    // Only the decider wrote the histories; the task and report queues are empty.
    expect(first.stderr()).toMatch(/workflow UploadWorkflow run .* completed/);
    for (const other of others) expect(other.stderr()).not.toMatch(/workflow UploadWorkflow run .* completed/);
    for (const queue of [`${base}.video`, `${base}.reports`]) expect(await queueCounts(queue)).toMatchObject({ messages: 0 });
    expect(first.stderr() + others.map((o) => o.stderr()).join('')).not.toContain('guest:guest');
  }, 90_000);
});
