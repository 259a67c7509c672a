import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { assign, createMachine, fromCallback, fromPromise, setup } from 'xstate';
import {
  defineWorker,
  describeValue,
  Flow,
  isActorLogic,
  toRunner,
  type AppInfo,
  type AppSections,
  type ConfigureContext,
  type WorkerContext,
} from '../../actors/workers/worker.js';
import { FlowdError } from '../../src/kernel/errors.js';

const log = pino({ level: 'silent' });
const app: AppInfo = { name: 'test-app', dir: '/apps/test', stateDir: '/apps/test/state' };
const config: AppSections = { Thumbnails: { size: '3' } };
const unused = (what: string) => () => {
  throw new Error(`${what} is not used by these tests`);
};
// Services these tests never touch: any use fails loudly.
const services = {
  store: new Proxy({} as ConfigureContext['store'], { get: (_, key) => unused(`store.${String(key)}`) }),
  lock: unused('lock') as ConfigureContext['lock'],
  withLock: unused('withLock') as ConfigureContext['withLock'],
  client: undefined as never,
};
const configureContext: ConfigureContext = { log, app, config, ...services };

function workerContext(overrides: Partial<WorkerContext> = {}): WorkerContext {
  return {
    log,
    app,
    config,
    ...services,
    signal: new AbortController().signal,
    attempt: 1,
    id: 'e1',
    meta: {},
    publish: () => Promise.resolve(),
    ...overrides,
  };
}

describe('defineWorker', () => {
  it("returns an object with the definition's start, name and configure", async () => {
    const start = vi.fn((event: number) => event + 1);
    const configure = vi.fn();
    const worker = defineWorker({ name: 'adder', configure, start });
    expect(worker.name).toBe('adder');
    expect(await worker.start(1, workerContext())).toBe(2);
    await worker.configure!(configureContext);
    expect(configure).toHaveBeenCalledWith(configureContext);
  });

  it('throws ERR_INVALID_ARGUMENT for an object without a start function', () => {
    expect(() => defineWorker({} as never)).toThrow(FlowdError);
    expect(() => defineWorker({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => defineWorker({ start: 'go' } as never)).toThrow(/defineWorker\(\) needs an object with a start\(event, ctx\) function/);
  });

  it('throws ERR_INVALID_ARGUMENT for undefined or null', () => {
    expect(() => defineWorker(undefined as never)).toThrow(FlowdError);
    expect(() => defineWorker(null as never)).toThrow(FlowdError);
  });

  it('does not change the object it is given', () => {
    const definition = { start: () => 1 };
    const worker = defineWorker(definition);
    expect(worker).not.toBe(definition);
    expect(Object.keys(definition)).toEqual(['start']);
    expect(Object.getOwnPropertySymbols(definition)).toEqual([]);
  });

  // BUG: defineWorker() accepts an object whose start() is inherited (a class
  // instance, Object.create(proto)) because `typeof definition.start` sees the
  // prototype, but Object.assign copies only own properties, so the returned
  // worker has no start() and toRunner() rejects it.
  it('keeps a start() that the given object inherits from its prototype', () => {
    class Greeter {
      start(event: string) {
        return `hello ${event}`;
      }
    }
    const worker = defineWorker(new Greeter());
    expect(typeof worker.start).toBe('function');
    expect(toRunner(worker, 'greeter')).toBeDefined();
  });
});

describe('isActorLogic', () => {
  it('is true for a machine, fromPromise and fromCallback logic', () => {
    expect(isActorLogic(createMachine({}))).toBe(true);
    expect(isActorLogic(fromPromise(async () => 1))).toBe(true);
    expect(isActorLogic(fromCallback(() => {}))).toBe(true);
  });

  it('is false for workers of the other forms and for plain values', () => {
    expect(isActorLogic(defineWorker({ start: () => 1 }))).toBe(false);
    expect(
      isActorLogic(
        class {
          start() {}
        },
      ),
    ).toBe(false);
    for (const value of [null, undefined, 0, 'machine', {}, [], () => {}, { transition: () => {} }, { getInitialSnapshot: () => {} }]) {
      expect(isActorLogic(value), String(value)).toBe(false);
    }
  });
});

describe('describeValue', () => {
  it('names null', () => {
    expect(describeValue(null)).toBe('null');
  });

  it('names a function without start() by its name', () => {
    function handler() {}
    expect(describeValue(handler)).toBe('a function "handler" without a start() method');
    class Empty {}
    expect(describeValue(Empty)).toBe('a function "Empty" without a start() method');
  });

  it('describes an anonymous function without a name', () => {
    expect(describeValue(Object.defineProperty(() => {}, 'name', { value: '' }))).toBe('a function without a start() method');
  });

  it('lists the keys of an object', () => {
    expect(describeValue({ run: 1, stop: 2 })).toBe('an object with keys run, stop');
    expect(describeValue({})).toBe('an object with keys (none)');
  });

  it('gives the type of a primitive', () => {
    expect(describeValue(42)).toBe('a number');
    expect(describeValue('worker.js')).toBe('a string');
    expect(describeValue(true)).toBe('a boolean');
  });
});

describe('toRunner', () => {
  describe('with a defineWorker object', () => {
    it('runs start(event, ctx) and returns its result', async () => {
      const start = vi.fn(async (event: { n: number }, ctx: WorkerContext) => `${ctx.id}:${event.n}`);
      const runner = toRunner(defineWorker({ start }), 'fallback')!;
      const ctx = workerContext({ id: 'm-9' });
      expect(await runner.run({ n: 4 }, ctx)).toBe('m-9:4');
      expect(start).toHaveBeenCalledWith({ n: 4 }, ctx);
    });

    it('takes its name from the definition, else from the argument', () => {
      expect(toRunner(defineWorker({ name: 'mine', start: () => 1 }), 'fallback')!.name).toBe('mine');
      expect(toRunner(defineWorker({ start: () => 1 }), 'fallback')!.name).toBe('fallback');
    });

    it('passes the configure context to configure()', async () => {
      const configure = vi.fn();
      const runner = toRunner(defineWorker({ configure, start: () => 1 }), 'w')!;
      await runner.configure(configureContext);
      expect(configure).toHaveBeenCalledExactlyOnceWith(configureContext);
    });

    it('resolves configure() when the definition has none', async () => {
      await expect(toRunner(defineWorker({ start: () => 1 }), 'w')!.configure(configureContext)).resolves.toBeUndefined();
    });

    it("rejects configure() when the definition's configure fails", async () => {
      const runner = toRunner(defineWorker({ configure: async () => Promise.reject(new Error('no database')), start: () => 1 }), 'w')!;
      await expect(runner.configure(configureContext)).rejects.toThrow('no database');
    });

    it('returns a synchronous result as it is', () => {
      expect(toRunner(defineWorker({ start: (event: number) => event * 10 }), 'w')!.run(4, workerContext())).toBe(40);
    });

    it('has no source', () => {
      expect(toRunner(defineWorker({ start: () => 1 }), 'w')!.source).toBeUndefined();
    });

    it('also accepts a plain object with a start function', async () => {
      const runner = toRunner({ start: (event: string) => event.toUpperCase() }, 'plain')!;
      expect(runner.name).toBe('plain');
      expect(runner.run('abc', workerContext())).toBe('ABC');
    });
  });

  describe('with a class', () => {
    it('instantiates it once in configure() and calls its configure() once, whatever the number of events', async () => {
      const constructed = vi.fn();
      const configured = vi.fn();
      class Counter extends Flow<number, number> {
        count = 0;
        constructor() {
          super();
          constructed();
        }
        override configure() {
          configured();
        }
        start(event: number) {
          this.count += event;
          return this.count;
        }
      }
      const runner = toRunner(Counter, 'fallback')!;
      expect(constructed).not.toHaveBeenCalled();
      await runner.configure(configureContext);
      const results = [await runner.run(1, workerContext()), await runner.run(2, workerContext()), await runner.run(3, workerContext())];
      expect(results).toEqual([1, 3, 6]);
      expect(constructed).toHaveBeenCalledTimes(1);
      expect(configured).toHaveBeenCalledTimes(1);
    });

    it('assigns log, config and app before its configure() runs', async () => {
      const seen: unknown[] = [];
      class Thumbnails extends Flow<number, number> {
        size = 0;
        override async configure() {
          seen.push(this.log, this.app, this.config);
          this.size = Number(this.config.Thumbnails?.size);
        }
        start(event: number) {
          return event * this.size;
        }
      }
      const runner = toRunner(Thumbnails, 'fallback')!;
      await runner.configure(configureContext);
      expect(seen).toEqual([log, app, config]);
      expect(seen[0]).toBe(log);
      expect(runner.run(5, workerContext())).toBe(15);
    });

    it('passes the event and ctx to start()', async () => {
      const start = vi.fn();
      class Spy extends Flow {
        start(event: unknown, ctx: WorkerContext) {
          start(event, ctx, this);
          return 'ok';
        }
      }
      const runner = toRunner(Spy, 'w')!;
      await runner.configure(configureContext);
      const ctx = workerContext({ id: 'x', attempt: 2 });
      expect(runner.run({ a: 1 }, ctx)).toBe('ok');
      expect(start).toHaveBeenCalledWith({ a: 1 }, ctx, expect.any(Spy));
    });

    it('takes the class name and its static SOURCE', () => {
      class Mailer extends Flow {
        static override SOURCE = { type: 'stomp', destination: '/queue/mail' };
        start() {}
      }
      const runner = toRunner(Mailer, 'fallback')!;
      expect(runner.name).toBe('Mailer');
      expect(runner.source).toEqual({ type: 'stomp', destination: '/queue/mail' });
    });

    it('falls back to the given name for an anonymous class', () => {
      const runner = toRunner(
        Object.defineProperty(
          class {
            start() {}
          },
          'name',
          { value: '' },
        ),
        'fallback',
      )!;
      expect(runner.name).toBe('fallback');
      expect(runner.source).toBeUndefined();
    });

    it('accepts a class with start() that does not extend Flow', async () => {
      class Plain {
        start(event: string) {
          return event.length;
        }
      }
      const runner = toRunner(Plain, 'w')!;
      await runner.configure(configureContext);
      expect(runner.run('four', workerContext())).toBe(4);
    });

    it("rejects configure() when the class's configure throws", async () => {
      class Broken extends Flow {
        override configure() {
          throw new Error('missing [Broken] section');
        }
        start() {}
      }
      await expect(toRunner(Broken, 'w')!.configure(configureContext)).rejects.toThrow('missing [Broken] section');
    });
  });

  describe('with xstate actor logic', () => {
    const doubler = setup({ types: {} as { input: number; context: { n: number }; output: number } }).createMachine({
      context: ({ input }) => ({ n: input }),
      initial: 'working',
      states: {
        working: { always: 'done' },
        done: { type: 'final' },
      },
      output: ({ context }) => context.n * 2,
    });

    it('runs a machine with the event as input and resolves with its output', async () => {
      const runner = toRunner(doubler, 'doubler')!;
      expect(runner.name).toBe('doubler');
      expect(runner.source).toBeUndefined();
      await expect(runner.run(21, workerContext())).resolves.toBe(42);
    });

    it("resolves after the machine's asynchronous work is done", async () => {
      const fetcher = setup({
        types: {} as { input: string; context: { id: string; body: string }; output: string },
        actors: { load: fromPromise(async ({ input }: { input: string }) => `body of ${input}`) },
      }).createMachine({
        context: ({ input }) => ({ id: input, body: '' }),
        initial: 'loading',
        states: {
          loading: {
            invoke: {
              src: 'load',
              input: ({ context }) => context.id,
              onDone: { target: 'done', actions: assign({ body: ({ event }) => event.output }) },
            },
          },
          done: { type: 'final' },
        },
        output: ({ context }) => context.body,
      });
      await expect(toRunner(fetcher, 'fetcher')!.run('doc-1', workerContext())).resolves.toBe('body of doc-1');
    });

    it('runs fromPromise logic and resolves with its value', async () => {
      const runner = toRunner(
        fromPromise(async ({ input }: { input: { a: number; b: number } }) => input.a + input.b),
        'sum',
      )!;
      await expect(runner.run({ a: 2, b: 3 }, workerContext())).resolves.toBe(5);
    });

    it('resolves configure() without doing anything', async () => {
      await expect(toRunner(doubler, 'doubler')!.configure(configureContext)).resolves.toBeUndefined();
    });

    it('rejects when a machine action throws', async () => {
      const broken = createMachine({
        initial: 'a',
        states: {
          a: {
            entry: () => {
              throw new Error('kaput');
            },
          },
        },
      });
      await expect(toRunner(broken, 'broken')!.run(1, workerContext())).rejects.toThrow('kaput');
    });

    it("rejects when a machine's invoked promise fails with no onError", async () => {
      const failing = setup({
        actors: { upload: fromPromise(async () => Promise.reject(Object.assign(new Error('HTTP 503'), { code: 'ERR_UPSTREAM' }))) },
      }).createMachine({
        initial: 'uploading',
        states: {
          uploading: { invoke: { src: 'upload', onDone: 'done' } },
          done: { type: 'final' },
        },
      });
      await expect(toRunner(failing, 'failing')!.run(1, workerContext())).rejects.toMatchObject({
        message: 'HTTP 503',
        code: 'ERR_UPSTREAM',
      });
    });

    it('rejects when fromPromise logic rejects', async () => {
      const runner = toRunner(
        fromPromise(async () => Promise.reject(new Error('nope'))),
        'w',
      )!;
      await expect(runner.run(null, workerContext())).rejects.toThrow('nope');
    });

    it('stops the actor and rejects with the abort reason when the signal aborts', async () => {
      let innerSignal: AbortSignal | undefined;
      let started!: () => void;
      const startedPromise = new Promise<void>((resolve) => (started = resolve));
      const endless = fromPromise(({ signal }) => {
        innerSignal = signal;
        started();
        return new Promise<never>(() => {});
      });
      const controller = new AbortController();
      const run = toRunner(endless, 'endless')!.run('e', workerContext({ signal: controller.signal })) as Promise<unknown>;
      await startedPromise;
      expect(innerSignal!.aborted).toBe(false);
      const reason = Object.assign(new Error('event e1 was aborted'), { code: 'ERR_WORKER_TIMEOUT' });
      controller.abort(reason);
      await expect(run).rejects.toBe(reason);
      expect(innerSignal!.aborted).toBe(true);
    });

    it('stops a waiting machine, and the actors it invoked, when the signal aborts', async () => {
      const cleanup = vi.fn();
      const waiting = setup({ actors: { listen: fromCallback(() => cleanup) } }).createMachine({
        initial: 'waiting',
        states: { waiting: { invoke: { src: 'listen' } } },
      });
      const controller = new AbortController();
      const run = toRunner(waiting, 'waiting')!.run(1, workerContext({ signal: controller.signal })) as Promise<unknown>;
      expect(cleanup).not.toHaveBeenCalled();
      controller.abort(new Error('shutdown'));
      await expect(run).rejects.toThrow('shutdown');
      expect(cleanup).toHaveBeenCalledTimes(1);
    });

    it('is not affected by an abort after it has finished', async () => {
      const controller = new AbortController();
      const result = await toRunner(doubler, 'doubler')!.run(4, workerContext({ signal: controller.signal }));
      controller.abort(new Error('too late'));
      expect(result).toBe(8);
    });

    it('runs each event in a fresh actor', async () => {
      const runner = toRunner(doubler, 'doubler')!;
      const results = await Promise.all([1, 2, 3].map((n) => runner.run(n, workerContext())));
      expect(results).toEqual([2, 4, 6]);
    });
  });

  describe('with something that is not a worker', () => {
    it('returns undefined', () => {
      const values: unknown[] = [
        undefined,
        null,
        0,
        42,
        '',
        'worker.js',
        true,
        Symbol('w'),
        {},
        [],
        { start: 'not a function' },
        { run: () => 1 },
        () => 1,
        function start() {},
        class NoStart {},
        class StaticStart {
          static start() {}
        },
      ];
      for (const value of values) expect(toRunner(value, 'x'), describeValue(value)).toBeUndefined();
    });
  });
});
