import { pino } from 'pino';
import { toRunner, type AppSections, type ConfigureContext, type WorkerContext } from '../../actors/workers/worker.js';
import type { ApiClient } from '../../src/toolkit/client.js';
import { ConfigError } from '../../src/kernel/errors.js';
import type { TransferPlugin } from '../../src/apps/transfer.js';

/** What a transfer plugin did with one event. */
export interface TransferRun {
  /** The JSON lines it wrote on stdout, parsed. */
  reports: unknown[];
  result?: unknown;
  error?: Error;
}

type PluginClass = abstract new () => TransferPlugin;

/**
 * Runs a transfer plugin class the way the runtime does (toRunner, then
 * configure, then one event), with its stdout lines collected.
 */
export async function runTransfer(
  Plugin: PluginClass,
  event: unknown,
  options: { config?: AppSections; client?: ApiClient; dir?: string; signal?: AbortSignal } = {},
): Promise<TransferRun> {
  const reports: unknown[] = [];
  // Abstract only to the type checker: the class given is concrete at run time.
  abstract class Recorded extends Plugin {
    protected override writeLine(line: string): void {
      reports.push(JSON.parse(line));
    }
  }
  const runner = toRunner(Recorded, Plugin.name)!;
  const ctx = {
    log: pino({ level: 'silent' }),
    app: { name: 'transfer-test', dir: options.dir ?? process.cwd(), stateDir: options.dir ?? process.cwd() },
    config: options.config ?? {},
    store: undefined as never,
    lock: () => Promise.reject(new Error('no locks in this test')),
    withLock: () => Promise.reject(new Error('no locks in this test')),
    get client(): ApiClient {
      if (!options.client) throw new ConfigError({ section: 'Api' }, 'is missing');
      return options.client;
    },
  } satisfies ConfigureContext;
  await runner.configure(ctx);
  const workerCtx: WorkerContext = Object.create(ctx, {
    signal: { value: options.signal ?? new AbortController().signal },
    attempt: { value: 1 },
    id: { value: 'stdin' },
    meta: { value: {} },
    publish: { value: () => Promise.reject(new Error('no publish in this test')) },
  }) as WorkerContext;
  try {
    return { reports, result: await runner.run(event, workerCtx) };
  } catch (error) {
    return { reports, error: error as Error };
  }
}
