import type { Feed, SourceDriver } from '../actors/sources/driver.js';

/**
 * A source that offers `count` events as fast as it is allowed: it delivers
 * in a tight loop until paused, and ends when all are out. Far faster than
 * any worker, so only backpressure keeps the queue bounded.
 */
export function floodSource(count: number): SourceDriver & { offered(): number } {
  let paused = false;
  let stopped = false;
  let sent = 0;
  let feed: Feed | undefined;
  const loop = (): void => {
    while (!paused && !stopped && sent < count) feed!.deliver(++sent, { id: String(sent) });
    if (sent >= count && !stopped) {
      stopped = true;
      feed!.end();
    }
  };
  return {
    type: 'flood',
    start(f) {
      feed = f;
      setImmediate(loop);
    },
    stop() {
      stopped = true;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      // Never deliver inside the supervisor's own transition: continue on the next turn.
      setImmediate(loop);
    },
    offered: () => sent,
  };
}
