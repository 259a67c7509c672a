import { readFileSync, rmSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../actors/atomic-write.js';

/** What a running daemon writes to `<state dir>/inspector.json` while its inspector listens. */
export interface InspectorAddress {
  /** `http://127.0.0.1:9464/`, never with the token. */
  url: string;
  pid: number;
}

/** The file's name in the app's state folder. */
export const ADDRESS_FILE = 'inspector.json';

/** Files this process wrote, removed at exit if the run's end did not get to it first. */
const written = new Map<string, string>();
const removeAtExit = () => {
  for (const [file, url] of written) removeAddressFile(file, url);
};

/** Tells where this daemon's inspector listens; a failure is logged, never fatal (the inspector still serves). */
export async function writeAddressFile(file: string, address: InspectorAddress, log?: Logger): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, `${JSON.stringify(address)}\n`);
    if (written.size === 0) process.once('exit', removeAtExit);
    written.set(file, address.url);
  } catch (error) {
    log?.warn(
      { file, err: error },
      `inspector: could not write ${file} (flowd events will not find this daemon): ${(error as Error).message}`,
    );
  }
}

/** Removes the file if it is still this inspector's (synchronous: it also runs as the process exits). */
export function removeAddressFile(file: string, url: string): void {
  written.delete(file);
  if (written.size === 0) process.off('exit', removeAtExit);
  try {
    const current = JSON.parse(readFileSync(file, 'utf8')) as Partial<InspectorAddress>;
    if (current.url === url && current.pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Gone already, or not ours to remove.
  }
}

/** The address a daemon wrote, or undefined when there is no file; throws when the file is not one flowd wrote. */
export async function readAddressFile(file: string): Promise<InspectorAddress | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const value = JSON.parse(text) as Partial<InspectorAddress>;
  if (typeof value.url !== 'string' || typeof value.pid !== 'number') throw new Error(`${file} is not an inspector address file`);
  return { url: value.url, pid: value.pid };
}
