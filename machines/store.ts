import { assign, setup } from 'xstate';
import type { ErrorInfo } from './events.js';
import { callbackNotProvided, promiseNotProvided } from './not-provided.js';

/** The backend lost its connection (Redis went away). */
export type StoreUnavailable = { type: 'store.unavailable'; error: ErrorInfo };
/** The backend has its connection again. */
export type StoreAvailable = { type: 'store.available' };
/** Close the store: wait for writes in flight, then let the backend go. */
export type StoreClose = { type: 'store.close' };
/** What the store machine hears. */
export type StoreEvent = StoreUnavailable | StoreAvailable | StoreClose;

/** `store.unavailable`, from a backend's status listener. */
export const storeUnavailable = (error: ErrorInfo): StoreUnavailable => ({ type: 'store.unavailable', error });
/** `store.available`, from a backend's status listener. */
export const storeAvailable = (): StoreAvailable => ({ type: 'store.available' });
/** `store.close`. */
export const storeClose = (): StoreClose => ({ type: 'store.close' });

/** What the store machine remembers. */
export interface StoreContext {
  /** Why the store is `failed` (the last open error or lost connection). */
  error: ErrorInfo | undefined;
  /** What the backend last said about its connection; a loss heard while opening wins over the open. */
  backendUp: boolean;
}

/**
 * A store's lifecycle. The runtime provides `openBackend` (resolves when
 * the backend is ready), `closeBackend`, and `watchBackend` (a callback
 * actor that sends `store.available` / `store.unavailable` as the
 * backend's connection comes and goes). Operations read the state: they
 * wait while `opening`, fail at once while `failed`, and are refused once
 * `closing`.
 */
export const storeMachine = setup({
  types: {} as { context: StoreContext; events: StoreEvent },
  actors: {
    openBackend: promiseNotProvided<void, undefined>('store', 'openBackend'),
    closeBackend: promiseNotProvided<void, undefined>('store', 'closeBackend'),
    watchBackend: callbackNotProvided<StoreEvent, undefined>('store', 'watchBackend'),
  },
  actions: {
    recordOpenError: assign({ error: ({ event }) => toError((event as { error?: unknown }).error) }),
    recordLoss: assign({ error: ({ event }) => (event as StoreUnavailable).error, backendUp: false }),
    recordReturn: assign({ error: undefined, backendUp: true }),
  },
  guards: {
    isBackendDown: ({ context }) => !context.backendUp,
  },
}).createMachine({
  id: 'store',
  context: { error: undefined, backendUp: true },
  invoke: { id: 'watchBackend', src: 'watchBackend' },
  initial: 'opening',
  states: {
    opening: {
      description: 'Opening the backend (creating the folder, connecting to Redis); operations wait.',
      invoke: {
        src: 'openBackend',
        onDone: [{ guard: 'isBackendDown', target: 'failed' }, { target: 'ready' }],
        onError: { target: 'failed', actions: 'recordOpenError' },
      },
      on: {
        'store.unavailable': { actions: 'recordLoss' },
        'store.available': { actions: 'recordReturn' },
        'store.close': 'closing',
      },
    },
    ready: {
      description: 'Serving operations.',
      on: {
        'store.unavailable': { target: 'failed', actions: 'recordLoss' },
        'store.close': 'closing',
      },
    },
    failed: {
      description:
        'The backend could not open or lost its connection: operations fail at once with ERR_STORE_UNAVAILABLE until it is back.',
      on: {
        'store.available': { target: 'ready', actions: 'recordReturn' },
        'store.unavailable': { actions: 'recordLoss' },
        'store.close': 'closing',
      },
    },
    closing: {
      description: 'Waiting for writes in flight, then closing the backend; new operations are refused.',
      invoke: { src: 'closeBackend', onDone: 'closed', onError: 'closed' },
    },
    closed: { type: 'final' },
  },
});

function toError(raw: unknown): ErrorInfo {
  if (raw instanceof Error) {
    const code = (raw as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'ERR_STORE_UNAVAILABLE', message: raw.message };
  }
  return { code: 'ERR_STORE_UNAVAILABLE', message: String(raw) };
}
