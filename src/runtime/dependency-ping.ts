import { fromPromise } from 'xstate';
import type { Dependency, PingInput, PingResult } from '../../machines/outage.js';

/** What the ping needs of the app's services (AppServices provides it). */
export interface DependencyPinger {
  /**
   * Resolves `up` when `dependency` answers its health check, `unsupported`
   * when it has none; rejects when it is down. Without it, nothing can be
   * pinged.
   */
  ping?(dependency: Dependency, signal: AbortSignal): Promise<PingResult>;
}

/**
 * The supervisor's `pingDependency` actor: pings every dependency an outage
 * found down (the store, the locks), at once, giving up after the input's
 * timeout. Resolves `up` when all answered, `unsupported` when one cannot
 * be pinged (the supervisor then probes by running a held event); rejects
 * with the first one's error while any is down. Runs no worker.
 * @example supervisorMachine.provide({ actors: { pingDependency: createPingLogic(services) } })
 */
export function createPingLogic(services: DependencyPinger) {
  return fromPromise<PingResult, PingInput>(async ({ input, signal }) => {
    if (!services.ping) return 'unsupported';
    const late = new AbortController();
    const timer = setTimeout(
      () =>
        late.abort(
          new DOMException(`${input.dependencies.join(' and ')} did not answer a ping within ${input.timeoutMs}ms`, 'TimeoutError'),
        ),
      input.timeoutMs,
    );
    const limit = AbortSignal.any([signal, late.signal]);
    const answers = await Promise.allSettled(input.dependencies.map((dependency) => services.ping!(dependency, limit)));
    clearTimeout(timer);
    if (answers.some((answer) => answer.status === 'fulfilled' && answer.value === 'unsupported')) return 'unsupported';
    const down = answers.find((answer) => answer.status === 'rejected');
    if (down) throw down.reason;
    return 'up';
  });
}
