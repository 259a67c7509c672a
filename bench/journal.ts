/**
 * npm run bench:journal
 *
 * What the event journal costs: N no-op events (default 300,000) through 8
 * slots from a source that takes outcomes (as a broker does), for
 * (a) the runtime as it runs with no inspector (lifecycle notifications off),
 * (b) every lifecycle notification on with nothing listening,
 * (c) the inspector attached with its journal off (`journal size = 0`),
 * (d) the inspector attached with its journal (it listens to every step).
 * Designs alternate round by round in this process, in reverse order every
 * other round (so that no design always runs after the same one); prints the
 * median CPU time per event (user + system: steadier than wall time on a
 * shared machine) and events/s, the ratios to (a), the journal's own cost
 * ((d) against (c): the ratio of the medians, and the median of each round's
 * ratio, which a load that changes between rounds disturbs less), and the
 * load average.
 *
 * BENCH_EVENTS and BENCH_ROUNDS override the defaults.
 */
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { defineWorker } from '../actors/workers/worker.js';
import { createRuntime, type Runtime } from '../src/runtime/runtime.js';
import { floodSource } from './flood-source.mjs';
import { LIFECYCLE_TYPES } from '../machines/supervisor.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SLOTS = 8;
const noop = async (): Promise<void> => {};

type Design = 'no inspector' | 'lifecycle on, no listener' | 'inspector, journal off' | 'inspector with journal';
type Attach = (runtime: Runtime) => Promise<() => void>;

/** A flood source whose events are settled (acknowledged), as a broker's are. */
function settlingSource(count: number) {
  let settled = 0;
  return Object.assign(floodSource(count), {
    settle: () => {
      settled++;
    },
    stats: () => ({ settled }),
  });
}

/** One run: wall ms and CPU µs per event. */
async function run(count: number, attach?: Attach): Promise<{ ms: number; cpuUs: number }> {
  // Each run its own state folder: the inspector writes its address there.
  const runtime = createRuntime({
    worker: defineWorker({ start: noop }),
    source: settlingSource(count),
    workers: SLOTS,
    logger: false,
    app: { name: 'bench', stateDir: path.join(tmpdir(), `flowd-bench-journal-${process.pid}`) },
  });
  const detach = attach ? await attach(runtime) : undefined;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await runtime.start();
  detach?.();
  const summary = await runtime.done;
  const used = process.cpuUsage(cpu);
  if (summary.counters.completed !== count) throw new Error(`completed ${summary.counters.completed} of ${count}`);
  return { ms: performance.now() - started, cpuUs: (used.user + used.system) / count };
}

/** Every lifecycle type on (listeners before start), then the listeners removed: the emits with nobody to hear them. */
const lifecycleOnly: Attach = async (runtime) => {
  const offs = [...LIFECYCLE_TYPES].map((type) => runtime.on(type as 'event.received', () => {}));
  return () => offs.forEach((off) => off());
};

/** The inspector on a free loopback port; it closes with the run. */
const inspector =
  (journalSize: number): Attach =>
  async (runtime) => {
    await runtime.inspect({ port: 0, journalSize });
    return () => {};
  };

const attachers: Record<Design, Attach | undefined> = {
  'no inspector': undefined,
  'lifecycle on, no listener': lifecycleOnly,
  'inspector, journal off': inspector(0),
  'inspector with journal': inspector(1000),
};

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

export async function bench(designs: Partial<Record<Design, Attach | undefined>> = attachers): Promise<void> {
  const names = Object.keys(designs) as Design[];
  console.log(`journal: ${fmt(EVENTS)} no-op events, ${SLOTS} slots, ${ROUNDS} rounds alternated, node ${process.version}`);
  console.log(
    `  load average before: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
  await run(Math.min(EVENTS, 50_000)); // warm-up
  const rates = new Map<Design, number[]>(names.map((name) => [name, []]));
  const cpus = new Map<Design, number[]>(names.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) {
      globalThis.gc?.();
      const { ms, cpuUs } = await run(EVENTS, designs[name]);
      rates.get(name)!.push(EVENTS / (ms / 1000));
      cpus.get(name)!.push(cpuUs);
    }
  }
  const base = median(cpus.get(names[0]!)!);
  const baseRate = median(rates.get(names[0]!)!);
  for (const name of names) {
    const cpu = cpus.get(name)!;
    const rounds = rates.get(name)!;
    console.log(
      `  ${name.padEnd(28)} ${median(cpu).toFixed(1).padStart(6)} µs CPU/event ${(median(cpu) / base).toFixed(3)}x   ${fmt(median(rounds)).padStart(8)} events/s ${(median(rounds) / baseRate).toFixed(3)}x  (CPU rounds: ${cpu.map((c) => c.toFixed(1)).join(', ')})`,
    );
  }
  const journal = median(cpus.get('inspector with journal') ?? []);
  const off = median(cpus.get('inspector, journal off') ?? []);
  if (journal && off) {
    const offRounds = cpus.get('inspector, journal off')!;
    const perRound = median(cpus.get('inspector with journal')!.map((cpu, round) => cpu / offRounds[round]!));
    console.log(
      `  the journal's own cost: ${((journal / off - 1) * 100).toFixed(1)}% more CPU per event than the inspector without it (median of the rounds' own ratios: ${((perRound - 1) * 100).toFixed(1)}%)`,
    );
  }
  console.log(
    `  load average after: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
}

await bench();
