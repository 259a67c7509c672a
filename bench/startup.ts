/**
 * npm run bench:startup
 *
 * What a user waits for and what an idle daemon holds, each against bare
 * node measured in the same round (the order alternating round by round):
 *
 * - `flowd check` of an app whose worker is a `.mjs` module, against
 *   `node -e 0` (target: at most 5x);
 * - the first event of the hello example (`flowd run examples/hello/hello.ini`
 *   until its worker prints its first greeting), against `node -e 0`
 *   (target: at most 8x);
 * - the resident memory of that daemon once idle, against a bare `node`
 *   process holding one timer (target: at most 2x); and, for comparison,
 *   of the same app with its worker in JavaScript, which does not load
 *   tsx. Idle means settled: V8 gives back the start-up's garbage only
 *   after some seconds of quiet (its memory reducer), so the three run
 *   side by side and each is read after its IDLE_TICKS-th line (12 s).
 *
 * Runs the command as built (dist/: `npm run build` first). BENCH_ROUNDS
 * sets the rounds of the timings (default 10) and BENCH_MEMORY_ROUNDS those
 * of the memory (default 3). Prints medians, the ratio of each round's pair
 * (median, min and max) and the load average.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin/flowd.js');
function rounds(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${name} must be a whole number of at least 1; found ${JSON.stringify(process.env[name])}`);
    process.exit(2);
  }
  return value;
}
const ROUNDS = rounds('BENCH_ROUNDS', 10);
const MEMORY_ROUNDS = rounds('BENCH_MEMORY_ROUNDS', 3);
const IDLE_TICKS = 12;
if (!existsSync(path.join(ROOT, 'dist/src/cli/cli.js'))) {
  console.error('bench:startup measures the built command: run `npm run build` first');
  process.exit(2);
}

// An app of a user's own, in a folder where 'flowd' resolves to this copy (as after `npm install flowd`).
const app = mkdtempSync(path.join(os.tmpdir(), 'flowd-bench-startup-'));
mkdirSync(path.join(app, 'node_modules'));
symlinkSync(ROOT, path.join(app, 'node_modules/flowd'), 'dir');
writeFileSync(
  path.join(app, 'app.ini'),
  '[Flow]\napp name = startup\nclass = ./worker.mjs\n\n[Source]\ntype = interval\ninterval = 1s\n\n[Hello]\ngreeting = Hello from flowd\n',
);
writeFileSync(
  path.join(app, 'worker.mjs'),
  "import { defineWorker } from 'flowd';\nlet greeting;\nexport default defineWorker({\n  configure(ctx) { greeting = ctx.config.Hello.greeting; },\n  start(_tick, ctx) { console.log(`${greeting} (${ctx.id})`); },\n});\n",
);

interface Timed {
  ms: number;
  rssMb?: number;
}

/** Runs a command to its end; its wall time. */
function timeToExit(args: string[], cwd = ROOT): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve({ ms: performance.now() - started }) : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

/**
 * Starts a daemon; the time until its stdout has matched `first`, and its
 * resident memory once it has matched `idle` (then it is stopped).
 */
function daemon(args: string[], first: RegExp, idle: RegExp, cwd = ROOT): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let ms: number | undefined;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (ms === undefined && first.test(stdout)) ms = performance.now() - started;
      if (ms !== undefined && idle.test(stdout)) {
        const rss = rssMb(child.pid!);
        child.kill('SIGKILL');
        resolve({ ms, rssMb: rss });
      }
    });
    child.on('error', reject);
    const limit = setTimeout(() => child.kill('SIGTERM'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      if (signal !== 'SIGKILL') reject(new Error(`${args.join(' ')} ended (${code ?? signal}) before it was measured: ${stderr}`));
    });
  });
}

const lines = (n: number) => new RegExp(`(?:[^\\n]*\\n){${n}}`);
const designs = {
  nodeExit: () => timeToExit(['-e', '0']),
  check: () => timeToExit([BIN, 'check', path.join(app, 'app.ini')], app),
  hello: () => daemon([BIN, 'run', 'examples/hello/hello.ini'], /Hello from flowd/, lines(1)),
  helloJs: () => daemon([BIN, 'run', path.join(app, 'app.ini')], /Hello from flowd/, lines(1), app),
} satisfies Record<string, () => Promise<Timed>>;
type Design = keyof typeof designs;
const idle = {
  nodeIdle: () => daemon(['-e', 'setInterval(() => console.log(Date.now()), 1000)'], /\d/, lines(IDLE_TICKS)),
  hello: () => daemon([BIN, 'run', 'examples/hello/hello.ini'], /Hello from flowd/, lines(IDLE_TICKS)),
  helloJs: () => daemon([BIN, 'run', path.join(app, 'app.ini')], /Hello from flowd/, lines(IDLE_TICKS), app),
};

const results: Record<Design | 'nodeIdle', Timed[]> = { nodeExit: [], nodeIdle: [], check: [], hello: [], helloJs: [] };
const memory: Record<keyof typeof idle, Timed[]> = { nodeIdle: [], hello: [], helloJs: [] };
const order = Object.keys(designs) as Design[];
const load = (): string =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
console.log(
  `startup: ${ROUNDS} rounds of timings, designs alternated, then ${MEMORY_ROUNDS} of idle memory; node ${process.version}, ${os.cpus().length} cores; load ${load()}`,
);
for (let round = 0; round < ROUNDS; round++) {
  const sequence = round % 2 === 0 ? order : [...order].reverse();
  for (const design of sequence) results[design].push(await designs[design]());
}
for (let round = 0; round < MEMORY_ROUNDS; round++) {
  // Side by side: each reads its own RSS when settled, under the same load.
  const [bare, ts, js] = await Promise.all([idle.nodeIdle(), idle.hello(), idle.helloJs()]);
  memory.nodeIdle.push(bare);
  memory.hello.push(ts);
  memory.helloJs.push(js);
}
rmSync(app, { recursive: true, force: true });

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const pairs = (a: number[], b: number[]) => a.map((value, i) => value / b[i]!);
const row = (label: string, ratios: number[], figure: string, target: number | undefined) => {
  const m = median(ratios);
  const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
  const verdict = target === undefined ? '(for comparison)' : m <= target ? `target <= ${target}x: holds` : `target <= ${target}x: MISSED`;
  console.log(`${label.padEnd(50)} ${figure.padEnd(30)} ${`${m.toFixed(2)}x`.padStart(6)} (rounds ${range})  ${verdict}`);
};
const ms = (design: Design) => results[design].map((r) => r.ms);
const rss = (design: keyof typeof memory) => memory[design].map((r) => r.rssMb!);
console.log(
  `baselines: node -e 0 ${median(ms('nodeExit')).toFixed(0)} ms; bare node holding a timer ${median(rss('nodeIdle')).toFixed(1)} MB RSS`,
);
row('flowd check, .mjs worker / node -e 0', pairs(ms('check'), ms('nodeExit')), `${median(ms('check')).toFixed(0)} ms`, 5);
row('first event, hello example / node -e 0', pairs(ms('hello'), ms('nodeExit')), `${median(ms('hello')).toFixed(0)} ms`, 8);
row(
  'first event, hello in JavaScript / node -e 0',
  pairs(ms('helloJs'), ms('nodeExit')),
  `${median(ms('helloJs')).toFixed(0)} ms`,
  undefined,
);
row(
  `idle RSS (${IDLE_TICKS} s), hello example / bare node`,
  pairs(rss('hello'), rss('nodeIdle')),
  `${median(rss('hello')).toFixed(1)} MB`,
  2,
);
row(
  `idle RSS (${IDLE_TICKS} s), hello in JavaScript / bare node`,
  pairs(rss('helloJs'), rss('nodeIdle')),
  `${median(rss('helloJs')).toFixed(1)} MB`,
  undefined,
);
console.log(`load after: ${load()}`);
