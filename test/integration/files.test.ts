import { appendFile, mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { filesDriver, type FileEvent, type FilesOptions } from '../../actors/sources/files.js';
import { defineWorker } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { flowd } from '../helpers/cli.js';

let dir: string;
let inbox: string;
let runtime: Runtime | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flowd-files-'));
  inbox = path.join(dir, 'in');
  await mkdir(inbox);
});
afterEach(async () => {
  if (runtime?.snapshot().state !== 'stopped') await runtime?.stop().catch(() => {});
  runtime = undefined;
  await rm(dir, { recursive: true, force: true });
});

const options = (overrides: Partial<FilesOptions> = {}): FilesOptions => ({
  location: inbox,
  recursive: false,
  pattern: undefined,
  skipEmptyFiles: false,
  settleTimeMs: 150,
  rescanIntervalMs: 30_000,
  ignoreSuffixes: ['.part', '.tmp', '.crdownload'],
  moveDoneTo: undefined,
  moveFailedTo: undefined,
  ledgerFile: path.join(dir, 'state', 'files-ledger.json'),
  ...overrides,
});

/** Runs the files source in-process; every event the worker sees is recorded. */
async function watchFolder(
  overrides: Partial<FilesOptions> = {},
  extra: { workers?: number; queueSize?: number; fail?: (e: FileEvent) => boolean } = {},
) {
  const seen: Array<FileEvent & { at: number }> = [];
  const warnings: string[] = [];
  const log = { info: () => {}, warn: (_: object, message: string) => warnings.push(message) };
  const driver = filesDriver(options(overrides), log);
  runtime = createRuntime({
    worker: defineWorker({
      start(event: FileEvent) {
        seen.push({ ...event, at: Date.now() });
        if (extra.fail?.(event)) throw Object.assign(new Error(`cannot take ${event.relativePath}`), { code: 'ERR_REFUSED' });
      },
    }),
    source: driver,
    workers: extra.workers ?? 2,
    ...(extra.queueSize ? { queueSize: extra.queueSize } : {}),
  });
  await runtime.start();
  return { seen, warnings, runtime };
}

describe('files source', () => {
  it('reports a file written slowly over 10 s exactly once, after the write ends', async () => {
    const { seen } = await watchFolder({ settleTimeMs: 1000 });
    const file = path.join(inbox, 'slow.bin');
    for (let i = 0; i < 20; i++) {
      await appendFile(file, Buffer.alloc(1024, i));
      await new Promise((resolve) => setTimeout(resolve, 500)); // the producer's pace, not a wait for flowd
    }
    const finished = Date.now();
    await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 5000 });
    expect(seen[0]).toMatchObject({ kind: 'created', relativePath: 'slow.bin', size: 20 * 1024 });
    expect(seen[0]!.at).toBeGreaterThanOrEqual(finished);
    await runtime!.stop();
    expect(seen).toHaveLength(1);
  }, 30_000);

  it('reports a file written as name.part and renamed once, as name', async () => {
    const { seen } = await watchFolder();
    await writeFile(path.join(inbox, 'movie.mxf.part'), 'partial');
    await appendFile(path.join(inbox, 'movie.mxf.part'), ' and the rest');
    await rename(path.join(inbox, 'movie.mxf.part'), path.join(inbox, 'movie.mxf'));
    await vi.waitFor(() => expect(seen.map((e) => e.relativePath)).toEqual(['movie.mxf']));
    await runtime!.stop();
    expect(seen.map((e) => [e.kind, e.relativePath, e.size])).toEqual([['created', 'movie.mxf', 20]]);
  });

  it('reports a deletion of a file it processed, and an update when one changes', async () => {
    const { seen } = await watchFolder();
    await writeFile(path.join(inbox, 'a.txt'), 'one');
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    await writeFile(path.join(inbox, 'a.txt'), 'one two');
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    await unlink(path.join(inbox, 'a.txt'));
    await vi.waitFor(() => expect(seen).toHaveLength(3));
    expect(seen.map((e) => [e.kind, e.size])).toEqual([
      ['created', 3],
      ['updated', 7],
      ['deleted', 7],
    ]);
  });

  it('skips a link that leads outside the folder, with a warning, and follows one that stays inside', async () => {
    const outside = path.join(dir, 'secret.txt');
    await writeFile(outside, 'not yours');
    await writeFile(path.join(inbox, 'real.txt'), 'mine');
    await symlink(outside, path.join(inbox, 'escape.txt'));
    await symlink(path.join(inbox, 'real.txt'), path.join(inbox, 'alias.txt'));
    const { seen, warnings } = await watchFolder();
    await vi.waitFor(() => expect(seen.map((e) => e.relativePath).sort()).toEqual(['alias.txt', 'real.txt']));
    expect(warnings.join('\n')).toMatch(/escape\.txt is a link to .*secret\.txt, outside .*; skipped/);
  });

  it('moves files after their outcome, a failed one with <name>.error.txt beside it', async () => {
    const done = path.join(dir, 'done');
    const failed = path.join(dir, 'failed');
    await writeFile(path.join(inbox, 'good.txt'), 'ok');
    await writeFile(path.join(inbox, 'bad.txt'), 'no');
    await watchFolder({ moveDoneTo: done, moveFailedTo: failed }, { fail: (e) => e.relativePath === 'bad.txt' });
    await vi.waitFor(async () => {
      expect(await readFile(path.join(done, 'good.txt'), 'utf8')).toBe('ok');
      expect(await readFile(path.join(failed, 'bad.txt.error.txt'), 'utf8')).toBe('ERR_REFUSED: cannot take bad.txt\n');
    });
    expect(await readFile(path.join(failed, 'bad.txt'), 'utf8')).toBe('no');
  });

  it('processes 10,000 files present at start-up exactly once, with the queue bounded', async () => {
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => writeFile(path.join(inbox, `f${i}.txt`), String(i))));
    const { seen, runtime: rt } = await watchFolder({ settleTimeMs: 100 }, { workers: 8, queueSize: 200 });
    let peak = 0;
    rt.on('event.completed', () => (peak = Math.max(peak, rt.snapshot().waiting)));
    await vi.waitFor(() => expect(seen.length).toBe(10_000), { timeout: 60_000, interval: 200 });
    const names = new Set(seen.map((e) => e.relativePath));
    expect(names.size).toBe(10_000);
    expect(rt.snapshot().counters).toMatchObject({ completed: 10_000, rejected: 0 });
    expect(peak).toBeLessThanOrEqual(200);
    await rt.stop();
    expect(seen).toHaveLength(10_000);
  }, 90_000);
});

describe('files source through the CLI', () => {
  const worker = (name: string) =>
    `export default { start(e) { process.stdout.write(\`\${e.kind} \${e.relativePath}\\n\`); } };\n// ${name}\n`;

  it('catches up after a restart: only files that are new or changed are reported again', async () => {
    await writeFile(path.join(dir, 'w.mjs'), worker('w'));
    await writeFile(path.join(dir, 'app.ini'), '[Flow]\nclass = ./w.mjs\n\n[Source]\ntype = files\nlocation = in\nsettle time = 100ms\n');
    await writeFile(path.join(inbox, 'kept.txt'), 'same');
    await writeFile(path.join(inbox, 'changed.txt'), 'v1');
    const first = flowd(['run', path.join(dir, 'app.ini')]);
    await first.waitFor('stdout', /created changed\.txt/);
    await first.waitFor('stdout', /created kept\.txt/);
    first.child.kill('SIGTERM');
    expect((await first.exit).code).toBe(0);

    await writeFile(path.join(inbox, 'changed.txt'), 'v2, longer');
    await writeFile(path.join(inbox, 'new.txt'), 'hello');
    const second = flowd(['run', path.join(dir, 'app.ini')]);
    await second.waitFor('stdout', /created new\.txt/);
    await second.waitFor('stdout', /updated changed\.txt/);
    second.child.kill('SIGTERM');
    expect((await second.exit).code).toBe(0);
    expect(second.stdout().split('\n').filter(Boolean).sort()).toEqual(['created new.txt', 'updated changed.txt']);
  });

  it('stops with an error naming a corrupt ledger, and leaves it as it was', async () => {
    await writeFile(path.join(dir, 'w.mjs'), worker('w'));
    await writeFile(path.join(dir, 'app.ini'), '[Flow]\nclass = ./w.mjs\napp name = inbox\n\n[Source]\ntype = files\nlocation = in\n');
    const ledger = path.join(dir, '.flowd', 'inbox', 'files-ledger.json');
    await mkdir(path.dirname(ledger), { recursive: true });
    await writeFile(ledger, '{"files": {"a.txt": {"size": 1, "mtimeMs"');
    await writeFile(path.join(inbox, 'a.txt'), 'x');
    const run = flowd(['run', path.join(dir, 'app.ini')]);
    expect((await run.exit).code).toBe(1);
    expect(run.stderr()).toContain(`the files ledger ${ledger} is corrupt`);
    expect(run.stdout()).toBe('');
    expect(await readFile(ledger, 'utf8')).toBe('{"files": {"a.txt": {"size": 1, "mtimeMs"');
  });

  it('exits 2 naming the key when the location does not exist', async () => {
    await writeFile(path.join(dir, 'w.mjs'), worker('w'));
    await writeFile(path.join(dir, 'app.ini'), '[Flow]\nclass = ./w.mjs\n\n[Source]\ntype = files\nlocation = nowhere\n');
    const run = flowd(['check', path.join(dir, 'app.ini')]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(/\[Source\] "location": found "nowhere", but .*nowhere does not exist; expected a folder to watch/);
  });
});
