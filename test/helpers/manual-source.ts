import type { Feed, SourceDriver } from '../../actors/sources/driver.js';
import type { Settlement } from '../../machines/events.js';

/** A source the test feeds by hand; it records pauses and settlements. */
export function manualSource() {
  let feed: Feed | undefined;
  let started!: () => void;
  const ready = new Promise<void>((resolve) => (started = resolve));
  const settlements: Settlement[] = [];
  const calls: string[] = [];
  const driver: SourceDriver = {
    type: 'manual',
    start(f) {
      feed = f;
      calls.push('start');
      started();
    },
    stop: () => calls.push('stop'),
    pause: () => calls.push('pause'),
    resume: () => calls.push('resume'),
    settle: (s) => settlements.push(s),
  };
  return {
    driver,
    settlements,
    calls,
    /** Resolves once the runtime has started the source. */
    ready,
    deliver: (payload: unknown, id?: string) => feed!.deliver(payload, id === undefined ? {} : { id }),
    /** Takes events back, as a source does when its connection is lost. */
    revoke: (ids: string[], error: { code: string; message: string }) => feed!.revoke(ids, error),
    end: () => feed!.end(),
  };
}
