import { hostname } from 'node:os';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

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
    if (!owner || (owner.host === me.host && !isAlive(owner.pid))) {
      // Gone or unreadable (a crash between create and write): take it over.
      await rm(file, { force: true });
      continue;
    }
    if (!told) {
      told = true;
      onWait();
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, pollMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      }, { once: true });
    });
  }
}

async function readOwner(file: string): Promise<{ pid: number; host: string } | undefined> {
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
