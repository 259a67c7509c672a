import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

// flowd as a user meets it: packed with `npm pack`, installed into a fresh project of
// their own (or globally, or run through npx), with an app and a worker module beside it.
const run = promisify(execFile);
const INSTALL_TIMEOUT = 240_000;

// Each worker prints where 'flowd' resolved inside it, and checks a flowd error against Error.
const WORKERS = {
  esmTs: `import { defineWorker, ConflictError } from 'flowd';
declare const require: { resolve(id: string): string } | undefined;
export default defineWorker({
  start(line: string) {
    const where = typeof require === 'function' ? require.resolve('flowd') : import.meta.resolve('flowd');
    console.log(\`got \${line.trim()} flowd=\${where} \${new ConflictError('x') instanceof Error}\`);
  },
});
`,
  cjs: `const { defineWorker, ConflictError } = require('flowd');
module.exports = defineWorker({
  start(line) {
    console.log(\`got \${line.trim()} flowd=\${require.resolve('flowd')} \${new ConflictError('x') instanceof Error}\`);
  },
});
`,
  esm: `import { defineWorker, ConflictError } from 'flowd';
export default defineWorker({
  start(line) {
    console.log(\`got \${line.trim()} flowd=\${import.meta.resolve('flowd')} \${new ConflictError('x') instanceof Error}\`);
  },
});
`,
} as const;

const appIni = (worker: string) => `[Flow]
app name = first
class = ./${worker}
workers = 2

[Source]
type = stdin
`;

/** Writes app-<ext>.ini and its worker for each module form; returns the INI files by worker file name. */
async function writeApps(folder: string, forms: Record<string, keyof typeof WORKERS>): Promise<string[]> {
  const apps: string[] = [];
  for (const [file, form] of Object.entries(forms)) {
    await writeFile(path.join(folder, file), WORKERS[form]);
    const ini = `app-${file.replace('.', '-')}.ini`;
    await writeFile(path.join(folder, ini), appIni(file));
    apps.push(ini);
  }
  return apps;
}

/** Runs `flowd check` and `flowd run` of an app; resolves with the file 'flowd' resolved to in the worker. */
async function checkAndRun(command: string[], folder: string, ini: string): Promise<string> {
  const [file, ...args] = command;
  const check = await run(file!, [...args, 'check', ini], { cwd: folder, timeout: INSTALL_TIMEOUT });
  expect(check.stdout).toMatch(/^first: ok: worker/);
  const child = execFile(file!, [...args, 'run', ini], { cwd: folder, timeout: 60_000 });
  child.stdin!.end('hello\n');
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect({ code, stderr: stderr.includes('"level":50') ? stderr : '' }).toEqual({ code: 0, stderr: '' });
  const match = /^got hello flowd=(\S+) true$/m.exec(stdout);
  expect(match, stdout).not.toBeNull();
  const where = match![1]!;
  return realpath(where.startsWith('file:') ? fileURLToPath(where) : where);
}

let work: string;
let tarball: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'flowd-package-'));
  // dist/ was built by the global setup; pack what it built.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, timeout: INSTALL_TIMEOUT });
  tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
}, INSTALL_TIMEOUT);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function project(name: string, type: 'commonjs' | 'module'): Promise<string> {
  const folder = path.join(work, name);
  await mkdir(folder);
  await run('npm', ['init', '-y'], { cwd: folder });
  await run('npm', ['pkg', 'set', `type=${type}`], { cwd: folder });
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: folder, timeout: INSTALL_TIMEOUT });
  return folder;
}

describe('flowd packed and installed into a CommonJS project (npm init -y)', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await project('cjs', 'commonjs');
  }, INSTALL_TIMEOUT);

  it('ships compiled JavaScript and builds nothing on install', async () => {
    const files = await readdir(path.join(folder, 'node_modules/flowd/dist/src'));
    expect(files).toEqual(expect.arrayContaining(['cli', 'index.js', 'index.d.ts']));
    expect(files).toContain('index.d.ts');
    await expect(readdir(path.join(folder, 'node_modules/flowd/src'))).rejects.toThrow(/ENOENT/);
  });

  it.each(['w.ts', 'w.cts', 'w.js', 'w.cjs', 'w.mjs'])('checks and runs a %s worker whose flowd is the installed one', async (worker) => {
    const [ini] = await writeApps(folder, {
      [worker]: worker === 'w.ts' || worker === 'w.cts' ? 'esmTs' : worker === 'w.mjs' ? 'esm' : 'cjs',
    });
    const entry = await realpath(path.join(folder, 'node_modules/flowd/dist/src/index.js'));
    expect(await checkAndRun(['npx', 'flowd'], folder, ini!)).toBe(entry);
  });

  it('loads the library from CommonJS code of the project itself', async () => {
    const { stdout } = await run(
      process.execPath,
      ['-e', "const f = require('flowd'); console.log(typeof f.createRuntime, typeof f.defineWorker)"],
      { cwd: folder },
    );
    expect(stdout.trim()).toBe('function function');
  });
});

describe('flowd packed and installed into an ES module project ("type": "module")', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await project('esm', 'module');
  }, INSTALL_TIMEOUT);

  it.each(['w.ts', 'w.js', 'w.mts'])('checks and runs a %s worker whose flowd is the installed one', async (worker) => {
    const [ini] = await writeApps(folder, { [worker]: worker === 'w.js' ? 'esm' : 'esmTs' });
    const entry = await realpath(path.join(folder, 'node_modules/flowd/dist/src/index.js'));
    expect(await checkAndRun(['npx', 'flowd'], folder, ini!)).toBe(entry);
  });
});

describe('flowd for an app in a folder with no package.json', () => {
  let folder: string;
  let apps: string[];
  beforeAll(async () => {
    folder = path.join(work, 'bare');
    await mkdir(folder);
    apps = await writeApps(folder, { 'w.ts': 'esmTs', 'w.cts': 'esmTs', 'w.js': 'cjs', 'w.mjs': 'esm' });
  });

  it(
    "maps the worker's flowd to a global install that runs it",
    async () => {
      const prefix = path.join(work, 'global');
      await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], {
        timeout: INSTALL_TIMEOUT,
      });
      const entry = await realpath(path.join(prefix, 'lib/node_modules/flowd/dist/src/index.js'));
      for (const ini of apps) expect(await checkAndRun([path.join(prefix, 'bin/flowd')], folder, ini)).toBe(entry);
    },
    INSTALL_TIMEOUT,
  );

  it(
    "maps the worker's flowd to the copy npx runs",
    async () => {
      const cache = path.join(work, 'npm-cache');
      const npx = ['npx', '--yes', `--cache=${cache}`, `--package=${tarball}`, 'flowd'];
      const wheres = [];
      for (const ini of apps) wheres.push(await checkAndRun(npx, folder, ini));
      // npx installs it in its own cache folder: every module form got that one copy.
      expect(new Set(wheres).size).toBe(1);
      expect(wheres[0]).toMatch(new RegExp(`^${cache}/_npx/[^/]+/node_modules/flowd/dist/src/index\\.js$`));
    },
    INSTALL_TIMEOUT,
  );
});
