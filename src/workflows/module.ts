import path from 'node:path';
import { importFailure, importModule } from '../../actors/import-module.js';
import { WorkerLoadError } from '../kernel/errors.js';
import type { ActivityDefinition, WorkflowDefinition } from './workflow-api.js';

/** What a workflow module exports: its workflows and the activities they call. */
export interface WorkflowDefinitions {
  workflows: WorkflowDefinition[];
  activities: ActivityDefinition[];
}

type Definition = WorkflowDefinition | ActivityDefinition;

const isDefinition = (value: unknown): value is Definition => {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return (kind === 'workflow' || kind === 'activity') && typeof (value as { name?: unknown }).name === 'string';
};

/**
 * Sorts definitions into workflows and activities, keeping one of each
 * name and version. Two different definitions of one name and version are
 * an error naming `where`: the history could not tell them apart.
 * @example
 * const { workflows, activities } = collectDefinitions([UploadWorkflow, Transcoding], 'createRuntime options.workflows');
 */
export function collectDefinitions(values: Iterable<unknown>, where: string): WorkflowDefinitions {
  const seen = new Map<string, Definition>();
  for (const value of values) {
    if (!isDefinition(value)) continue;
    const key = `${value.kind} ${value.name} ${value.version}`;
    const earlier = seen.get(key);
    if (earlier !== undefined && earlier !== value)
      throw new WorkerLoadError(
        `${where}: two different definitions of ${value.kind} ${value.name} version ${value.version}; expected one (give the new one another version)`,
      );
    seen.set(key, value);
  }
  const all = [...seen.values()];
  return {
    workflows: all.filter((d): d is WorkflowDefinition => d.kind === 'workflow'),
    activities: all.filter((d): d is ActivityDefinition => d.kind === 'activity'),
  };
}

/**
 * Imports `[Workflow] module` and collects what it exports: workflows and
 * activities, as named exports or in exported arrays. A module that cannot
 * be imported, or exports no workflow and no activity, is a WorkerLoadError
 * naming the file (exit 2). `.ts` modules load as actors/import-module.ts
 * loads TypeScript.
 */
export async function loadWorkflowModule(file: string): Promise<WorkflowDefinitions> {
  let module: Record<string, unknown>;
  try {
    module = await importModule(file);
  } catch (error) {
    throw new WorkerLoadError(`[Workflow] module: importing ${file} failed: ${importFailure(error)}`, { cause: error });
  }
  const values = Object.values(module).flatMap((value) => (Array.isArray(value) ? value : [value]));
  const found = collectDefinitions(values, `[Workflow] module ${path.basename(file)}`);
  if (found.workflows.length === 0 && found.activities.length === 0) {
    throw new WorkerLoadError(
      `[Workflow] module: ${file} exports no workflow and no activity (its exports: ${Object.keys(module).join(', ') || '(none)'}); expected defineWorkflow(...) and defineActivity(...) exports`,
    );
  }
  return found;
}
