import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createWorkflowEngine, listOpen, readRun, type WorkflowEngineOptions } from '../../src/workflows/engine.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { until } from '../helpers/wait.js';
import { workflowStoreIn } from '../helpers/workflow-store.js';

const cleanups = cleanupsAfterEach();
const log = pino({ level: 'silent' });

/** A file store in a fresh folder, closed after the test; `folder` to share one between two engines. */
function storeIn(folder?: string) {
  return workflowStoreIn(cleanups, log, folder);
}

function engineOf(options: Omit<WorkflowEngineOptions, 'log'>) {
  const engine = createWorkflowEngine({ ...options, log, executor: { retryDelayMs: 1, retryMaxDelayMs: 1, ...options.executor } });
  cleanups.push(() => engine.close(100));
  return engine;
}

/** The tutorial's three activities, with hooks to hold and watch them. */
function tutorial() {
  const started: string[] = [];
  const gates = { transcode: deferred(), thumbnails: deferred() };
  const Transcoding = defineActivity({ name: 'Transcoding', version: 1 }, async (source: string) => {
    started.push('Transcoding');
    await gates.transcode.promise;
    return `${source}.mp4`;
  });
  const ThumbnailGenerator = defineActivity({ name: 'ThumbnailGenerator', version: 1 }, async (source: string) => {
    started.push('ThumbnailGenerator');
    await gates.thumbnails.promise;
    return [`${source}.jpg`];
  });
  const MetadataProcessing = defineActivity(
    { name: 'MetadataProcessing', version: 1 },
    async (input: { transcoded: string; thumbnails: string[] }) => {
      started.push('MetadataProcessing');
      return { status: 'processed', ...input };
    },
  );
  const Upload = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
    const transcode = wf.activity(Transcoding);
    const thumbnails = wf.activity(ThumbnailGenerator);
    const metadata = wf.activity(MetadataProcessing);
    return (input: { source: string }) => {
      const t = transcode(input.source);
      const th = thumbnails(input.source);
      return metadata({ transcoded: t.result(), thumbnails: th.result() });
    };
  });
  return { started, gates, Transcoding, workflows: [Upload], activities: [Transcoding, ThumbnailGenerator, MetadataProcessing] };
}

describe('the workflow engine', () => {
  it('runs the tutorial: the two independent activities at once, then the third on both results, and keeps the history', async () => {
    const { started, gates, workflows, activities } = tutorial();
    const { store } = storeIn();
    const engine = engineOf({ workflows, activities, store });
    const runId = await engine.start('UploadWorkflow', { source: 'v1' });
    await until(() => started.length === 2);
    expect(started).toEqual(['Transcoding', 'ThumbnailGenerator']);
    gates.transcode.resolve();
    gates.thumbnails.resolve();
    const record = await engine.ended(runId);
    expect(record).toMatchObject({ state: 'completed', result: { status: 'processed', transcoded: 'v1.mp4', thumbnails: ['v1.jpg'] } });
    expect(started).toEqual(['Transcoding', 'ThumbnailGenerator', 'MetadataProcessing']);
    const types = record.history.map((e) => ('callId' in e ? `${e.type} ${e.callId}` : e.type));
    expect(types.slice(0, 3)).toEqual(['workflow.started', 'activity.scheduled Transcoding#1', 'activity.scheduled ThumbnailGenerator#1']);
    expect(types.at(-1)).toBe('workflow.completed');
    expect(types.indexOf('activity.scheduled MetadataProcessing#1')).toBeGreaterThan(types.indexOf('activity.completed Transcoding#1'));
    expect(await listOpen(store)).toEqual([]);
  });

  it("fails the run with the activity's error once its retries are spent", async () => {
    let attempts = 0;
    const Flaky = defineActivity({ name: 'Flaky', version: 1, retries: 2 }, async () => {
      attempts++;
      throw Object.assign(new Error('disk full'), { code: 'ERR_DISK' });
    });
    const Once = defineWorkflow({ name: 'Once', version: 1 }, (wf) => {
      const flaky = wf.activity(Flaky);
      return () => flaky(null).result();
    });
    const engine = engineOf({ workflows: [Once], activities: [Flaky], store: storeIn().store });
    const record = await engine.ended(await engine.start('Once', null));
    expect(attempts).toBe(3);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('ERR_TASK');
    expect(record.error?.message).toContain('disk full');
  });

  it('resumes an open run after its daemon stopped mid-way, running the unfinished activity again', async () => {
    const first = tutorial();
    const { store, folder } = storeIn();
    const engine = createWorkflowEngine({ workflows: first.workflows, activities: first.activities, store, log });
    const runId = await engine.start('UploadWorkflow', { source: 'v2' });
    first.gates.thumbnails.resolve();
    await until(() => first.started.length === 2);
    // Thumbnails finish; Transcoding is still running when the daemon goes.
    await until(async () => (await readRun(store, runId))?.history.some((e) => e.type === 'activity.completed') === true, {
      interval: 5,
      what: 'the thumbnails activity completed in the history',
    });
    await engine.close(10);

    const second = tutorial();
    second.gates.transcode.resolve();
    const again = engineOf({ workflows: second.workflows, activities: second.activities, store: storeIn(folder).store });
    expect(await again.resume()).toBe(1);
    const record = await again.ended(runId);
    expect(record.state).toBe('completed');
    expect(second.started).toEqual(['Transcoding', 'MetadataProcessing']);
  });

  it('continues as new with wf.restart(input), linking the runs', async () => {
    const Count = defineActivity({ name: 'Count', version: 1 }, async (n: number) => n + 1);
    const Loop = defineWorkflow({ name: 'Loop', version: 1 }, (wf) => {
      const count = wf.activity(Count);
      return (n: number) => {
        const next = count(n).result();
        return next < 3 ? wf.restart(next) : next;
      };
    });
    const engine = engineOf({ workflows: [Loop], activities: [Count], store: storeIn().store });
    let record = await engine.ended(await engine.start('Loop', 0));
    const chain = [record.state];
    while (record.next) {
      record = await engine.ended(record.next);
      chain.push(record.state);
    }
    expect(chain).toEqual(['restarted', 'restarted', 'completed']);
    expect(record.result).toBe(3);
  });

  it('fails a resumed run whose code no longer matches its history (a non-deterministic change), naming the call', async () => {
    const first = tutorial();
    const { store, folder } = storeIn();
    const engine = createWorkflowEngine({ workflows: first.workflows, activities: first.activities, store, log });
    const runId = await engine.start('UploadWorkflow', { source: 'v3' });
    await until(() => first.started.length === 2);
    await engine.close(10);

    const Changed = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
      const transcode = wf.activity(first.Transcoding);
      return (input: { source: string }) => transcode(`${input.source}-changed`).result();
    });
    const again = engineOf({ workflows: [Changed], activities: first.activities, store: storeIn(folder).store });
    await again.resume();
    const record = await again.ended(runId);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('ERR_NONDETERMINISTIC');
    expect(record.error?.message).toContain('Transcoding#1');
  });
});

describe('how the engine writes a run', () => {
  it('appends the activity events of a run reported while a write of it waits its turn together', async () => {
    const { store } = storeIn();
    const appends: Array<{ key: string; types: string[] }> = [];
    const logs = store.logs;
    const counted = Object.create(store) as typeof store;
    Object.defineProperty(counted, 'logs', {
      value: {
        read: logs.read.bind(logs),
        append: (key: string, values: readonly unknown[], options?: Parameters<typeof logs.append>[2]) => {
          appends.push({ key, types: values.map((value) => (value as { type: string }).type) });
          return logs.append(key, values, options);
        },
      },
    });
    const reports: Array<(event: never) => Promise<unknown>> = [];
    const runner = {
      submit: (_task: unknown, report: (event: never) => Promise<unknown>) => void reports.push(report),
      cancel: () => {},
      stats: () => ({}),
      close: async () => {},
    };
    const Echo = defineActivity({ name: 'Echo', version: 1 }, (value: number) => value);
    const Pair = defineWorkflow({ name: 'Pair', version: 1 }, (wf) => {
      const echo = wf.activity(Echo);
      return (value: number) => {
        const a = echo(value);
        const b = echo(value + 1);
        return a.result() + b.result();
      };
    });
    const engine = engineOf({ workflows: [Pair], activities: [Echo], store: counted, runner: runner as never });
    const runId = await engine.start('Pair', 1);
    await until(() => reports.length === 2, { what: 'both calls submitted' });
    const [first, second] = reports as [(event: never) => Promise<unknown>, (event: never) => Promise<unknown>];
    await Promise.all([
      first({ type: 'activity.started', at: 1, callId: 'Echo#1', attempt: 1 } as never),
      second({ type: 'activity.started', at: 1, callId: 'Echo#2', attempt: 1 } as never),
      first({ type: 'activity.completed', at: 2, callId: 'Echo#1', result: 1 } as never),
      second({ type: 'activity.completed', at: 2, callId: 'Echo#2', result: 2 } as never),
      // A call that settled already: dropped, in the same batch too.
      first({ type: 'activity.completed', at: 3, callId: 'Echo#1', result: 99 } as never),
    ]);
    const record = await engine.ended(runId);
    expect(record.result).toBe(3);
    expect(appends.filter(({ key }) => key.endsWith(runId)).map(({ types }) => types)).toEqual([
      ['workflow.started'],
      ['activity.scheduled', 'activity.scheduled'],
      ['activity.started', 'activity.started', 'activity.completed', 'activity.completed'],
      ['workflow.completed'],
    ]);
  });

  it('reads and deletes nothing a run of its own does not need: no look-up of an id it made, no heartbeats record to delete when none beat', async () => {
    const { store } = storeIn();
    const asked: string[] = [];
    const counted = Object.create(store) as typeof store;
    counted.get = ((key: string) => (asked.push(`get ${key}`), store.get(key))) as typeof store.get;
    counted.delete = ((key: string, options?: Parameters<typeof store.delete>[1]) => (
      asked.push(`delete ${key}`),
      store.delete(key, options)
    )) as typeof store.delete;
    const { gates, workflows, activities } = tutorial();
    gates.transcode.resolve();
    gates.thumbnails.resolve();
    const engine = engineOf({ workflows, activities, store: counted });
    const record = await engine.ended(await engine.start('UploadWorkflow', { source: 'v1' }));
    expect(record.state).toBe('completed');
    expect(asked.filter((what) => what.includes(record.runId))).toEqual([]);
    // An id the caller gives may be one a run has: it is looked up.
    await engine.ended(await engine.start('UploadWorkflow', { source: 'v2' }, { runId: 'given' }));
    expect(asked).toEqual(['get workflow/run/given']);
  });
});
