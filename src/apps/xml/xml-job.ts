import { FlowdError } from '../../kernel/errors.js';
import { readDefaultRecord } from './default-record.js';
import { readXmlDocument, type XmlLimits } from './document.js';
import type { RecordData } from './record-data.js';
import { compileXPath, nodeStrings } from './xpath-query.js';

/** One XPath of a custom mapping, as it crosses to a parse thread: its text, the label its errors carry, how many values. */
export interface XPathJob {
  source: string;
  /** Starts its error messages, after the file: `[Field:title] "xpath"`. */
  label: string;
  /** At most this many values. @default all */
  limit?: number;
}

/**
 * What to take from one XML text. Plain data, so it can cross to a
 * worker thread: the DOM cannot, so the thread extracts what is wanted
 * and returns that.
 * - `default`: flowd's record XML, read into a RecordData.
 * - `xpath`: each query's string values (`nodeStrings`), in order.
 */
export type XmlJob = { kind: 'default' } | { kind: 'xpath'; namespaces: Record<string, string>; queries: XPathJob[] };

/** A job's result: a RecordData for `default`, one string array per query for `xpath`. */
export type XmlJobResult<J extends XmlJob> = J extends { kind: 'default' } ? RecordData : string[][];

/**
 * Parses `text` (readXmlDocument: no DOCTYPE, no entities, size and depth
 * limits) and does the job, synchronously, in whichever thread calls it.
 * Throws FlowdError ERR_XML whose message starts with `where`.
 */
export function runXmlJob<J extends XmlJob>(text: string, where: string, job: J, limits?: XmlLimits): XmlJobResult<J> {
  if (job.kind === 'default') return readDefaultRecord(text, where, limits) as XmlJobResult<J>;
  const { namespaces, queries } = job as Extract<XmlJob, { kind: 'xpath' }>;
  const document = readXmlDocument(text, where, limits);
  return queries.map(({ source, label, limit }) => {
    const fail = (problem: string): never => {
      throw new FlowdError('ERR_XML', `${where}: ${label} ${problem}`);
    };
    const query = compileXPath(source, namespaces, fail);
    try {
      return nodeStrings(query, document, limit);
    } catch (error) {
      throw new FlowdError('ERR_XML', `${where}: ${label} ${source}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }) as XmlJobResult<J>;
}
