/**
 * npm run bench:xml
 *
 * Parses a 10 MB XmlImport record of sibling <field> elements (the
 * worst case for a DOM: ~330,000 tiny elements) and a 10 MB record of
 * larger fields (2 KB of text each), as XmlImport does now
 * (readXmlOffThread: a worker thread, heap capped at 20 times the file)
 * and, as the baseline in the same process, as it did before (the same
 * parse in the main thread). For each: the outcome, the parse time, the
 * longest event-loop stall (perf_hooks.monitorEventLoopDelay's max) and
 * the peak RSS above the process's RSS before it (sampled every 5 ms,
 * and process.resourceUsage().maxRSS), each case in a process of its own.
 *
 * BENCH_XML_MB overrides the size (default 10).
 */
import { execFile } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runXmlJob } from '../src/apps/xml/xml-job.js';
import { readXmlOffThread } from '../src/apps/xml/parse-off-thread.js';

const run = promisify(execFile);
const MB = Number(process.env.BENCH_XML_MB ?? 10);
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

interface Figures {
  outcome: string;
  ms: number;
  maxStallMs: number;
  peakRssMb: number;
}

async function measure(run: () => Promise<unknown>): Promise<Figures> {
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // The histogram counts from its first tick: let it tick before the parse.
  while (delay.count < 1) await new Promise((resolve) => setTimeout(resolve, 5));
  const started = performance.now();
  let outcome: string;
  try {
    const result = (await run()) as { fields: object };
    outcome = `${Object.keys(result.fields).length} fields`;
  } catch (error) {
    outcome = `refused: ${(error as { code?: string }).code} ${(error as Error).message.slice(0, 70)}...`;
  }
  const ms = performance.now() - started;
  // One more turn of the loop, so a stall that just ended is in the histogram.
  await new Promise((resolve) => setTimeout(resolve, 20));
  delay.disable();
  clearInterval(sampler);
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024);
  return { outcome, ms: Math.round(ms), maxStallMs: Math.round(delay.max / 1e6), peakRssMb: Math.round((peak - before) / 1e6) };
}

// Each case runs in a process of its own, so its peak RSS is its own.
const [mode, name] = process.argv.slice(2) as [string | undefined, keyof typeof files | undefined];
if (mode !== undefined && name !== undefined) {
  const text = files[name]();
  const figures =
    mode === 'thread'
      ? await measure(() => readXmlOffThread(text, 'bench.xml', { kind: 'default' }))
      : // The baseline: what XmlImport did before, in the main thread (plus the invalid-reference check, ~20 ms).
        await measure(async () => runXmlJob(text, 'bench.xml', { kind: 'default' }));
  console.log(JSON.stringify(figures));
} else {
  console.log(
    `${MB} MB files: ${Object.values(files)
      .map((t) => t.length)
      .join(' and ')} bytes`,
  );
  for (const mode of ['thread', 'main thread (before)']) {
    for (const name of Object.keys(files)) {
      const { stdout } = await run(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), mode, name]);
      const figures = JSON.parse(stdout) as Figures;
      console.log(
        `${`${mode}, ${name}`.padEnd(40)} ${String(figures.ms).padStart(6)} ms  stall ${String(figures.maxStallMs).padStart(5)} ms  peak RSS +${String(figures.peakRssMb).padStart(4)} MB  ${figures.outcome}`,
      );
    }
  }
}
