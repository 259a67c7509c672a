import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, utimesSync, writeFileSync, readdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdReaderFile } from '../../actors/sources/reader-file.js';

// The pid-checked file that makes one daemon of several on a machine the event log's reader or the workflows' decider.

const folder = () => mkdtempSync(path.join(tmpdir(), 'flowd-reader-file-'));
/** The pid of a process that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid;
const settledWithin = async (promise: Promise<unknown>, ms: number) =>
  Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);

describe('holdReaderFile', () => {
  it('takes over at once a file whose process is gone, and writes its own pid and host', async () => {
    const file = path.join(folder(), 'reader');
    writeFileSync(file, JSON.stringify({ pid: deadPid(), host: hostname() }));
    const release = await holdReaderFile(file, new AbortController().signal, () => {});
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ pid: process.pid, host: hostname() });
    await release();
    expect(readdirSync(path.dirname(file))).toEqual([]);
  });

  it('gives the file to one of two that find the same stale file at once; the other waits until it is released', async () => {
    const file = path.join(folder(), 'reader');
    writeFileSync(file, JSON.stringify({ pid: deadPid(), host: hostname() }));
    const abort = new AbortController();
    const holders = [holdReaderFile(file, abort.signal, () => {}, 20), holdReaderFile(file, abort.signal, () => {}, 20)];
    const first = await Promise.race(holders.map((holding, index) => holding.then((release) => ({ index, release }))));
    const other = holders[1 - first.index]!;
    expect(await settledWithin(other, 300)).toBe(false);
    await first.release();
    const release = await other;
    await release();
    // No file moved aside is left behind.
    expect(readdirSync(path.dirname(file))).toEqual([]);
  });

  it('waits on a file with no readable owner while it is young (its owner may be writing it), and takes it over once it is old', async () => {
    const file = path.join(folder(), 'reader');
    writeFileSync(file, '');
    const abort = new AbortController();
    let waited = false;
    const holding = holdReaderFile(file, abort.signal, () => (waited = true), 20);
    expect(await settledWithin(holding, 200)).toBe(false);
    expect(waited).toBe(true);
    const old = new Date(Date.now() - 10_000);
    utimesSync(file, old, old);
    const release = await holding;
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
  });

  it('stops waiting when its signal aborts', async () => {
    const file = path.join(folder(), 'reader');
    writeFileSync(file, JSON.stringify({ pid: process.ppid, host: hostname() }));
    const abort = new AbortController();
    const holding = holdReaderFile(file, abort.signal, () => {}, 20);
    abort.abort(new Error('stopping'));
    await expect(holding).rejects.toThrow('stopping');
  });
});
