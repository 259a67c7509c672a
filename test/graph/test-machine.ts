import { fromPromise, not, setup } from 'xstate';

/**
 * A small machine with what the diagrams must draw: nested states, guards
 * (named and composite), named and numeric delays, `always`, an invoked
 * actor's onDone / onError, a compound state's onDone, final states, a
 * parallel state, a targetless transition, and an event name full of
 * characters that Mermaid, DOT and XML give a meaning to.
 */
export const testMachine = setup({
  actors: { fetchThing: fromPromise(async () => 1) },
  guards: { isReady: () => true, hasRetries: () => true },
  actions: { record: () => undefined },
  delays: { backoff: 100 },
}).createMachine({
  id: 'test',
  initial: 'idle',
  on: { 'log.written': { actions: 'record' } },
  states: {
    idle: {
      description: 'Waiting for a job.',
      on: {
        'job.start': 'working',
        ping: { actions: 'record' },
        'odd "event": {x}; <b> & #1 %%': 'closed',
      },
    },
    working: {
      initial: 'fetching',
      onDone: 'finished',
      states: {
        fetching: {
          invoke: {
            src: 'fetchThing',
            onDone: 'done',
            onError: [{ guard: 'hasRetries', target: 'waiting' }, { target: '#test.failed' }],
          },
        },
        waiting: { after: { backoff: 'fetching', 5000: '#test.failed' } },
        done: { type: 'final' },
      },
    },
    finished: {
      always: [
        { guard: 'isReady', target: 'both' },
        { guard: not('isReady'), target: 'idle' },
      ],
    },
    both: {
      type: 'parallel',
      on: { 'both.stop': 'closed' },
      states: {
        left: { initial: 'a', states: { a: { on: { next: 'b' } }, b: {} } },
        right: { initial: 'a', states: { a: {} } },
      },
    },
    failed: { type: 'final' },
    closed: { type: 'final' },
  },
});

/** Every state path of `testMachine`, root first. */
export const testPaths = [
  '',
  'idle',
  'working',
  'working.fetching',
  'working.waiting',
  'working.done',
  'finished',
  'both',
  'both.left',
  'both.left.a',
  'both.left.b',
  'both.right',
  'both.right.a',
  'failed',
  'closed',
];
