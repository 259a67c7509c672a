import type { ErrorInfo } from '../events.js';

/** A run past the execution timeout. */
export const timeoutError = (ms: number): ErrorInfo => ({
  code: 'ERR_WORKER_TIMEOUT',
  message: `the worker did not finish within the execution timeout of ${ms}ms`,
});

/** An event that waited past the queue timeout. */
export const expiredError = (ms: number): ErrorInfo => ({
  code: 'ERR_QUEUE_TIMEOUT',
  message: `the event waited longer than the queue timeout of ${ms}ms and was not started`,
});

/** An event that found the queue full. */
export const fullError = (size: number): ErrorInfo => ({
  code: 'ERR_QUEUE_FULL',
  message: `the queue is full (${size} events); the event was not accepted`,
});

/** An event given back because the runtime stops. */
export const shutdownError = (): ErrorInfo => ({
  code: 'ERR_SHUTDOWN',
  message: 'the runtime stopped before the event finished; it was returned to its source',
});
