import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Store } from '../../actors/stores/store-api.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { createWorkflowEngine, listOpen, openKey, recordRun, runKey } from '../../src/workflows/engine.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { dropPrefix, REDIS_URL, testPrefix } from '../fixtures/stores/spaces.js';
import { logSink } from '../helpers/log-sink.js';
import { cleanupsAfterEach } from '../helpers/once.js';

// Issue 20, point 3: open-runs lists and run records of the wrong shape, in the file store and in
// Redis, are named (key, what was found, what was expected) and never skip runs silently or throw
// an unnamed TypeError.

const cleanups = cleanupsAfterEach();

const STORES = {
  file: () => ({ backend: 'file' as const, folder: mkdtempSync(path.join(tmpdir(), 'flowd-bad-state-')) }),
  redis: () => {
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    return { backend: 'redis' as const, url: REDIS_URL, prefix };
  },
};

function storeOf(kind: keyof typeof STORES, sink: ReturnType<typeof logSink>): Store {
  const services = createAppServices(
    { store: STORES[kind](), lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
    'bad-state',
    sink.logger,
  );
  cleanups.push(() => services.close());
  return services.store;
}

const Echo = defineActivity({ name: 'Echo', version: 1 }, (value: number) => value);
const Twice = defineWorkflow({ name: 'Twice', version: 1 }, (wf) => {
  const echo = wf.activity(Echo);
  return (value: number) => echo(value).result() * 2;
});

function engineOn(store: Store, sink: ReturnType<typeof logSink>) {
  const engine = createWorkflowEngine({
    workflows: [Twice],
    activities: [Echo],
    store,
    log: sink.logger,
    executor: { retryDelayMs: 1, retryMaxDelayMs: 1 },
  });
  cleanups.push(() => engine.close(100));
  return engine;
}

/** Run ids whose open lists are two different buckets. */
function twoBuckets(): [string, string] {
  const ids = Array.from({ length: 64 }, (_, i) => `run-${i}`);
  const first = ids[0]!;
  return [first, ids.find((id) => openKey(id) !== openKey(first))!];
}

describe.each(['file', 'redis'] as const)('bad workflow state in the %s store', (kind) => {
  it.each([
    ['an object', { 'run-x': true }, 'an object {"run-x":true}'],
    ['a string', 'run-x', 'a string "run-x"'],
  ])('names an open-runs list that is %s, once, and still takes up the runs of the other lists', async (_, value, found) => {
    const sink = logSink('info');
    const store = storeOf(kind, sink);
    const [bad, good] = twoBuckets();
    await recordRun(store, { runId: good, workflow: { name: 'Twice', version: 1 }, input: 4, at: 1 });
    await store.put(openKey(bad), value);
    const message = `the open-runs list "${openKey(bad)}" in the store is corrupt: expected a list of run ids, found ${found}; repair or delete the record (flowd writes it; see docs/workflows.md)`;
    await expect(listOpen(store)).rejects.toMatchObject({ code: 'ERR_WORKFLOW_STATE', message });
    const engine = engineOn(store, sink);
    expect(await engine.resume()).toBe(1);
    expect(await engine.ended(good)).toMatchObject({ state: 'completed', result: 8 });
    expect(await engine.resume()).toBe(0);
    const said = sink.messages().filter((line) => line.includes(openKey(bad)));
    expect(said).toEqual([`workflows: ${message}; the runs it lists are not taken up until it is`]);
    // A run that hashes to the corrupt list cannot be listed there: a coded error, not a TypeError.
    await expect(engine.start('Twice', 1, { runId: bad })).rejects.toMatchObject({ code: 'ERR_WORKFLOW_STATE', message });
    await store.delete(openKey(bad));
    await engine.resume();
    expect(sink.messages()).toContain(`workflows: the open-runs list "${openKey(bad)}" can be read again`);
  });

  it('sets a corrupt run record aside, naming its key, and goes on with the other runs', async () => {
    const sink = logSink('info');
    const store = storeOf(kind, sink);
    const [bad, good] = twoBuckets();
    await recordRun(store, { runId: good, workflow: { name: 'Twice', version: 1 }, input: 2, at: 1 });
    await recordRun(store, { runId: bad, workflow: { name: 'Twice', version: 1 }, input: 3, at: 1 });
    await store.put(runKey(bad), { runId: bad, workflow: 'Twice', state: 'running', history: [] });
    const engine = engineOn(store, sink);
    expect(await engine.resume()).toBe(1);
    expect(await engine.ended(good)).toMatchObject({ state: 'completed', result: 4 });
    expect(await engine.resume()).toBe(0);
    const message = `the run record "${runKey(bad)}" in the store is corrupt: expected "workflow" to be { name, version }, found a string "Twice"; repair or delete the record (flowd writes it; see docs/workflows.md)`;
    expect(sink.messages().filter((line) => line.includes(bad))).toEqual([
      `workflow run ${bad} stays open and is set aside until flowd restarts: ${message}`,
    ]);
    await expect(engine.status(bad)).rejects.toMatchObject({ code: 'ERR_WORKFLOW_STATE', message });
    await expect(engine.ended(bad)).rejects.toMatchObject({ code: 'ERR_WORKFLOW_STATE', message });
  });
});
