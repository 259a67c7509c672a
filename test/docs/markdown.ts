/**
 * Reads the fenced code blocks of a Markdown file, with the heading each
 * sits under, and groups the blocks marked as an app's files (the
 * convention at the top of docs/README.md).
 */

/** One fenced code block. */
export interface CodeBlock {
  /** The Markdown file, relative to the repository. */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The nearest heading above it ('' before the first). */
  heading: string;
  /** The heading's position in the file, so two equal headings stay apart. */
  section: number;
  /** The first word of the info string (`ini`, `ts`, `sh`, ...). */
  lang: string;
  /** The other words: `file=app.ini` as { file: 'app.ini' }, a bare word as { output: '' }. */
  attrs: Record<string, string>;
  /** The content, with the fence's indentation taken off. */
  text: string;
}

/** The blocks under one heading that make one app. */
export interface DocApp {
  doc: string;
  heading: string;
  line: number;
  /** The `file=` blocks, by file name. */
  files: Map<string, CodeBlock>;
  /** The `.ini` file's name: the app `flowd check` and `flowd run` take. */
  ini: string | undefined;
  /** Or the program's file (`main`), run with node as a service that embeds flowd. */
  main: string | undefined;
  /** The `text output` block. */
  output: CodeBlock | undefined;
  /** The file fed on stdin (`stdin=` on the INI block). */
  stdin: string | undefined;
  /** Whether a shell block under the heading runs `npm init -y`. */
  npmInit: boolean;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*(.*)$/;
const HEADING = /^#{1,6}\s+(.*)$/;

/** Every fenced code block of `markdown`, in order. */
export function codeBlocks(doc: string, markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  let heading = '';
  let section = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) {
      const title = HEADING.exec(lines[i]!);
      if (title) {
        heading = title[1]!.trim();
        section++;
      }
      continue;
    }
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = FENCE.exec(lines[j]!);
      if (close && close[2]!.startsWith(fence[0]!) && close[2]!.length >= fence.length && close[3]!.trim() === '') break;
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!.trimStart());
    }
    const [lang = '', ...words] = info.trim().split(/\s+/).filter(Boolean);
    const attrs: Record<string, string> = {};
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq === -1) attrs[word] = '';
      else attrs[word.slice(0, eq)] = word.slice(eq + 1);
    }
    blocks.push({ doc, line: i + 1, heading, section, lang, attrs, text: body.length > 0 ? `${body.join('\n')}\n` : '' });
    i = j;
  }
  return blocks;
}

/** The apps among `blocks`: the `file=` blocks of each heading, with that heading's output and shell blocks. */
export function docApps(blocks: CodeBlock[]): DocApp[] {
  const apps = new Map<string, DocApp>();
  const key = (block: CodeBlock) => `${block.doc}#${block.section}`;
  for (const block of blocks) {
    if (block.attrs.file === undefined) continue;
    let app = apps.get(key(block));
    if (!app) {
      app = { doc: block.doc, heading: block.heading, line: block.line, files: new Map(), ini: undefined, main: undefined, output: undefined, stdin: undefined, npmInit: false };
      apps.set(key(block), app);
    }
    app.files.set(block.attrs.file, block);
    if (block.attrs.file.endsWith('.ini')) app.ini = block.attrs.file;
    if ('main' in block.attrs) app.main = block.attrs.file;
    if (block.attrs.stdin !== undefined) app.stdin = block.attrs.stdin;
  }
  for (const block of blocks) {
    const app = apps.get(key(block));
    if (!app) continue;
    if ('output' in block.attrs) app.output = block;
    if ((block.lang === 'sh' || block.lang === 'console' || block.lang === 'bash') && /\bnpm init -y\b/.test(block.text)) app.npmInit = true;
  }
  return [...apps.values()];
}

/** What is wrong with an app's blocks, if anything: every app must be one the test can run. */
export function appProblems(app: DocApp): string[] {
  const problems: string[] = [];
  const inis = [...app.files.keys()].filter((name) => name.endsWith('.ini'));
  const mains = [...app.files.values()].filter((block) => 'main' in block.attrs).map((block) => block.attrs.file!);
  if (inis.length + mains.length !== 1) {
    problems.push(`has ${inis.length} .ini file(s) (${inis.join(', ') || 'none'}) and ${mains.length} main program(s) (${mains.join(', ') || 'none'}); expected exactly one of either`);
  }
  if (!app.output) problems.push('has no `text output` block saying what it prints');
  else if (app.output.text.trim() === '') problems.push('has an empty `text output` block');
  if (app.stdin !== undefined && !app.files.has(app.stdin)) problems.push(`feeds stdin=${app.stdin}, which is not one of its files (${[...app.files.keys()].join(', ')})`);
  for (const [name, block] of app.files) {
    if (name === '' || name.includes('..') || name.startsWith('/')) problems.push(`file=${name} (line ${block.line}) is not a plain relative name`);
  }
  return problems;
}

/** A regular expression that matches the expected lines, in order, each a whole line of the output; `...` matches anything. */
export function outputPattern(expected: string): RegExp {
  const lines = expected.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  const line = (text: string) => `^${text.split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`;
  return new RegExp(lines.map(line).join('[\\s\\S]*?'), 'm');
}

/** Whether an INI text has a `[Flow]` section (a whole app, as opposed to a snippet). */
export function hasFlowSection(ini: string): boolean {
  return /^\s*\[Flow\]\s*$/im.test(ini);
}
