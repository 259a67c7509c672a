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
  /** The `sh second` block: `npx flowd ...` commands typed in a second shell while the app runs. */
  second: CodeBlock | undefined;
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
      app = {
        doc: block.doc,
        heading: block.heading,
        line: block.line,
        files: new Map(),
        ini: undefined,
        main: undefined,
        output: undefined,
        stdin: undefined,
        npmInit: false,
        second: undefined,
      };
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
    const shell = block.lang === 'sh' || block.lang === 'console' || block.lang === 'bash';
    if (shell && /\bnpm init -y\b/.test(block.text)) app.npmInit = true;
    if (shell && 'second' in block.attrs) app.second = block;
  }
  return [...apps.values()];
}

/** What is wrong with an app's blocks, if anything: every app must be one the test can run. */
export function appProblems(app: DocApp): string[] {
  const problems: string[] = [];
  const inis = [...app.files.keys()].filter((name) => name.endsWith('.ini'));
  const mains = [...app.files.values()].filter((block) => 'main' in block.attrs).map((block) => block.attrs.file!);
  if (inis.length + mains.length !== 1) {
    problems.push(
      `has ${inis.length} .ini file(s) (${inis.join(', ') || 'none'}) and ${mains.length} main program(s) (${mains.join(', ') || 'none'}); expected exactly one of either`,
    );
  }
  if (!app.output) problems.push('has no `text output` block saying what it prints');
  else if (app.output.text.trim() === '') problems.push('has an empty `text output` block');
  if (app.stdin !== undefined && !app.files.has(app.stdin))
    problems.push(`feeds stdin=${app.stdin}, which is not one of its files (${[...app.files.keys()].join(', ')})`);
  if (app.second) {
    if (app.stdin !== undefined) problems.push('has both stdin= and a second shell; a second shell needs an endless app');
    const commands = secondShellCommands(app.second);
    if (commands.length === 0) problems.push(`has an empty second shell (line ${app.second.line})`);
    for (const command of commands)
      if (command[0] !== 'npx' || command[1] !== 'flowd')
        problems.push(`runs "${command.join(' ')}" in its second shell; only npx flowd ... commands are run`);
  }
  for (const [name, block] of app.files) {
    if (name === '' || name.includes('..') || name.startsWith('/'))
      problems.push(`file=${name} (line ${block.line}) is not a plain relative name`);
  }
  return problems;
}

/** A regular expression that matches the expected lines, in order, each a whole line of the output; `...` matches anything. */
export function outputPattern(expected: string): RegExp {
  const lines = expected
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
  const line = (text: string) =>
    `^${text
      .split('...')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`;
  return new RegExp(lines.map(line).join('[\\s\\S]*?'), 'm');
}

/** Whether an INI text is a whole app, with a `[Flow]` or `[Workflow]` section, as opposed to a snippet. */
export function isWholeApp(ini: string): boolean {
  return /^\s*\[(Flow|Workflow)\]\s*$/im.test(ini);
}

/** The commands of a second shell block, each split into words as sh does (quotes, no expansions). */
export function secondShellCommands(block: CodeBlock): string[][] {
  return block.text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
    .map(shellWords);
}

/** Splits a command line into words: '...' and "..." quote, a backslash escapes; nothing is expanded. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end === -1) throw new Error(`unterminated ${c} in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}
