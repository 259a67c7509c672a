import path from 'node:path';
import { appDot, appMermaid, appSvg } from './app.js';
import { writeFileAtomic } from '../../actors/atomic-write.js';
import type { GraphFormat } from './formats.js';

// The formats live apart, so that parsing `--format` does not load the drawing.
export { GRAPH_FORMATS, isGraphFormat, type GraphFormat } from './formats.js';

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
