/**
 * The workflows of one daemon: the engine that decides, held by one daemon
 * of an app at a time, and the activity workers. A daemon decides while it
 * holds the lock `workflow/decider` (and, on one machine, the file
 * `<state dir>/workflow.decider`, so two daemons with in-process locks do
 * not both decide); the others wait to take over. The decider takes up the
 * open runs from the store at once and then every `poll interval` (runs
 * started by `flowd workflow start` or by a daemon that is not deciding).
 * With `[Workflow] broker`, every daemon serves the task lists of its
 * activities over the broker, and the decider publishes the calls there;
 * without it the decider runs the calls itself.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import { keepRenewed } from '../../actors/locks/keep-renewed.js';
import type { LockHandle } from '../../actors/locks/lock-api.js';
import { holdReaderFile } from '../../actors/sources/reader-file.js';
import type { AppServices } from '../runtime/app-services.js';
import type { AppInfo } from '../../actors/workers/worker.js';
import type { WorkflowSettings } from '../config/workflow-settings.js';
import { FlowdError } from '../kernel/errors.js';
import { createWorkflowEngine, latestWorkflow, readRun, recordRun, type RunRecord, type WorkflowEngine } from './engine.js';
import { toJson } from './history.js';
import { newRun } from './limits.js';
import type { WorkflowDefinitions } from './module.js';
import type { BrokerTaskLists } from './broker.js';
import { redactUrl } from '../../actors/sources/stomp-url.js';

/**
 * The task lists a daemon serves over a broker: `[Workflow] task lists`
 * when given, else every one its module's workflows and activities name, and `default`.
 */
export function servedTaskLists(definitions: WorkflowDefinitions, configured: string[] | undefined): string[] {
  if (configured && configured.length > 0) return configured;
  const named = [...definitions.workflows.map((w) => w.taskList), ...definitions.activities.map((a) => a.options.taskList)];
  return [...new Set(['default', ...named.filter((name): name is string => typeof name === 'string' && name !== '')])];
}

/** The lock whose holder decides for the app's workflows. */
export const DECIDER_LOCK = 'workflow/decider';

/** What createWorkflowHost needs. */
export interface WorkflowHostOptions {
  settings: Omit<WorkflowSettings, 'module'>;
  definitions: WorkflowDefinitions;
  services: Pick<AppServices, 'store' | 'locks' | 'leaseMs' | 'lockBackend'>;
  app: AppInfo;
  log: Logger;
}

/** How the host is doing, for `runtime.snapshot()` and the inspector. */
export interface WorkflowHostStats {
  /** 1 while this daemon decides. */
  decider: number;
  /** Runs this daemon decides now. */
  runs: number;
  /** Activity calls per task list (in this process, or published to the broker and not yet reported). */
  taskLists: Record<string, { queued: number; running: number; retrying: number; abandoned: number }>;
}

/** The workflows of one daemon (see the module's doc). */
export interface WorkflowHost {
  /** Serves the task lists (with a broker) and starts trying to become the decider; resolves once that has begun. */
  start(): Promise<void>;
  /** Starts a run; resolves with its id once its record is in the store. */
  startWorkflow(name: string, input: unknown, options?: { runId?: string }): Promise<string>;
  /** The run's record (state, history, result or error), or undefined. */
  run(runId: string): Promise<RunRecord | undefined>;
  /** Resolves with the run's record once it has ended (completed, failed or restarted). */
  ended(runId: string, signal?: AbortSignal): Promise<RunRecord>;
  stats(): WorkflowHostStats;
  /** Run actors made from now on report to this observer (the inspector's). */
  inspect(observer: ((event: InspectionEvent) => void) | undefined): void;
  /** Stops deciding (open runs stay open in the store) and serving; running activities get `graceMs`. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates the host; nothing happens before start().
 * @example
 * const host = createWorkflowHost({ settings, definitions: await loadWorkflowModule(file), services, app, log });
 * await host.start();
 * const runId = await host.startWorkflow('UploadWorkflow', { videoId: 'v1' });
 */
export function createWorkflowHost(options: WorkflowHostOptions): WorkflowHost {
  const { settings, definitions, services, app, log } = options;
  const { store, locks } = services;
  const abort = new AbortController();
  let observer: ((event: InspectionEvent) => void) | undefined;
  let engine: WorkflowEngine | undefined;
  let broker: BrokerTaskLists | undefined;
  let lock: LockHandle | undefined;
  let releaseFile: (() => Promise<void>) | undefined;
  let stopRenewing: (() => void) | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let deciding: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  /** close()'s grace for running activities. */
  let closeGraceMs: number | undefined;

  const executorOptions = {
    concurrency: settings.concurrency,
    retryDelayMs: settings.retryDelayMs,
    retryMaxDelayMs: settings.retryMaxDelayMs,
  };

  const openBroker = async (url: string): Promise<BrokerTaskLists> => {
    const { createBrokerTaskLists } = await import('./broker.js');
    const made = createBrokerTaskLists({
      url,
      ...(settings.brokerVirtualHost !== undefined ? { virtualHost: settings.brokerVirtualHost } : {}),
      activities: definitions.activities,
      taskLists: servedTaskLists(definitions, settings.taskLists),
      concurrency: settings.concurrency,
      log,
      executor: { retryDelayMs: settings.retryDelayMs, retryMaxDelayMs: settings.retryMaxDelayMs },
    });
    await made.serve();
    log.info(
      { broker: redactUrl(url), activities: definitions.activities.map((a) => a.name) },
      `workflows: serving ${definitions.activities.length} activit${definitions.activities.length === 1 ? 'y' : 'ies'} over ${redactUrl(url)}`,
    );
    return made;
  };

  const poll = () => {
    pollTimer = setTimeout(() => {
      const current = engine;
      if (!current || abort.signal.aborted) return;
      current
        .resume()
        .catch((error: unknown) => log.warn({ err: error }, `workflows: could not look for open runs: ${(error as Error).message}`))
        .finally(() => {
          if (engine === current) poll();
        });
    }, settings.pollIntervalMs);
  };

  /** Resolves when the host closes (`abort`) or after `ms`. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });

  /** Waits to be the decider, then decides until the lock is lost (and waits again) or the host closes. */
  const decide = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      const tellWaiting = () =>
        log.info(
          { lock: DECIDER_LOCK },
          `workflows: another daemon decides for app ${app.name}; waiting to take over (lock "${DECIDER_LOCK}")`,
        );
      try {
        releaseFile = await holdReaderFile(path.join(app.stateDir, 'workflow.decider'), abort.signal, tellWaiting);
        const waiting = setTimeout(tellWaiting, 1000);
        try {
          lock = await locks.lock(DECIDER_LOCK, { signal: abort.signal });
        } finally {
          clearTimeout(waiting);
        }
      } catch (error) {
        await releaseFile?.();
        releaseFile = undefined;
        if (abort.signal.aborted) return;
        log.warn(
          { err: error },
          `workflows: could not take the decider lock: ${(error as Error).message}; trying again in ${settings.pollIntervalMs}ms`,
        );
        await pause(settings.pollIntervalMs);
        continue;
      }
      stopRenewing = keepRenewed(lock, services.leaseMs);
      const held = lock;
      const ended = new Promise<void>((resolve) => {
        held.signal.addEventListener('abort', () => resolve(), { once: true });
        abort.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      // In-process locks count their fences from this process's start: the clock keeps a successor's above ours.
      const fence = services.lockBackend === 'local' ? Math.max(held.fence, Date.now() * 1000) : held.fence;
      const current = createWorkflowEngine({
        fence,
        workflows: definitions.workflows,
        activities: definitions.activities,
        store,
        log,
        executor: executorOptions,
        limits: settings.limits,
        ...(broker ? { runner: broker.executor } : {}),
        ...(observer ? { inspect: observer } : {}),
      });
      engine = current;
      let taken = 0;
      try {
        taken = await current.resume();
      } catch (error) {
        // The poll tries again.
        log.error({ err: error }, `workflows: could not take up the open runs: ${(error as Error).message}`);
      }
      // Reports are taken once the open runs' calls are submitted again; a broker that refuses is tried again.
      while (broker && !held.signal.aborted && !abort.signal.aborted) {
        try {
          await broker.decide();
          break;
        } catch (error) {
          log.error(
            { err: error },
            `workflows: cannot take the activities' reports: ${(error as Error).message}; trying again in ${settings.pollIntervalMs}ms`,
          );
          await pause(settings.pollIntervalMs);
        }
      }
      if (!held.signal.aborted && !abort.signal.aborted) {
        log.info(
          { runs: taken },
          `workflows: deciding for app ${app.name} (${definitions.workflows.length} workflow(s), ${taken} open run(s) taken up)`,
        );
        poll();
      }
      await ended;
      await stepDown();
      if (!abort.signal.aborted)
        log.error(
          { lock: DECIDER_LOCK },
          `workflows: the decider lock "${DECIDER_LOCK}" lapsed; another daemon may decide now, this one waits to take over`,
        );
    }
  };

  /** Ends this daemon's term as decider: no more reports, the engine closed (running activities get `graceMs`), then the lock and the file go. */
  const stepDown = async () => {
    clearTimeout(pollTimer);
    const current = engine;
    engine = undefined;
    stopRenewing?.();
    stopRenewing = undefined;
    // Reports not taken yet go back to the queue for the next decider, before the engine forgets its runs.
    await broker?.stopDeciding();
    await current?.close(closeGraceMs);
    await lock?.release().catch(() => undefined);
    lock = undefined;
    await releaseFile?.();
    releaseFile = undefined;
  };

  const host: WorkflowHost = {
    async start() {
      if (deciding) throw new FlowdError('ERR_INVALID_STATE', 'the workflow host was already started');
      if (settings.broker) broker = await openBroker(settings.broker);
      if (!settings.decide) {
        log.info(`workflows: this daemon runs activities only ([Workflow] decide = no)`);
        deciding = Promise.resolve();
        return;
      }
      deciding = decide().catch((error: unknown) => log.error({ err: error }, `workflows: stopped deciding: ${(error as Error).message}`));
    },
    async startWorkflow(name, input, start = {}) {
      if (closing) throw new FlowdError('ERR_SHUTDOWN', `workflow ${name} was not started: the runtime is stopping`);
      const json = toJson(input, `the input of workflow ${name}`);
      if (engine) return engine.start(name, json, start);
      const workflow = latestWorkflow(definitions.workflows, name);
      const runId = start.runId ?? randomUUID();
      await recordRun(store, newRun(workflow, runId, json, Date.now(), settings.limits));
      log.info({ runId, workflow: name }, `workflow ${name} run ${runId} recorded; the deciding daemon takes it up`);
      return runId;
    },
    run: (runId) => readRun(store, runId),
    async ended(runId, signal) {
      for (;;) {
        signal?.throwIfAborted();
        if (closing) throw new FlowdError('ERR_SHUTDOWN', `workflow run ${runId} had not ended when the runtime stopped`);
        const current = engine;
        if (current) {
          try {
            return await current.ended(runId);
          } catch (error) {
            // This daemon stepped down: the store says when the run ends.
            if ((error as { code?: unknown }).code !== 'ERR_SHUTDOWN' || closing) throw error;
            continue;
          }
        }
        const record = await readRun(store, runId);
        if (!record) throw new FlowdError('ERR_WORKFLOW', `no workflow run "${runId}" in the store`);
        if (record.state !== 'running') return record;
        await pause(settings.pollIntervalMs);
      }
    },
    stats() {
      return { decider: engine ? 1 : 0, runs: engine?.runs() ?? 0, taskLists: engine?.stats() ?? {} };
    },
    inspect(next) {
      observer = next;
    },
    close(graceMs) {
      closing ??= (async () => {
        closeGraceMs = graceMs;
        // The decide loop steps down (once) and ends.
        abort.abort();
        await deciding;
        await broker?.close(graceMs);
      })();
      return closing;
    },
  };
  return host;
}
