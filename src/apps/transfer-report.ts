import { FlowdError } from '../kernel/errors.js';

/**
 * One report about a transfer step, the same JSON on stdout (one line each)
 * and as the body PUT to the step's URL:
 * `{"progress":42}`, `{"status":"completed"}`, `{"status":"failed","message":"..."}`.
 */
export type TransferReport = { progress: number } | { status: 'completed' } | { status: 'failed'; message: string };

/** How a ProgressReporter sends, waits and tells the time. */
export interface ProgressReporterOptions {
  /** Sends one report; reports are sent one at a time, in order. */
  send(report: TransferReport): Promise<void>;
  /** Called when a progress report could not be sent (the transfer goes on). */
  onError(error: unknown): void;
  /** The shortest time between two progress reports; 0 sends every change. @default 1000 */
  intervalMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Reports a transfer's progress: whole percentages from 0 to 100, only
 * upwards (a lower value is ignored), at most one report per interval. A
 * value that comes too soon waits for the end of the interval, replaced by
 * any later one; 100 and the final status go at once, after the waiting
 * value, so 0, 99, 100 in quick succession are all reported.
 */
export class ProgressReporter {
  readonly #options: Required<ProgressReporterOptions>;
  #chain: Promise<void> = Promise.resolve();
  /** The highest value accepted so far (sent or waiting). */
  #highest = -1;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #waiting: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #finished = false;

  constructor(options: ProgressReporterOptions) {
    this.#options = { intervalMs: 1000, now: Date.now, ...options };
  }

  /**
   * Accepts a percentage; resolves once it is sent (or replaced, or ignored).
   * @throws FlowdError ERR_TRANSFER for a value that is not a number from 0 to 100
   */
  progress(percent: number): Promise<void> {
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new FlowdError('ERR_TRANSFER', `updateProgress() got ${JSON.stringify(percent)}; expected a number from 0 to 100`);
    }
    // Floor: 99.7% is not done yet.
    const value = Math.floor(percent);
    if (this.#finished || value <= this.#highest) return this.#chain;
    this.#highest = value;
    const now = this.#options.now();
    if (value === 100 || now - this.#lastSentAt >= this.#options.intervalMs) {
      this.#flushWaiting();
      return this.#sendProgress(value);
    }
    this.#waiting = value;
    this.#timer ??= setTimeout(
      () => {
        this.#timer = undefined;
        this.#flushWaiting();
      },
      this.#lastSentAt + this.#options.intervalMs - now,
    );
    return this.#chain;
  }

  /** Sends any waiting progress, then the final status; later progress is ignored. Rejects when the status could not be sent. */
  finish(report: TransferReport & { status: string }): Promise<void> {
    this.#flushWaiting();
    this.#finished = true;
    const sent = this.#chain.then(() => this.#options.send(report));
    this.#chain = sent.catch(() => {});
    return sent;
  }

  #flushWaiting(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting !== undefined) void this.#sendProgress(waiting);
  }

  #sendProgress(progress: number): Promise<void> {
    this.#lastSentAt = this.#options.now();
    this.#chain = this.#chain.then(() => this.#options.send({ progress })).catch((error: unknown) => this.#options.onError(error));
    return this.#chain;
  }
}
