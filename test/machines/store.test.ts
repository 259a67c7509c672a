import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise } from 'xstate';
import { storeAvailable, storeClose, storeMachine, storeUnavailable } from '../../machines/store.js';
import { flush } from '../helpers/wait.js';

/** The store machine with stub actors: the test opens, fails and closes the "backend" by hand. */
function harness() {
  let finishOpen!: () => void;
  let failOpen!: (error: Error) => void;
  let closes = 0;
  let closeFails = false;
  let watching = 0;
  const logic = storeMachine.provide({
    actors: {
      openBackend: fromPromise(
        () =>
          new Promise<void>((resolve, reject) => {
            finishOpen = resolve;
            failOpen = reject;
          }),
      ),
      closeBackend: fromPromise(async () => {
        closes++;
        if (closeFails) throw new Error('quit failed');
      }),
      watchBackend: fromCallback(() => {
        watching++;
        return () => watching--;
      }),
    },
  });
  const actor = createActor(logic).start();
  return {
    actor,
    state: () => actor.getSnapshot().value,
    open: async () => {
      finishOpen();
      await Promise.resolve();
    },
    failOpen: async (error: Error) => {
      failOpen(error);
      await Promise.resolve();
    },
    closes: () => closes,
    watching: () => watching,
    failNextClose: () => (closeFails = true),
  };
}

const lost = storeUnavailable({ code: 'ERR_STORE_UNAVAILABLE', message: 'connect ECONNREFUSED' });

describe('storeMachine', () => {
  it('starts opening, watching its backend, and is ready once the backend opened', async () => {
    const h = harness();
    expect(h.state()).toBe('opening');
    expect(h.watching()).toBe(1);
    await h.open();
    await flush();
    expect(h.state()).toBe('ready');
  });

  it('fails with the open error when the backend cannot open', async () => {
    const h = harness();
    await h.failOpen(Object.assign(new Error('cannot create /srv/store'), { code: 'ERR_STORE' }));
    await flush();
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().context.error).toEqual({ code: 'ERR_STORE', message: 'cannot create /srv/store' });
  });

  it('fails when the backend says it is unavailable, and is ready again when it is back', async () => {
    const h = harness();
    await h.open();
    await flush();
    h.actor.send(lost);
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().context.error).toEqual({ code: 'ERR_STORE_UNAVAILABLE', message: 'connect ECONNREFUSED' });
    h.actor.send(storeAvailable());
    expect(h.state()).toBe('ready');
    expect(h.actor.getSnapshot().context.error).toBeUndefined();
  });

  it('recovers from a failed open when the backend reconnects on its own', async () => {
    const h = harness();
    await h.failOpen(new Error('connect ECONNREFUSED'));
    await flush();
    h.actor.send(storeAvailable());
    expect(h.state()).toBe('ready');
  });

  it('goes to failed rather than ready when the connection was lost while opening', async () => {
    const h = harness();
    h.actor.send(lost);
    expect(h.state()).toBe('opening');
    await h.open();
    await flush();
    expect(h.state()).toBe('failed');
  });

  it('ignores an "available" heard while ready and an "unavailable" heard while failed, keeping the latest error', async () => {
    const h = harness();
    await h.open();
    await flush();
    h.actor.send(storeAvailable());
    expect(h.state()).toBe('ready');
    h.actor.send(lost);
    h.actor.send(storeUnavailable({ code: 'ERR_STORE_UNAVAILABLE', message: 'read ECONNRESET' }));
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().context.error?.message).toBe('read ECONNRESET');
  });

  it.each(['opening', 'ready', 'failed'] as const)('closes from %s: closing the backend once, then closed and final', async (from) => {
    const h = harness();
    if (from !== 'opening') await h.open();
    await flush();
    if (from === 'failed') h.actor.send(lost);
    expect(h.state()).toBe(from);
    h.actor.send(storeClose());
    expect(h.state()).toBe('closing');
    h.actor.send(storeAvailable());
    expect(h.state()).toBe('closing');
    await flush();
    expect(h.state()).toBe('closed');
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.closes()).toBe(1);
    expect(h.watching()).toBe(0);
  });

  it('is closed even when closing the backend fails', async () => {
    const h = harness();
    await h.open();
    h.failNextClose();
    h.actor.send(storeClose());
    await flush();
    expect(h.state()).toBe('closed');
  });

  it('describes every state whose purpose is not obvious', () => {
    const states = storeMachine.root.states;
    for (const name of ['opening', 'ready', 'failed', 'closing'] as const) expect(states[name]!.description).toBeTruthy();
    expect(Object.keys(states)).toEqual(['opening', 'ready', 'failed', 'closing', 'closed']);
  });
});
