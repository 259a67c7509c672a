import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, toPromise } from 'xstate';
import type { Dependency, PingInput, PingResult } from '../../../machines/outage.js';
import { createAppServices } from '../../../src/runtime/app-services.js';
import { createPingLogic, type DependencyPinger } from '../../../src/runtime/dependency-ping.js';

const ping = (services: DependencyPinger, input: PingInput): Promise<PingResult> =>
  toPromise(createActor(createPingLogic(services), { input }).start());

const storeDown = Object.assign(new Error('Store "app" cannot reach Redis'), { code: 'ERR_STORE_UNAVAILABLE' });

/** Services whose store and locks answer as told. */
const answering = (answers: Record<Dependency, 'up' | 'unsupported' | 'down' | 'hang'>): DependencyPinger => ({
  ping: (dependency, signal) => {
    const answer = answers[dependency];
    if (answer === 'down') return Promise.reject(storeDown);
    if (answer === 'hang')
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    return Promise.resolve(answer);
  },
});

describe('the pingDependency actor', () => {
  it('answers up when every dependency the outage found down answers', async () => {
    await expect(ping(answering({ store: 'up', lock: 'up' }), { dependencies: ['store', 'lock'], timeoutMs: 1000 })).resolves.toBe('up');
  });

  it("fails with the dependency's own error while one is still down", async () => {
    await expect(ping(answering({ store: 'down', lock: 'up' }), { dependencies: ['store', 'lock'], timeoutMs: 1000 })).rejects.toBe(
      storeDown,
    );
  });

  it('answers unsupported when one of them cannot be pinged, or the services have no ping at all', async () => {
    await expect(
      ping(answering({ store: 'unsupported', lock: 'down' }), { dependencies: ['store', 'lock'], timeoutMs: 1000 }),
    ).resolves.toBe('unsupported');
    await expect(ping({}, { dependencies: ['store'], timeoutMs: 1000 })).resolves.toBe('unsupported');
  });

  it('gives up after its timeout on a dependency that does not answer', async () => {
    vi.useFakeTimers();
    try {
      const answer = ping(answering({ store: 'hang', lock: 'up' }), { dependencies: ['store'], timeoutMs: 1000 });
      answer.catch(() => {});
      await vi.advanceTimersByTimeAsync(999);
      expect(
        await Promise.race([
          answer.then(
            () => 'settled',
            () => 'settled',
          ),
          Promise.resolve('pending'),
        ]),
      ).toBe('pending');
      await vi.advanceTimersByTimeAsync(1);
      await expect(answer).rejects.toMatchObject({ name: 'TimeoutError', message: 'store did not answer a ping within 1000ms' });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("the app services' ping", () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function fileServices() {
    const dir = await mkdtemp(join(tmpdir(), 'flowd-ping-'));
    const folder = join(dir, 'store');
    const services = createAppServices(
      { store: { backend: 'file', folder }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
      'pinged',
      pino({ level: 'silent' }),
    );
    cleanups.push(
      () => rm(dir, { recursive: true, force: true }),
      () => services.close(),
    );
    return { services, dir, folder };
  }

  it('cannot ping a store or locks it never opened (the error came from elsewhere), and creates nothing asking', async () => {
    const { services, dir } = await fileServices();
    await expect(services.ping!('store')).resolves.toBe('unsupported');
    await expect(services.ping!('lock')).resolves.toBe('unsupported');
    expect(await readdir(dir)).toEqual([]);
  });

  it("pings the file store's folder and the local locks once they are in use", async () => {
    const { services, folder } = await fileServices();
    await services.store.put('k', 1);
    await services.locks.withLock('k', () => {});
    await expect(services.ping!('store')).resolves.toBe('up');
    await expect(services.ping!('lock')).resolves.toBe('up');
    await rm(folder, { recursive: true });
    await expect(services.ping!('store')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });
});
