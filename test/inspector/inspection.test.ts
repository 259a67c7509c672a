import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { assign, createActor, fromPromise, setup, SimulatedClock, type InspectionEvent } from 'xstate';
import { defineWorker, RUN_ACTOR, toRunner, type WorkerContext } from '../../actors/workers/worker.js';
import { createInspection, statePaths, type ActorView, type InspectorState } from '../../src/inspector/inspection.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { manualSource } from '../helpers/manual-source.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';

const cleanups = cleanupsAfterEach();

/** What a slot gives a run of a worker that is actor logic: its signal, its slot and the inspector's run observer. */
function runContext(slotId: string, inspect: (event: InspectionEvent) => void): WorkerContext {
  return { signal: new AbortController().signal, [RUN_ACTOR]: { slotId, settings: { inspect } } } as unknown as WorkerContext;
}

/** A runtime on a manual source with its inspector on a free loopback port. */
async function inspected(options: Partial<Parameters<typeof createRuntime>[0]> & Pick<Parameters<typeof createRuntime>[0], 'worker'>) {
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-inspection-'));
  const source = manualSource();
  const runtime: Runtime = createRuntime({ source: source.driver, app: { name: 'inspected', dir }, ...options });
  const { url } = await runtime.inspect({ port: 0 });
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  cleanups.push(async () => {
    if (runtime.actor?.getSnapshot().status === 'active') await runtime.stop();
  });
  const state = async () => (await (await fetch(new URL('/api/state', url))).json()) as InspectorState;
  const actor = async (id: string) => (await state()).actors.find((a) => a.id === id);
  return { runtime, source, url, state, actor };
}

describe('the inspection hub', () => {
  it('lists the supervisor, every slot and the source, with their machines and states', async () => {
    const { runtime, source, state } = await inspected({ worker: defineWorker({ start: () => 1 }), workers: 2 });
    await runtime.start();
    await source.ready;
    await vi.waitFor(async () => expect((await state()).actors.find((a) => a.id === 'source')?.state).toBe('active.running'));
    const { app, actors } = await state();
    expect(app).toBe('inspected');
    const byId = Object.fromEntries(actors.map((a) => [a.id, a]));
    expect(Object.keys(byId).sort()).toEqual(['slot-0', 'slot-1', 'source', 'supervisor']);
    expect(byId.supervisor).toMatchObject({
      machine: 'supervisor',
      state: 'flowing',
      stateNodes: ['flowing'],
      status: 'active',
      summary: { queue: 0, running: 0, received: 0 },
    });
    expect(byId['slot-0']).toMatchObject({
      machine: 'worker-slot',
      parent: 'supervisor',
      state: 'idle',
      summary: { event: null, attempt: null, runningMs: null },
    });
    expect(byId.source).toMatchObject({
      machine: 'source',
      parent: 'supervisor',
      stateNodes: ['active', 'active.running'],
      summary: { type: 'manual', connection: 'active.running' },
    });
  });

  it('shows a slot busy with its event and running time while the worker runs, and idle after', async () => {
    const clock = new SimulatedClock();
    const gate = deferred();
    const { runtime, source, actor, state } = await inspected({ worker: defineWorker({ start: () => gate.promise }), clock });
    await runtime.start();
    await source.ready;
    source.deliver('x', 'evt-1');
    await vi.waitFor(async () => expect((await actor('slot-0'))?.state).toBe('busy'));
    clock.increment(1500);
    expect((await actor('slot-0'))?.summary).toEqual({ event: 'evt-1', attempt: 1, runningMs: 1500 });
    expect((await actor('supervisor'))?.summary).toMatchObject({ running: 1, received: 1 });
    gate.resolve();
    await vi.waitFor(async () => expect((await actor('slot-0'))?.state).toBe('idle'));
    expect((await actor('slot-0'))?.summary).toEqual({ event: null, attempt: null, runningMs: null });
    const slotTransitions = (await state()).transitions.filter((t) => t.actor === 'slot-0').map((t) => `${t.from} -${t.event}-> ${t.to}`);
    expect(slotTransitions).toEqual(['idle -event.assigned-> busy', 'busy -worker.done-> idle']);
  });

  it("shows a worker that is a machine under its slot, on the runtime's clock, until it is done", async () => {
    const clock = new SimulatedClock();
    const transcode = setup({ types: {} as { input: string; output: string } }).createMachine({
      id: 'transcode',
      initial: 'encoding',
      states: {
        encoding: { after: { 1000: 'packaging' } },
        packaging: { after: { 500: 'done' } },
        done: { type: 'final' },
      },
      output: ({ self }) => `packaged by ${self.id}`,
    });
    const completed: unknown[] = [];
    const { runtime, source, actor, state, url } = await inspected({ worker: transcode, clock });
    runtime.on('event.completed', (event) => void completed.push(event.result));
    await runtime.start();
    await source.ready;
    source.deliver('clip.mxf', 'evt-1');
    await vi.waitFor(async () =>
      expect(await actor('slot-0/transcode')).toMatchObject({
        machine: 'transcode',
        parent: 'slot-0',
        state: 'encoding',
        status: 'active',
      }),
    );
    // Its diagram, drawn from the machine itself, as the page asks for it.
    const diagram = await fetch(new URL('/api/machines/transcode.svg', url));
    expect([diagram.status, diagram.headers.get('content-type')]).toEqual([200, 'image/svg+xml']);
    expect(await diagram.text()).toMatch(/<svg[\s\S]*packaging/);
    clock.increment(1000);
    await vi.waitFor(async () => expect((await actor('slot-0/transcode'))?.state).toBe('packaging'));
    clock.increment(500);
    await vi.waitFor(() => expect(completed).toEqual(['packaged by slot-0/transcode']));
    expect(await actor('slot-0/transcode')).toBeUndefined();
    expect((await actor('slot-0'))?.state).toBe('idle');
    const steps = (await state()).transitions.filter((t) => t.actor === 'slot-0/transcode').map((t) => `${t.from} -> ${t.to}`);
    expect(steps).toEqual(['encoding -> packaging', 'packaging -> done']);
  });

  it("forgets a machine worker that fails: its failure is its event's, not the daemon's, and readiness holds", async () => {
    const gate = deferred();
    const flaky = setup({
      actors: {
        work: fromPromise(() =>
          gate.promise.then(() => {
            throw new Error('no such asset');
          }),
        ),
      },
    }).createMachine({
      id: 'flaky',
      initial: 'fetching',
      states: { fetching: { invoke: { src: 'work', onDone: 'done' } }, done: { type: 'final' } },
    });
    const failed: string[] = [];
    const { runtime, source, actor, url } = await inspected({ worker: flaky, workers: 2 });
    runtime.on('event.failed', (event) => void failed.push(event.id));
    await runtime.start();
    await source.ready;
    source.deliver(1, 'a');
    source.deliver(2, 'b');
    await vi.waitFor(async () =>
      expect([(await actor('slot-0/flaky'))?.state, (await actor('slot-1/flaky'))?.state]).toEqual(['fetching', 'fetching']),
    );
    gate.resolve();
    await vi.waitFor(() => expect(failed.sort()).toEqual(['a', 'b']));
    await vi.waitFor(async () => expect(await actor('slot-0/flaky')).toBeUndefined());
    expect(await actor('slot-1/flaky')).toBeUndefined();
    const ready = await fetch(new URL('/readyz', url));
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
  });

  it('runs each machine worker in a system of its own: two runs at once may both register a system id', async () => {
    const gate = deferred();
    const helper = fromPromise(() => gate.promise.then(() => 'helped'));
    const withHelper = setup({ actors: { helper } }).createMachine({
      initial: 'asking',
      states: { asking: { invoke: { src: 'helper', systemId: 'helper', onDone: 'done' } }, done: { type: 'final' } },
      output: () => 'ok',
    });
    const completed: string[] = [];
    const { runtime, source, actor, url } = await inspected({ worker: withHelper, workers: 2 });
    runtime.on('event.completed', (event) => void completed.push(event.id));
    await runtime.start();
    await source.ready;
    source.deliver(1, 'a');
    source.deliver(2, 'b');
    // A machine without an id is shown by xstate's default one, and its diagram still comes.
    await vi.waitFor(async () => expect((await actor('slot-1/(machine)'))?.state).toBe('asking'));
    const diagram = await fetch(new URL(`/api/machines/${encodeURIComponent('(machine)')}.svg`, url));
    expect(diagram.status).toBe(200);
    gate.resolve();
    await vi.waitFor(() => expect(completed.sort()).toEqual(['a', 'b']));
  });

  it('reports the end of a run that fails in an entry action, for which xstate sends no snapshot', async () => {
    const inspection = createInspection({ app: 'runs', throttleMs: 0 });
    const removed: string[] = [];
    inspection.on('removed', (event) => void removed.push(event.id));
    const atStart = setup({}).createMachine({
      id: 'at-start',
      initial: 'a',
      states: {
        a: {
          entry: () => {
            throw new Error('entry failed');
          },
        },
      },
    });
    const runner = toRunner(atStart, 'w')!;
    await expect(Promise.resolve(runner.run(1, runContext('slot-0', inspection.runObserver)))).rejects.toThrow('entry failed');
    expect(removed).toEqual(['slot-0/at-start']);
    expect(inspection.actors()).toEqual([]);
    expect(inspection.failures()).toEqual([]);
  });

  it("ends a window with a slot's new run shown when its last run ended in the same window", async () => {
    const inspection = createInspection({ app: 'runs', throttleMs: 20 });
    const sent: string[] = [];
    inspection.on('actor', (view) => void sent.push(`actor ${view.id} ${view.state}`));
    inspection.on('removed', (event) => void sent.push(`removed ${event.id}`));
    const quick = setup({}).createMachine({ id: 'm', initial: 'done', states: { done: { type: 'final' } } });
    const waiting = setup({}).createMachine({ id: 'm', initial: 'waiting', states: { waiting: {} } });
    await toRunner(quick, 'w')!.run('quick', runContext('slot-0', inspection.runObserver));
    void toRunner(waiting, 'w')!.run('wait', runContext('slot-0', inspection.runObserver));
    await vi.waitFor(() => expect(sent.at(-1)).toBe('actor slot-0/m waiting'));
    expect(inspection.actors().map((view) => view.id)).toEqual(['slot-0/m']);
  });

  it('shows a lock actor by its key while a worker holds it, and the store once it is used', async () => {
    const gate = deferred();
    const worker = defineWorker({
      start: async (_e: unknown, ctx) => {
        await ctx.store.put('seen', true);
        await ctx.withLock('asset-7', () => gate.promise);
      },
    });
    const { runtime, source, actor } = await inspected({ worker });
    await runtime.start();
    await source.ready;
    source.deliver('x', 'evt-1');
    await vi.waitFor(async () => expect((await actor('lock:asset-7'))?.state).toBe('held'));
    expect(await actor('lock:asset-7')).toMatchObject({ machine: 'lock', summary: { key: 'asset-7', waiters: 0 } });
    expect((await actor('lock:asset-7'))?.summary.holder).not.toBeNull();
    expect(await actor('store')).toMatchObject({ machine: 'store', state: 'ready', summary: { backendUp: true, error: null } });
    gate.resolve();
    // A free lock with nobody waiting is stopped, and leaves the list.
    await vi.waitFor(async () => expect(await actor('lock:asset-7')).toBeUndefined());
  });

  it('keeps the last 200 transitions, oldest first', async () => {
    const { runtime, source, state } = await inspected({ worker: defineWorker({ start: () => 1 }) });
    const completed = new Promise<void>((resolve) => {
      let n = 0;
      runtime.on('event.completed', () => ++n === 150 && resolve());
    });
    await runtime.start();
    await source.ready;
    for (let i = 0; i < 150; i++) source.deliver(i, `evt-${i}`);
    await completed;
    const { transitions } = await state();
    expect(transitions).toHaveLength(200);
    expect(transitions.at(-1)).toMatchObject({ actor: 'slot-0', from: 'busy', to: 'idle', event: 'worker.done' });
    const times = transitions.map((t) => t.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it("truncates long event ids in a slot's summary", async () => {
    const gate = deferred();
    const { runtime, source, actor } = await inspected({ worker: defineWorker({ start: () => gate.promise }) });
    await runtime.start();
    await source.ready;
    source.deliver('x', 'e'.repeat(5000));
    await vi.waitFor(async () => expect((await actor('slot-0'))?.state).toBe('busy'));
    const event = (await actor('slot-0'))!.summary.event as string;
    expect(event.length).toBeLessThan(200);
    expect(event).toMatch(/^e{120}… \(4880 more\)$/);
    gate.resolve();
  });
});

describe('createInspection', () => {
  const machine = setup({
    types: {} as { context: { password: string; token: string; note: string; count: number; nested: { a: number } } },
  }).createMachine({
    id: 'custom',
    context: { password: 'hunter2', token: 'abc123', note: 'n'.repeat(1000), count: 3, nested: { a: 1 } },
    initial: 'one',
    states: {
      one: { on: { next: { target: 'two.inner', actions: assign({ count: ({ context }) => context.count + 1 }) } } },
      two: { initial: 'inner', states: { inner: {} } },
    },
  });

  it("summarizes an unknown machine's context with secrets redacted and long strings truncated", () => {
    const inspection = createInspection({ app: 'test' });
    const actor = createActor(machine, { inspect: inspection.observer }).start();
    const [view] = inspection.actors() as [ActorView];
    expect(view).toMatchObject({ id: 'custom', machine: 'custom', state: 'one', status: 'active' });
    expect(view.summary.password).toBe('[redacted]');
    expect(view.summary.token).toBe('[redacted]');
    expect(view.summary.count).toBe(3);
    expect(view.summary.nested).toBe('[object]');
    expect(String(view.summary.note)).toHaveLength(120 + '… (880 more)'.length);
    expect(JSON.stringify(inspection.state())).not.toContain('hunter2');
    actor.send({ type: 'next' });
    expect(inspection.actors()[0]).toMatchObject({ state: 'two.inner', stateNodes: ['two', 'two.inner'], summary: { count: 4 } });
    expect(inspection.transitions()).toEqual([expect.objectContaining({ actor: 'custom', event: 'next', from: 'one', to: 'two.inner' })]);
    actor.stop();
    expect(inspection.actors()).toEqual([]);
  });

  it('sends changed actors, transitions and removals to listeners', async () => {
    const inspection = createInspection({ app: 'test', throttleMs: 0 });
    const seen: string[] = [];
    inspection.on('actor', (view) => seen.push(`actor ${view.id} ${view.state}`));
    inspection.on('transition', (t) => seen.push(`transition ${t.from}->${t.to}`));
    inspection.on('removed', ({ id }) => seen.push(`removed ${id}`));
    const actor = createActor(machine, { inspect: inspection.observer }).start();
    actor.send({ type: 'next' });
    actor.stop();
    expect(seen).toEqual(['actor custom one', 'actor custom two.inner', 'transition one->two.inner', 'removed custom']);
  });

  it('names the active leaves and every active node of a state value', () => {
    expect(statePaths('idle')).toEqual({ leaves: ['idle'], nodes: ['idle'] });
    expect(statePaths({ stopping: 'draining' })).toEqual({ leaves: ['stopping.draining'], nodes: ['stopping', 'stopping.draining'] });
    expect(statePaths({ p: { a: 'x', b: 'y' } })).toEqual({ leaves: ['p.a.x', 'p.b.y'], nodes: ['p', 'p.a', 'p.a.x', 'p.b', 'p.b.y'] });
  });
});

describe('createInspection failures', () => {
  it('counts an actor that ends in a failed state, or errors, as a failure', () => {
    const inspection = createInspection({ app: 'test' });
    const failing = setup({}).createMachine({
      id: 'source',
      initial: 'running',
      states: { running: { on: { lost: 'failed' } }, failed: { type: 'final' } },
    });
    const actor = createActor(failing, { inspect: inspection.observer }).start();
    expect(inspection.failures()).toEqual([]);
    actor.send({ type: 'lost' });
    expect(inspection.failures()).toEqual(['source is failed']);

    const throwing = setup({
      actions: {
        explode: () => {
          throw new Error('boom');
        },
      },
    }).createMachine({ id: 'broken', initial: 'a', states: { a: { on: { go: { actions: 'explode' } } } } });
    const broken = createActor(throwing, { inspect: inspection.observer });
    broken.subscribe({ error: () => {} });
    broken.start().send({ type: 'go' });
    expect(inspection.failures()).toEqual(['source is failed', 'broken failed: boom']);
  });
});
