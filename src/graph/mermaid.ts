import { allStates, transitionLabel, type GraphState, type GraphTransition, type MachineGraph } from './describe.js';

/** Words Mermaid's state-diagram grammar reserves: a state keyed so gets a suffix. */
const RESERVED = new Set([
  'state',
  'note',
  'end',
  'as',
  'direction',
  'class',
  'classdef',
  'style',
  'click',
  'left',
  'right',
  'of',
  'hide',
  'empty',
]);

/**
 * The Mermaid id of every state, by dotted path: the path with `_` for
 * anything but letters, digits and `_` (`stopping.draining` ->
 * `stopping_draining`), made unique. Mermaid ids are global to a diagram,
 * so two `stopped` states in different parents need different ids.
 */
export function mermaidIds(graph: MachineGraph): Map<string, string> {
  const ids = new Map<string, string>();
  const taken = new Set<string>();
  for (const state of allStates(graph)) {
    if (state.path === '') continue;
    let base = state.path.replace(/[^A-Za-z0-9_]/g, '_');
    if (/^[0-9]/.test(base)) base = `s_${base}`;
    if (RESERVED.has(base.toLowerCase())) base = `${base}_`;
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}_${n}`;
    taken.add(id);
    ids.set(state.path, id);
  }
  return ids;
}

/**
 * Text made safe inside a Mermaid label or note: characters the grammar
 * gives a meaning to (`:`, `;`, `"`, `#`, `%`, `{`, `}`, `<`, `>`) become
 * Mermaid entity codes (`#58;`), line breaks become spaces.
 */
export function mermaidText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[#:;"%{}<>]/g, (char) => `#${char.charCodeAt(0)};`);
}

const isContainer = (state: GraphState): boolean => state.type === 'compound' || state.type === 'parallel';

/** The deepest state that strictly contains every given path (`''`, the root, at least). */
function scopeOf(paths: string[]): string {
  let scope = paths[0]!.split('.').slice(0, -1);
  for (const path of paths.slice(1)) {
    const parts = path.split('.').slice(0, -1);
    let i = 0;
    while (i < scope.length && i < parts.length && scope[i] === parts[i]) i++;
    scope = scope.slice(0, i);
  }
  // Parents, not paths: a transition from a container to its own descendant is drawn in the container's parent.
  return scope.join('.');
}

function label(transition: GraphTransition): string {
  return mermaidText(transitionLabel(transition));
}

/** `event [guard]` (with ` -> target` when the transition has one), for notes. */
function noteLine(transition: GraphTransition, states: Map<string, GraphState>): string {
  const targets = transition.targets.map((target) => states.get(target)?.key ?? target);
  return mermaidText(targets.length > 0 ? `${transitionLabel(transition)} -> ${targets.join(', ')}` : transitionLabel(transition));
}

/**
 * The machine as a Mermaid `stateDiagram-v2`: nested states as
 * `state X { ... }` (parallel regions separated by `--`), `[*] --> X` for
 * initial states, `X --> [*]` for final ones, transitions labelled
 * `event [guard]`, `after 5s`, `always [guard]`, `done: actor`.
 * Transitions without a target (actions only) are self-loops on simple
 * states; those of a compound state or of the root are listed in a note.
 * @example toMermaid(describeMachine(lockMachine)).startsWith('stateDiagram-v2') // true
 */
export function toMermaid(graph: MachineGraph): string {
  const ids = mermaidIds(graph);
  const states = new Map(allStates(graph).map((state) => [state.path, state]));
  const byScope = new Map<string, string[]>();
  const notes = new Map<string, GraphTransition[]>();
  for (const transition of graph.transitions) {
    const source = states.get(transition.source)!;
    if (source.path === '' || (isContainer(source) && transition.targets.length === 0)) {
      const list = notes.get(source.path) ?? [];
      list.push(transition);
      notes.set(source.path, list);
      continue;
    }
    const targets = transition.targets.length > 0 ? transition.targets : [transition.source];
    const scope = scopeOf([transition.source, ...targets]);
    const lines = byScope.get(scope) ?? [];
    for (const target of targets) lines.push(`${ids.get(transition.source)} --> ${ids.get(target)} : ${label(transition)}`);
    byScope.set(scope, lines);
  }

  const out = ['stateDiagram-v2'];
  const emitBody = (container: GraphState, indent: string) => {
    const regions = container.type === 'parallel';
    container.children.forEach((child, index) => {
      if (regions && index > 0) out.push(`${indent}--`);
      const id = ids.get(child.path)!;
      const name = child.type === 'history' ? `${child.key} (history)` : child.key;
      out.push(`${indent}state "${mermaidText(name)}" as ${id}`);
      if (isContainer(child)) {
        out.push(`${indent}state ${id} {`);
        emitBody(child, `${indent}  `);
        out.push(`${indent}}`);
      }
    });
    if (container.initial !== undefined) out.push(`${indent}[*] --> ${ids.get(container.initial)}`);
    for (const line of byScope.get(container.path) ?? []) out.push(`${indent}${line}`);
    for (const child of container.children) {
      if (child.type === 'final') out.push(`${indent}${ids.get(child.path)} --> [*]`);
    }
    for (const child of container.children) {
      const list = notes.get(child.path);
      if (list) pushNote(out, indent, `right of ${ids.get(child.path)}`, `in every ${child.key} state:`, list, states);
    }
  };
  emitBody(graph.root, '  ');
  const rootNotes = notes.get('');
  const anchor = graph.root.initial ?? graph.root.children[0]?.path;
  if (rootNotes && anchor !== undefined) pushNote(out, '  ', `left of ${ids.get(anchor)}`, 'in every state:', rootNotes, states);
  return `${out.join('\n')}\n`;
}

function pushNote(
  out: string[],
  indent: string,
  where: string,
  title: string,
  transitions: GraphTransition[],
  states: Map<string, GraphState>,
): void {
  out.push(`${indent}note ${where}`);
  out.push(`${indent}  ${mermaidText(title)}`);
  for (const transition of transitions) out.push(`${indent}  ${noteLine(transition, states)}`);
  out.push(`${indent}end note`);
}
