// Plain JavaScript, so the flood can run against the compiled runtime (dist/) without tsx: see bench/flood.mjs.

/**
 * A source that offers `count` events as fast as it is allowed: it delivers
 * in a tight loop until paused, and ends when all are out. Far faster than
 * any worker, so only backpressure keeps the queue bounded.
 * @param {number} count
 */
export function floodSource(count) {
  let paused = false;
  let stopped = false;
  let sent = 0;
  /** @type {import('../actors/sources/driver.js').Feed | undefined} */
  let feed;
  const loop = () => {
    while (!paused && !stopped && sent < count) feed.deliver(++sent, { id: String(sent) });
    if (sent >= count && !stopped) {
      stopped = true;
      feed.end();
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
