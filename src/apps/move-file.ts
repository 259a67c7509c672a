import { copyFile, rename, unlink } from 'node:fs/promises';

/** Renames `from` to `to`; across file systems, copies then removes. */
export async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to);
    await unlink(from);
  }
}
