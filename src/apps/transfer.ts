import { Flow, type AppInfo, type AppSections, type WorkerContext } from '../../actors/workers/worker.js';
import { appSectionReader, type SectionReader } from '../kernel/section-reader.js';
import { FlowdError } from '../kernel/errors.js';
import { readTransferData, redact, type TransferAsset, type TransferData, type UseOptions } from './transfer-data.js';
import { ProgressReporter, type TransferReport } from './transfer-report.js';

export type { TransferAsset, TransferData, UseOptions } from './transfer-data.js';
export type { TransferReport } from './transfer-report.js';

/** `[Transfer]`, compiled. */
export interface TransferSettings {
  /** `progress interval`: the shortest time between two progress reports. @default 1000 (1s) */
  progressIntervalMs: number;
}

/** Reads `[Transfer]` (a section of the plugin's own; every key is optional). */
export function compileTransferSettings(reader: SectionReader): TransferSettings {
  return { progressIntervalMs: reader.duration('progress interval', 1000) };
}

/** Each section's key (as written) -> line, as `flowd check` passes them to `checkConfig`. */
type SectionLines = ReadonlyMap<string, ReadonlyMap<string, number>>;

/**
 * Compiles one of the app's own sections with `compile`, then rejects the
 * keys it did not read: a ConfigError naming the file, line, section and key.
 */
export function checkAppSection(
  config: AppSections,
  section: string,
  compile: (reader: SectionReader) => unknown,
  file?: string,
  lines?: SectionLines,
): void {
  const own = Object.hasOwn(config, section) ? config[section] : undefined;
  const reader = appSectionReader(own, { file, section, lines: lines?.get(section) });
  compile(reader);
  reader.finish();
}

/** What `start()` resolves to when the plugin called `fail(message)`: the event succeeded, the transfer did not. */
export interface TransferFailure {
  status: 'failed';
  message: string;
}

/** Thrown by `fail()` to end `start()` (ERR_TRANSFER); the base class turns it into a reported failure. */
class TransferFailed extends FlowdError {
  constructor(message: string) {
    super('ERR_TRANSFER', message);
  }
}

/**
 * Flow's `flow.transfer.TransferPlugin`: the base class of a transfer plugin.
 * It reads its plugin data once from standard input (`static SOURCE` is
 * stdin, `mode = once`), checks it with `use()`, and reports to the transfer
 * step: `updateProgress(percent)`, then `{"status":"completed"}` when
 * `start()` returns, or `{"status":"failed","message":...}` after
 * `fail(message)`. Reports are PUT as JSON to the data's `step` URL through
 * the `[Api]` client when the data names one, and written as JSON lines on
 * stdout otherwise.
 *
 * `fail(message)` ends `start()` like Flow's (which exits with status 0):
 * the failure is reported, the event completes with `{ status: 'failed',
 * message }`, and `flowd run` exits 0. Any other error is reported as
 * failed too, then fails the event as usual (exit 1).
 *
 * A plugin handles one transfer at a time (`this.asset`, `this.source`, ...
 * belong to the current one), which is what a stdin source gives it.
 * @example
 * export class MyTransfer extends TransferPlugin {
 *   async start(data: unknown) {
 *     this.use(data);
 *     await this.updateProgress(0);
 *     this.log.info(`asset ${this.asset!.id} from ${this.source} to ${this.destination}`);
 *     if (!ok) this.fail('There were errors!');
 *     await this.updateProgress(100);
 *   }
 * }
 */
export abstract class TransferPlugin<R = unknown> extends Flow<unknown, R | TransferFailure> {
  static override SOURCE: (typeof Flow)['SOURCE'] = { type: 'stdin', mode: 'once' };
  /** The data `use()` read last. */
  data: TransferData | undefined;
  /** `data.asset`. */
  asset: TransferAsset | undefined;
  /** `data.source`, a URL. */
  source: string | undefined;
  /** `data.destination`, a URL. */
  destination: string | undefined;
  /** `data.step`, the transfer step's URL. */
  step: string | undefined;
  /** `data.settings` (username, password, ...). */
  settings: Record<string, string> = {};
  #reporter: ProgressReporter | undefined;
  #signal: AbortSignal | undefined;
  #transferSettings: TransferSettings | undefined;

  /**
   * Compiles `[Transfer]` without starting anything: a ConfigError naming
   * the file, line and key on a problem. For `flowd check` (and `run`,
   * before anything starts); a subclass with sections of its own extends it.
   */
  static checkConfig(config: AppSections, _app: AppInfo, file?: string, lines?: SectionLines): void {
    checkAppSection(config, 'Transfer', compileTransferSettings, file, lines);
  }

  constructor() {
    super();
    // [Transfer] is read at start-up, so a typo stops the app before it takes its data.
    const configure = this.configure?.bind(this);
    Object.defineProperty(this, 'configure', {
      value: async () => {
        this.#transferSettings = this.#settings();
        await configure?.();
      },
      configurable: true,
      writable: true,
    });
    // Wrap the subclass's start(): the runtime calls it, and fail() must end it cleanly.
    const start = this.start.bind(this);
    Object.defineProperty(this, 'start', {
      value: (event: unknown, ctx: WorkerContext) => this.#run(start, event, ctx),
      configurable: true,
      writable: true,
    });
  }

  /**
   * Reads and checks the plugin data (JSON or XML text, or a parsed value),
   * sets `data`, `asset`, `source`, `destination`, `step` and `settings`,
   * and returns the data.
   * @throws FlowdError ERR_TRANSFER naming what is missing or malformed
   */
  use(data: unknown, options: UseOptions = {}): TransferData {
    const read = readTransferData(data, options, 'the transfer data');
    this.data = read;
    this.asset = read.asset;
    this.source = read.source;
    this.destination = read.destination;
    this.step = read.step;
    this.settings = read.settings;
    return read;
  }

  /**
   * Reports progress, 0 to 100 (floored, only upwards, at most one report
   * per `[Transfer] progress interval`; 100 goes at once). Resolves once
   * sent; a report that cannot be sent is logged, and the transfer goes on.
   */
  updateProgress(percent: number): Promise<void> {
    return this.#reporterNow().progress(percent);
  }

  /**
   * Fails the transfer step with a message for the user and ends `start()`;
   * the process exits 0, as with Flow.
   * @example if (!exists) this.fail(`no such file: ${path}`);
   */
  fail(message: string): never {
    throw new TransferFailed(String(message));
  }

  /** Writes one report line; stdout belongs to the app. Override to send them elsewhere. */
  protected writeLine(line: string): void {
    process.stdout.write(`${line}\n`);
  }

  /** The clock of the progress rate limit. */
  protected now(): number {
    return Date.now();
  }

  async #run(start: (event: unknown, ctx: WorkerContext) => unknown, event: unknown, ctx: WorkerContext): Promise<R | TransferFailure> {
    this.#reporter = undefined;
    this.#signal = ctx.signal;
    this.data = this.asset = this.source = this.destination = this.step = undefined;
    this.settings = {};
    let result: unknown;
    try {
      result = await start(event, ctx);
    } catch (error) {
      if (error instanceof TransferFailed) {
        this.log.warn({ step: this.step }, `transfer failed: ${error.message}`);
        await this.#reporterNow().finish({ status: 'failed', message: error.message });
        return { status: 'failed', message: error.message };
      }
      const message = error instanceof Error ? error.message : String(error);
      try {
        await this.#reporterNow().finish({ status: 'failed', message });
      } catch (reportError) {
        this.log.error({ err: reportError }, `the failure could not be reported: ${(reportError as Error).message}`);
      }
      throw error;
    }
    await this.#reporterNow().finish({ status: 'completed' });
    return result as R;
  }

  #reporterNow(): ProgressReporter {
    this.#reporter ??= new ProgressReporter({
      send: (report) => this.#send(report),
      onError: (error) => this.log.warn({ err: error }, `progress could not be reported: ${(error as Error).message}`),
      intervalMs: (this.#transferSettings ??= this.#settings()).progressIntervalMs,
      now: () => this.now(),
    });
    return this.#reporter;
  }

  #settings(): TransferSettings {
    const section = this.config?.Transfer ?? {};
    const reader = appSectionReader(section, { section: 'Transfer' });
    const settings = compileTransferSettings(reader);
    reader.finish();
    return settings;
  }

  async #send(report: TransferReport): Promise<void> {
    if (this.step === undefined) {
      this.writeLine(JSON.stringify(report));
      return;
    }
    try {
      // PUT: each report is the step's whole new state, so a retry is harmless.
      await this.client.put(this.step, report, { ...(this.#signal ? { signal: this.#signal } : {}) });
    } catch (error) {
      throw new FlowdError(
        'ERR_TRANSFER',
        `reporting ${JSON.stringify(report)} to the transfer step ${redact(this.step)} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}
