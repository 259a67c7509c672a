import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes a file so that a crash leaves the old content or the new, never a
 * torn one: a temp file beside it (`<file>.<pid>-<random>.tmp`), fsync,
 * `beforeRename()` (a last check under the caller's lock), rename over the
 * file, then fsync of the folder so the rename itself survives a power loss.
 * The temp file is removed when anything fails, and the error is thrown.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: { beforeRename?: () => void } = {}): Promise<void> {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    options.beforeRename?.();
    await rename(temp, file);
    const dir = await open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}
