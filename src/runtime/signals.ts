import type { Logger } from 'pino';
import { formatDuration } from '../kernel/duration.js';

/**
 * How a runtime answers SIGINT and SIGTERM. `createRuntime({ handleSignals: true })`
 * takes the defaults; `flowd run` names the start-up step, says it on stderr,
 * and ends the process itself from `runtime.done` (its exit code counts the
 * events that failed).
 */
export interface SignalPolicy {
  /** What a signal during start-up comes before, in its log line. @default '<app> started' */
  startupStep?: string | undefined;
  /** Told of a signal during start-up, just before the process exits with 1. */
  onStartupSignal?: ((signal: NodeJS.Signals, step: string) => void) | undefined;
  /**
   * Once the first signal's drain is over: `true` exits the process (0 when
   * the run ended as requested or its input ended, 1 otherwise); `false`
   * leaves the process to whoever awaits `runtime.done`.
   * @default true
   */
  exitWhenDrained?: boolean | undefined;
}

/** What the signal listeners work on: a runtime being built, as buildRuntime sees it. */
export interface SignalTarget {
  logger: Logger;
  appName: string;
  shutdownTimeoutMs: number;
  /** Whether start() has got as far as the supervisor (before it nothing has been taken from the source). */
  isStarted(): boolean;
  stop(): Promise<{ reason: string }>;
  /** The run's end: the listeners are removed then, and the process is its owner's again. */
  done: Promise<unknown>;
}

/** Where the signals come from and how the process ends: `process` (a stand-in in tests). */
export interface SignalHost {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

/**
 * Installs the SIGINT and SIGTERM listeners: a signal during start-up exits
 * at once with 1; the first one after it drains the runtime (stop(): the
 * source stops, queued events go back, in-flight work gets the shutdown
 * timeout); a second exits at once with 1. Returns the function that
 * removes them (also called when the run ends).
 */
export function handleSignals(target: SignalTarget, policy: SignalPolicy = {}, host: SignalHost = process): () => void {
  const { logger } = target;
  const exit = (code: number) => host.exit(code);
  const step = policy.startupStep ?? `${target.appName} started`;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!target.isStarted()) {
      // Still starting (configure(), the services, the workflows): nothing has been taken from the source yet.
      logger.warn(`${signal} during start-up: exiting before ${step}`);
      policy.onStartupSignal?.(signal, step);
      exit(1);
      return;
    }
    if (stopping) {
      logger.warn(`${signal} again: exiting without waiting for in-flight work`);
      exit(1);
      return;
    }
    stopping = true;
    logger.info(`${signal}: stopping (in-flight work has ${formatDuration(target.shutdownTimeoutMs)} to finish)`);
    const stopped = target.stop();
    if (policy.exitWhenDrained === false) {
      // Whoever awaits `done` sees the run's end, or its failure, and ends the process.
      stopped.catch(() => undefined);
      return;
    }
    stopped.then(
      (summary) => exit(summary.reason === 'requested' || summary.reason === 'ended' ? 0 : 1),
      (error: unknown) => {
        logger.error({ err: error }, `${target.appName} did not stop cleanly: ${(error as Error)?.message ?? String(error)}`);
        exit(1);
      },
    );
  };
  host.on('SIGINT', onSignal);
  host.on('SIGTERM', onSignal);
  const remove = () => {
    host.off('SIGINT', onSignal);
    host.off('SIGTERM', onSignal);
  };
  // Once the run has ended the process is its owner's again (a stop() in flight keeps its own exit).
  void target.done.then(remove, remove);
  return remove;
}
