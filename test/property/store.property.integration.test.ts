import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type OpenedStore, type StoreOptions } from '../../actors/stores/store.js';
import type { StoreSpace } from '../contracts/store.js';
import {
  dropPrefix,
  fileSpace,
  onPostgres,
  postgresSpace,
  REDIS_URL,
  redisSpace,
  testPrefix,
  testTable,
} from '../fixtures/stores/spaces.js';
import { POSTGRES_URL } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKER = fileURLToPath(new URL('../fixtures/stores/store-worker.ts', import.meta.url));

/** A child process holding its own store on the shared folder or prefix. */
interface Peer {
  increment(key: string, workers: number, count: number): Promise<number>;
  stop(): Promise<void>;
}

async function startPeer(options: StoreOptions): Promise<Peer> {
  const child: ChildProcess = fork(WORKER, [JSON.stringify(options)], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve(calls: number): void; reject(error: Error): void }>();
  let nextId = 0;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the store worker exited with ${code} before it was ready`)));
    child.on('message', (message: { ready?: true; id?: number; calls?: number; error?: string }) => {
      if (message.ready) return resolve();
      const job = waiting.get(message.id!);
      waiting.delete(message.id!);
      if (message.error !== undefined) job?.reject(new Error(message.error));
      else job?.resolve(message.calls!);
    });
  });
  return {
    increment: (key, workers, count) =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        waiting.set(id, { resolve, reject });
        child.send({ id, key, workers, count });
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.send({ stop: true });
      }),
  };
}

const workersAndCounts = fc.record({
  workers: fc.integer({ min: 1, max: 6 }),
  count: fc.integer({ min: 1, max: 8 }),
  stores: fc.integer({ min: 1, max: 3 }),
});

describe.each([
  ['file', fileSpace],
  ['redis', redisSpace],
  ['postgres', postgresSpace],
] as Array<[string, () => Promise<StoreSpace>]>)('update() on the %s store loses no increment', (_name, makeSpace) => {
  it('in one process: K workers spread over S store instances, M increments each, end at exactly K x M', async () => {
    const space = await makeSpace();
    const stores = Array.from({ length: 3 }, () => space.open().store);
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(workersAndCounts, async ({ workers, count, stores: s }) => {
          const key = `count-${++run}`;
          await Promise.all(
            Array.from({ length: workers }, async (_, w) => {
              // Separate instances do not share the per-key queue, so they really conflict.
              const store = stores[w % s]!;
              for (let i = 0; i < count; i++) await store.update<number>(key, (n = 0) => n + 1);
            }),
          );
          expect(await stores[0]!.get(key)).toBe(workers * count);
        }),
        { numRuns: 20 },
      );
    } finally {
      await space.dispose();
    }
  });
});

describe('update() across two processes loses no increment', () => {
  let space: StoreSpace & { folder: string };
  let prefix: string;
  let table: string;
  type Backend = 'file' | 'redis' | 'postgres';
  const backends: Backend[] = ['file', 'redis', 'postgres'];
  const peers: Record<Backend, Peer[]> = { file: [], redis: [], postgres: [] };
  const readers = {} as Record<Backend, OpenedStore>;
  beforeAll(async () => {
    space = await fileSpace();
    prefix = testPrefix();
    table = testTable();
    const options: Record<Backend, StoreOptions> = {
      file: { backend: 'file', folder: space.folder, namespace: 'two-processes' },
      redis: { backend: 'redis', url: REDIS_URL, namespace: 'two-processes', prefix },
      postgres: { backend: 'postgres', url: POSTGRES_URL, namespace: 'two-processes', table },
    };
    for (const backend of backends) readers[backend] = openStore(options[backend]);
    const started = await Promise.all(backends.map((backend) => Promise.all([startPeer(options[backend]), startPeer(options[backend])])));
    for (const [i, backend] of backends.entries()) peers[backend] = started[i]!;
  }, 30_000);
  afterAll(async () => {
    await Promise.all(backends.flatMap((backend) => peers[backend]).map((peer) => peer.stop()));
    await Promise.all(backends.map((backend) => readers[backend].close()));
    await space.dispose();
    await dropPrefix(prefix);
    await onPostgres(`DROP TABLE IF EXISTS ${table}, "${table}$log"`);
  });

  it.each(backends)('%s: two processes with K workers each doing M increments of one key end at exactly 2 x K x M', async (backend) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 10 }), async (workers, count) => {
        const key = `shared-${++run}`;
        await Promise.all(peers[backend].map((peer) => peer.increment(key, workers, count)));
        expect(await readers[backend].store.get(key)).toBe(2 * workers * count);
      }),
      { numRuns: 8 },
    );
  });
});
