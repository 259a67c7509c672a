import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createWorkflowEngine, openKey, runKey, type RunRecord } from '../../src/workflows/engine.js';
import { heartbeatsKey, historyKey, loadRun, readRun } from '../../src/workflows/run-store.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { until } from '../helpers/wait.js';
import { workflowStoreIn } from '../helpers/workflow-store.js';

const log = pino({ level: 'silent' });
const cleanups = cleanupsAfterEach();

const Echo = defineActivity({ name: 'Echo', version: 1 }, (value: number) => value);
const Once = defineWorkflow({ name: 'Once', version: 1 }, (wf) => {
  const echo = wf.activity(Echo);
  return (value: number) => echo(value).result() + 1;
});
const Again = defineWorkflow({ name: 'Again', version: 1 }, (wf) => {
  const echo = wf.activity(Echo);
  return (value: number) => (value < 1 ? wf.restart(echo(value + 1).result()) : value);
});

function engineOn(store: ReturnType<typeof workflowStoreIn>['store'], extra: Partial<Parameters<typeof createWorkflowEngine>[0]> = {}) {
  const engine = createWorkflowEngine({ workflows: [Once, Again], activities: [Echo], store, log, ...extra });
  cleanups.push(() => engine.close(100));
  return engine;
}

describe('how a run is kept in the store', () => {
  it('keeps a header without the history, and the history as a log that each event only extends', async () => {
    const { store } = workflowStoreIn(cleanups, log);
    const engine = engineOn(store);
    const runId = await engine.start('Once', 41);
    const record = await engine.ended(runId);
    expect(record).toMatchObject({ state: 'completed', result: 42 });
    const header = await store.get<Record<string, unknown>>(runKey(runId));
    expect(header).toMatchObject({ runId, state: 'completed', result: 42 });
    expect(header).not.toHaveProperty('history');
    const events = await store.logs.read<{ type: string }>(historyKey(runId));
    expect(events.map((event) => event.type)).toEqual([
      'workflow.started',
      'activity.scheduled',
      'activity.started',
      'activity.completed',
      'workflow.completed',
    ]);
    expect(record.history).toEqual(events);
  });

  it('moves a history kept in its header (written before flowd kept logs) to a log at its next write', async () => {
    const { store } = workflowStoreIn(cleanups, log);
    const old: RunRecord = {
      runId: 'old',
      workflow: { name: 'Once', version: 1 },
      state: 'running',
      history: [
        { type: 'workflow.started', at: 1, input: 41 },
        {
          type: 'activity.scheduled',
          at: 2,
          callId: 'Echo#1',
          activity: { name: 'Echo', version: 1 },
          input: 41,
          taskList: 'default',
          options: { retries: 3 },
        } as never,
      ],
    };
    await store.put(runKey('old'), old);
    await store.put(openKey('old'), ['old']);
    await expect(readRun(store, 'old')).resolves.toMatchObject({ state: 'running', history: old.history });
    const engine = engineOn(store);
    expect(await engine.resume()).toBe(1);
    const record = await engine.ended('old');
    expect(record).toMatchObject({ state: 'completed', result: 42 });
    expect(await store.get(runKey('old'))).not.toHaveProperty('history');
    const events = await store.logs.read<{ type: string }>(historyKey('old'));
    expect(events.slice(0, 2)).toEqual(old.history);
    expect(events.at(-1)?.type).toBe('workflow.completed');
  });

  it('takes a history whose move from its header stopped halfway from the log, and refuses a log that does not begin with it', async () => {
    const { store } = workflowStoreIn(cleanups, log);
    const started = { type: 'workflow.started', at: 1, input: 41 } as const;
    const scheduled = {
      type: 'activity.scheduled',
      at: 2,
      callId: 'Echo#1',
      activity: { name: 'Echo', version: 1 },
      input: 41,
      taskList: 'default',
      options: { retries: 3 },
    } as const;
    await store.put(runKey('moving'), { runId: 'moving', workflow: { name: 'Once', version: 1 }, state: 'running', history: [started] });
    // A move appended the header's history and one event more, then stopped before the header.
    await store.logs.append(historyKey('moving'), [started, scheduled]);
    const stored = await loadRun(store, 'moving');
    expect(stored).toMatchObject({ inline: true, logged: 2 });
    expect(stored?.record.history).toEqual([started, scheduled]);
    await store.put(openKey('moving'), ['moving']);
    const engine = engineOn(store);
    expect(await engine.resume()).toBe(1);
    await expect(engine.ended('moving')).resolves.toMatchObject({ state: 'completed', result: 42 });
    expect((await store.logs.read<{ type: string }>(historyKey('moving'))).filter((e) => e.type === 'activity.scheduled')).toHaveLength(1);

    await store.put(runKey('mixed'), { runId: 'mixed', workflow: { name: 'Once', version: 1 }, state: 'running', history: [started] });
    await store.logs.append(historyKey('mixed'), [{ ...started, input: 'another' }]);
    await expect(loadRun(store, 'mixed')).rejects.toMatchObject({
      code: 'ERR_WORKFLOW_STATE',
      message: expect.stringContaining(
        '"workflow/history/mixed" of run mixed in the store is corrupt: it does not begin with the 1 events',
      ),
    });
  });

  it('refuses to start a run whose id exists, before writing anything', async () => {
    const { store } = workflowStoreIn(cleanups, log);
    const engine = engineOn(store);
    const runId = await engine.start('Once', 1, { runId: 'taken' });
    await engine.ended(runId);
    const before = await store.logs.read(historyKey('taken'));
    await expect(engine.start('Once', 2, { runId: 'taken' })).rejects.toMatchObject({
      code: 'ERR_CONFLICT',
      message: 'workflow run taken exists already (its header "workflow/run/taken" is in the store)',
    });
    await expect(store.logs.read(historyKey('taken'))).resolves.toEqual(before);
  });

  it('takes a run whose log ended while its header still says running as ended: a resume writes the header and makes its continuation', async () => {
    const { store } = workflowStoreIn(cleanups, log);
    // A daemon stopped between the log's last append and the header.
    await store.put(runKey('half'), { runId: 'half', workflow: { name: 'Again', version: 1 }, state: 'running' });
    await store.logs.append(historyKey('half'), [
      { type: 'workflow.started', at: 1, input: 0 },
      { type: 'workflow.restarted', at: 2, input: 1 },
    ]);
    await store.put(openKey('half'), ['half']);
    expect((await loadRun(store, 'half'))?.stale).toBe(true);
    // Readers see it running until its header says how it ended (and names its continuation).
    await expect(readRun(store, 'half')).resolves.toMatchObject({ state: 'running' });
    const engine = engineOn(store);
    await engine.resume();
    const header = await store.get<RunRecord>(runKey('half'));
    expect(header?.state).toBe('restarted');
    expect(header?.next).toEqual(expect.any(String));
    await expect(engine.ended(header!.next!)).resolves.toMatchObject({ state: 'completed', result: 1, previous: 'half' });
    // Taken up again, it is not continued twice.
    await store.put(openKey('half'), ['half']);
    await engine.resume();
    expect((await store.get<RunRecord>(runKey('half')))?.next).toBe(header!.next);
  });

  it("keeps a running call's latest heartbeat beside the history, however many it sends", async () => {
    const { store } = workflowStoreIn(cleanups, log);
    const beat = deferred<void>();
    const go = deferred<void>();
    const Beating = defineActivity({ name: 'Beating', version: 1 }, async (count: number, ctx) => {
      for (let i = 1; i <= count; i++) ctx.heartbeat({ done: i });
      beat.resolve();
      await go.promise;
      return count;
    });
    const Beats = defineWorkflow({ name: 'Beats', version: 1 }, (wf) => {
      const beating = wf.activity(Beating);
      return (count: number) => beating(count).result();
    });
    const engine = createWorkflowEngine({ workflows: [Beats], activities: [Beating], store, log });
    cleanups.push(() => engine.close(100));
    const runId = await engine.start('Beats', 1000);
    await beat.promise;
    const beats = () => store.get<Record<string, { details?: { done: number } }>>(heartbeatsKey(runId));
    await until(async () => (await beats())?.['Beating#1']?.details?.done === 1000, { what: 'the last of 1,000 heartbeats stored' });
    // The log holds no beat: 1,000 of them left it as long as it was.
    const logged = await store.logs.read<{ type: string }>(historyKey(runId));
    expect(logged.map((event) => event.type)).toEqual(['workflow.started', 'activity.scheduled', 'activity.started']);
    const running = await readRun(store, runId);
    expect(running?.history.at(-1)).toMatchObject({ type: 'activity.heartbeat', callId: 'Beating#1', details: { done: 1000 } });
    go.resolve();
    const ended = await engine.ended(runId);
    expect(ended.history.some((event) => event.type === 'activity.heartbeat')).toBe(false);
    await expect(beats()).resolves.toBeUndefined();
  });
});
