import type { Feed, SourceDriver } from '../actors/sources/driver.js';
import type { StompEvent } from '../actors/sources/stomp.js';

/**
 * An in-process stand-in for a broker consumer at a given prefetch: at most
 * `window` events are out unacknowledged, and each turn of the event loop
 * hands over up to `perTurn` of them (a socket read holds a few frames).
 * Every settlement frees a place and asks for another turn. `done` resolves
 * once all `count` events are acknowledged; anything but an ACK rejects it.
 */
export function windowSource(count: number, options: { window: number; perTurn: number }): { driver: SourceDriver; done: Promise<void> } {
  let feed: Feed | undefined;
  let sent = 0;
  let out = 0;
  let acked = 0;
  let scheduled = false;
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const turn = (): void => {
    scheduled = false;
    for (let handed = 0; feed && out < options.window && sent < count && handed < options.perTurn; handed++) {
      sent++;
      out++;
      const event: StompEvent = { destination: '/queue/bench', messageId: String(sent), redelivered: false, headers: {}, body: 'x' };
      feed.deliver(event, { id: `1:${sent}`, meta: { redelivered: false } });
    }
    if (feed && out < options.window && sent < count) schedule();
  };
  const schedule = (): void => {
    // Stopped: nothing more is handed over, so no more turns either.
    if (scheduled || !feed) return;
    scheduled = true;
    setImmediate(turn);
  };
  const driver: SourceDriver = {
    type: 'window',
    start(to) {
      feed = to;
      schedule();
    },
    stop() {
      feed = undefined;
    },
    settle(settlement) {
      out--;
      if (!settlement.ack) fail(new Error(`event ${settlement.id} ended ${settlement.outcome}; expected every event acknowledged`));
      else if (++acked === count) finish();
      schedule();
    },
  };
  return { driver, done };
}
