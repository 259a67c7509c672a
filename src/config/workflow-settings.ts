import { statSync } from 'node:fs';
import path from 'node:path';
import { parseStompUrl } from '../../actors/sources/stomp-url.js';
import { checkTaskList } from '../workflows/broker-options.js';
import { formatDuration } from '../kernel/duration.js';
import type { SectionReader } from '../kernel/section-reader.js';
import { DEFAULT_LIMITS, type WorkflowLimits } from '../workflows/limits.js';

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
  /** The longest wait between attempts; at least `retry delay`. @default 60_000, or `retry delay` when that is longer */
  retryMaxDelayMs: number;
  /** `stomp://[user:pass@]host[:port]/queue/<base>`: task lists are shared over the broker. @default in this process */
  broker: string | undefined;
  /** `broker virtual host`: RabbitMQ's vhost (the STOMP `host` header). @default the broker's default */
  brokerVirtualHost: string | undefined;
  /** With a broker: the task lists this daemon serves. @default every one the module's workflows and activities name, and `default` */
  taskLists: string[] | undefined;
  /**
   * Whether this daemon may become the app's decider (`decide = no`: an
   * activity worker on another machine that only serves its task lists
   * over the broker). @default true
   */
  decide: boolean;
  /**
   * `workflow duration` (@default 1h), `rate limit` (@default 64), `max input
   * size` and `max result size` (characters of JSON, @default 1048576): the
   * defaults of every workflow; a definition's `duration` and `rateLimit` override them.
   */
  limits: WorkflowLimits;
}

/**
 * Compiles `[Workflow]`:
 * - `module`: a file relative to the INI file's folder that exports the
 *   workflows (defineWorkflow) and activities (defineActivity) (required)
 * - `concurrency` (@default 4), `poll interval` (@default 1s),
 *   `retry delay` (@default 1s), `retry max delay` (at least `retry delay`;
 *   @default 60s, or `retry delay` when that is longer)
 * - `broker = stomp://[user:pass@]host[:port]/queue/<base>` (@default none: task lists run in this process)
 * - `broker virtual host = /production` (only with `broker`; @default the broker's default)
 * - `task lists = a, b` (only with `broker`; @default every one the module names)
 * - `decide = yes | no` (@default yes; `no` only with `broker`)
 * - `workflow duration` (@default 1h), `rate limit` (@default 64), `max input size`, `max result size` (@default 1048576 characters)
 * Throws a ConfigError naming the file, section and key.
 * @example
 * // [Workflow]
 * // module = ./workflows.ts
 * // broker = stomp://127.0.0.1:61613/queue/video
 * // task lists = transcoding
 * // decide = no
 * compileWorkflowSettings(reader, '/srv/video') // { module: '/srv/video/workflows.ts', decide: false, taskLists: ['transcoding'], ... }
 */
export function compileWorkflowSettings(reader: SectionReader, dir: string): WorkflowSettings {
  const text = reader.string('module');
  if (text === undefined || text.trim() === '')
    reader.fail('module', 'is missing; expected the module that exports the workflows and activities, e.g. module = ./workflows.ts');
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

/**
 * `[Workflow]` without `module` (createRuntime({ workflows }) is given the
 * definitions themselves). Checks the keys against each other: `retry max
 * delay` is at least `retry delay`; `task lists` and `decide = no` need a
 * `broker`.
 */
export function compileWorkflowOptions(reader: SectionReader): Omit<WorkflowSettings, 'module'> {
  const concurrency = reader.integer('concurrency', 4, { min: 1, max: 10_000 });
  const pollIntervalMs = reader.duration('poll interval', 1000, { minMs: 10 });
  const retryDelayMs = reader.duration('retry delay', 1000);
  const retryMaxDelayMs = reader.duration('retry max delay', Math.max(60_000, retryDelayMs));
  if (retryMaxDelayMs < retryDelayMs) {
    const delay = `${formatDuration(retryDelayMs)}${reader.has('retry delay') ? '' : ', the default'}`;
    reader.fail(
      'retry max delay',
      `found ${formatDuration(retryMaxDelayMs)}, less than retry delay (${delay}); expected a retry max delay of at least the retry delay`,
    );
  }
  const broker = brokerOf(reader);
  const taskLists = taskListsOf(reader);
  if (taskLists !== undefined && broker === undefined) {
    reader.fail(
      'task lists',
      `found "${taskLists.join(', ')}", but there is no broker: only a daemon with broker serves task lists over it; expected broker = stomp://host[:port]/queue/<base> too, or no task lists (every task list runs in this process)`,
    );
  }
  const brokerVirtualHost = reader.string('broker virtual host') || undefined;
  if (brokerVirtualHost !== undefined && broker === undefined) {
    reader.fail(
      'broker virtual host',
      `found "${brokerVirtualHost}", but there is no broker; expected broker = stomp://host[:port]/queue/<base> too, or no broker virtual host`,
    );
  }
  const decide = reader.boolean('decide', true);
  if (!decide && broker === undefined) {
    reader.fail(
      'decide',
      'is no, but there is no broker: an app that does not decide runs its activities only over a broker; expected broker = stomp://host[:port]/queue/<base> or decide = yes',
    );
  }
  const limits: WorkflowLimits = {
    durationMs: reader.duration('workflow duration', DEFAULT_LIMITS.durationMs, { minMs: 1000 }),
    rateLimit: reader.integer('rate limit', DEFAULT_LIMITS.rateLimit, { min: 1, max: 100_000 }),
    maxInputSize: reader.integer('max input size', DEFAULT_LIMITS.maxInputSize, { min: 1, max: 1_000_000_000 }),
    maxResultSize: reader.integer('max result size', DEFAULT_LIMITS.maxResultSize, { min: 1, max: 1_000_000_000 }),
  };
  return { concurrency, pollIntervalMs, retryDelayMs, retryMaxDelayMs, broker, brokerVirtualHost, taskLists, decide, limits };
}

/** `broker`: a STOMP URL whose destination is /queue/<base>; undefined when unset. */
function brokerOf(reader: SectionReader): string | undefined {
  const broker = reader.string('broker');
  if (broker === undefined || broker.trim() === '') return undefined;
  let destination: string;
  try {
    destination = parseStompUrl(broker).destination;
  } catch (error) {
    reader.fail('broker', (error as Error).message);
  }
  if (!/^\/queue\/[^/]+$/.test(destination))
    reader.fail(
      'broker',
      `names ${destination}; expected stomp://[user:pass@]host[:port]/queue/<name>, the base of the task lists' queues`,
    );
  return broker;
}

function taskListsOf(reader: SectionReader): string[] | undefined {
  const text = reader.string('task lists');
  if (text === undefined || text.trim() === '') return undefined;
  const names = text
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    // The broker's own rule: the name becomes part of a queue's.
    try {
      checkTaskList(name, 'a task list');
    } catch (error) {
      reader.fail('task lists', `${(error as Error).message}; expected task list names, comma-separated`);
    }
  }
  return names;
}
