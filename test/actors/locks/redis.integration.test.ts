import { afterEach, describe, expect, it } from 'vitest';
import { RedisLockDriver } from '../../../actors/locks/redis.js';
import { aborted, lockContract } from '../../contracts/lock.js';
import { REDIS_URL } from '../../helpers/services.js';
import { tcpProxy } from '../../helpers/tcp-proxy.js';
import { redisArea, redisUnderTest, sleep, type RedisArea } from '../../helpers/redis-locks.js';
import { closedPort } from '../../helpers/ports.js';
import { until } from '../../helpers/wait.js';

lockContract('redis', () => redisUnderTest(), { canLoseConnection: true });

describe('redis locks', () => {
  let areas: RedisArea[] = [];
  /** A fresh corner of Redis for one test, cleaned up after it. */
  const newArea = (leaseMs: number): RedisArea => {
    const area = redisArea(leaseMs);
    areas.push(area);
    return area;
  };
  afterEach(async () => {
    await Promise.all(areas.map((area) => area.cleanup()));
    areas = [];
  });

  it('keeps the lock under flowd:lock-style prefixed keys, with the lease as its PX, and removes it on release', async () => {
    const area = newArea(5000);
    const locks = area.locks();
    const lock = await locks.lock('asset-1');
    expect(await area.redis.get(area.lockKey('asset-1'))).toMatch(/^[0-9a-f-]{36}$/);
    const pttl = await area.redis.pttl(area.lockKey('asset-1'));
    expect(pttl).toBeGreaterThan(4000);
    expect(pttl).toBeLessThanOrEqual(5000);
    expect(Number(await area.redis.get(`${area.prefix}app:fence`))).toBe(lock.fence);
    await lock.release();
    expect(await area.redis.exists(area.lockKey('asset-1'))).toBe(0);
  });

  it('excludes a second daemon (another connection) until the holder releases, waking it through pub/sub', async () => {
    const area = newArea(60_000);
    // It polls only every 60s: getting the lock within the test's time means the release message woke it.
    const [one, two] = [area.locks(), area.locks({ pollMs: 60_000 })];
    const held = await one.lock('asset-1');
    const waiting = two.lock('asset-1', { signal: AbortSignal.timeout(5000) });
    // Both daemons listen for releases once they have tried for a lock.
    await until(async () => Number(((await area.redis.pubsub('NUMSUB', `${area.prefix}app:released`)) as [string, number])[1]) === 2);
    await held.release();
    const next = await waiting;
    expect(next.fence).toBeGreaterThan(held.fence);
    await next.release();
  });

  it('takes a lock whose holder vanished without releasing once its PX lapses in Redis (polling)', async () => {
    const area = newArea(5000);
    await area.redis.set(area.lockKey('asset-1'), 'a-crashed-daemon', 'PX', 300);
    const started = performance.now();
    const lock = await area.locks().lock('asset-1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(await area.redis.get(area.lockKey('asset-1'))).not.toBe('a-crashed-daemon');
    await lock.release();
  });

  it('hands out strictly increasing fences across daemons, from one counter in Redis', async () => {
    const area = newArea(5000);
    const daemons = [area.locks(), area.locks()];
    const fences: number[] = [];
    for (let i = 0; i < 6; i++) fences.push(await daemons[i % 2]!.withLock('asset-1', (lock) => lock.fence));
    expect(fences).toEqual([...fences].sort((a, b) => a - b));
    expect(new Set(fences).size).toBe(6);
  });

  it('starts fences from the wall clock (ms x 1000), as the local backend does, so a switch from local keeps them growing', async () => {
    const area = newArea(5000);
    const clockBefore = Date.now() * 1000;
    const fence = await area.locks().withLock('asset-1', (lock) => lock.fence);
    expect(fence).toBeGreaterThan(clockBefore);
    expect(fence).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });

  it('keeps fences growing when Redis loses its counter (a restart without persistence)', async () => {
    const area = newArea(5000);
    const locks = area.locks();
    const last = await locks.withLock('asset-1', (lock) => lock.fence);
    await area.redis.del(`${area.prefix}app:fence`);
    expect(await locks.withLock('asset-1', (lock) => lock.fence)).toBeGreaterThan(last);
  });

  it('raises a counter left behind the wall clock, and never lowers one ahead of it', async () => {
    const area = newArea(5000);
    await area.redis.set(`${area.prefix}app:fence`, '5'); // a counter from before fences followed the clock
    const clockBefore = Date.now() * 1000;
    expect(await area.locks().withLock('asset-1', (lock) => lock.fence)).toBeGreaterThan(clockBefore);
    const ahead = (Date.now() + 3_600_000) * 1000;
    await area.redis.set(`${area.prefix}app:fence`, String(ahead));
    // Another daemon, which has handed out no fence yet.
    expect(await area.locks().withLock('asset-1', (lock) => lock.fence)).toBe(ahead + 1);
  });

  it('extends the PX in Redis on renew', async () => {
    const area = newArea(600);
    const lock = await area.locks().lock('asset-1');
    await sleep(300);
    expect(await area.redis.pttl(area.lockKey('asset-1'))).toBeLessThan(350);
    await lock.renew();
    expect(await area.redis.pttl(area.lockKey('asset-1'))).toBeGreaterThan(500);
    await lock.release();
  });

  it('counts a lease here so that it ends before Redis lets the lock go, on taking and on renewing', async () => {
    const area = newArea(2000);
    const driver = new RedisLockDriver({ url: REDIS_URL, namespace: area.namespace, prefix: area.prefix });
    const leaseMs = 2000;
    const taken = await driver.acquire({ key: 'asset-1', requestId: '1', leaseMs, fence: 0 }, new AbortController().signal);
    // Redis had at least `pttl` left when the lease was handed over (it was read after): ours must be no longer.
    expect(taken.leaseMs).toBeLessThanOrEqual(await area.redis.pttl(area.lockKey('asset-1')));
    expect(taken.leaseMs).toBeGreaterThan(leaseMs - 200);
    const renewed = await driver.renew('asset-1', taken.token, leaseMs);
    expect(renewed).not.toBe(false);
    expect(renewed as number).toBeLessThanOrEqual(await area.redis.pttl(area.lockKey('asset-1')));
    await driver.release('asset-1', taken.token);
    expect(await driver.renew('asset-1', taken.token, leaseMs)).toBe(false);
    await driver.close();
  });

  it('loses the lock when a renewal finds it taken by someone else, aborting its signal', async () => {
    const area = newArea(5000);
    const lock = await area.locks().lock('asset-1');
    await area.redis.set(area.lockKey('asset-1'), 'someone-else', 'PX', 5000);
    await expect(lock.renew()).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
    expect(lock.signal.reason).toMatchObject({ code: 'ERR_LOCK_LOST' });
    await lock.release(); // a no-op: must not delete someone else's lock
    expect(await area.redis.get(area.lockKey('asset-1'))).toBe('someone-else');
  });

  it('gives a lock back only while its token still holds it, so a stale holder cannot free its successor', async () => {
    const area = newArea(5000);
    const driver = new RedisLockDriver({ url: REDIS_URL, namespace: area.namespace, prefix: area.prefix });
    const stale = await driver.acquire({ key: 'asset-1', requestId: '1', leaseMs: 5000, fence: 0 }, new AbortController().signal);
    await area.redis.set(area.lockKey('asset-1'), 'the-successor', 'PX', 5000); // as if the stale lease had lapsed and another took it
    await driver.release('asset-1', stale.token);
    expect(await area.redis.get(area.lockKey('asset-1'))).toBe('the-successor');
    await driver.close();
  });

  it('gives a lock back to Redis when the wait is aborted just as it was taken', async () => {
    const area = newArea(5000);
    const driver = new RedisLockDriver({ url: REDIS_URL, namespace: area.namespace, prefix: area.prefix });
    // Connected first, so the attempt below reaches Redis before it sees the abort.
    const warm = await driver.acquire({ key: 'warm-up', requestId: '0', leaseMs: 5000, fence: 0 }, new AbortController().signal);
    await driver.release('warm-up', warm.token);
    const controller = new AbortController();
    const reason = new Error('event cancelled');
    const taking = driver.acquire({ key: 'asset-1', requestId: '1', leaseMs: 5000, fence: 0 }, controller.signal);
    controller.abort(reason);
    await expect(taking).rejects.toBe(reason);
    expect(await area.redis.exists(area.lockKey('asset-1'))).toBe(0);
    await driver.close();
  });

  it('fails fast with ERR_LOCK_UNAVAILABLE when Redis is down, never showing the password', async () => {
    const area = newArea(5000);
    const url = `redis://:hunter2-secret@127.0.0.1:${await closedPort()}`;
    const locks = area.locks({ url });
    const started = performance.now();
    const error = (await locks.lock('asset-1').catch((e: unknown) => e)) as Error & { code: string };
    expect(performance.now() - started).toBeLessThan(3000); // fails, not queued until Redis answers (ioredis's default)
    expect(error).toMatchObject({ name: 'LockError', code: 'ERR_LOCK_UNAVAILABLE' });
    expect(error.message).toContain('"asset-1"');
    expect(error.message).toContain('redis://:***@127.0.0.1');
    expect(`${error.message} ${String(error.stack)} ${JSON.stringify(error)}`).not.toContain('hunter2');
  });

  it('fails renewals fast when the connection drops, and the holder loses the lock at the end of its lease', async () => {
    const area = newArea(800);
    const proxy = await tcpProxy(6379);
    const locks = area.locks({ url: `redis://127.0.0.1:${proxy.port}` });
    const lock = await locks.lock('asset-1');
    // No wait for the client to notice: a command on the dead connection fails as fast as one refused while it reconnects.
    expect(proxy.cut()).toBeGreaterThan(0);
    await proxy.close();
    const started = performance.now();
    await expect(lock.renew()).rejects.toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE' });
    await expect(locks.lock('asset-2')).rejects.toMatchObject({ code: 'ERR_LOCK_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(1000); // fails with the connection, neither queued nor left to the 2s command timeout
    expect(await aborted(lock.signal)).toMatchObject({ code: 'ERR_LOCK_LOST' });
  });
});
