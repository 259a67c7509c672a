import type { Viz } from '@viz-js/viz';
import { FlowdError } from '../kernel/errors.js';

let viz: Promise<Viz> | undefined;

/**
 * Renders DOT to SVG with Graphviz compiled to WebAssembly (`@viz-js/viz`),
 * offline and in process. The engine (several MB) is loaded once, on first use.
 * Throws when Graphviz rejects the DOT (its own error messages, joined).
 * @example const svg = await renderSvg(toDot(describeMachine(lockMachine)));
 */
export async function renderSvg(dot: string): Promise<string> {
  viz ??= import('@viz-js/viz').then(({ instance }) => instance());
  const result = (await viz).render(dot, { format: 'svg', engine: 'dot' });
  if (result.status !== 'success') {
    const problems = result.errors.filter((error) => error.level !== 'warning').map((error) => error.message.trim());
    throw new FlowdError('ERR_INTERNAL', `Graphviz could not render the diagram: ${problems.join('; ') || 'unknown error'}`);
  }
  return result.output;
}
