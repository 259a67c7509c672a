import type { CompiledSource } from '../runtime/sources.js';
import type { Runner } from '../../actors/workers/worker.js';
import { FlowdError } from '../kernel/errors.js';

/**
 * The worker and source of an app that runs only workflows (`[Workflow]`
 * without `[Flow] class`): a source that delivers nothing until the run
 * stops, and a worker that is never handed an event. The runtime keeps its
 * usual shape (supervisor, source, stop and the inspector) around the
 * workflow host.
 */
export function workflowsOnly(): { runner: Runner; source: CompiledSource } {
  return {
    runner: {
      name: 'workflows',
      source: undefined,
      configure: async () => {},
      run: () => {
        throw new FlowdError('ERR_INTERNAL', 'an app that runs only workflows has no worker for events');
      },
    },
    source: { type: 'workflows', description: 'none (workflows only)', create: () => ({ type: 'workflows', start: () => {} }) },
  };
}
