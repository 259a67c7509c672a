import { Worker } from 'node:worker_threads';
import { FlowdError, type ErrorCode } from '../../kernel/errors.js';
import { DEFAULT_XML_MAX_BYTES, type XmlLimits } from './document.js';
import { decodeJobResult } from './job-reply.js';
import { runXmlJob, type XmlJob, type XmlJobResult } from './xml-job.js';

/** Options of readXmlOffThread. */
export interface OffThreadOptions {
  /** Limits of the XML reader. @default { maxBytes: 10 MiB, maxDepth: 256 } */
  limits?: XmlLimits;
  /** Aborting it terminates the parse thread; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * A text of at most this many bytes is parsed in the calling thread (it
   * takes a few milliseconds; a thread would cost more to start).
   * @default 65536 (64 KiB)
   */
  inlineBytes?: number;
}

/** Texts up to this size are parsed in the calling thread. */
export const DEFAULT_INLINE_XML_BYTES = 64 * 1024;

/** A parse thread's heap may grow to this many times the text's size (xmldom's tree is 20 to 50 times its text). */
export const XML_MEMORY_FACTOR = 20;

/** ... but never below this, so a small file with many elements still parses. */
const MIN_HEAP_MB = 64;

// Under tsx (tests, benchmarks) this file is .ts, and so is the thread's entry, which the thread loads through tsx's loader.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = new URL(FROM_SOURCE ? './xml-thread.ts' : './xml-thread.js', import.meta.url);
const SOURCE_BOOT = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); })`;

// Node's code for a Worker stopped at its resourceLimits (a node code, not one of flowd's).
const NODE_OUT_OF_MEMORY = /^ERR_WORKER_OUT_OF_MEMORY$/;

/** The heap cap of the thread parsing `bytes` bytes of XML, in MiB. */
export function xmlHeapLimitMb(bytes: number): number {
  return Math.max(MIN_HEAP_MB, Math.ceil((XML_MEMORY_FACTOR * bytes) / (1024 * 1024)));
}

/**
 * Does an XmlJob (parse, then extract plain data) without blocking the
 * event loop: a text over `inlineBytes` is parsed in a `node:worker_threads`
 * Worker of its own, whose heap is capped at 20 times the text's size
 * (64 MiB at least) and which is terminated when `signal` aborts. The same
 * safety holds there: no DOCTYPE, no entity expansion, size and depth
 * limits. A document whose tree needs more memory than the cap is refused
 * with ERR_XML, not parsed at any cost.
 * @example
 * const record = await readXmlOffThread(text, 'in/a.xml', { kind: 'default' }, { signal: ctx.signal });
 */
export async function readXmlOffThread<J extends XmlJob>(
  text: string,
  where: string,
  job: J,
  options: OffThreadOptions = {},
): Promise<XmlJobResult<J>> {
  const { limits, signal, inlineBytes = DEFAULT_INLINE_XML_BYTES } = options;
  signal?.throwIfAborted();
  // Never fewer UTF-8 bytes than UTF-16 units: the cheap test first.
  const bytes = typeof text === 'string' && text.length > inlineBytes ? Buffer.byteLength(text, 'utf8') : 0;
  // Small, not text or over the size cap: done here (the last two fail at once).
  if (bytes <= inlineBytes || bytes > (limits?.maxBytes ?? DEFAULT_XML_MAX_BYTES)) return runXmlJob(text, where, job, limits);
  const heapMb = xmlHeapLimitMb(bytes);
  // The text crosses as UTF-8 bytes whose buffer is moved, not copied: cloning a 10 MB string would stall this thread.
  const utf8 = Buffer.from(text, 'utf8');
  const moved =
    utf8.byteOffset === 0 && utf8.byteLength === utf8.buffer.byteLength
      ? utf8.buffer
      : utf8.buffer.slice(utf8.byteOffset, utf8.byteOffset + utf8.byteLength);
  return new Promise<XmlJobResult<J>>((resolve, reject) => {
    let settled = false;
    const worker = new Worker(FROM_SOURCE ? SOURCE_BOOT : ENTRY, {
      eval: FROM_SOURCE,
      workerData: { utf8: moved, where, job, limits },
      transferList: [moved],
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 16 },
    });
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      action();
      void worker.terminate();
    };
    const onAbort = (): void => settle(() => reject(signal!.reason as Error));
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (reply: { ok: true; parts: string[] } | { ok: false; code: ErrorCode; message: string }) =>
      settle(() =>
        reply.ok
          ? decodeJobResult(reply.parts).then((result) => resolve(result as XmlJobResult<J>), reject)
          : reject(new FlowdError(reply.code, reply.message)),
      ),
    );
    worker.once('error', (error: Error & { code?: string }) =>
      settle(() =>
        reject(
          NODE_OUT_OF_MEMORY.test(error.code ?? '')
            ? new FlowdError(
                'ERR_XML',
                `${where}: the document's tree needs more memory than the parse limit of ${heapMb} MiB (${XML_MEMORY_FACTOR} times its ${bytes} bytes); expected fewer, larger elements, or the file split`,
                { cause: error },
              )
            : new FlowdError('ERR_XML', `${where}: the XML parse thread failed: ${error.message}`, { cause: error }),
        ),
      ),
    );
    worker.once('exit', (code) =>
      settle(() => reject(new FlowdError('ERR_XML', `${where}: the XML parse thread stopped (exit code ${code}) before it answered`))),
    );
  });
}
