import { allStates, transitionLabel, type GraphState, type GraphTransition, type MachineGraph } from './describe.js';

/** How `toDot` draws. */
export interface DotOptions {
  /**
   * Layout direction: `LR` reads best for flowd's machines (short chains of
   * states with long event names on the edges).
   * @default 'LR'
   */
  rankdir?: 'LR' | 'TB';
  /**
   * Show each transition's actions (`event [guard] / action, action`).
   * @default false
   */
  actions?: boolean;
}

const FONT = 'Helvetica';
const INK = '#2d3748';
const LINE = '#4a5568';
const MUTED = '#718096';

/** A DOT double-quoted string. */
function q(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/** Text inside an HTML-like label. */
function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const isContainer = (state: GraphState): boolean => state.type === 'compound' || state.type === 'parallel';
const isWithin = (path: string, ancestor: string): boolean => ancestor === '' || path === ancestor || path.startsWith(`${ancestor}.`);

function fullLabel(transition: GraphTransition, options: DotOptions): string {
  const base = transitionLabel(transition);
  return options.actions && transition.actions ? `${base} / ${transition.actions.join(', ')}` : base;
}

/** Lines of at most `width` characters, items joined by `, `. */
function wrap(items: string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    if (line && line.length + item.length + 2 > width) {
      lines.push(`${line},`);
      line = item;
    } else line = line ? `${line}, ${item}` : item;
  }
  if (line) lines.push(line);
  return lines;
}

/** A bold name over a rule and the state's targetless transitions in small grey type. */
function stateLabel(title: string, internal: string[], heading: string | undefined): string {
  const rows = [`<tr><td align="${heading === undefined ? 'center' : 'left'}"><b>${html(title)}</b></td></tr>`];
  if (internal.length > 0) {
    rows.push('<hr/>');
    const lines = heading === undefined ? internal : [heading, ...wrap(internal, 64)];
    for (const line of lines) rows.push(`<tr><td align="left"><font point-size="9" color="${MUTED}">${html(line)}</font></td></tr>`);
  }
  return `<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">${rows.join('')}</table>>`;
}

/**
 * The DOT statements of one machine, as a cluster (`idPrefix` keeps ids
 * and node names unique when several machines share one graph).
 */
export function machineCluster(graph: MachineGraph, options: DotOptions = {}, idPrefix = ''): string[] {
  const states = new Map(allStates(graph).map((state) => [state.path, state]));
  const internal = new Map<string, string[]>();
  for (const transition of graph.transitions) {
    if (transition.targets.length > 0) continue;
    const list = internal.get(transition.source) ?? [];
    list.push(fullLabel(transition, options));
    internal.set(transition.source, list);
  }
  const node = (path: string) => q(`${idPrefix}state:${path}`);
  const initialDot = (path: string) => q(`${idPrefix}initial:${path}`);
  const anchor = (path: string) => q(`${idPrefix}anchor:${path}`);
  const cluster = (path: string) => q(`cluster_${idPrefix}${path === '' ? '(root)' : path}`);
  const out: string[] = [];

  const emit = (state: GraphState, indent: string) => {
    const id = q(`${idPrefix}state:${state.path}`);
    const tooltip = state.description ? ` tooltip=${q(state.description)}` : '';
    if (!isContainer(state)) {
      const shape = state.type === 'history' ? ' shape=circle width=0.3 fixedsize=true' : '';
      const final = state.type === 'final' ? ' peripheries=2' : '';
      const title = state.type === 'history' ? 'H' : state.key;
      out.push(
        `${indent}${node(state.path)} [id=${id} class="state ${state.type}" label=${stateLabel(title, internal.get(state.path) ?? [], undefined)}${shape}${final}${tooltip}];`,
      );
      return;
    }
    const root = state.path === '';
    const heading = root ? 'in every state:' : `in every ${state.key} state:`;
    out.push(`${indent}subgraph ${cluster(state.path)} {`);
    const inner = `${indent}  `;
    out.push(
      `${inner}id=${id}; class="state ${state.type}"; label=${stateLabel(state.key, internal.get(state.path) ?? [], heading)};${tooltip ? `${tooltip};` : ''}`,
    );
    out.push(
      `${inner}style="rounded${root ? '' : ',filled'}${state.type === 'parallel' ? ',dashed' : ''}"; color="${root ? '#a0aec0' : '#cbd5e0'}"; fillcolor="#f7fafc"; labeljust=l; margin=12;`,
    );
    if (state.initial !== undefined) {
      out.push(
        `${inner}${initialDot(state.path)} [shape=point width=0.12 height=0.12 style=filled fillcolor="${INK}" color="${INK}" label=""];`,
      );
      out.push(
        `${inner}${initialDot(state.path)} -> ${q(targetNodeOf(states.get(state.initial)!))} [arrowsize=0.6${lheadFor(states.get(state.initial)!)}];`,
      );
    }
    for (const child of state.children) emit(child, inner);
    // An invisible point to attach edges to when the initial dot would mislead (or there is none).
    if (needsAnchor(state)) {
      out.push(`${inner}${anchor(state.path)} [shape=point style=invis width=0.01 height=0.01 label=""];`);
    }
    out.push(`${indent}}`);
  };

  // Edges between containers attach to a node inside and are clipped at the cluster's border.
  function targetNodeOf(state: GraphState): string {
    if (!isContainer(state)) return `${idPrefix}state:${state.path}`;
    return state.initial !== undefined ? `${idPrefix}initial:${state.path}` : `${idPrefix}anchor:${state.path}`;
  }
  function lheadFor(state: GraphState): string {
    return isContainer(state) ? ` lhead=${cluster(state.path)}` : '';
  }
  function needsAnchor(state: GraphState): boolean {
    if (state.initial === undefined) return true;
    return graph.transitions.some(
      (t) => t.source === state.path && t.targets.some((target) => target !== state.path && isWithin(target, state.path)),
    );
  }

  emit(graph.root, '  ');
  // Transitions between the same two states are one edge with a line per event: fewer crossings.
  const edges = new Map<string, { tail: string; head: string; attrs: string[]; labels: string[] }>();
  for (const transition of graph.transitions) {
    const source = states.get(transition.source)!;
    for (const targetPath of transition.targets) {
      const target = states.get(targetPath)!;
      const inward = isWithin(targetPath, source.path) && targetPath !== source.path;
      const outward = isWithin(source.path, targetPath) && targetPath !== source.path;
      let tail = node(source.path);
      const attrs: string[] = [];
      if (isContainer(source)) {
        tail = inward || source.initial === undefined ? anchor(source.path) : initialDot(source.path);
        if (!inward) attrs.push(`ltail=${cluster(source.path)}`);
      }
      let head = node(target.path);
      if (isContainer(target)) {
        head = q(targetNodeOf(target));
        if (!outward && targetPath !== source.path) attrs.push(`lhead=${cluster(target.path)}`);
      }
      if (transition.event === 'always') attrs.push('style=dashed');
      const key = `${tail} ${head} ${attrs.join(' ')}`;
      const edge = edges.get(key) ?? { tail, head, attrs, labels: [] };
      edge.labels.push(fullLabel(transition, options));
      edges.set(key, edge);
    }
  }
  for (const { tail, head, attrs, labels } of edges.values()) {
    out.push(`  ${tail} -> ${head} [${[...attrs, `label=${q(labels.join('\n'))}`, 'class="transition"'].join(' ')}];`);
  }
  return out;
}

const header = (options: DotOptions) => [
  `  graph [rankdir=${options.rankdir ?? 'LR'} compound=true newrank=true fontname="${FONT}" fontsize=12 fontcolor="${INK}" nodesep=0.35 ranksep=0.45 bgcolor="white" pad=0.2];`,
  `  node [shape=box style="rounded,filled" fillcolor="white" color="${LINE}" fontname="${FONT}" fontsize=12 fontcolor="${INK}" margin="0.14,0.06" height=0.36];`,
  `  edge [color="${LINE}" fontname="${FONT}" fontsize=10 fontcolor="${INK}" arrowsize=0.7 penwidth=1];`,
];

/**
 * One machine as a Graphviz digraph. Every state carries
 * `id="state:<dotted path>"` (the root, a cluster, `state:`), so the
 * rendered SVG's `<g>` elements can be found by path; nodes and clusters
 * also carry `class="state <type>"`, edges `class="transition"`. Compound
 * states are clusters with their initial state marked by a dot, final
 * states have a double border, targetless transitions are listed in small
 * type under their state's name.
 * @example toDot(describeMachine(lockMachine)).startsWith('digraph') // true
 */
export function toDot(graph: MachineGraph, options: DotOptions = {}): string {
  return [`digraph ${q(graph.id)} {`, ...header(options), ...machineCluster(graph, options), '}', ''].join('\n');
}

/**
 * Several machines in one digraph, one cluster each, side by side.
 * Ids are prefixed by the machine id: `supervisor/state:stopping.draining`.
 */
export function toAppDot(graphs: MachineGraph[], options: DotOptions = {}): string {
  // Graphviz stacks unconnected clusters last-first in a left-to-right layout: reversed, they read top-down in order.
  const ordered = (options.rankdir ?? 'LR') === 'LR' ? [...graphs].reverse() : graphs;
  const body = ordered.flatMap((graph) => machineCluster(graph, options, `${graph.id}/`));
  return ['digraph "flowd" {', ...header(options), ...body, '}', ''].join('\n');
}
