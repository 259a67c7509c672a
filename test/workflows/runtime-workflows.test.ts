import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createAppServices } from '../../src/runtime/app-services.js';
import { compileAppConfig } from '../../src/config/app-config.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { createWorkflowEngine, recordRun } from '../../src/workflows/engine.js';
import { heartbeatsKey } from '../../src/workflows/run-store.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { until as waitFor } from '../helpers/wait.js';

const cleanups = cleanupsAfterEach();
const log = pino({ level: 'silent' });
const tempDir = () => mkdtempSync(path.join(tmpdir(), 'flowd-runtime-workflows-'));

function upload() {
  const gate = deferred();
  const started: string[] = [];
  const Transcoding = defineActivity({ name: 'Transcoding', version: 1 }, async (video: string, ctx) => {
    started.push('Transcoding');
    ctx.heartbeat(10);
    await gate.promise;
    return `${video}.mp4`;
  });
  const Thumbnails = defineActivity({ name: 'ThumbnailGenerator', version: 1 }, async (video: string) => {
    started.push('ThumbnailGenerator');
    await gate.promise;
    return [`${video}.jpg`];
  });
  const Metadata = defineActivity({ name: 'MetadataProcessing', version: 1 }, (input: { file: string; thumbnails: string[] }) => {
    started.push('MetadataProcessing');
    return { ...input, status: 'published' };
  });
  const Upload = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
    const transcode = wf.activity(Transcoding);
    const thumbnails = wf.activity(Thumbnails);
    const metadata = wf.activity(Metadata);
    return (video: string) => {
      const file = transcode(video);
      const thumbs = thumbnails(video);
      return metadata({ file: file.result(), thumbnails: thumbs.result() }).result();
    };
  });
  return { gate, started, definitions: [Upload, Transcoding, Thumbnails, Metadata] };
}

function runtimeWith(definitions: unknown[], dir = tempDir()): Runtime {
  const runtime = createRuntime({
    app: { name: 'videos', dir },
    workflows: { definitions, pollInterval: '20ms' },
    logger: log,
    shutdownTimeout: '1s',
  });
  cleanups.push(async () => {
    if (runtime.actor) await runtime.stop();
  });
  return runtime;
}

describe('workflows in an embedded runtime', () => {
  it('runs a workflow with no worker and no source: startWorkflow, the snapshot, and the result', async () => {
    const { gate, started, definitions } = upload();
    const runtime = runtimeWith(definitions);
    await runtime.start();
    await waitFor(() => runtime.snapshot().workflows?.decider === 1);
    const runId = await runtime.startWorkflow('UploadWorkflow', 'cat');
    await waitFor(() => started.length === 2);
    expect(started).toEqual(['Transcoding', 'ThumbnailGenerator']);
    expect(runtime.snapshot()).toMatchObject({
      source: { type: 'workflows' },
      workflows: { decider: 1, runs: 1, taskLists: { default: { running: 2 } } },
    });
    gate.resolve();
    const record = await runtime.workflowEnded(runId);
    expect(record).toMatchObject({ state: 'completed', result: { file: 'cat.mp4', thumbnails: ['cat.jpg'], status: 'published' } });
    expect((await runtime.workflowRun(runId))?.state).toBe('completed');
    expect(await runtime.workflowRun('no-such-run')).toBeUndefined();
    const summary = await runtime.stop();
    expect(summary.reason).toBe('requested');
  });

  it('rejects startWorkflow for an unknown workflow naming the known ones, and without workflows or before start()', async () => {
    const { definitions } = upload();
    const runtime = runtimeWith(definitions);
    await expect(runtime.startWorkflow('UploadWorkflow', 'cat')).rejects.toThrow('the runtime was not started');
    await runtime.start();
    await expect(runtime.startWorkflow('Upload', 'cat')).rejects.toThrow('no workflow named "Upload"; known: UploadWorkflow');
    await expect(runtime.startWorkflow('UploadWorkflow', { when: new Date(0) })).rejects.toThrow('the input of workflow UploadWorkflow');
    const plain = createRuntime({ worker: { start: () => {} } as never, source: { type: 'none', start: () => {} }, logger: log });
    await expect(plain.startWorkflow('UploadWorkflow', null)).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: expect.stringContaining('[Workflow]'),
    });
  });

  it('takes up a run recorded by another process (flowd workflow start) within its poll interval', async () => {
    const { gate, definitions } = upload();
    gate.resolve();
    const dir = tempDir();
    const runtime = runtimeWith(definitions, dir);
    await runtime.start();
    const services = createAppServices(
      {
        store: { backend: 'file', folder: path.join(dir, '.flowd', 'videos', 'store') },
        lock: { backend: 'local', leaseMs: 60_000 },
        api: undefined,
      },
      'videos',
      log,
    );
    cleanups.push(() => services.close());
    await recordRun(services.store, {
      runId: 'from-the-cli',
      workflow: { name: 'UploadWorkflow', version: 1 },
      input: 'dog',
      at: Date.now(),
    });
    const record = await runtime.workflowEnded('from-the-cli');
    expect(record).toMatchObject({ state: 'completed', result: { file: 'dog.mp4' } });
  });

  it('shows each run to the inspector as a workflow-run machine, and a failed run is not a failure of the daemon', async () => {
    const { gate, definitions } = upload();
    const Broken = defineActivity({ name: 'Broken', version: 1 }, () => {
      throw new Error('no codec');
    });
    const Fails = defineWorkflow({ name: 'Fails', version: 1 }, (wf) => {
      const broken = wf.activity(Broken);
      return () => broken(null).result();
    });
    const runtime = runtimeWith([...definitions, Broken, Fails]);
    const handle = await runtime.inspect({ port: 0 });
    await runtime.start();
    const runId = await runtime.startWorkflow('UploadWorkflow', 'cat');
    type View = { machine: string; state: string; summary: Record<string, unknown> };
    const state = async () =>
      (await (await fetch(new URL('/api/state', handle.url))).json()) as {
        actors: View[];
        transitions: Array<{ actor: string; to: string }>;
      };
    let view: View | undefined;
    await waitFor(
      async () =>
        (view = (await state()).actors.find((actor) => actor.machine === 'workflow-run')) !== undefined && view.state === 'waiting',
    );
    expect(view!.summary).toMatchObject({ run: runId, workflow: 'UploadWorkflow', version: '1', pending: 2 });
    gate.resolve();
    await runtime.workflowEnded(runId);
    expect((await runtime.workflowEnded(await runtime.startWorkflow('Fails', null))).state).toBe('failed');
    await waitFor(async () => (await state()).transitions.some((t) => t.to === 'failed'));
    const ready = await fetch(new URL('/readyz', handle.url));
    expect(ready.status, await ready.text()).toBe(200);
  });
});

describe('the inspector shows a workflow run with its calls', () => {
  it('answers GET /api/workflows/<run id> with each call: activity, attempt, state, last heartbeat and its details', async () => {
    const { gate, definitions } = upload();
    const runtime = runtimeWith(definitions);
    const handle = await runtime.inspect({ port: 0 });
    await runtime.start();
    const runId = await runtime.startWorkflow('UploadWorkflow', 'cat');
    type Calls = {
      state: string;
      calls: Array<{ activity: string; state: string; attempt: number; lastHeartbeatAt: number | null; details: string | null }>;
    };
    let view: Calls | undefined;
    await waitFor(async () => {
      view = (await (await fetch(new URL(`/api/workflows/${runId}`, handle.url))).json()) as Calls;
      return view.calls.find((call) => call.activity === 'Transcoding')?.lastHeartbeatAt != null;
    });
    expect(view!.state).toBe('running');
    expect(view!.calls.find((call) => call.activity === 'Transcoding')).toMatchObject({ state: 'running', attempt: 1, details: '10' });
    expect(view!.calls.map((call) => call.activity).sort()).toEqual(['ThumbnailGenerator', 'Transcoding']);
    expect((await fetch(new URL('/api/workflows/no-such-run', handle.url))).status).toBe(404);
    gate.resolve();
    await runtime.workflowEnded(runId);
  });
});

describe('the engine keeps the history honest', () => {
  it("drops a repeated final report of a call that settled, and shows a running call's latest heartbeat, outside the history", async () => {
    const folder = tempDir();
    const services = createAppServices(
      { store: { backend: 'file', folder }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
      'engine',
      log,
    );
    cleanups.push(() => services.close());
    const reports: Array<(event: never) => Promise<unknown>> = [];
    const calls: string[] = [];
    const runner = {
      submit: (task: { call: { callId: string } }, report: (event: never) => Promise<unknown>) => {
        calls.push(task.call.callId);
        reports.push(report);
      },
      cancel: () => {},
      stats: () => ({}),
      close: async () => {},
    };
    const Echo = defineActivity({ name: 'Echo', version: 1 }, (value: number) => value);
    const Once = defineWorkflow({ name: 'Once', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return (value: number) => echo(value).result() + 1;
    });
    const engine = createWorkflowEngine({ workflows: [Once], activities: [Echo], store: services.store, log, runner: runner as never });
    cleanups.push(() => engine.close());
    const runId = await engine.start('Once', 41);
    await waitFor(() => reports.length === 1);
    const report = reports[0]!;
    await report({ type: 'activity.started', at: 1, callId: 'Echo#1', attempt: 1 } as never);
    await report({ type: 'activity.heartbeat', at: 2, callId: 'Echo#1', details: 10 } as never);
    await report({ type: 'activity.heartbeat', at: 3, callId: 'Echo#1', details: 20 } as never);
    const running = await engine.status(runId);
    expect(running?.history.map((event) => `${event.type}${'details' in event ? ` ${String(event.details)}` : ''}`)).toEqual([
      'workflow.started',
      'activity.scheduled',
      'activity.started',
      'activity.heartbeat 20',
    ]);
    await report({ type: 'activity.completed', at: 4, callId: 'Echo#1', attempt: 1, result: 41 } as never);
    // The same call ran twice (a redelivered task): its second outcome is not history.
    await report({ type: 'activity.completed', at: 5, callId: 'Echo#1', attempt: 1, result: 99 } as never);
    const record = await engine.ended(runId);
    expect(record.result).toBe(42);
    expect(record.history.map((event) => `${event.type}${'details' in event ? ` ${String(event.details)}` : ''}`)).toEqual([
      'workflow.started',
      'activity.scheduled',
      'activity.started',
      'activity.completed',
      'workflow.completed',
    ]);
    expect(calls).toEqual(['Echo#1']);
    // The heartbeats record goes with the run.
    await expect(services.store.get(heartbeatsKey(runId))).resolves.toBeUndefined();
  });
});

describe('[Workflow] in an INI file', () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'workflows.ts'), 'export const nothing = 1;\n');
  const compile = (text: string) => compileAppConfig(text, path.join(dir, 'app.ini'));

  it('needs no [Flow] class and compiles its keys with defaults', () => {
    const config = compile('[Flow]\napp name = videos\n\n[Workflow]\nmodule = ./workflows.ts\npoll interval = 250ms\n');
    expect(config.workerClass).toBeUndefined();
    expect(config.workflow).toEqual({
      module: path.join(dir, 'workflows.ts'),
      concurrency: 4,
      pollIntervalMs: 250,
      retryDelayMs: 1000,
      retryMaxDelayMs: 60_000,
      broker: undefined,
      taskLists: undefined,
      decide: true,
      limits: { durationMs: 3_600_000, rateLimit: 64, maxInputSize: 1_048_576, maxResultSize: 1_048_576 },
    });
  });

  it.each([
    ['[Workflow]\nconcurrency = 2\n', '[Workflow] "module": is missing; expected the module that exports the workflows and activities'],
    ['[Workflow]\nmodule = ./nope.ts\n', 'does not exist; expected a module that exports workflows and activities'],
    [
      '[Workflow]\nmodule = ./workflows.ts\nbroker = stomp://127.0.0.1/topic/x\n',
      ':6 [Workflow] "broker": names /topic/x; expected stomp://[user:pass@]host[:port]/queue/<name>',
    ],
    ['[Workflow]\nmodule = ./workflows.ts\nbroker = stomp://guest:s3cret@127.0.0.1/nowhere\n', 'broker'],
    ['[Workflow]\nmodule = ./workflows.ts\nconcurency = 2\n', 'did you mean "concurrency"'],
    ['[Workflow]\nmodule = ./workflows.ts\n\n[Source]\ntype = interval\n', '[Source] "type": found "interval", but the app has no worker'],
  ])('refuses %j naming the section and key', (section, message) => {
    let thrown: Error | undefined;
    try {
      compile(`[Flow]\napp name = videos\n\n${section}`);
    } catch (error) {
      thrown = error as Error;
    }
    expect(thrown?.message).toContain(message);
    expect(thrown?.message).not.toContain('s3cret');
  });
});
