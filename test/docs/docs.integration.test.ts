import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { flowd, ROOT, tempDir, type FlowdProcess } from '../helpers/cli.js';
import {
  appProblems,
  codeBlocks,
  docApps,
  isWholeApp,
  outputPattern,
  secondShellCommands,
  type CodeBlock,
  type DocApp,
} from './markdown.js';

// The README and every page of docs/, as the reader sees them.
const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];
const blocks: CodeBlock[] = DOCS.flatMap((doc) => codeBlocks(doc, readFileSync(path.join(ROOT, doc), 'utf8')));
const apps: DocApp[] = docApps(blocks);
const where = (block: { doc: string; line: number }) => `${block.doc}:${block.line}`;
const TSX = import.meta.resolve('tsx');

/**
 * Runs a program that embeds flowd as a service does: with node (TypeScript
 * through tsx), in a folder whose node_modules/flowd is this repository, as
 * `npm install flowd` would make it.
 */
function program(file: string, cwd: string, input?: string): Pick<FlowdProcess, 'child' | 'stdout' | 'stderr' | 'waitFor' | 'exit'> {
  const child = spawn(process.execPath, ['--import', TSX, file], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const text = { stdout: '', stderr: '' };
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => (text[stream] += chunk));
  }
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.stdin.end(input);
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exit,
    waitFor: (stream, pattern) =>
      new Promise<string>((resolve, reject) => {
        let ended = false;
        void exit.then(() => (ended = true));
        const poll = () => {
          const match = pattern.exec(text[stream]);
          if (match) resolve(match[0]);
          else if (ended)
            reject(new Error(`${file} exited before ${stream} matched ${pattern}\nstdout: ${text.stdout}\nstderr: ${text.stderr}`));
          else setTimeout(poll, 50);
        };
        poll();
      }),
  };
}

describe('the code blocks of the README and docs/', () => {
  it('mark every whole INI app (a [Flow] or [Workflow] section) as an app of file= blocks', () => {
    const unmarked = blocks.filter((block) => block.lang === 'ini' && block.attrs.file === undefined && isWholeApp(block.text));
    expect(
      unmarked.map(where),
      'an ini block with a [Flow] or [Workflow] section is a whole app: mark its files with file=NAME (docs/README.md) so the test runs it, or show only the sections it is about',
    ).toEqual([]);
  });

  it('give every marked app one INI file, its output and only files of its own', () => {
    const problems = apps.flatMap((app) => appProblems(app).map((problem) => `${where(app)} (${app.heading}): ${problem}`));
    expect(problems).toEqual([]);
  });

  it('put every `text output` block under the heading of an app', () => {
    const outputs = blocks.filter((block) => 'output' in block.attrs);
    const orphans = outputs.filter((block) => !apps.some((app) => app.output === block));
    expect(orphans.map(where)).toEqual([]);
  });

  it('include the first app of the README', () => {
    expect(apps.filter((app) => app.doc === 'README.md').map((app) => app.heading)).toContain('Your first app');
  });
});

describe.each(apps.map((app) => [`${where(app)} ${app.heading}`, app] as const))('the app at %s', (_name, app) => {
  it('runs as the docs say (an INI app after passing flowd check)', async () => {
    const dir = await tempDir();
    onTestFinished(() => dir.cleanup());
    // As the reader's own folder: a `package.json` from `npm init -y` when the steps make one, else none.
    if (app.npmInit) execFileSync('npm', ['init', '-y'], { cwd: dir.dir, stdio: 'ignore' });
    for (const [name, block] of app.files) {
      await mkdir(path.dirname(path.join(dir.dir, name)), { recursive: true });
      await writeFile(path.join(dir.dir, name), block.text);
    }

    if (app.ini !== undefined) {
      const check = flowd(['check', app.ini], { cwd: dir.dir });
      const checked = await check.exit;
      expect(checked.code, `flowd check ${app.ini}\nstdout: ${check.stdout()}\nstderr: ${check.stderr()}`).toBe(0);
    } else {
      await mkdir(path.join(dir.dir, 'node_modules'));
      await symlink(ROOT, path.join(dir.dir, 'node_modules/flowd'), 'dir');
    }
    const command = app.ini !== undefined ? `flowd run ${app.ini}` : `node ${app.main}`;
    const start = (input?: string) =>
      app.ini !== undefined ? flowd(['run', app.ini], { cwd: dir.dir, input }) : program(app.main!, dir.dir, input);

    const expected = outputPattern(app.output!.text);
    if (app.stdin !== undefined) {
      // Standard input: the run ends by itself once every event has its outcome.
      const run = start(app.files.get(app.stdin)!.text);
      const { code } = await run.exit;
      expect(code, `${command} < ${app.stdin}\nstderr: ${run.stderr()}`).toBe(0);
      expect(run.stdout()).toMatch(expected);
    } else {
      // An endless source: the output shows it works; SIGINT then stops it cleanly.
      const run = start();
      if (app.second) {
        // A second shell while the app runs (flowd workflow start ... --wait, say): its output is the one shown.
        let typed = '';
        for (const [, , ...args] of secondShellCommands(app.second)) {
          const command = flowd(args, { cwd: dir.dir });
          const { code } = await command.exit;
          expect(
            code,
            `second shell: flowd ${args.join(' ')}\nstdout: ${command.stdout()}\nstderr: ${command.stderr()}\nthe app's stderr: ${run.stderr()}`,
          ).toBe(0);
          typed += command.stdout();
        }
        expect(typed).toMatch(expected);
      } else {
        await run.waitFor('stdout', expected);
      }
      run.child.kill('SIGINT');
      const { code } = await run.exit;
      expect(code, `${command}, stopped with SIGINT\nstderr: ${run.stderr()}`).toBe(0);
    }
  });
});
