import type { AnyStateMachine } from 'xstate';
import { lockMachine } from '../../machines/lock.js';
import { pluginMachine } from '../../machines/plugin.js';
import { sourceMachine } from '../../machines/source.js';
import { storeMachine } from '../../machines/store.js';
import { supervisorMachine } from '../../machines/supervisor.js';
import { workerSlotMachine } from '../../machines/worker-slot.js';
import { workflowRunMachine } from '../../machines/workflow-run.js';
import { describeMachine } from './describe.js';
import { toAppDot, toDot } from './dot.js';
import { toMermaid } from './mermaid.js';
import { renderSvg } from './svg.js';
import { FlowdError } from '../kernel/errors.js';

/** A machine flowd runs, by the name the inspector and `flowd graph` use (its machine id). */
export interface AppMachine {
  name: string;
  machine: AnyStateMachine;
}

/**
 * Every machine of a flowd app, in the order they are drawn: supervisor,
 * worker-slot, source, store, lock, plugin, workflow-run. Add new machines here.
 */
export function appMachines(): AppMachine[] {
  return [
    { name: 'supervisor', machine: supervisorMachine as unknown as AnyStateMachine },
    { name: 'worker-slot', machine: workerSlotMachine as unknown as AnyStateMachine },
    { name: 'source', machine: sourceMachine as unknown as AnyStateMachine },
    { name: 'store', machine: storeMachine as unknown as AnyStateMachine },
    { name: 'lock', machine: lockMachine as unknown as AnyStateMachine },
    { name: 'plugin', machine: pluginMachine as unknown as AnyStateMachine },
    { name: 'workflow-run', machine: workflowRunMachine as unknown as AnyStateMachine },
  ];
}

const svgs = new WeakMap<AnyStateMachine, Promise<string>>();

/**
 * The SVG diagram of any machine (flowd's, or a worker that is a machine),
 * rendered once per machine and memoised.
 * @example await diagramSvg(workerSlotMachine) // '<?xml ...><svg ...>'
 */
export function diagramSvg(machine: AnyStateMachine): Promise<string> {
  let svg = svgs.get(machine);
  if (!svg) {
    svg = renderSvg(toDot(describeMachine(machine)));
    svgs.set(machine, svg);
    // A failed render is not kept: the next call tries again.
    svg.catch(() => svgs.delete(machine));
  }
  return svg;
}

/**
 * The SVG diagram of one of `appMachines()`, rendered once and memoised.
 * Rejects for a name that is not one of them.
 * @example await machineSvg('lock') // '<?xml ...><svg ...>'
 */
export function machineSvg(name: string): Promise<string> {
  const entry = appMachines().find((candidate) => candidate.name === name);
  if (!entry) {
    const known = appMachines()
      .map((candidate) => candidate.name)
      .join(', ');
    return Promise.reject(new FlowdError('ERR_INVALID_ARGUMENT', `no machine named "${name}"; expected one of ${known}`));
  }
  return diagramSvg(entry.machine);
}

/** A Markdown document: a heading and a ```mermaid block per machine of the app. */
export function appMermaid(title: string): string {
  const sections = appMachines().map(({ name, machine }) => `## ${name}\n\n\`\`\`mermaid\n${toMermaid(describeMachine(machine))}\`\`\`\n`);
  return `# ${title}\n\n${sections.join('\n')}`;
}

/** One digraph with a cluster per machine of the app (ids prefixed `<machine>/`). */
export function appDot(): string {
  return toAppDot(appMachines().map(({ machine }) => describeMachine(machine)));
}

/**
 * Every machine of the app as one SVG document: each machine laid out on
 * its own (Graphviz places edge labels less well when unrelated clusters
 * share one layout) and stacked top-down in an outer `<svg>`. Ids carry
 * the machine, as in `appDot()`: `supervisor/state:stopping`.
 */
export async function appSvg(): Promise<string> {
  const parts = await Promise.all(appMachines().map(({ machine }) => renderSvg(toAppDot([describeMachine(machine)]))));
  let width = 0;
  let height = 0;
  const nested = parts.map((svg) => {
    const open = /<svg\b[^>]*>/.exec(svg)!;
    const size = (name: string) => Number(new RegExp(`\\s${name}="([0-9.]+)pt"`).exec(open[0])?.[1] ?? 0);
    const y = height;
    width = Math.max(width, size('width'));
    height += size('height');
    // Only the root element is rewritten: placed at its offset, prolog and comments dropped.
    return `${open[0].replace(/^<svg\b/, `<svg x="0" y="${y}pt"`)}${svg.slice(open.index + open[0].length)}`;
  });
  return `<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}pt" height="${height}pt">\n${nested.join('\n')}</svg>\n`;
}
