import { closeSync, existsSync, openSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Runner } from '../../actors/workers/worker.js';
import { loadAppConfig, type AppConfig } from '../config/app-config.js';
import type { EmailSettings } from '../config/email-settings.js';
import { formatDuration } from '../kernel/duration.js';
import { toIniKeys } from '../config/flow-settings.js';
import { ConfigError, FlowdError, UsageError } from '../kernel/errors.js';
import { createLogger } from '../runtime/logger.js';
import { redactUrl } from '../../actors/sources/stomp-url.js';
import { displayUrl } from '../../actors/display-url.js';
import { storeTableFor } from '../../actors/stores/postgres-table.js';
import type { StoreSettings } from '../config/store-settings.js';
import { assembleRuntime, type RunSummary } from '../runtime/runtime.js';
import { appGraph, writeFileAtomically } from '../graph/command.js';
import { compileSource, sourceTypes, type CompiledSource } from '../runtime/sources.js';
import { setImportLog } from '../../actors/import-module.js';
import { loadWorker, resolveWorkerSpec, type WorkerSpec } from '../runtime/worker-loader.js';
import type { PluginInfo } from '../../actors/plugins/plugin-api.js';
import { listPlugins, reactivatePlugin, resetCursor, withLoadedPlugins } from './plugins-command.js';
import { loadWorkflowModule, type WorkflowDefinitions } from '../workflows/module.js';
import { workflowsOnly } from '../workflows/workflows-only.js';
import { parseInput, readWorkflowRun, renderRun, startWorkflowRun, waitForWorkflowRun } from './workflow-command.js';
import { parse, usageHint, type CommandKey, type Invocation } from './cli-args.js';
import { flowdDependency, flowdVersion } from './package-info.js';
import { makeFolder } from './make-folder.js';

/** Exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** The app's source: `[Source] type`, else the worker class's `static SOURCE` with `[Source]` keys on top. */
function sourceFor(config: AppConfig, runner: Runner | undefined): CompiledSource {
  const where = { file: config.file, section: 'Source', lines: config.source.lines };
  if (config.source.type)
    return compileSource(config.source.type, config.source.values, where, { ...config.app, workers: config.settings.workers });
  const fromClass = runner?.source;
  if (fromClass === undefined) {
    const why = runner ? `worker "${runner.name}" has no static SOURCE` : 'an app with [Plugins] reads an event log';
    throw new ConfigError(
      { file: config.file, section: 'Source', key: 'type' },
      `is missing and ${why}; expected type = ${runner ? `one of ${sourceTypes().join(', ')}` : 'event-log'}`,
    );
  }
  const spec = typeof fromClass === 'string' ? { type: fromClass } : fromClass;
  const { type, ...options } = spec;
  const values = new Map([...toIniKeys(options), ...config.source.values]);
  return compileSource(type, values, where, { ...config.app, workers: config.settings.workers });
}

async function prepare(invocation: Invocation, { email = true } = {}) {
  const config = await loadAppConfig(invocation.file!, {
    // A command that sends no mail does not need the mail secret.
    ...(email ? {} : { email: false }),
    ...(invocation.name !== undefined ? { appName: invocation.name } : {}),
    ...(invocation.workers !== undefined ? { workers: invocation.workers } : {}),
    ...(invocation.logLevel !== undefined ? { logLevel: invocation.logLevel } : {}),
    ...(invocation.inspect !== undefined ? { inspect: invocation.inspect } : {}),
  });
  if (!config.workerClass && !config.plugins && !config.workflow) {
    throw new ConfigError(
      { file: config.file, section: 'Flow', key: 'class' },
      'is missing; expected the worker, e.g. class = ./worker.ts:MyWorker (or a [Plugins] section for an event-log app, or a [Workflow] section)',
    );
  }
  if (config.log.file) checkWritable(config.log.file, config.file);
  // An app with [Plugins] has no worker class: its plugins are loaded with the app's logger, in run().
  const runner = config.workerClass
    ? await loadWorker(config.workerClass, config.app.dir, {
        file: config.file,
        section: 'Flow',
        key: 'class',
        line: config.workerClassLine,
      })
    : undefined;
  runner?.check?.(config.sections, config.app, config.file, config.sectionLines);
  const workerModule = runner && config.settings.isolation === 'thread' ? await threadModule(config) : undefined;
  const workflows = config.workflow ? await loadWorkflowModule(config.workflow.module) : undefined;
  const source = !runner && !config.plugins ? workflowsOnly().source : sourceFor(config, runner);
  return { config, runner, source, workflows, workerModule };
}

/** `isolation = thread`: the module file each thread loads the worker from. */
async function threadModule(config: AppConfig): Promise<WorkerSpec> {
  try {
    return await resolveWorkerSpec(config.workerClass!, config.app.dir);
  } catch {
    throw new ConfigError(
      { file: config.file, section: 'Flow', key: 'isolation' },
      `is thread, but class = ${config.workerClass} is not a module file a thread can load (a built-in app); expected class = ./file.ts:Export, or isolation = process`,
    );
  }
}

/** `[Log] file` must be a file flowd can create or append to. */
function checkWritable(file: string, iniFile: string): void {
  try {
    makeFolder(path.dirname(file));
    closeSync(openSync(file, 'a'));
  } catch (error) {
    throw new ConfigError(
      { file: iniFile, section: 'Log', key: 'file' },
      `found "${file}", which cannot be written: ${(error as Error).message}; expected a file flowd can append to`,
    );
  }
}

/** Where the store lives, for the start-up line: the password never shown. */
function storeSummary(store: StoreSettings, appName: string): string {
  if (store.backend === 'redis') return `redis ${displayUrl(store.url)}`;
  if (store.backend === 'postgres') return `postgres ${displayUrl(store.url)} table ${store.table ?? storeTableFor(appName)}`;
  return `file ${store.folder}`;
}

function summaryLine(
  config: AppConfig,
  runner: Runner | undefined,
  source: CompiledSource,
  plugins: PluginInfo[] = [],
  workflows?: WorkflowDefinitions,
): string {
  const s = config.settings;
  const { store, lock, api } = config.services;
  const services = [
    `store ${storeSummary(store, config.app.name)}`,
    `locks ${lock.backend === 'redis' ? `redis ${displayUrl(lock.url)}` : 'local'} (lease ${formatDuration(lock.leaseMs)})`,
    ...(api ? [`api ${api.origin}`] : []),
    ...(config.email ? [emailSummary(config.email)] : []),
    ...(config.services.apiMissing ? ['api without hostname (set it before the app uses the API)'] : []),
  ];
  const worker = runner
    ? `worker ${runner.name} (${config.workerClass})`
    : config.plugins
      ? `plugins ${plugins.map((p) => `${p.name} (${p.callbacks.length} callback(s))`).join(', ') || '(none yet)'} from ${config.plugins.paths.join(', ')}`
      : 'no worker';
  const flows = workflows
    ? `, workflows ${workflows.workflows.map((w) => `${w.name} ${w.version}`).join(', ') || '(none)'} and ${workflows.activities.length} activit${workflows.activities.length === 1 ? 'y' : 'ies'} (${config.workflow!.broker ? `task lists over ${redactUrl(config.workflow!.broker)}` : 'task lists in this process'}, concurrency ${config.workflow!.concurrency}${config.workflow!.decide ? '' : ', activities only: never decides'})`
    : '';
  if (!runner && !config.plugins) return `${config.app.name}: ok: ${flows.slice(2)}, ${services.join(', ')}`;
  return `${config.app.name}: ok: ${worker}${flows}, source ${source.description}, ${s.workers} worker(s), queue ${s.queueSize}, queue timeout ${formatDuration(s.queueTimeoutMs)}, execution timeout ${formatDuration(s.executionTimeoutMs)}, retries ${s.retries}${s.orderBy ? `, order by ${s.orderBy.join('.')}` : ''}, ${services.join(', ')}`;
}

/** `[Email]` in `flowd check`'s line: where alerts go (never the login). */
function emailSummary(email: EmailSettings): string {
  const security = email.tls === 'yes' ? ', tls' : email.tls === 'starttls' ? ', starttls' : '';
  const every = `at most one per plugin every ${formatDuration(email.intervalMs)}`;
  return `e-mail${email.enabled ? '' : ' (disabled)'} to ${email.to.join(', ')} via ${email.host}:${email.port}${security} (${every})`;
}

function exitCodeFor(summary: RunSummary): number {
  if (summary.reason === 'source failed') return EXIT.failure;
  if (summary.reason === 'requested') return EXIT.ok;
  const { failed, expired, rejected, returned } = summary.counters;
  return failed + expired + rejected + returned === 0 ? EXIT.ok : EXIT.failure;
}

async function run(invocation: Invocation, stderr: (line: string) => void, stdout: StdoutWatch): Promise<number> {
  const { config, runner: worker, source, workflows, workerModule } = await prepare(invocation);
  const logger: Logger = createLogger(config.log, config.app.name);
  // Plugins reloaded later log how their TypeScript loads as the app logs (the worker loaded before: stderr).
  setImportLog(logger);
  // The worker the runtime runs, as the messages below name it: the app's, its plugins', or none (workflows only).
  const workerName = worker?.name ?? (config.plugins ? 'plugins' : 'workflows');
  // An app with workflows may still be connecting to its broker after configure().
  const startupStep =
    workerName === 'workflows'
      ? 'its workflows started'
      : `worker "${workerName}" finished configure()${config.workflow ? ' and its workflows started' : ''}`;
  const runtime = assembleRuntime({
    worker,
    workerModule,
    source,
    settings: config.settings,
    app: config.app,
    config: config.sections,
    logger,
    services: config.services,
    plugins: config.plugins,
    email: config.email,
    workflows: config.workflow && workflows ? { settings: config.workflow, definitions: workflows } : undefined,
    // The first signal drains; the exit code is this function's, which counts the events that failed.
    signals: {
      startupStep,
      onStartupSignal: (signal, step) => stderr(`flowd: stopped by ${signal} during start-up, before ${step}`),
      exitWhenDrained: false,
    },
  });
  if (config.inspector) {
    try {
      // Logs `inspector at <url>` (never with the token).
      await runtime.inspect(config.inspector);
    } catch (error) {
      if (error instanceof FlowdError) throw error;
      const { port, interface: host } = config.inspector;
      stderr(`flowd: the inspector cannot listen on ${host}:${port}: ${(error as Error).message}`);
      return EXIT.failure;
    }
  }
  // Stdout belongs to the app: a reader that went away (| head) must not crash the daemon.
  stdout.logTo(logger);
  let started = false;
  // A configure() (or a run) that waits on nothing would otherwise end the process silently.
  const onIdle = () => {
    stderr(
      started
        ? 'flowd: the run stalled with nothing left to wait for'
        : `flowd: worker "${workerName}" never finished configure() (it waits on nothing)`,
    );
    process.exit(EXIT.failure);
  };
  process.once('beforeExit', onIdle);
  try {
    await runtime.start();
    started = true;
  } catch (error) {
    process.off('beforeExit', onIdle);
    // What went wrong, not where in flowd: the stack is for --log-level debug.
    const message = describeFailure(error);
    const code = (error as { code?: unknown } | null)?.code;
    logger.fatal({ error: { ...(typeof code === 'string' ? { code } : {}), message } }, message);
    logger.debug({ err: error }, `${message} (the stack)`);
    stderr(`flowd: ${message}`);
    return EXIT.failure;
  }
  const summary = await runtime.done;
  process.off('beforeExit', onIdle);
  if (summary.reason === 'source failed') stderr(`flowd: source ${source.type} failed: ${summary.sourceError?.message ?? 'unknown error'}`);
  return exitCodeFor(summary);
}

/** `flowd check` loads every plugin: one that cannot be loaded is a ConfigError naming its file (exit 2). */
async function checkPlugins(config: AppConfig): Promise<PluginInfo[]> {
  return withLoadedPlugins(config, (plugins) => {
    const broken = plugins.find((plugin) => plugin.state === 'deactivated');
    if (broken)
      throw new ConfigError({ file: broken.file }, `plugin "${broken.name}" cannot be loaded: ${broken.error?.message ?? 'unknown error'}`);
    return plugins;
  });
}

async function workflowCommand(
  invocation: Invocation,
  io: { stdout: (line: string) => void; stderr: (line: string) => void },
): Promise<number> {
  const { action, argument, input, wait, timeoutMs } = invocation.workflow!;
  const json = action === 'start' ? parseInput(input) : null;
  const { config, workflows } = await prepare(invocation, { email: false });
  if (!config.workflow || !workflows)
    throw new ConfigError(
      { file: config.file, section: 'Workflow' },
      `is missing; flowd workflow ${action} works on an app with [Workflow] module = ./workflows.ts`,
    );
  if (action === 'status') {
    io.stdout(renderRun(await readWorkflowRun(config, argument), invocation.json === true));
    return EXIT.ok;
  }
  const runId = await startWorkflowRun(config, workflows, argument, json);
  io.stdout(runId);
  // The id is out before the wait: a wait that hangs or is cut short by Ctrl-C still shows it.
  await flushStdout();
  if (!wait) return EXIT.ok;
  io.stderr(`flowd: waiting for the run to end (the app's daemon runs it: flowd run ${config.file})`);
  let following = runId;
  let notes = 0;
  const record = await waitForWorkflowRun(config, runId, {
    pollMs: Math.min(config.workflow.pollIntervalMs, 500),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    // A deciding daemon takes up a new run within its poll interval: well past that, say that none seems to be there.
    unclaimedAfterMs: Math.max(3000, 2 * config.workflow.pollIntervalMs),
    unclaimedEveryMs: 15_000,
    onUnclaimed: (id, waitedMs) =>
      io.stderr(
        notes++ === 0
          ? `flowd: no daemon has taken up run ${id} after ${formatDuration(Math.round(waitedMs / 1000) * 1000)}: is one deciding for app ${config.app.name}? Start one with: flowd run ${config.file} (still waiting; Ctrl-C stops waiting, the run stays recorded)`
          : `flowd: still waiting for a daemon to take up run ${id} (${formatDuration(Math.round(waitedMs / 1000) * 1000)} so far; flowd run ${config.file} runs it)`,
      ),
    onClaimed: (id) => io.stderr(`flowd: a daemon has taken up run ${id}`),
    onProgress: (line) => io.stderr(`flowd: ${line}`),
    onContinued: async (previous, next) => {
      following = next;
      io.stderr(`flowd: run ${previous} continues as new in run ${next}`);
      io.stdout(next);
      await flushStdout();
    },
  });
  if (!record) {
    io.stderr(
      `flowd: run ${following} is still running after ${formatDuration(timeoutMs!)} (--timeout); it goes on. See it with: flowd workflow status ${config.file} ${following}`,
    );
    return EXIT.failure;
  }
  io.stdout(renderRun(record, false));
  return record.state === 'failed' ? EXIT.failure : EXIT.ok;
}

/** Resolves once what was written to stdout so far has been handed to the OS (pipes may be asynchronous). */
function flushStdout(): Promise<void> {
  return new Promise((resolve) => process.stdout.write('', () => resolve()));
}

/** `--out`: writes the file, or a ConfigError (exit 2) saying in one line why it cannot. */
async function writeOut(file: string, text: string): Promise<string> {
  try {
    return await writeFileAtomically(file, text);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const folder = path.dirname(path.resolve(file));
    const reason =
      code === 'ENOENT'
        ? existsSync(folder)
          ? `no file can be made in ${folder}`
          : `the folder ${folder} does not exist`
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? `permission denied`
          : code === 'EISDIR'
            ? 'it is a folder'
            : code === 'ENOTDIR'
              ? `a part of ${folder} is a file, not a folder`
              : message;
    throw new ConfigError({}, `--out: cannot write ${file}: ${reason}; expected a file in a folder that exists`, { cause: error });
  }
}

/** `flowd init [folder]`: loaded only for it. */
async function init(invocation: Invocation, io: { stdout: (line: string) => void }): Promise<number> {
  const { initApp, describeInit } = await import('./init-command.js');
  io.stdout(describeInit(await initApp(invocation.folder ?? '.', { version: flowdVersion(), tsxVersion: flowdDependency('tsx') ?? '^4' })));
  return EXIT.ok;
}

/**
 * Runs the flowd command line and returns the exit code.
 * Usage and configuration errors exit 2, runtime failures 1. Whatever goes
 * wrong, the user sees what it was in a line or two, never a stack trace.
 */
export async function main(
  argv: string[],
  io: { stdout: (line: string) => void; stderr: (line: string) => void } = {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  },
): Promise<number> {
  const stdout = watchStdout();
  const code = await command(argv, io, stdout);
  await flushStdout();
  stdout.close();
  if (stdout.error && stdout.error.code !== 'EPIPE') {
    io.stderr(`flowd: cannot write to stdout: ${stdout.error.message}`);
    return EXIT.failure;
  }
  return code;
}

/** What became of stdout while a command ran. */
interface StdoutWatch {
  /** Its first error, if any. */
  readonly error: NodeJS.ErrnoException | undefined;
  /** From now on, the first error is also logged (`flowd run`: what the app writes there is dropped, and the daemon goes on). */
  logTo(logger: Logger): void;
  /** Stops watching (after a run, once the process exits). */
  close(): void;
}

/**
 * The one stdout 'error' listener: what a command prints, or the app writes,
 * must reach stdout; a full disk is a failure, a reader that left (| head)
 * is not.
 */
function watchStdout(): StdoutWatch {
  let error: NodeJS.ErrnoException | undefined;
  let logger: Logger | undefined;
  let logged = false;
  const onError = (e: NodeJS.ErrnoException) => {
    error ??= e;
    if (!logger || logged) return;
    logged = true;
    if (e.code === 'EPIPE') logger.warn('stdout was closed by its reader (EPIPE); what the app writes there is dropped');
    else logger.error({ code: e.code }, `stdout cannot be written (${e.message}); what the app writes there is dropped`);
  };
  process.stdout.on('error', onError);
  return {
    get error() {
      return error;
    },
    logTo: (log) => {
      logger = log;
    },
    // After a run the listener stays until the process exits: what the app wrote may still fail to reach a reader that left.
    close: () => {
      if (!logger) process.stdout.off('error', onError);
    },
  };
}

async function command(
  argv: string[],
  io: { stdout: (line: string) => void; stderr: (line: string) => void },
  stdout: StdoutWatch,
): Promise<number> {
  let key: CommandKey | undefined;
  try {
    const invocation = parse(argv);
    key = invocation.key;
    switch (invocation.command) {
      case 'help':
        io.stdout(invocation.help!);
        return EXIT.ok;
      case 'version':
        io.stdout(flowdVersion());
        return EXIT.ok;
      case 'init':
        return await init(invocation, io);
      case 'check': {
        const { config, runner, source, workflows } = await prepare(invocation);
        const plugins = config.plugins ? await checkPlugins(config) : [];
        io.stdout(summaryLine(config, runner, source, plugins, workflows));
        return EXIT.ok;
      }
      case 'workflow':
        return await workflowCommand(invocation, io);
      case 'plugins': {
        const { config, source } = await prepare(invocation, { email: false });
        if (!config.plugins)
          throw new ConfigError(
            { file: config.file, section: 'Plugins' },
            'is missing; flowd plugins lists the plugins of an event-log app',
          );
        const reset = invocation.resetCursor;
        io.stdout(
          reset
            ? await resetCursor(config, source, reset.plugin, reset.to)
            : invocation.reactivate !== undefined
              ? await reactivatePlugin(config, source, invocation.reactivate)
              : await listPlugins(config, invocation.json === true),
        );
        return EXIT.ok;
      }
      case 'events': {
        const { eventsCommand } = await import('./events-command.js');
        io.stdout(await eventsCommand({ file: invocation.file!, name: invocation.name, json: invocation.json, ...invocation.events }));
        return EXIT.ok;
      }
      case 'graph': {
        const { config } = await prepare(invocation, { email: false });
        const text = await appGraph(invocation.format ?? 'mermaid', config.app.name);
        io.stdout(invocation.out === undefined ? text.replace(/\n$/, '') : await writeOut(invocation.out, text));
        return EXIT.ok;
      }
      case 'run':
        return await run(invocation, io.stderr, stdout);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      // What is wrong, and where the usage is: not the whole help.
      const command = 'command' in error ? (error.command as CommandKey | undefined) : key;
      io.stderr(`flowd: ${error.message}\n${usageHint(command)}`);
      return EXIT.usage;
    }
    if (error instanceof FlowdError && (error.code === 'ERR_CONFIG' || error.code === 'ERR_WORKER_LOAD')) {
      io.stderr(`flowd: ${error.message}`);
      return EXIT.usage;
    }
    io.stderr(`flowd: ${describeFailure(error)}`);
    return EXIT.failure;
  }
}

/** One line for an error nothing else explained: its message, not its stack. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message || error.name;
}
