/**
 * The entry of a parse thread (see parse-off-thread.ts): runs one XmlJob on
 * `workerData` and posts the result, or the error's code and message, back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FlowdError } from '../../kernel/errors.js';
import type { XmlLimits } from './document.js';
import { encodeJobResult } from './job-reply.js';
import { runXmlJob, type XmlJob } from './xml-job.js';

const { utf8, where, job, limits } = workerData as { utf8: ArrayBuffer; where: string; job: XmlJob; limits?: XmlLimits };
try {
  // As JSON texts, a record's fields in parts, so the caller's thread takes them in a part at a time.
  parentPort!.postMessage({ ok: true, parts: encodeJobResult(runXmlJob(Buffer.from(utf8).toString('utf8'), where, job, limits)) });
} catch (error) {
  parentPort!.postMessage({
    ok: false,
    code: error instanceof FlowdError ? error.code : 'ERR_XML',
    message: error instanceof FlowdError ? error.message : `${where}: ${error instanceof Error ? error.message : String(error)}`,
  });
}
