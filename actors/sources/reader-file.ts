import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

type Owner = { pid: number; host: string };

/** A file without a readable owner younger than this may be one whose owner is still writing it. */
const UNREADABLE_GRACE_MS = 2000;

/**
 * A lock on one machine between processes: a file created exclusively that
 * holds the owner's pid and host. A file whose process is gone (a daemon
 * killed with SIGKILL) is taken over at once; otherwise the caller waits,
 * looking again every `pollMs`, until `signal` aborts. Two daemons of one
 * app on one machine share its state folder, so this makes one of them the
 * event log's reader even when its locks are only in-process.
 * @returns a function that releases the file
 */
export async function holdReaderFile(file: string, signal: AbortSignal, onWait: () => void, pollMs = 250): Promise<() => Promise<void>> {
  await mkdir(path.dirname(file), { recursive: true });
  const me = { pid: process.pid, host: hostname() };
  let told = false;
  for (;;) {
    signal.throwIfAborted();
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(JSON.stringify(me));
      await handle.close();
      return async () => {
        // Only our own file: a successor may have taken over a file it judged stale.
        const owner = await readOwner(file);
        if (owner?.pid === me.pid && owner.host === me.host) await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await readOwner(file);
    if (owner ? owner.host === me.host && !isAlive(owner.pid) : await olderThan(file, UNREADABLE_GRACE_MS)) {
      // Its process is gone, or it was never written (a crash between create and write): take it over.
      await takeOver(file, owner);
      continue;
    }
    if (!told) {
      told = true;
      onWait();
    }
    await new Promise<void>((resolve, reject) => {
      // The listener goes with the timer: a long wait must not pile one up on the signal every poll.
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, pollMs);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * Moves a stale file aside, atomically, and removes it. Two daemons that
 * saw the same stale file may both try: the second may move the file the
 * first has just created, so a file that is not the one seen goes back.
 */
async function takeOver(file: string, seen: Owner | undefined): Promise<void> {
  const aside = `${file}.${randomUUID()}.stale`;
  try {
    await rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readOwner(aside);
  const same = seen === undefined ? moved === undefined : moved?.pid === seen.pid && moved.host === seen.host;
  if (!same) {
    try {
      await link(aside, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  await rm(aside, { force: true });
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs > ms;
  } catch {
    // Gone already: nothing to wait for.
    return true;
  }
}

async function readOwner(file: string): Promise<Owner | undefined> {
  try {
    const owner = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown; host?: unknown };
    return typeof owner.pid === 'number' && typeof owner.host === 'string' ? { pid: owner.pid, host: owner.host } : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
