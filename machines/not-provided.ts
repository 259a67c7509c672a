import { fromCallback, fromPromise, type CallbackActorLogic, type EventObject, type PromiseActorLogic } from 'xstate';
import { FlowdError } from '../src/kernel/errors.js';

/**
 * Stand-ins for the actions and actors a machine names in `setup()` and the
 * runtime provides with `machine.provide(...)`. Machines stay pure; each
 * stand-in is declared with the real input and output types, so a provided
 * implementation of another shape fails typecheck, and running a machine
 * without its wiring fails at once, naming the missing piece, rather than
 * doing nothing (a lost acknowledgement found hours later).
 */

/**
 * The error a stand-in throws: `ERR_INTERNAL`, naming the machine and what
 * was not provided.
 *
 * @example notProvidedError('source', 'action', 'settleEvent').message
 * // 'source machine: action "settleEvent" was not provided (the runtime must provide it)'
 */
export function notProvidedError(machine: string, kind: 'action' | 'actor', name: string): FlowdError {
  return new FlowdError('ERR_INTERNAL', `${machine} machine: ${kind} "${name}" was not provided (the runtime must provide it)`);
}

/** An action the runtime must provide: throws when it runs, so the machine's actor fails with the error. */
export function actionNotProvided<TArgs = unknown>(machine: string, name: string): (args: TArgs) => never {
  return () => {
    throw notProvidedError(machine, 'action', name);
  };
}

/** A promise actor the runtime must provide, typed with its real output and input: it fails as it starts. */
export function promiseNotProvided<TOutput, TInput = undefined>(machine: string, name: string): PromiseActorLogic<TOutput, TInput> {
  return fromPromise<TOutput, TInput>(() => {
    throw notProvidedError(machine, 'actor', name);
  });
}

/** A callback actor the runtime must provide, typed with the events it receives and its input: it fails as it starts. */
export function callbackNotProvided<TEvent extends EventObject, TInput = undefined>(
  machine: string,
  name: string,
): CallbackActorLogic<TEvent, TInput> {
  return fromCallback<TEvent, TInput>(() => {
    throw notProvidedError(machine, 'actor', name);
  });
}
