import { LIFECYCLE_TYPES, type SupervisorEmitted, type SupervisorLifecycle } from '../../machines/supervisor.js';
import { createJournal, type Journal, type JournalOptions } from '../../src/inspector/journal.js';
import { startSupervisor } from './supervisor-harness.js';

/**
 * A journal fed by the real supervisor machine, on its simulated clock, as the runtime feeds it: its
 * inspection events, and the notifications it listens to (the lifecycle ones turned on as the runtime does).
 */
export function journaled(settings: Parameters<typeof startSupervisor>[0] = {}, options: Partial<JournalOptions> = {}) {
  let journal: Journal | undefined;
  const h = startSupervisor(settings, { inspect: (event) => journal?.observe(event) });
  journal = createJournal({
    on: (type, listener) => {
      // As runtime.on() after start: a lifecycle type is turned on when something listens to it.
      if (LIFECYCLE_TYPES.has(type)) h.actor.send({ type: 'lifecycle.observe', types: [type as SupervisorLifecycle['type']] });
      return h.actor.on(type, listener as (event: SupervisorEmitted) => void).unsubscribe;
    },
    now: () => h.clock.now(),
    size: 3,
    redact: ['card'],
    source: 'test',
    settles: true,
    throttleMs: 0,
    ...options,
  });
  return { h, journal };
}
