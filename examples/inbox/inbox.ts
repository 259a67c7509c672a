import { readFile } from 'node:fs/promises';
import { defineWorker } from 'flowd';

interface FileEvent {
  kind: 'created' | 'updated' | 'deleted';
  path: string;
  relativePath: string;
  size: number;
}

/** Counts the words of each text file; an empty file fails (and lands in failed/ with an .error.txt). */
export default defineWorker<FileEvent>({
  async start(file) {
    if (file.kind === 'deleted') return;
    const text = await readFile(file.path, 'utf8');
    const words = text.split(/\s+/).filter(Boolean).length;
    if (words === 0) throw Object.assign(new Error(`${file.relativePath} has no words`), { code: 'ERR_EMPTY' });
    process.stdout.write(`${file.relativePath}: ${words} word(s)\n`);
  },
});
