import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { renderRun } from '../../src/cli/workflow-command.js';
import type { Store } from '../../actors/stores/store-api.js';
import { StoreError } from '../../src/kernel/errors.js';
import { createWorkflowEngine, listOpen, readRun, runKey, type RunRecord, type WorkflowEngineOptions } from '../../src/workflows/engine.js';
import type { ChildStarted } from '../../src/workflows/history.js';
import { addOpen } from '../../src/workflows/run-record.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { manualClock } from '../helpers/manual-clock.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { until } from '../helpers/wait.js';
import { workflowStoreIn } from '../helpers/workflow-store.js';

const cleanups = cleanupsAfterEach();
const log = pino({ level: 'silent' });

function storeIn(folder?: string) {
  return workflowStoreIn(cleanups, log, folder).store;
}

function engineOf(options: Omit<WorkflowEngineOptions, 'log'>) {
  const engine = createWorkflowEngine({ ...options, log, executor: { retryDelayMs: 1, retryMaxDelayMs: 1, ...options.executor } });
  cleanups.push(() => engine.close(100));
  return engine;
}

/** A child that encodes through a gated activity, and a parent that starts it and uses its result. */
function family() {
  const gate = deferred();
  const runs: string[] = [];
  const Transcode = defineActivity({ name: 'Transcode', version: 1 }, async (video: string) => {
    runs.push(video);
    await gate.promise;
    if (video === 'bad') throw Object.assign(new Error('codec missing'), { code: 'ERR_CODEC' });
    return `${video}.mp4`;
  });
  const Encode = defineWorkflow({ name: 'Encode', version: 1 }, (wf) => {
    const transcode = wf.activity(Transcode);
    return (video: string) => transcode(video).result();
  });
  const Publish = defineWorkflow({ name: 'Publish', version: 1 }, (wf) => {
    const encode = wf.workflow(Encode);
    return (video: string) => {
      try {
        return { published: encode(video).result() };
      } catch (error) {
        return { failed: (error as Error).message };
      }
    };
  });
  const Strict = defineWorkflow({ name: 'Strict', version: 1 }, (wf) => {
    const encode = wf.workflow(Encode);
    return (video: string) => encode(video).result();
  });
  return { gate, runs, workflows: [Encode, Publish, Strict], activities: [Transcode] };
}

const childOf = (record: RunRecord) => record.history.find((e): e is ChildStarted => e.type === 'child.started')!;

describe('child workflows in the engine', () => {
  it("starts the child as its own run linked to its parent, and completes the parent with the child's result", async () => {
    const { gate, workflows, activities } = family();
    gate.resolve();
    const store = storeIn();
    const engine = engineOf({ workflows, activities, store });
    const parentId = await engine.start('Publish', 'cat');
    const parent = await engine.ended(parentId);
    expect(parent).toMatchObject({ state: 'completed', result: { published: 'cat.mp4' } });
    const started = childOf(parent);
    expect(started).toMatchObject({ callId: 'Encode#1', workflow: { name: 'Encode', version: 1 }, input: 'cat' });
    expect(parent.history.at(-2)).toMatchObject({ type: 'child.completed', callId: 'Encode#1', runId: started.runId, result: 'cat.mp4' });
    const child = (await readRun(store, started.runId))!;
    expect(child).toMatchObject({ state: 'completed', result: 'cat.mp4', parent: { runId: parentId, callId: 'Encode#1' } });
    expect(renderRun(child, false)).toContain(`child of run ${parentId} (its call Encode#1)`);
    expect(renderRun(parent, false)).toMatch(new RegExp(`child runs:\\n.*\\nEncode#1 +Encode 1 +${started.runId} +completed +"cat.mp4"`));
    expect(await listOpen(store)).toEqual([]);
  });

  it("gives the parent the child's failure as an activity failure: caught by the body, or failing the run with ERR_TASK", async () => {
    const { gate, workflows, activities } = family();
    gate.resolve();
    const engine = engineOf({ workflows, activities, store: storeIn() });
    const caught = await engine.ended(await engine.start('Publish', 'bad'));
    expect(caught.result).toEqual({
      failed: expect.stringMatching(/^Workflow "Encode" \(call Encode#1, child run .+\) failed: .*codec missing/),
    });
    const failed = await engine.ended(await engine.start('Strict', 'bad'));
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('ERR_TASK');
    expect(failed.error?.message).toContain(`child run ${childOf(failed).runId}`);
  });

  it('fails the call of a child whose workflow is not defined here', async () => {
    const Orphan = defineWorkflow({ name: 'Orphan', version: 1 }, (wf) => {
      const ghost = wf.workflow<null, unknown>({ name: 'Ghost', version: 3 });
      return () => ghost(null).result();
    });
    const engine = engineOf({ workflows: [Orphan], activities: [], store: storeIn() });
    const record = await engine.ended(await engine.start('Orphan', null));
    expect(record.error?.code).toBe('ERR_TASK');
    expect(record.error?.message).toContain('no workflow Ghost version 3 is defined here');
  });

  it('survives a daemon restart: the same child run goes on and its result reaches the parent', async () => {
    const first = family();
    const store = storeIn();
    const engine = createWorkflowEngine({ workflows: first.workflows, activities: first.activities, store, log });
    const parentId = await engine.start('Strict', 'dog');
    await until(() => first.runs.length === 1);
    const childId = childOf((await readRun(store, parentId))!).runId;
    await engine.close(10);
    const second = family();
    second.gate.resolve();
    const resumed = engineOf({ workflows: second.workflows, activities: second.activities, store });
    expect(await resumed.resume()).toBe(2);
    const parent = await resumed.ended(parentId);
    expect(parent).toMatchObject({ state: 'completed', result: 'dog.mp4' });
    expect(parent.history.filter((e) => e.type === 'child.started')).toHaveLength(1);
    expect(childOf(parent).runId).toBe(childId);
    expect(second.runs).toEqual(['dog']);
    expect(await listOpen(store)).toEqual([]);
  });

  it("starts at resume a child its parent's history records but that a stopped daemon never started", async () => {
    const { gate, workflows, activities } = family();
    gate.resolve();
    const store = storeIn();
    const parentId = 'p1';
    const child: ChildStarted = {
      type: 'child.started',
      at: 2,
      callId: 'Encode#1',
      workflow: { name: 'Encode', version: 1 },
      input: 'owl',
      runId: 'c1',
    };
    await addOpen(store, parentId);
    await store.put(runKey(parentId), {
      runId: parentId,
      workflow: { name: 'Strict', version: 1 },
      state: 'running',
      history: [{ type: 'workflow.started', at: 1, input: 'owl' }, child],
    });
    const engine = engineOf({ workflows, activities, store });
    await engine.resume();
    expect(await engine.ended(parentId)).toMatchObject({ state: 'completed', result: 'owl.mp4' });
    expect(await readRun(store, 'c1')).toMatchObject({ state: 'completed', parent: { runId: parentId, callId: 'Encode#1' } });
  });

  it('starts a child whose record the store failed to write at the next decision, once', async () => {
    const { gate, workflows, activities } = family();
    gate.resolve();
    const store = storeIn();
    let failed = 0;
    // The first write of a child's record fails as a store that is down would.
    const flaky = new Proxy(store, {
      get(target, prop) {
        if (prop === 'put')
          return (key: string, value: { parent?: unknown }, options: never) => {
            if (value?.parent !== undefined && failed === 0) {
              failed++;
              return Promise.reject(new StoreError('ERR_STORE_UNAVAILABLE', 'the store is down'));
            }
            return target.put(key, value, options);
          };
        const member = Reflect.get(target, prop) as unknown;
        return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
      },
    }) as Store;
    const engine = engineOf({ workflows, activities, store: flaky });
    const parentId = await engine.start('Strict', 'fox');
    const parent = await engine.ended(parentId);
    expect(failed).toBe(1);
    expect(parent).toMatchObject({ state: 'completed', result: 'fox.mp4' });
    expect(parent.history.filter((e) => e.type === 'child.started')).toHaveLength(1);
  });

  it("fails a child past its duration on an injected clock, and the parent's call with ERR_WORKFLOW_TIMEOUT as its cause", async () => {
    const clock = manualClock(0);
    const { gate, runs, workflows, activities } = family();
    const Hurried = defineWorkflow({ name: 'Hurried', version: 1 }, (wf) => {
      const encode = wf.workflow(workflows[0]!, { duration: '5m' });
      return (video: string) => encode(video).result();
    });
    const engine = engineOf({ workflows: [...workflows, Hurried], activities, store: storeIn(), executor: { clock } });
    // The abandoned activity settles before the engine closes (whose grace would run on the manual clock).
    cleanups.push(() => gate.resolve());
    const parentId = await engine.start('Hurried', 'eel');
    await until(() => runs.length === 1);
    await clock.advance(300_000);
    const parent = await engine.ended(parentId);
    expect(parent.state).toBe('failed');
    expect(parent.error?.message).toMatch(
      /child run .+\) failed: workflow Encode run .+ passed its workflow duration of 5m .*\[ERR_WORKFLOW_TIMEOUT\]/,
    );
  });
});
