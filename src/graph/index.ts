/**
 * Diagrams of flowd's machines, drawn from their definitions: Mermaid
 * text, Graphviz DOT, and SVG rendered offline by Graphviz in WebAssembly.
 * Used by `flowd graph` and by the inspector.
 */
export {
  describeMachine,
  allStates,
  transitionLabel,
  guardName,
  type GraphState,
  type GraphTransition,
  type MachineGraph,
} from './describe.js';
export { toMermaid, mermaidIds, mermaidText } from './mermaid.js';
export { toDot, toAppDot, type DotOptions } from './dot.js';
export { renderSvg } from './svg.js';
export { appMachines, diagramSvg, machineSvg, appMermaid, appDot, appSvg, type AppMachine } from './app.js';
