import path from 'node:path';
import { appDot, appMermaid, appSvg } from './app.js';
import { writeFileAtomic } from '../../actors/atomic-write.js';

/** The formats `flowd graph --format` accepts. */
export const GRAPH_FORMATS = ['mermaid', 'dot', 'svg'] as const;

/** One of `GRAPH_FORMATS`. */
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** Whether `text` names one of `GRAPH_FORMATS`. */
export const isGraphFormat = (text: string): text is GraphFormat => (GRAPH_FORMATS as readonly string[]).includes(text);

/**
 * Every machine of the app in one document: Markdown with a heading and a
 * ```mermaid block per machine, one digraph with a cluster per machine,
 * or that digraph rendered as one SVG.
 * @example await appGraph('mermaid', 'hello') // '# hello: flowd machines\n\n## supervisor ...'
 */
export async function appGraph(format: GraphFormat, app: string): Promise<string> {
  if (format === 'mermaid') return appMermaid(`${app}: flowd machines`);
  if (format === 'dot') return appDot();
  return appSvg();
}

/**
 * Writes `text` to `file` so a reader never sees half of it: a temp file
 * beside it, flushed, then renamed over it. Returns the absolute path.
 */
export async function writeFileAtomically(file: string, text: string): Promise<string> {
  const target = path.resolve(file);
  await writeFileAtomic(target, text);
  return target;
}
