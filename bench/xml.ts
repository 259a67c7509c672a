/**
 * npm run bench:xml
 *
 * Reads a 10 MB XmlImport record (the default format) of sibling <field>
 * elements (the worst case for a DOM: ~280,000 tiny elements) and a 10 MB
 * record of larger fields (2 KB of text each), three ways, the order
 * alternating round by round:
 *
 * - `saxes, thread`: as XmlImport does now (readXmlOffThread: the
 *   streaming reader in a worker thread whose heap is capped at 20 times
 *   the file);
 * - `saxes, main thread`: the same reader in the calling thread, for its
 *   parse time without the thread;
 * - `xmldom, main thread`: the baseline, as XmlImport read the format
 *   before (an xmldom tree of the whole file, walked for its fields), in
 *   the main thread, which the thread's heap cap would now refuse;
 * - `idle 2 s`: no parse, the event loop idle for 2 s: the stall the
 *   machine's load alone causes, the floor under the others.
 *
 * For each: the outcome, the parse time, the longest event-loop stall of
 * the main thread (perf_hooks.monitorEventLoopDelay's max) and the peak RSS
 * above the process's RSS before the parse (sampled every 5 ms, and
 * process.resourceUsage().maxRSS), also as a multiple of the file's size;
 * each measurement in a process of its own, so its peak is its own.
 * Targets: the thread's RSS growth at most ~20x the file, its stall at
 * most ~100 ms. Prints the medians and the load average.
 *
 * BENCH_XML_MB sets the size (default 10), BENCH_ROUNDS the rounds
 * (default 3).
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Element } from '@xmldom/xmldom';
import { readDefaultRecord } from '../src/apps/xml/default-record.js';
import { readXmlDocument } from '../src/apps/xml/document.js';
import { readXmlOffThread } from '../src/apps/xml/parse-off-thread.js';

const run = promisify(execFile);
const MB = Number(process.env.BENCH_XML_MB ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
if (!(MB > 0) || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error(`BENCH_XML_MB must be a positive number and BENCH_ROUNDS a whole number of at least 1; found ${MB} and ${ROUNDS}`);
  process.exit(2);
}
const target = MB * 1024 * 1024 - 64;

function record(value: (i: number) => string): string {
  const parts = ['<record id="bench">\n'];
  let size = parts[0]!.length + 10;
  for (let i = 0; size < target; i++) {
    const line = `<field name="f${i}">${value(i)}</field>\n`;
    if (size + line.length > target) break;
    parts.push(line);
    size += line.length;
  }
  parts.push('</record>\n');
  return parts.join('');
}

// Made in the process that parses it, and only that one, so the RSS before the parse is the same in every case.
const files = {
  'sibling elements': () => record((i) => `v${i}`),
  '2 KB fields': () => record((i) => `${i} `.padEnd(2048, 'x')),
};
type FileName = keyof typeof files;

/** The reader before: an xmldom tree of the whole text, its <field> children read into a record. */
function readWithDom(text: string, where: string): { fields: Record<string, string> } {
  const root = readXmlDocument(text, where).documentElement!;
  const fields: Record<string, string> = {};
  for (let child = root.firstChild; child !== null; child = child.nextSibling) {
    if (child.nodeType === 1) fields[(child as Element).getAttribute('name')!] = child.textContent ?? '';
  }
  return { fields };
}

const modes = {
  'saxes, thread': (text: string) => readXmlOffThread(text, 'bench.xml', { kind: 'default' }),
  'saxes, main thread': async (text: string) => readDefaultRecord(text, 'bench.xml'),
  'xmldom, main thread': async (text: string) => readWithDom(text, 'bench.xml'),
  // The machine's own noise: the longest stall of an idle loop over as long as a parse takes.
  'idle 2 s (noise floor)': async () => {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return { fields: {} };
  },
};
type Mode = keyof typeof modes;

interface Figures {
  bytes: number;
  outcome: string;
  ms: number;
  maxStallMs: number;
  peakRssMb: number;
}

async function measure(text: string, read: () => Promise<unknown>): Promise<Figures> {
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // The histogram counts from its first tick: let it tick before the parse.
  while (delay.count < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  const started = performance.now();
  let result: { fields: object } | undefined;
  let refusal: unknown;
  try {
    result = (await read()) as { fields: object };
  } catch (error) {
    refusal = error;
  }
  const ms = performance.now() - started;
  // One more turn of the loop, so a stall that just ended is in the histogram.
  await new Promise((resolve) => setTimeout(resolve, 20));
  delay.disable();
  clearInterval(sampler);
  // Counted after the histogram stops: Object.keys of 280,000 keys is the bench's own stall, not the reader's.
  const outcome =
    result !== undefined
      ? `${Object.keys(result.fields).length} fields`
      : `refused: ${(refusal as { code?: string }).code} ${(refusal as Error).message.slice(0, 70)}...`;
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  return {
    bytes: Buffer.byteLength(text),
    outcome,
    ms: Math.round(ms),
    maxStallMs: Math.round(delay.max / 1e6),
    peakRssMb: Math.round((peak - before) / 1e6),
  };
}

const [mode, name] = process.argv.slice(2) as [Mode | undefined, FileName | undefined];
if (mode !== undefined && name !== undefined) {
  const text = files[name]();
  console.log(JSON.stringify(await measure(text, () => modes[mode](text))));
} else {
  const load = (): string =>
    os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' ');
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  console.log(
    `xml: ${MB} MB records, ${ROUNDS} rounds, readers alternated, each read in a process of its own; node ${process.version}, ${os.cpus().length} cores; load ${load()}`,
  );
  const results = new Map<string, Figures[]>();
  const order = Object.keys(modes) as Mode[];
  for (let round = 0; round < ROUNDS; round++) {
    for (const file of Object.keys(files) as FileName[]) {
      for (const each of round % 2 === 0 ? order : [...order].reverse()) {
        const { stdout } = await run(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), each, file]);
        const key = `${each}, ${file}`;
        results.set(key, [...(results.get(key) ?? []), JSON.parse(stdout) as Figures]);
      }
    }
  }
  console.log(`${''.padEnd(40)} ${'parse'.padStart(8)} ${'stall'.padStart(8)} ${'peak RSS growth'.padStart(22)}  outcome (medians)`);
  for (const [key, rounds] of results) {
    const rss = median(rounds.map((r) => r.peakRssMb));
    const factor = (rss * 1e6) / rounds[0]!.bytes;
    console.log(
      `${key.padEnd(40)} ${`${median(rounds.map((r) => r.ms))} ms`.padStart(8)} ${`${median(rounds.map((r) => r.maxStallMs))} ms`.padStart(8)} ${`+${rss} MB = ${factor.toFixed(1)}x`.padStart(22)}  ${rounds[0]!.outcome}`,
    );
  }
  console.log(`load after: ${load()}`);
}
