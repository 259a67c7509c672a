import { describe, expect, it } from 'vitest';
import { appProblems, codeBlocks, docApps, isWholeApp, outputPattern, secondShellCommands, shellWords } from './markdown.js';

const fence = '```';
const doc = [
  '# Title',
  '## An app',
  '1. Make it:',
  '',
  `   ${fence}sh`,
  '   mkdir a && cd a && npm init -y',
  `   ${fence}`,
  '',
  `   ${fence}ini file=app.ini stdin=in.txt`,
  '   [Flow]',
  '   class = ./w.ts',
  `   ${fence}`,
  `${fence}ts file=w.ts`,
  'export default {};',
  `${fence}`,
  `${fence}text file=in.txt`,
  'a',
  `${fence}`,
  `${fence}text output`,
  'got a at ...',
  `${fence}`,
  '## A snippet',
  `${fence}ini`,
  '[Source]',
  'type = stdin',
  `${fence}`,
  '## A broken app',
  `${fence}ts file=only.ts`,
  `${fence}`,
].join('\n');

describe('codeBlocks and docApps', () => {
  const blocks = codeBlocks('x.md', doc);
  const apps = docApps(blocks);

  it('read each block with its heading, language, attributes and unindented text', () => {
    expect(blocks.map((b) => [b.heading, b.lang, b.attrs])).toEqual([
      ['An app', 'sh', {}],
      ['An app', 'ini', { file: 'app.ini', stdin: 'in.txt' }],
      ['An app', 'ts', { file: 'w.ts' }],
      ['An app', 'text', { file: 'in.txt' }],
      ['An app', 'text', { output: '' }],
      ['A snippet', 'ini', {}],
      ['A broken app', 'ts', { file: 'only.ts' }],
    ]);
    expect(blocks[1]!.text).toBe('[Flow]\nclass = ./w.ts\n');
    expect(blocks[1]!.line).toBe(9);
  });

  it('group the file= blocks of a heading into an app with its output, stdin and npm init', () => {
    expect(apps).toHaveLength(2);
    const [app, broken] = apps;
    expect([...app!.files.keys()]).toEqual(['app.ini', 'w.ts', 'in.txt']);
    expect(app).toMatchObject({ ini: 'app.ini', main: undefined, stdin: 'in.txt', npmInit: true, heading: 'An app' });
    expect(app!.output!.text).toBe('got a at ...\n');
    expect(appProblems(app!)).toEqual([]);
    expect(appProblems(broken!)).toEqual([
      'has 0 .ini file(s) (none) and 0 main program(s) (none); expected exactly one of either',
      'has no `text output` block saying what it prints',
    ]);
  });
});

describe('outputPattern', () => {
  it('matches whole lines in order, with ... as a wildcard', () => {
    const pattern = outputPattern('a (1)\nb ... c\n');
    expect('x\na (1)\ny\nb 12 c\n').toMatch(pattern);
    expect('b 12 c\na (1)\n').not.toMatch(pattern);
    expect('a (1) more\nb 1 c\n').not.toMatch(pattern);
  });
});

describe('isWholeApp', () => {
  it('tells a whole INI app from a snippet', () => {
    expect(isWholeApp('# c\n[Flow]\nclass = x\n')).toBe(true);
    expect(isWholeApp('[Workflow]\nmodule = ./w.ts\n')).toBe(true);
    expect(isWholeApp('[Source]\ntype = stdin\n')).toBe(false);
    expect(isWholeApp('[Flowers]\n')).toBe(false);
  });
});

describe('a second shell', () => {
  it('splits its commands into words as sh does, without comments', () => {
    expect(shellWords(`npx flowd workflow start app.ini Upload --input '{"video": "cat.mov"}' --wait`)).toEqual([
      'npx',
      'flowd',
      'workflow',
      'start',
      'app.ini',
      'Upload',
      '--input',
      '{"video": "cat.mov"}',
      '--wait',
    ]);
    expect(shellWords('a "b c"d \\ e')).toEqual(['a', 'b cd', ' e']);
    const block = codeBlocks(
      'y.md',
      `## S\n${fence}sh second\n# start one\nnpx flowd workflow status app.ini 1   # its status\n\n${fence}\n`,
    )[0]!;
    expect(secondShellCommands(block)).toEqual([['npx', 'flowd', 'workflow', 'status', 'app.ini', '1']]);
  });

  it('may only run flowd, and only beside an endless app', () => {
    const text = [
      `## S`,
      `${fence}ini file=a.ini stdin=in`,
      '[Flow]',
      `${fence}`,
      `${fence}text file=in`,
      `${fence}`,
      `${fence}sh second`,
      'rm -rf /',
      `${fence}`,
      `${fence}text output`,
      'x',
      `${fence}`,
    ].join('\n');
    const [app] = docApps(codeBlocks('z.md', text));
    expect(appProblems(app!)).toEqual([
      'has both stdin= and a second shell; a second shell needs an endless app',
      'runs "rm -rf /" in its second shell; only npx flowd ... commands are run',
    ]);
  });
});
