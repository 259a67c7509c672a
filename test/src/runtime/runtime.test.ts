import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { assign, fromCallback, fromPromise, setup, SimulatedClock } from 'xstate';
import { defineWorker, Flow } from '../../../actors/workers/worker.js';
import { ConfigError, FlowdError, WorkerConfigureError, WorkerLoadError } from '../../../src/kernel/errors.js';
import { createRuntime } from '../../../src/runtime/runtime.js';
import type { RuntimeSnapshot, RuntimeState } from '../../../src/index.js';
import { logSink } from '../../helpers/log-sink.js';
import { manualSource } from '../../helpers/manual-source.js';
import { deferred } from '../../helpers/once.js';
import { script } from '../../helpers/script.js';
import { until } from '../../helpers/wait.js';

/** One slot whose runs never end (each run's signal kept), a 5 s execution timeout, on a simulated clock. */
function hangingRuntime(options: { shutdownTimeout?: string } = {}) {
  const clock = new SimulatedClock();
  const source = manualSource();
  const signals: AbortSignal[] = [];
  const runtime = createRuntime({
    worker: defineWorker({
      start: (_e, ctx) => {
        signals.push(ctx.signal);
        return new Promise(() => {});
      },
    }),
    source: source.driver,
    workers: 1,
    executionTimeout: '5s',
    ...options,
    clock,
    logger: false,
  });
  return { clock, source, signals, runtime };
}

describe('createRuntime', () => {
  it('runs events from a source of your own, tells it each outcome, and ends when its input ends', async () => {
    const source = manualSource();
    const runtime = createRuntime({ worker: defineWorker({ start: (n: number) => n * 2 }), source: source.driver, workers: 2 });
    const completed: unknown[] = [];
    runtime.on('event.completed', (e) => completed.push(e.result));
    await runtime.start();
    await source.ready;
    source.deliver(1, 'a');
    source.deliver(2, 'b');
    source.end();
    const summary = await runtime.done;
    expect(summary).toMatchObject({ reason: 'ended', counters: { received: 2, completed: 2, failed: 0 } });
    expect(completed.sort()).toEqual([2, 4]);
    expect(source.settlements.map((s) => [s.id, s.outcome, s.ack, s.result])).toEqual([
      ['a', 'completed', true, 2],
      ['b', 'completed', true, 4],
    ]);
  });

  it("types snapshot().state as RuntimeState, the public API's state vocabulary", () => {
    expectTypeOf<RuntimeSnapshot['state']>().toEqualTypeOf<RuntimeState>();
    expectTypeOf<RuntimeState>().toEqualTypeOf<'created' | 'flowing' | 'throttled' | 'stopping' | 'stopped'>();
  });

  it('shows every actor in snapshot(): busy slots with their event and running time, the source, the counters', async () => {
    const clock = new SimulatedClock();
    const gate = deferred();
    const source = manualSource();
    const runtime = createRuntime({ worker: defineWorker({ start: () => gate.promise }), source: source.driver, workers: 2, clock });
    expect(runtime.snapshot().state).toBe('created');
    await runtime.start();
    await source.ready;
    source.deliver('x', 'evt-1');
    await vi.waitFor(() => expect(runtime.snapshot().running).toBe(1));
    clock.increment(250);
    const snap = runtime.snapshot();
    expect(snap).toMatchObject({ app: 'flowd', state: 'flowing', source: { type: 'manual', state: 'running' }, waiting: 0, running: 1 });
    expect(snap.slots).toEqual([
      { id: 'slot-0', state: 'busy', event: 'evt-1', attempt: 1, runningForMs: 250 },
      { id: 'slot-1', state: 'idle', event: undefined, attempt: undefined, runningForMs: undefined },
    ]);
    gate.resolve();
    await vi.waitFor(() => expect(runtime.snapshot().counters.completed).toBe(1));
    await runtime.stop();
  });

  it('warns on the first reconnect attempt and then at most once a minute; the attempts between are debug lines', async () => {
    const clock = new SimulatedClock();
    const sink = logSink('debug');
    const driver = { ...manualSource().driver, type: 'flaky' };
    driver.connect = () => Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED', retryable: true }));
    const runtime = createRuntime({ worker: defineWorker({ start() {} }), source: driver, clock, random: () => 0.5, logger: sink.logger });
    await runtime.start();
    const attempts = () => sink.lines.filter((line) => line.msg.startsWith('source flaky: connection refused (attempt'));
    const warned = () =>
      attempts()
        .filter((line) => line.level === 40)
        .map((line) => line.attempt);
    // Each attempt's delay is on the simulated clock: move it on until 90 s of retries have passed.
    let passedMs = 0;
    for (let seen = 1; passedMs < 90_000; seen++) {
      await until(() => attempts().length === seen, { what: `attempt ${seen}` });
      const delayMs = attempts()[seen - 1]!.delayMs as number;
      clock.increment(delayMs);
      passedMs += delayMs;
    }
    expect(attempts().length).toBeGreaterThan(10);
    // The first, then the first one at least 60 s after it: two warnings in 90 s.
    expect(warned()).toHaveLength(2);
    expect(warned()[0]).toBe(1);
    expect(attempts().filter((line) => line.level === 20).length).toBe(attempts().length - 2);
    await runtime.stop();
  });

  it('on stop returns waiting events to the source and resolves with the summary', async () => {
    const gate = deferred();
    const source = manualSource();
    const runtime = createRuntime({ worker: defineWorker({ start: () => gate.promise }), source: source.driver, workers: 1 });
    await runtime.start();
    await source.ready;
    source.deliver(1, 'running');
    source.deliver(2, 'waiting');
    await vi.waitFor(() => expect(runtime.snapshot().waiting).toBe(1));
    const stopped = runtime.stop();
    await vi.waitFor(() => expect(source.settlements.map((s) => [s.id, s.outcome, s.ack])).toEqual([['waiting', 'returned', false]]));
    gate.resolve();
    expect(await stopped).toMatchObject({ reason: 'requested', counters: { completed: 1, returned: 1 } });
    expect(source.calls).toContain('stop');
  });

  it('logs events revoked on a lost connection as returned because the connection was lost, with the error; only a stop says shutdown', async () => {
    const gate = deferred();
    const source = manualSource();
    const sink = logSink('info');
    const runtime = createRuntime({
      worker: defineWorker({ start: () => gate.promise }),
      source: source.driver,
      workers: 1,
      logger: sink.logger,
    });
    await runtime.start();
    await source.ready;
    source.deliver(1, 'running');
    source.deliver(2, 'waiting');
    await vi.waitFor(() => expect(runtime.snapshot().waiting).toBe(1));
    const lost = { code: 'ERR_CONNECTION_LOST', message: 'lost the connection to stomp://broker:61613/queue/in: socket closed' };
    source.revoke(['running', 'waiting'], lost);
    gate.resolve();
    await vi.waitFor(() => expect(source.settlements.map((s) => s.id).sort()).toEqual(['running', 'waiting']));
    // The waiting one goes back to the source; the running one finishes (its outcome is void at the source).
    const returned = sink.lines.filter((line) => line.msg.includes('was returned to its source'));
    expect(returned.map((line) => [line.event, line.msg, line.error])).toEqual([
      ['waiting', `event waiting was returned to its source because the connection was lost: ${lost.message}`, lost],
    ]);
    source.deliver(3, 'at-stop-1');
    source.deliver(4, 'at-stop-2');
    await runtime.stop();
    const atStop = source.settlements.filter((s) => s.outcome === 'returned' && s.id.startsWith('at-stop')).map((s) => s.id);
    expect(atStop.length).toBeGreaterThan(0);
    expect(sink.messages().filter((message) => message.includes('was returned to its source') && !message.includes('connection'))).toEqual(
      atStop.map((id) => `event ${id} was returned to its source on shutdown`),
    );
  });

  it('emits the lifecycle notifications only once something listens to one of them', async () => {
    const source = manualSource();
    const runtime = createRuntime({ worker: defineWorker({ start: (n: number) => n }), source: source.driver, workers: 1, logger: false });
    const steps: string[] = [];
    runtime.on('event.completed', (e) => steps.push(`${e.id}:completed`));
    await runtime.start();
    expect(Object.values(runtime.actor!.getSnapshot().context.ledger.emits)).toEqual([false, false, false, false, false, false]);
    await source.ready;
    source.deliver(1, 'before');
    await until(() => steps.includes('before:completed'));
    runtime.on('event.started', (e) => steps.push(`${e.id}:started on ${e.slotId}`));
    runtime.on('event.settled', (e) => steps.push(`${e.id}:settled ${e.how}`));
    source.deliver(2, 'after');
    source.end();
    await runtime.done;
    expect(steps).toEqual(['before:completed', 'after:started on slot-0', 'after:completed', 'after:settled ack']);
  });

  it('shows how long an abandoned run has hung, in the snapshot and on its slot in the inspector', async () => {
    const { clock, source, signals, runtime } = hangingRuntime();
    await runtime.start();
    await source.ready;
    source.deliver(null, 'stuck');
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    clock.increment(5000);
    clock.increment(2000);
    expect(runtime.snapshot().slots.find((slot) => slot.id === 'slot-0')).toEqual({
      id: 'slot-0',
      state: 'abandoned',
      event: 'stuck',
      attempt: 1,
      runningForMs: 7000,
    });
  });

  it('fails a run past the execution timeout with ERR_WORKER_TIMEOUT and keeps its slots usable', async () => {
    const { clock, source, signals, runtime } = hangingRuntime();
    const failed: string[] = [];
    runtime.on('event.failed', (e) => failed.push(`${e.id}:${e.error.code}`));
    await runtime.start();
    await source.ready;
    source.deliver(null, 'stuck');
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    clock.increment(5000);
    expect(failed).toEqual(['stuck:ERR_WORKER_TIMEOUT']);
    expect(signals[0]!.aborted).toBe(true);
    expect(runtime.snapshot()).toMatchObject({ abandoned: 1, running: 0, counters: { timedOut: 1 } });
    source.deliver(null, 'next');
    await vi.waitFor(() => expect(signals).toHaveLength(2));
  });

  it('refuses a second start() and an inspect() after start() with ERR_INVALID_STATE', async () => {
    const source = manualSource();
    const runtime = createRuntime({ worker: defineWorker({ start: () => 1 }), source: source.driver, logger: false });
    await runtime.start();
    await source.ready;
    const again = await runtime.start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(again).toBeInstanceOf(FlowdError);
    expect(again).toMatchObject({ code: 'ERR_INVALID_STATE', message: 'the runtime was already started' });
    await expect(runtime.inspect({ port: 0 })).rejects.toMatchObject({
      code: 'ERR_INVALID_STATE',
      message: 'runtime.inspect() must be called before start()',
    });
    await runtime.stop();
  });

  it("says why a run's signal fired: ERR_WORKER_TIMEOUT past the execution timeout, ERR_SHUTDOWN at the end of the shutdown timeout", async () => {
    const { clock, source, signals, runtime } = hangingRuntime({ shutdownTimeout: '1s' });
    await runtime.start();
    await source.ready;
    source.deliver(null, 'timed-out');
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    clock.increment(5000);
    source.deliver(null, 'stopped');
    await vi.waitFor(() => expect(signals).toHaveLength(2));
    const stopped = runtime.stop();
    await vi.waitFor(() => expect(runtime.snapshot().state).not.toBe('flowing'));
    clock.increment(1000);
    await stopped;
    expect(signals.map((signal) => signal.reason instanceof FlowdError && signal.reason.code)).toEqual([
      'ERR_WORKER_TIMEOUT',
      'ERR_SHUTDOWN',
    ]);
    expect((signals[1]!.reason as Error).message).toMatch(/^event stopped was aborted: the runtime stopped/);
  });

  it('fails the event of a machine worker that errors, at its start or later, and its slot goes on', async () => {
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
    const later = setup({
      actors: {
        work: fromPromise(async () => {
          throw new Error('work failed');
        }),
      },
    }).createMachine({
      id: 'later',
      initial: 'a',
      states: {
        a: {
          invoke: {
            src: 'work',
            onError: {
              actions: () => {
                throw new Error('handler failed');
              },
            },
          },
        },
      },
    });
    for (const [worker, message] of [
      [atStart, 'entry failed'],
      [later, 'handler failed'],
    ] as const) {
      const source = manualSource();
      // Its failures are expected: no log lines of them in the test output.
      const runtime = createRuntime({ worker, source: source.driver, workers: 1, logger: false });
      const failed: string[] = [];
      runtime.on('event.failed', (e) => failed.push(`${e.id}: ${e.error.message}`));
      await runtime.start();
      await source.ready;
      source.deliver(1, 'x');
      source.deliver(2, 'y');
      await vi.waitFor(() => expect(failed).toEqual([`x: ${message}`, `y: ${message}`]));
      expect(runtime.snapshot()).toMatchObject({ state: 'flowing', slots: [{ id: 'slot-0', state: 'idle' }] });
      await runtime.stop();
    }
  });

  it('stops a machine worker past the execution timeout, and its slot retires once it has stopped', async () => {
    const clock = new SimulatedClock();
    const source = manualSource();
    const lifecycle: string[] = [];
    // Waits for ever; its invoked callback's cleanup shows the machine was stopped.
    const stuck = setup({
      actors: {
        watch: fromCallback(() => {
          lifecycle.push('running');
          return () => lifecycle.push('stopped');
        }),
      },
    }).createMachine({ id: 'stuck', initial: 'waiting', states: { waiting: { invoke: { src: 'watch' } } } });
    const runtime = createRuntime({ worker: stuck, source: source.driver, workers: 1, executionTimeout: '5s', clock, logger: false });
    const failed: string[] = [];
    runtime.on('event.failed', (e) => failed.push(`${e.id}:${e.error.code}`));
    await runtime.start();
    await source.ready;
    source.deliver(null, 'stuck');
    await vi.waitFor(() => expect(lifecycle).toEqual(['running']));
    clock.increment(5000);
    expect(failed).toEqual(['stuck:ERR_WORKER_TIMEOUT']);
    await vi.waitFor(() => expect(lifecycle).toEqual(['running', 'stopped']));
    await vi.waitFor(() => expect(runtime.snapshot()).toMatchObject({ abandoned: 0, running: 0, counters: { timedOut: 1 } }));
  });

  it('runs a Flow class once configured, with its static SOURCE when no source is given', async () => {
    const seen: unknown[] = [];
    class Recorder extends Flow {
      static override SOURCE = { type: 'interval', interval: '1h' };
      prefix = '';
      override configure() {
        this.prefix = this.config.Recorder?.prefix ?? '?';
      }
      start(event: unknown, ctx: { id: string }) {
        seen.push(`${this.prefix}${ctx.id}:${String(event)}`);
      }
    }
    const runtime = createRuntime({ worker: Recorder, config: { Recorder: { prefix: '#' } } });
    await runtime.start();
    await vi.waitFor(() => expect(seen).toEqual(['#tick-1:null']));
    await runtime.stop();
  });

  it('runs an xstate machine as the worker; its output is the result', async () => {
    const doubler = setup({ types: {} as { input: number; context: { n: number }; output: number } }).createMachine({
      context: ({ input }) => ({ n: input }),
      initial: 'working',
      states: { working: { entry: assign({ n: ({ context }) => context.n * 2 }), always: 'done' }, done: { type: 'final' } },
      output: ({ context }) => context.n,
    });
    const source = manualSource();
    const runtime = createRuntime({ worker: doubler, source: source.driver });
    await runtime.start();
    await source.ready;
    source.deliver(21, 'm');
    source.end();
    await runtime.done;
    expect(source.settlements[0]).toMatchObject({ id: 'm', outcome: 'completed', result: 42 });
  });

  it('rejects start() with WorkerConfigureError naming the worker when configure() fails', async () => {
    const runtime = createRuntime({
      worker: defineWorker({
        name: 'billing',
        configure() {
          throw new Error('no credentials');
        },
        start() {},
      }),
      source: manualSource().driver,
    });
    await expect(runtime.start()).rejects.toThrow(WorkerConfigureError);
    await expect(
      createRuntime({
        worker: defineWorker({
          name: 'billing',
          configure() {
            throw new Error('no credentials');
          },
          start() {},
        }),
        source: manualSource().driver,
      }).start(),
    ).rejects.toThrow('worker "billing" failed in configure(): no credentials');
  });

  it('throws ConfigError for a bad option, naming it and what was expected', () => {
    const worker = defineWorker({ start() {} });
    expect(() => createRuntime({ worker, source: manualSource().driver, workers: 0 })).toThrow(ConfigError);
    expect(() => createRuntime({ worker, source: manualSource().driver, workers: 0 })).toThrow(
      '"workers": found "0"; expected a whole number from 1 to 4096',
    );
    expect(() => createRuntime({ worker, source: manualSource().driver, queueTimeout: 'soon' })).toThrow(
      '[createRuntime options] "queueTimeout": found "soon"; expected a duration',
    );
    expect(() => createRuntime({ worker, source: manualSource().driver, workflows: { definitions: [], pollInterval: 'often' } })).toThrow(
      '[createRuntime options.workflows] "pollInterval": found "often"; expected a duration',
    );
  });

  it('refuses an app name that would put the state folder outside .flowd/, as [Flow] app name does', () => {
    const worker = defineWorker({ start() {} });
    for (const name of ['../x', 'a/b', 'a\\b', '..', '.', '']) {
      expect(() => createRuntime({ worker, source: manualSource().driver, app: { name } })).toThrow(
        `[createRuntime options] "app.name": found "${name}"; expected a name without "/"`,
      );
    }
    expect(() => createRuntime({ worker, source: manualSource().driver, app: { name: 'billing' } })).not.toThrow();
  });

  it('names an unknown option with a did-you-mean of the option as code spells it, at the top and in plugins and workflows', () => {
    const worker = defineWorker({ start() {} });
    const source = manualSource().driver;
    expect(() => createRuntime({ worker, source, ...({ executionTimout: '5s' } as object) })).toThrow(
      /^\[createRuntime options\] "executionTimout": is not an option \(did you mean "executionTimeout"\?\); known options: worker, /,
    );
    expect(() => createRuntime({ worker, source, ...({ handleSignal: true } as object) })).toThrow('(did you mean "handleSignals"?)');
    // The test hooks are not offered to someone who misspelt an option.
    expect(() => createRuntime({ worker, source, ...({ clok: 1 } as object) })).toThrow(/known options: (?![^]*\b(clock|random)\b)/);
    expect(() => createRuntime({ source, plugins: { paths: ['.'], ...({ rescanInterva: '1s' } as object) } })).toThrow(
      '[createRuntime options.plugins] "rescanInterva": is not an option (did you mean "rescanInterval"?)',
    );
    expect(() => createRuntime({ workflows: { definitions: [], ...({ pollIntervall: '1s' } as object) } })).toThrow(
      '[createRuntime options.workflows] "pollIntervall": is not an option (did you mean "pollInterval"?)',
    );
    // INI spellings are not options of code.
    expect(() => createRuntime({ worker, source, ...({ 'execution timeout': '5s' } as object) })).toThrow(
      '"execution timeout": is not an option (did you mean "executionTimeout"?)',
    );
  });

  it('throws when there is no source, or the worker is not a worker', () => {
    expect(() => createRuntime({ worker: defineWorker({ start() {} }) })).toThrow(/no source for worker "worker"/);
    expect(() => createRuntime({ worker: { nope: true } as never, source: manualSource().driver })).toThrow(WorkerLoadError);
  });

  it('unsubscribes a listener registered before start()', async () => {
    const source = manualSource();
    const runtime = createRuntime({ worker: defineWorker({ start: () => 'ok' }), source: source.driver });
    const seen: string[] = [];
    const off = runtime.on('event.completed', (e) => seen.push(e.id));
    await runtime.start();
    await source.ready;
    source.deliver(1, 'first');
    await vi.waitFor(() => expect(seen).toEqual(['first']));
    off();
    source.deliver(2, 'second');
    source.end();
    await runtime.done;
    expect(seen).toEqual(['first']);
  });

  it('ends with reason "source failed" when a driver of your own throws in start()', async () => {
    const throwsOnStart = {
      ...manualSource().driver,
      start() {
        throw new Error('no socket');
      },
    };
    const first = createRuntime({ worker: defineWorker({ start() {} }), source: throwsOnStart, logger: false });
    await first.start();
    expect(await first.done).toMatchObject({
      reason: 'source failed',
      sourceError: { message: "the manual source's start() threw: no socket" },
    });
  });

  it("logs a driver's settle() that throws, naming the event, and goes on serving every other event", async () => {
    const source = manualSource();
    source.driver.settle = (settlement) => {
      if (settlement.id === 'bad') throw new Error('ack lost');
      source.settlements.push(settlement);
    };
    const sink = logSink('warn');
    const runtime = createRuntime({ worker: defineWorker({ start: (n: number) => n }), source: source.driver, logger: sink.logger });
    await runtime.start();
    await source.ready;
    source.deliver(1, 'bad');
    source.deliver(2, 'good');
    await vi.waitFor(() => expect(source.settlements.map((s) => s.id)).toEqual(['good']));
    expect(runtime.snapshot().source.state).not.toMatch(/failed/);
    expect(sink.lines).toContainEqual(
      expect.objectContaining({
        event: 'bad',
        error: { code: 'ERR_SOURCE', message: "the manual source's settle() threw for event bad: ack lost" },
      }),
    );
    source.end();
    expect(await runtime.done).toMatchObject({ reason: 'ended' });
  });
});

const SIGNALS = 'test/fixtures/embed/signals.ts';
const DEFAULT_LOGGER = 'test/fixtures/embed/default-logger.ts';

describe('createRuntime({ handleSignals: true }) in a service of its own', () => {
  it('drains on SIGTERM, letting in-flight work finish, then exits 0', async () => {
    const service = script(SIGNALS);
    await service.waitFor('stdout', /working tick-1\n/);
    service.child.kill('SIGTERM');
    expect(await service.exit).toEqual({ code: 0, signal: null });
    expect(service.stdout()).toContain('done tick-1');
    expect(service.stderr()).toContain('SIGTERM: stopping (in-flight work has 30s to finish)');
    expect(service.stderr()).toMatch(/"completed":1,/);
  });

  it('exits at once with 1 on a second signal, without waiting for in-flight work', async () => {
    const service = script(SIGNALS, [], { env: { WORK_MS: '60000' } });
    await service.waitFor('stdout', /working tick-1\n/);
    service.child.kill('SIGINT');
    await service.waitFor('stderr', /SIGINT: stopping/);
    service.child.kill('SIGINT');
    expect(await service.exit).toEqual({ code: 1, signal: null });
    expect(service.stderr()).toContain('SIGINT again: exiting without waiting for in-flight work');
    expect(service.stdout()).not.toContain('done tick-1');
  });

  it('adds its SIGINT and SIGTERM listeners at start() and removes them when the run ends', async () => {
    const service = script(SIGNALS, [], { env: { STOP_ITSELF: '1' } });
    const before = (await service.waitFor('stdout', /listeners before start: \d+ \d+/)).split(': ')[1]!.split(' ').map(Number);
    const started = (await service.waitFor('stdout', /listeners after start: \d+ \d+/)).split(': ')[1]!.split(' ').map(Number);
    const stopped = (await service.waitFor('stdout', /listeners after stop: \d+ \d+/)).split(': ')[1]!.split(' ').map(Number);
    expect(started).toEqual(before.map((n) => n + 1));
    expect(stopped).toEqual(before);
    // The signal is no longer the runtime's: node (or tsx) ends the process.
    service.child.kill('SIGTERM');
    const exit = await service.exit;
    expect(exit.code === 143 || exit.signal === 'SIGTERM').toBe(true);
    expect(service.stderr()).not.toContain('SIGTERM: stopping');
  });
});

describe('a runtime created without a logger', () => {
  it('logs warnings and errors to stderr, and nothing below them', async () => {
    const service = script(DEFAULT_LOGGER);
    expect((await service.exit).code).toBe(0);
    expect(service.stdout()).toBe('failed 1\n');
    const lines = service
      .stderr()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(lines).toEqual([
      expect.objectContaining({ level: 50, msg: 'event tick-1 failed after 1 attempt(s) and was dead-lettered: the disk is full' }),
    ]);
  });

  it('logs nothing with logger: false', async () => {
    const service = script(DEFAULT_LOGGER, ['silent']);
    expect((await service.exit).code).toBe(0);
    expect(service.stdout()).toBe('failed 1\n');
    expect(service.stderr()).toBe('');
  });
});
