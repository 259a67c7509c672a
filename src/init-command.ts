/**
 * `flowd init [folder]`: a new app that runs at once, the equivalent of
 * `npm create` for flowd. It writes package.json, app.ini (an interval
 * source), worker.ts (`defineWorker` from 'flowd') and worker.test.ts (the
 * worker run by an embedded runtime, with node's test runner), and never
 * overwrites a file.
 */
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './errors.js';

/** What `flowd init` wrote. */
export interface InitResult {
  /** The app's folder, absolute. */
  folder: string;
  /** The app's name (package.json's name, `[Flow] app name`). */
  name: string;
  /** The files written, relative to the folder, in order. */
  files: string[];
}

/**
 * An npm package name from a folder's name: lower case, with anything npm
 * does not take replaced by `-`; `flowd-app` when nothing is left.
 * @example packageName('My Flows!') // 'my-flows'
 */
export function packageName(folderName: string): string {
  const name = folderName.toLowerCase().replace(/[^a-z0-9._~-]+/g, '-').replace(/^[-._~]+|[-._~]+$/g, '').slice(0, 214);
  // `flowd` itself would make the app depend on a package of its own name.
  return name === '' || name === 'flowd' || name === 'node_modules' || name === 'favicon.ico' ? 'flowd-app' : name;
}

/** The files of a new app, by name. */
export function appFiles(name: string, flowdVersion: string): Array<[string, string]> {
  const packageJson = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: {
      start: 'flowd run app.ini',
      check: 'flowd check app.ini',
      test: 'node --import tsx --test worker.test.ts',
    },
    dependencies: { flowd: `^${flowdVersion}` },
    engines: { node: '>=20.19' },
  };
  return [
    ['package.json', `${JSON.stringify(packageJson, null, 2)}\n`],
    ['app.ini', APP_INI.replaceAll('{name}', name)],
    ['worker.ts', WORKER_TS],
    ['worker.test.ts', WORKER_TEST_TS],
    ['.gitignore', 'node_modules/\n# The app\'s state (its store) when it runs here.\n.flowd/\n'],
  ];
}

const APP_INI = `# {name}: a flowd app. Run it with: npx flowd run app.ini (Ctrl-C stops it).
# flowd check app.ini validates this file; flowd help lists every command.

[Flow]
app name = {name}
# The worker: the default export of worker.ts.
class = ./worker.ts
workers = 1
execution timeout = 30s

[Source]
# An event every 5 seconds, the first one at once. Other sources: stdin, stomp, http, folder, ...
type = interval
interval = 5s

# A section of the app's own: the worker reads it in configure() as ctx.config.Greeter.
[Greeter]
greeting = Hello
`;

const WORKER_TS = `import { defineWorker } from 'flowd';

let greeting = 'Hello';

/**
 * Greets each event. What start() returns is the event's result; a throw
 * fails the event (retried with [Flow] retries).
 */
export default defineWorker({
  name: 'greeter',
  configure(ctx) {
    greeting = ctx.config.Greeter?.greeting ?? greeting;
  },
  start(_event, ctx) {
    const line = \`\${greeting} from \${ctx.app.name} (event \${ctx.id})\`;
    ctx.log.info(line);
    return line;
  },
});
`;

const WORKER_TEST_TS = `import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createRuntime, sources } from 'flowd';
import worker from './worker.ts';

test('greets each event with the greeting of [Greeter]', async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'app-test-'));
  const runtime = createRuntime({
    worker,
    // An interval source fires its first event at once.
    source: sources.interval({ interval: '1h' }),
    app: { name: 'test', stateDir },
    config: { Greeter: { greeting: 'Hi' } },
  });
  const result = new Promise((resolve) => runtime.on('event.completed', (event) => resolve(event.result)));
  await runtime.start();
  try {
    assert.equal(await result, 'Hi from test (event tick-1)');
  } finally {
    await runtime.stop();
    await rm(stateDir, { recursive: true, force: true });
  }
});
`;

const exists = (file: string) => access(file).then(() => true, () => false);

/** mkdir -p, one level at a time: a recursive mkdir can spin forever where no folder can be made (under /proc). */
async function makeFolder(folder: string): Promise<void> {
  if (await exists(folder)) return;
  const parent = path.dirname(folder);
  if (parent !== folder) await makeFolder(parent);
  try {
    await mkdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * Writes a new app into `folder` (created if need be). Throws a
 * ConfigError naming the files that are there already, writing none of
 * them, or naming a folder that cannot be written.
 * @example const { files } = await initApp('./my-app', { version: '0.1.0' });
 */
export async function initApp(folder: string, options: { version: string }): Promise<InitResult> {
  const absolute = path.resolve(folder);
  const name = packageName(path.basename(absolute));
  const files = appFiles(name, options.version);
  const present: string[] = [];
  for (const [file] of files) if (await exists(path.join(absolute, file))) present.push(file);
  if (present.length > 0) {
    throw new ConfigError({ file: absolute }, `already has ${present.join(', ')}; flowd init never overwrites a file: move ${present.length === 1 ? 'it' : 'them'} away, or give another folder (flowd init my-app)`);
  }
  try {
    await makeFolder(absolute);
    // 'wx': a file that appeared meanwhile is not overwritten either.
    for (const [file, text] of files) await writeFile(path.join(absolute, file), text, { flag: 'wx' });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const reason = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission denied' : code === 'ENOTDIR' ? 'a part of its path is a file' : code === 'EEXIST' ? 'a file appeared while writing' : code === 'ENOENT' ? 'no folder can be made there' : message;
    throw new ConfigError({ file: absolute }, `cannot be written: ${reason}; expected a folder flowd init can create files in`, { cause: error });
  }
  return { folder: absolute, name, files: files.map(([file]) => file) };
}

/** What `flowd init` prints: the files written, and what to do next. */
export function describeInit(result: InitResult, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, result.folder);
  const where = relative.startsWith('..') || path.isAbsolute(relative) ? result.folder : relative;
  const steps = [...(relative === '' ? [] : [`cd ${/\s/.test(where) ? JSON.stringify(where) : where}`]), 'npm install', 'npx flowd run app.ini    # Ctrl-C stops it', 'npm test'];
  return [`Created app ${result.name} in ${result.folder}:`, ...result.files.map((file) => `  ${file}`), '', 'Next:', ...steps.map((step) => `  ${step}`)].join('\n');
}
