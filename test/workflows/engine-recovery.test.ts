import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { LoggingStore, StoreLogs } from '../../actors/stores/store-api.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { StoreError } from '../../src/kernel/errors.js';
import { createWorkflowEngine, listOpen, openKey, readRun, runKey, type RunRecord } from '../../src/workflows/engine.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { logSink } from '../helpers/log-sink.js';
import { cleanupsAfterEach } from '../helpers/once.js';

// How the engine comes through what a daemon meets: a store that fails a write, a run it cannot read,
// a restart between the steps of a run's end, and waiting on runs that will not end here.

const cleanups = cleanupsAfterEach();
const log = pino({ level: process.env.DEBUG_LOG ?? 'silent' });

function fileStore(): LoggingStore {
  const services = createAppServices(
    {
      store: { backend: 'file', folder: mkdtempSync(path.join(tmpdir(), 'flowd-engine-recovery-')) },
      lock: { backend: 'local', leaseMs: 60_000 },
      api: undefined,
    },
    'recovery',
    log,
  );
  cleanups.push(() => services.close());
  return services.store;
}

const Echo = defineActivity({ name: 'Echo', version: 1 }, (value: number) => value);
const Twice = defineWorkflow({ name: 'Twice', version: 1 }, (wf) => {
  const echo = wf.activity(Echo);
  return (value: number) => echo(value).result() * 2;
});
const Again = defineWorkflow({ name: 'Again', version: 1 }, (wf) => {
  const echo = wf.activity(Echo);
  return (value: number) => (value < 2 ? wf.restart(echo(value + 1).result()) : value);
});

function engineOn(store: LoggingStore) {
  const engine = createWorkflowEngine({
    workflows: [Twice, Again],
    activities: [Echo],
    store,
    log,
    executor: { retryDelayMs: 1, retryMaxDelayMs: 1 },
  });
  cleanups.push(() => engine.close(100));
  return engine;
}

describe('the workflow engine, when things go wrong', () => {
  it("records an activity's outcome once the store answers again, so its run does not wait for good", async () => {
    const store = fileStore();
    let failures = 0;
    const flaky = Object.create(store) as LoggingStore;
    Object.defineProperty(flaky, 'logs', {
      value: {
        read: store.logs.read.bind(store.logs),
        append: (key: string, values: readonly unknown[], options?: never) => {
          // The first write of the activity's completion finds the store down.
          const last = values.at(-1) as { type?: string } | undefined;
          if (key.startsWith('workflow/history/') && last?.type === 'activity.completed' && failures === 0) {
            failures++;
            return Promise.reject(new StoreError('ERR_STORE_UNAVAILABLE', `the store is down (${key})`));
          }
          return store.logs.append(key, values, options);
        },
      } satisfies StoreLogs,
    });
    const engine = engineOn(flaky);
    const record = await engine.ended(await engine.start('Twice', 21));
    expect(failures).toBe(1);
    expect(record).toMatchObject({ state: 'completed', result: 42 });
  });

  it('takes up the good runs listed after one it cannot read, and sets that one aside', async () => {
    const store = fileStore();
    // Ids whose lists come in this order: the broken run is met first.
    const brokenId = 'broken';
    const goodId = Array.from({ length: 64 }, (_, i) => `good-${i}`).find((id) => openKey(id) > openKey(brokenId))!;
    const broken: RunRecord = {
      runId: brokenId,
      workflow: { name: 'Twice', version: 1 },
      state: 'running',
      history: [
        { type: 'workflow.started', at: 1, input: 1 },
        { type: 'activity.completed', at: 2, callId: 'Echo#9', result: 1 },
      ],
    };
    await store.put(runKey(brokenId), broken);
    const good: RunRecord = {
      runId: goodId,
      workflow: { name: 'Twice', version: 1 },
      state: 'running',
      history: [{ type: 'workflow.started', at: 1, input: 5 }],
    };
    await store.put(runKey(goodId), good);
    await store.put(openKey(brokenId), [brokenId]);
    await store.put(openKey(goodId), [goodId]);
    expect(await listOpen(store)).toEqual([brokenId, goodId]);
    const engine = engineOn(store);
    expect(await engine.resume()).toBe(1);
    expect(await engine.ended(goodId)).toMatchObject({ state: 'completed', result: 10 });
    expect(await engine.resume()).toBe(0);
    expect(await listOpen(store)).toEqual([brokenId]);
  });

  it('finishes a run a daemon left half-ended: its continuation is made, once, and it leaves the open runs', async () => {
    const store = fileStore();
    const ended: RunRecord = {
      runId: 'first',
      workflow: { name: 'Again', version: 1 },
      state: 'restarted',
      next: 'second',
      history: [
        { type: 'workflow.started', at: 1, input: 0 },
        { type: 'workflow.restarted', at: 2, input: 1 },
      ],
    };
    await store.put(runKey('first'), ended);
    await store.put(openKey('first'), ['first']);
    const engine = engineOn(store);
    await engine.resume();
    const second = await readRun(store, 'second');
    expect(second).toMatchObject({ previous: 'first' });
    expect(second?.history[0]).toMatchObject({ type: 'workflow.started', input: 1 });
    const last = await engine.ended('second');
    expect(last.state).toBe('restarted');
    const third = await engine.ended(last.next!);
    expect(third).toMatchObject({ state: 'completed', result: 2, previous: 'second' });
    // A run leaves the open runs just after its record says it ended.
    await vi.waitFor(async () => expect(await listOpen(store)).toEqual([]), { timeout: 10_000 });
    // Finishing again changes nothing.
    await store.put(openKey('first'), ['first']);
    await engine.resume();
    expect(await listOpen(store)).toEqual([]);
    expect((await readRun(store, 'second'))?.state).toBe('restarted');
  });

  it('fences a decider whose lease lapsed: its late report is refused, its successor finishes the run', async () => {
    const store = fileStore();
    const gates: Array<(result?: number) => void> = [];
    const Held = defineActivity(
      { name: 'Held', version: 1 },
      (value: number) => new Promise<number>((resolve) => gates.push((result) => resolve(result ?? value))),
    );
    const Once = defineWorkflow({ name: 'Once', version: 1 }, (wf) => {
      const held = wf.activity(Held);
      return (value: number) => held(value).result();
    });
    const sink = logSink();
    const make = (fence: number) => {
      const engine = createWorkflowEngine({ workflows: [Once], activities: [Held], store, log: fence === 10 ? sink.logger : log, fence });
      cleanups.push(() => engine.close(100));
      return engine;
    };
    const old = make(10);
    const runId = await old.start('Once', 7);
    await vi.waitFor(() => expect(gates).toHaveLength(1), { timeout: 10_000 });
    const successor = make(20);
    expect(await successor.resume()).toBe(1);
    await vi.waitFor(() => expect(gates).toHaveLength(2), { timeout: 10_000 });
    // The successor has written with its fence once its attempt's start is in the history.
    await vi.waitFor(
      async () => expect((await readRun(store, runId))?.history.filter((event) => event.type === 'activity.started')).toHaveLength(2),
      { timeout: 10_000 },
    );
    gates[0]!(99); // the old decider's attempt ends late: refused (ERR_FENCED), not history
    await vi.waitFor(
      () =>
        expect(sink.lines.find((line) => line.msg.includes('could not record activity.completed'))?.err).toMatchObject({
          code: 'ERR_FENCED',
        }),
      { timeout: 10_000 },
    );
    gates[1]!();
    const record = await successor.ended(runId);
    expect(record).toMatchObject({ state: 'completed', result: 7 });
    expect(record.history.filter((event) => event.type === 'activity.completed')).toHaveLength(1);
  });

  it('rejects ended() for a run the store does not hold, and with ERR_SHUTDOWN for a run still going when it closes', async () => {
    const store = fileStore();
    const Slow = defineActivity(
      { name: 'Slow', version: 1 },
      (_: null, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null))),
    );
    const Waits = defineWorkflow({ name: 'Waits', version: 1 }, (wf) => {
      const slow = wf.activity(Slow);
      return () => slow(null).result();
    });
    const engine = createWorkflowEngine({ workflows: [Waits], activities: [Slow], store, log });
    await expect(engine.ended('nope')).rejects.toThrow('no workflow run "nope" in the store');
    const waiting = expect(engine.ended(await engine.start('Waits', null))).rejects.toMatchObject({ code: 'ERR_SHUTDOWN' });
    await engine.close(100);
    await waiting;
  });
});
