import { describe, expect, it } from 'vitest';
import type { BackendStatus, StoreBackend, WriteOutcome } from '../../../actors/stores/backend.js';
import { openStoreOn } from '../../../actors/stores/store.js';

/** A backend in memory whose open, writes and connection the test controls. */
function stubBackend(options: { write?: () => WriteOutcome } = {}) {
  let finishOpen!: () => void;
  const calls: string[] = [];
  const listeners = new Set<(status: BackendStatus) => void>();
  const backend: StoreBackend = {
    kind: 'stub',
    where: 'memory',
    open: () => new Promise<void>((resolve) => (finishOpen = resolve)),
    read: async (key) => {
      calls.push(`read ${key}`);
      return undefined;
    },
    write: async (key) => {
      calls.push(`write ${key}`);
      return options.write?.() ?? { kind: 'written', version: 1 };
    },
    remove: async () => ({ kind: 'absent' }),
    close: async () => {},
    onStatus: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return {
    backend,
    calls,
    open: () => finishOpen(),
    say: (status: BackendStatus) => listeners.forEach((listener) => listener(status)),
  };
}

describe('a store over a backend', () => {
  it('holds operations while the backend opens and runs them once it is ready', async () => {
    const stub = stubBackend();
    const { store, close } = openStoreOn(stub.backend, { namespace: 'app' });
    const pending = store.get('k');
    await Promise.resolve();
    expect(stub.calls).toEqual([]);
    stub.open();
    await expect(pending).resolves.toBeUndefined();
    expect(stub.calls).toEqual(['read k']);
    await close();
  });

  it('throws ERR_STORE_UNAVAILABLE at once while the backend is down, without calling it, and serves again when it is back', async () => {
    const stub = stubBackend();
    const { store, ready, close } = openStoreOn(stub.backend, { namespace: 'app' });
    stub.open();
    await ready;
    stub.say({
      available: false,
      error: { code: 'ERR_STORE_UNAVAILABLE', message: 'Store "app" cannot reach Redis at redis://db:6379/0: read ECONNRESET' },
    });
    await expect(store.put('k', 1)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      message: expect.stringContaining('ECONNRESET') as string,
    });
    expect(stub.calls).toEqual([]);
    stub.say({ available: true });
    await expect(store.put('k', 1)).resolves.toEqual({ value: 1, version: 1 });
    await close();
  });

  it('rejects its ready promise when closed before it opened, and every operation after', async () => {
    const stub = stubBackend();
    const { store, ready, close } = openStoreOn(stub.backend, { namespace: 'app' });
    const waiting = store.get('k');
    await close();
    await expect(ready).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
  });

  it('tries a conflicting update 10 times in all by default, then throws ERR_CONFLICT', async () => {
    const stub = stubBackend({ write: () => ({ kind: 'conflict', version: 7 }) });
    const { store, ready, close } = openStoreOn(stub.backend, { namespace: 'app', updateBackoffMs: 0 });
    stub.open();
    await ready;
    let calls = 0;
    const failure = await store.update('k', () => ++calls).catch((error: unknown) => error as Error & { code: string });
    expect(failure).toMatchObject({ code: 'ERR_CONFLICT', message: expect.stringContaining('maxRetries 10') as string });
    expect(calls).toBe(10);
    await close();
  });

  it('refuses a version or fence that is not a whole number of at least 0', async () => {
    const stub = stubBackend();
    const { store, close } = openStoreOn(stub.backend, { namespace: 'app' });
    stub.open();
    await expect(store.put('k', 1, { ifVersion: -1 })).rejects.toThrow(/ifVersion for key "k" must be a whole number/);
    await expect(store.put('k', 1, { fence: 1.5 })).rejects.toMatchObject({ name: 'FlowdError', code: 'ERR_INVALID_ARGUMENT' });
    await expect(store.delete('k', { ifVersion: Number.NaN })).rejects.toMatchObject({ name: 'FlowdError', code: 'ERR_INVALID_ARGUMENT' });
    expect(stub.calls).toEqual([]);
    await close();
  });
});

describe('the logs of a store whose backend has none (a custom one)', () => {
  /** A backend keeping records in a map, without append or readLog. */
  function mapBackend(): StoreBackend {
    const records = new Map<string, { json: string; version: number; fence: number }>();
    return {
      kind: 'map',
      where: 'memory',
      open: async () => {},
      read: async (key) => {
        const record = records.get(key);
        return record && { value: JSON.parse(record.json) as unknown, version: record.version };
      },
      write: async (key, json, { ifVersion, fence }) => {
        const current = records.get(key);
        if (fence !== undefined && fence < (current?.fence ?? 0)) return { kind: 'fenced', fence: current!.fence };
        if (ifVersion !== undefined && ifVersion !== (current?.version ?? 0)) return { kind: 'conflict', version: current?.version ?? 0 };
        const version = (current?.version ?? 0) + 1;
        records.set(key, { json, version, fence: Math.max(current?.fence ?? 0, fence ?? 0) });
        return { kind: 'written', version };
      },
      remove: async () => ({ kind: 'absent' }),
      close: async () => {},
    };
  }

  it('emulates them with a record each, keeping order, lengths, conflicts and fences', async () => {
    const { store, close } = openStoreOn(mapBackend(), { namespace: 'app' });
    await expect(store.logs.append('h', ['a'])).resolves.toBe(1);
    await expect(store.logs.append('h', ['b', 'c'], { ifLength: 1, fence: 4 })).resolves.toBe(3);
    await expect(store.logs.append('h', ['x'], { ifLength: 1 })).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    await expect(store.logs.append('h', ['x'], { fence: 2 })).rejects.toMatchObject({ code: 'ERR_FENCED' });
    await expect(store.logs.read('h', 1)).resolves.toEqual(['b', 'c']);
    await expect(store.get('h')).resolves.toBeUndefined();
    await close();
  });
});
