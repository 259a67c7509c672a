import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { TransferPlugin, type WorkerContext } from 'flowd';

/**
 * A tiny transfer plugin: copies the file at the data's file:// source to
 * its file:// destination (a folder when it ends with "/"), reporting
 * progress by bytes. Anything else fails the transfer step (exit 0).
 */
export class CopyFile extends TransferPlugin<{ copied: string; bytes: number }> {
  async start(data: unknown, ctx: WorkerContext) {
    this.use(data, { requireAsset: false });
    if (!this.source!.startsWith('file:') || !this.destination!.startsWith('file:')) {
      this.fail(`CopyFile copies file:// to file:// only; got ${this.source} to ${this.destination}`);
    }
    const from = fileURLToPath(this.source!);
    const to = this.destination!.endsWith('/')
      ? path.join(fileURLToPath(this.destination!), path.basename(from))
      : fileURLToPath(this.destination!);
    const info = await stat(from).catch(() => undefined);
    if (!info?.isFile()) this.fail(`the source ${from} is not a file`);
    await this.updateProgress(0);
    await mkdir(path.dirname(to), { recursive: true });
    let done = 0;
    const count = new Transform({
      transform: (chunk: Buffer, _encoding, next) => {
        done += chunk.length;
        // Not awaited: updateProgress rate-limits and keeps its reports in order.
        void this.updateProgress((done / info!.size) * 100);
        next(null, chunk);
      },
    });
    try {
      await pipeline(createReadStream(from), count, createWriteStream(`${to}.part`), { signal: ctx.signal });
      await rename(`${to}.part`, to);
    } catch (error) {
      await rm(`${to}.part`, { force: true });
      this.fail(`copying ${from} to ${to} failed: ${(error as Error).message}`);
    }
    await this.updateProgress(100);
    this.log.info(`copied ${info!.size} bytes from ${from} to ${to}`);
    return { copied: to, bytes: info!.size };
  }
}
