import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type OpenedStore } from '../../../actors/stores/store.js';
import { storeContract } from '../../contracts/store.js';
import { logSink } from '../../helpers/log-sink.js';
import { dropPrefix, REDIS_URL, redisSpace, testPrefix } from '../../fixtures/stores/spaces.js';
import { closedPort } from '../../helpers/ports.js';

storeContract('redis', redisSpace, { canLoseConnection: true });

describe('the redis backend', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  function open(options: { url?: string; namespace?: string; prefix?: string }, log?: ReturnType<typeof logSink>['logger']): OpenedStore {
    const opened = openStore(
      {
        backend: 'redis',
        url: options.url ?? REDIS_URL,
        namespace: options.namespace ?? 'redis-test',
        ...(options.prefix ? { prefix: options.prefix } : {}),
      },
      log,
    );
    cleanups.push(() => opened.close());
    return opened;
  }

  it("keeps a key as a hash under flowd:store:<namespace>: by default, with the namespace's version counter at the prefix itself", async () => {
    const namespace = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const prefix = `flowd:store:${namespace}:`;
    cleanups.push(() => dropPrefix(prefix));
    const { store } = open({ namespace });
    const { version } = await store.put('asset/1', { id: 1 });
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.hgetall(`${prefix}asset/1`)).toEqual({ value: '{"id":1}', version: String(version), fence: '0' });
      expect(await redis.get(prefix)).toBe(String(version));
    } finally {
      redis.disconnect();
    }
  });

  it('sends the commands of one turn of the event loop in one socket write, and each gets its own answer', async () => {
    const prefix = testPrefix();
    cleanups.push(() => dropPrefix(prefix));
    const { store } = open({ prefix });
    await store.put('warm', 0);
    const socket = (store as unknown as { backend: { client: { stream: Socket } } }).backend.client.stream;
    const writes: number[] = [];
    const { _write, _writev } = socket as unknown as { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void };
    Object.assign(socket, {
      _write: (...args: unknown[]) => (writes.push(1), _write.apply(socket, args)),
      _writev: (chunks: unknown[], ...rest: unknown[]) => (writes.push(chunks.length), _writev.apply(socket, [chunks, ...rest])),
    });
    try {
      const versions = await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`k${i}`, i)));
      expect(writes).toEqual([20]);
      expect(new Set(versions.map((v) => v.version)).size).toBe(20);
      await expect(Promise.all(Array.from({ length: 20 }, (_, i) => store.get(`k${i}`)))).resolves.toEqual(
        Array.from({ length: 20 }, (_, i) => i),
      );
      expect(writes).toEqual([20, 20]);
    } finally {
      Object.assign(socket, { _write, _writev });
    }
  });

  it('puts every key under a configured prefix, so two namespaces with one name but two prefixes never meet', async () => {
    const [a, b] = [testPrefix(), testPrefix()];
    cleanups.push(
      () => dropPrefix(a),
      () => dropPrefix(b),
    );
    await open({ prefix: a }).store.put('k', 'a');
    await expect(open({ prefix: b }).store.get('k')).resolves.toBeUndefined();
    await expect(open({ prefix: a }).store.get('k')).resolves.toBe('a');
  });

  it('fails fast while Redis is unreachable from the start, naming the URL without its password, and logs no password', async () => {
    const port = await closedPort();
    const sink = logSink();
    const started = performance.now();
    const opened = open({ url: `redis://flowd:s3cret-pw@127.0.0.1:${port}/0` }, sink.logger);
    const failure = await opened.ready.then(
      () => undefined,
      (error: unknown) => error as Error & { code: string },
    );
    expect(failure?.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(failure?.message).toContain(`redis://flowd:***@127.0.0.1:${port}/0`);
    expect(failure?.message).toContain('ECONNREFUSED');
    const during = await opened.store.put('k', 1).catch((error: unknown) => error as Error & { code: string });
    expect(during).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(2000);
    for (const text of [failure?.message, during instanceof Error ? during.message : '', JSON.stringify(sink.lines)])
      expect(text).not.toContain('s3cret-pw');
    const unavailable = sink.lines.find((line) => line.msg.startsWith('store unavailable'));
    // The error as { code, message }, not as an Error pino would print with an empty stack.
    expect(unavailable?.error).toMatchObject({ code: expect.stringMatching(/^ERR_/), message: expect.any(String) });
  });
});
