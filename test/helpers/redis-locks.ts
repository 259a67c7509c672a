import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisLocks, type RedisLocksOptions } from '../../actors/locks/redis.js';
import type { KeyedLocks } from '../../actors/locks/keyed-locks.js';
import { HeldLock } from '../../actors/locks/held-lock.js';
import type { LockBackendUnderTest } from '../contracts/lock.js';
import { redisGate } from './redis-gate.js';
import { REDIS_URL } from './services.js';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A private corner of the test Redis: a unique key prefix, locks made in it, and cleanup. */
export interface RedisArea {
  prefix: string;
  namespace: string;
  /** A plain client, to look at (or tamper with) what the locks wrote. */
  redis: Redis;
  /** The Redis key of a lock. */
  lockKey(key: string): string;
  /** Locks in this area: each call is a separate connection, as another daemon would have. */
  locks(options?: Partial<RedisLocksOptions>): KeyedLocks;
  cleanup(): Promise<void>;
}

export function redisArea(leaseMs: number): RedisArea {
  const prefix = `flowd-test:${randomUUID().slice(0, 8)}:`;
  const namespace = 'app';
  const redis = new Redis(REDIS_URL);
  const made: KeyedLocks[] = [];
  return {
    prefix,
    namespace,
    redis,
    lockKey: (key) => `${prefix}${namespace}:k:${key}`,
    locks(options = {}) {
      const locks = createRedisLocks({ url: REDIS_URL, namespace, prefix, leaseMs, ...options });
      made.push(locks);
      return locks;
    },
    async cleanup() {
      await Promise.all(made.map((locks) => locks.close()));
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}

/**
 * The contract's view of Redis locks: real time, a short lease. The locks
 * reach Redis through a gate (test/helpers/redis-gate.ts), so the contract
 * can take Redis away from them (`outage`) while it looks at Redis directly.
 */
export async function redisUnderTest(leaseMs = 400): Promise<LockBackendUnderTest & { area: RedisArea }> {
  const area = redisArea(leaseMs);
  const gate = await redisGate();
  return {
    area,
    locks: area.locks({ url: gate.url() }),
    leaseMs,
    advance: sleep,
    cleanup: async () => {
      await area.cleanup();
      await gate.close();
    },
    holds: async (lock) => lock instanceof HeldLock && (await area.redis.get(area.lockKey(lock.key))) === lock.token,
    outage: { down: () => gate.shut(), up: () => gate.open() },
  };
}
