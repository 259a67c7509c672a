import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Feed, SourceDriver } from './driver.js';
import { compilePayloadClass, parsePayload, type PayloadClass } from './payload.js';
import type { SourceKind } from './source-kind.js';
import type { SectionReader } from '../../src/kernel/section-reader.js';

/** `[Source] type = stdin`, compiled. */
export interface StdinOptions {
  /** `once`: all of the input is one event (Flow's STDIN); `lines`: one event per line. @default 'once' */
  mode: 'once' | 'lines';
  /** `text` hands the worker a string; `json` and `xml` parse it first. @default 'text' */
  payloadClass: PayloadClass;
}

/**
 * Reads standard input (or any readable stream). In `lines` mode it pulls
 * one line at a time and stops pulling while paused, so a large input never
 * floods the queue. A line that is not JSON (with `payload class = json`)
 * (or XML) becomes a failed event naming the line number; the rest go on.
 * Blank lines are skipped in `lines` mode.
 */
export function stdinDriver(options: StdinOptions, input: Readable = process.stdin): SourceDriver {
  let paused = false;
  let stopped = false;
  let wake: (() => void) | undefined;

  const parse = (text: string, where: string) => parsePayload(text, options.payloadClass, where);

  const readOnce = async (feed: Feed): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    if (stopped) return;
    const { payload, error } = parse(Buffer.concat(chunks).toString('utf8'), 'standard input');
    feed.deliver(payload, { id: 'stdin', ...(error ? { error } : {}) });
  };

  const readLines = async (feed: Feed): Promise<void> => {
    const lines = createInterface({ input, crlfDelay: Infinity });
    let number = 0;
    for await (const line of lines) {
      number++;
      while (paused && !stopped) await new Promise<void>((resolve) => (wake = resolve));
      if (stopped) break;
      if (line.trim() === '') continue;
      const { payload, error } = parse(line, `line ${number}`);
      feed.deliver(payload, { id: `line-${number}`, meta: { line: number }, ...(error ? { error } : {}) });
    }
    lines.close();
  };

  return {
    type: 'stdin',
    start(feed) {
      const read = options.mode === 'once' ? readOnce(feed) : readLines(feed);
      read.then(
        () => {
          if (!stopped) feed.end();
        },
        (error: Error) => feed.lost({ code: 'ERR_SOURCE', message: `standard input could not be read: ${error.message}` }),
      );
    },
    stop() {
      stopped = true;
      wake?.();
      input.pause();
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      wake?.();
      wake = undefined;
    },
  };
}

/** `sources.stdin({ ... })`: the `[Source] type = stdin` keys, in camelCase. */
export interface StdinSourceOptions {
  /** `once`: all of the input is one event; `lines`: one event per line. @default 'once' */
  mode?: StdinOptions['mode'];
  /** How the input is read: `text`, or parsed `json` or `xml`. @default 'text' */
  payloadClass?: PayloadClass;
}

/** `[Source] type = stdin`: reads its keys and makes its driver. */
export const stdinSource: SourceKind = {
  compile(reader: SectionReader) {
    const mode = reader.choice('mode', ['once', 'lines'] as const, 'once');
    const options: StdinOptions = { mode, payloadClass: compilePayloadClass(reader) };
    return { type: 'stdin', description: `stdin (${mode}, ${options.payloadClass})`, create: () => stdinDriver(options) };
  },
};
