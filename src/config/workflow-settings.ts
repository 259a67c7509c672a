import { statSync } from 'node:fs';
import path from 'node:path';
import { parseStompUrl } from '../../actors/sources/stomp-url.js';
import type { SectionReader } from './section-reader.js';

/** `[Workflow]`, compiled. */
export interface WorkflowSettings {
  /** The module (absolute) whose exports are the app's workflows and activities. */
  module: string;
  /** Activity calls at once per task list, in this daemon. @default 4 */
  concurrency: number;
  /** How often the decider looks in the store for runs started elsewhere (`flowd workflow start`). @default 1000 */
  pollIntervalMs: number;
  /** The wait before the retry that follows attempt n is min(retry delay × 2^(n−1), retry max delay). @default 1000 */
  retryDelayMs: number;
  /** @default 60_000 */
  retryMaxDelayMs: number;
  /** `stomp://[user:pass@]host[:port]/queue/<base>`: task lists are shared over the broker. @default in this process */
  broker: string | undefined;
  /** With a broker: the task lists this daemon serves. @default every one the module's workflows and activities name, and `default` */
  taskLists: string[] | undefined;
}

/**
 * Compiles `[Workflow]`:
 * - `module`: a file relative to the INI file's folder that exports the
 *   workflows (defineWorkflow) and activities (defineActivity) (required)
 * - `concurrency` (@default 4), `poll interval` (@default 1s),
 *   `retry delay` (@default 1s), `retry max delay` (@default 60s)
 * - `broker = stomp://[user:pass@]host[:port]/queue/<base>` (@default none: task lists run in this process)
 */
export function compileWorkflowSettings(reader: SectionReader, dir: string): WorkflowSettings {
  const text = reader.string('module');
  if (text === undefined || text.trim() === '') reader.fail('module', 'is missing; expected the module that exports the workflows and activities, e.g. module = ./workflows.ts');
  const file = path.resolve(dir, text.trim());
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    reader.fail('module', `found "${text}", but ${file} does not exist; expected a module that exports workflows and activities`);
  }
  if (!isFile) reader.fail('module', `found "${text}", but ${file} is not a file; expected a module that exports workflows and activities`);
  return { module: file, ...compileWorkflowOptions(reader) };
}

/** `[Workflow]` without `module` (createRuntime({ workflows }) is given the definitions themselves). */
export function compileWorkflowOptions(reader: SectionReader): Omit<WorkflowSettings, 'module'> {
  const broker = reader.string('broker');
  if (broker !== undefined) {
    let destination: string;
    try {
      destination = parseStompUrl(broker).destination;
    } catch (error) {
      reader.fail('broker', (error as Error).message);
    }
    if (!/^\/queue\/[^/]+$/.test(destination)) reader.fail('broker', `names ${destination}; expected stomp://[user:pass@]host[:port]/queue/<name>, the base of the task lists' queues`);
  }
  return {
    concurrency: reader.integer('concurrency', 4, { min: 1, max: 10_000 }),
    pollIntervalMs: reader.duration('poll interval', 1000, { minMs: 10 }),
    retryDelayMs: reader.duration('retry delay', 1000),
    retryMaxDelayMs: reader.duration('retry max delay', 60_000),
    broker: broker === undefined || broker.trim() === '' ? undefined : broker,
    taskLists: taskListsOf(reader),
  };
}

function taskListsOf(reader: SectionReader): string[] | undefined {
  const text = reader.string('task lists');
  if (text === undefined || text.trim() === '') return undefined;
  const names = text.split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of names) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name) || name === 'reports') reader.fail('task lists', `found "${name}"; expected task list names of letters, digits, "_", "." and "-" (not "reports"), comma-separated`);
  }
  return names;
}
