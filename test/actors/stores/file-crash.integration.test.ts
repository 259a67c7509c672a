import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../../actors/stores/store.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const WRITER = fileURLToPath(new URL('../../fixtures/stores/crash-writer.ts', import.meta.url));

interface Round {
  folder: string;
  /** Per key: every seq the writer set out to write, with its size, and the last one it finished. */
  intents: Map<string, Map<number, number>>;
  lastDone: Map<string, number>;
  /** What the killed writer left in the folder besides records: a held lock, a half-written temp file. */
  leftovers: string[];
}

/**
 * Runs the writer until it has finished `writes` writes, then kills it with
 * SIGKILL `delayMs` later: with no delay the kill lands before the next
 * write takes its lock; a few milliseconds put it inside the write.
 */
async function crashAfter(writes: number, delayMs: number): Promise<Round> {
  const folder = await mkdtemp(join(tmpdir(), 'flowd-crash-'));
  const round: Round = { folder, intents: new Map(), lastDone: new Map(), leftovers: [] };
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, folder], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let done = 0;
  let buffered = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const [kind, key, seq, size] = line.split(' ');
      if (kind === 'intent') {
        if (!round.intents.has(key!)) round.intents.set(key!, new Map());
        round.intents.get(key!)!.set(Number(seq), Number(size));
      } else if (kind === 'done') {
        round.lastDone.set(key!, Number(seq));
        if (++done === writes) setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    }
  });
  expect(await exited).toBe('SIGKILL');
  round.leftovers = (await readdir(folder)).filter((name) => !name.endsWith('.json'));
  return round;
}

describe('the file backend under SIGKILL', () => {
  const rounds: Round[] = [];
  afterAll(async () => {
    await Promise.all(rounds.map((round) => rm(round.folder, { recursive: true, force: true })));
  });

  it('leaves every key readable and holding a value that was written, at least the last one acknowledged', async () => {
    // Eight writers at once, each killed at a different moment.
    rounds.push(...(await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => crashAfter(3 + i * 2, i + 1)))));
    for (const round of rounds) {
      const { store, close } = openStore({ backend: 'file', folder: round.folder, namespace: 'crash' });
      try {
        for (const [key, intents] of round.intents) {
          const value = await store.get<{ seq: number; pad: string }>(key);
          const acknowledged = round.lastDone.get(key);
          if (value === undefined) {
            expect(acknowledged).toBeUndefined();
            continue;
          }
          expect(intents.has(value.seq)).toBe(true);
          expect(value.pad.length).toBe(intents.get(value.seq));
          expect(value.seq).toBeGreaterThanOrEqual(acknowledged ?? 0);
        }
      } finally {
        await close();
      }
    }
    // The rounds only prove something if some kills landed inside a write (a lock or a temp file was left).
    expect(rounds.filter((round) => round.leftovers.length > 0).length).toBeGreaterThan(0);
  });

  it("lets writers in again once a killed writer's lock is stale", async () => {
    expect(rounds.some((round) => round.leftovers.some((name) => name.endsWith('.lock')))).toBe(true);
    const started = performance.now();
    await Promise.all(
      rounds.map(async (round) => {
        const { store, close } = openStore({ backend: 'file', folder: round.folder, namespace: 'crash', lockStaleMs: 2000 });
        try {
          for (const key of round.intents.keys())
            await expect(store.update<{ seq: number }>(key, (value) => ({ seq: (value?.seq ?? 0) + 1000 }))).resolves.toMatchObject({
              value: { seq: expect.any(Number) as number },
            });
        } finally {
          await close();
        }
      }),
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('takes over a lock whose holder stopped refreshing it, at once when it is older than lockStaleMs', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'flowd-stale-'));
    rounds.push({ folder, intents: new Map(), lastDone: new Map(), leftovers: [] });
    await mkdir(join(folder, 'orphan.json.lock'));
    const past = new Date(Date.now() - 3000);
    await utimes(join(folder, 'orphan.json.lock'), past, past);
    const { store, close } = openStore({ backend: 'file', folder, namespace: 'crash', lockStaleMs: 2000 });
    const started = performance.now();
    await expect(store.put('orphan', 1)).resolves.toMatchObject({ value: 1 });
    expect(performance.now() - started).toBeLessThan(3000); // at once, not after lockWaitMs (10 s)
    expect(await readdir(folder)).toEqual(['orphan.json']);
    await close();
  });
});
