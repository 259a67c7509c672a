/** The formats `flowd graph --format` accepts. */
export const GRAPH_FORMATS = ['mermaid', 'dot', 'svg'] as const;

/** One of `GRAPH_FORMATS`. */
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

/** Whether `text` names one of `GRAPH_FORMATS`. */
export const isGraphFormat = (text: string): text is GraphFormat => (GRAPH_FORMATS as readonly string[]).includes(text);
