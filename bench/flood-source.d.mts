import type { SourceDriver } from '../actors/sources/driver.js';

/**
 * A source that offers `count` events as fast as it is allowed: it delivers
 * in a tight loop until paused, and ends when all are out. Far faster than
 * any worker, so only backpressure keeps the queue bounded.
 */
export function floodSource(count: number): SourceDriver & { offered(): number };
