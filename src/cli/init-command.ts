/**
 * `flowd init [folder]`: a new app that runs at once, the equivalent of
 * `npm create` for flowd. It writes package.json, app.ini (an interval
 * source), worker.ts (`defineWorker` from 'flowd') and worker.test.ts (the
 * worker run by an embedded runtime, with node's test runner), and never
 * overwrites a file. A package.json that is there already (`npm init -y`,
 * `npm install flowd`) is kept and given what the app needs that it lacks:
 * the scripts, flowd, and tsx for the test.
 */
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../kernel/errors.js';
import { makeFolder } from './make-folder.js';

/** What `flowd init` wrote. */
export interface InitResult {
  /** The app's folder, absolute. */
  folder: string;
  /** The app's name (package.json's name, `[Flow] app name`). */
  name: string;
  /** The files written, relative to the folder, in order. */
  files: string[];
  /** What was added to a package.json that was there already (`scripts.start`, `devDependencies.tsx`, ...); empty when it was written anew. */
  added: string[];
}

/**
 * An npm package name from a folder's name: lower case, with anything npm
 * does not take replaced by `-`; `flowd-app` when nothing is left.
 * @example packageName('My Flows!') // 'my-flows'
 */
export function packageName(folderName: string): string {
  const name = folderName
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[-._~]+|[-._~]+$/g, '')
    .slice(0, 214);
  // `flowd` itself would make the app depend on a package of its own name.
  return name === '' || name === 'flowd' || name === 'node_modules' || name === 'favicon.ico' ? 'flowd-app' : name;
}

/** The files of a new app, by name. */
export function appFiles(name: string, flowdVersion: string, tsxVersion = '^4'): Array<[string, string]> {
  const packageJson = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: SCRIPTS,
    dependencies: { flowd: `^${flowdVersion}` },
    // The test runs the TypeScript worker through tsx: declared, not borrowed from flowd's own dependencies.
    devDependencies: { tsx: tsxVersion },
    engines: { node: '>=20.19' },
  };
  return [
    ['package.json', `${JSON.stringify(packageJson, null, 2)}\n`],
    ['app.ini', APP_INI.replaceAll('{name}', name)],
    ['worker.ts', WORKER_TS],
    ['worker.test.ts', WORKER_TEST_TS],
    ['.gitignore', "node_modules/\n# The app's state (its store) when it runs here.\n.flowd/\n"],
  ];
}

const SCRIPTS: Readonly<Record<string, string>> = {
  start: 'flowd run app.ini',
  check: 'flowd check app.ini',
  test: 'node --import tsx --test worker.test.ts',
};

// What `npm init -y` writes as the test script.
const NPM_PLACEHOLDER_TEST = /^echo "Error: no test specified" && exit 1$/;

/**
 * Adds what the app needs to a package.json that is there already, keeping
 * everything it has: the scripts it lacks (npm's placeholder test counts as
 * none), flowd, and tsx for the test. Returns the new text and what was added.
 */
export function completePackageJson(
  text: string,
  where: string,
  flowdVersion: string,
  tsxVersion = '^4',
): { text: string; added: string[] } {
  let pkg: unknown;
  try {
    pkg = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      { file: where },
      `is not JSON (${(error as Error).message}); expected the package.json of an npm package, or no package.json (flowd init writes one)`,
    );
  }
  if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg))
    throw new ConfigError({ file: where }, `found ${Array.isArray(pkg) ? 'an array' : String(pkg)}; expected a package.json object`);
  const manifest = pkg as Record<string, unknown>;
  const added: string[] = [];
  const section = (key: string): Record<string, unknown> => {
    const value = manifest[key];
    if (value === undefined) return (manifest[key] = {}) as Record<string, unknown>;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ConfigError({ file: where, key }, `found ${JSON.stringify(value)}; expected an object`);
    return value as Record<string, unknown>;
  };
  const scripts = section('scripts');
  for (const [name, command] of Object.entries(SCRIPTS)) {
    const present = scripts[name];
    if (present === undefined || (name === 'test' && typeof present === 'string' && NPM_PLACEHOLDER_TEST.test(present))) {
      scripts[name] = command;
      added.push(`scripts.${name}`);
    }
  }
  const declares = (name: string) =>
    ['dependencies', 'devDependencies', 'peerDependencies'].some(
      (key) => (manifest[key] as Record<string, unknown> | undefined)?.[name] !== undefined,
    );
  if (!declares('flowd')) {
    section('dependencies').flowd = `^${flowdVersion}`;
    added.push('dependencies.flowd');
  }
  if (!declares('tsx')) {
    section('devDependencies').tsx = tsxVersion;
    added.push('devDependencies.tsx');
  }
  return { text: `${JSON.stringify(manifest, null, 2)}\n`, added };
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

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/**
 * Writes a new app into `folder` (created if need be). Throws a
 * ConfigError naming the files that are there already, writing none of
 * them, or naming a folder that cannot be written.
 * @example const { files } = await initApp('./my-app', { version: '0.1.0' });
 */
export async function initApp(folder: string, options: { version: string; tsxVersion?: string }): Promise<InitResult> {
  const absolute = path.resolve(folder);
  const name = packageName(path.basename(absolute));
  const manifest = path.join(absolute, 'package.json');
  const existing = await readFile(manifest, 'utf8').catch(() => undefined);
  const completed = existing === undefined ? undefined : completePackageJson(existing, manifest, options.version, options.tsxVersion);
  const files = appFiles(name, options.version, options.tsxVersion).filter(([file]) => existing === undefined || file !== 'package.json');
  const present: string[] = [];
  for (const [file] of files) if (await exists(path.join(absolute, file))) present.push(file);
  if (present.length > 0) {
    throw new ConfigError(
      { file: absolute },
      `already has ${present.join(', ')}; flowd init never overwrites a file: move ${present.length === 1 ? 'it' : 'them'} away, or give another folder (flowd init my-app)`,
    );
  }
  try {
    makeFolder(absolute);
    // 'wx': a file that appeared meanwhile is not overwritten either.
    for (const [file, text] of files) await writeFile(path.join(absolute, file), text, { flag: 'wx' });
    if (completed && completed.added.length > 0) await writeFile(manifest, completed.text);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const reason =
      code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
        ? 'permission denied'
        : code === 'ENOTDIR'
          ? 'a part of its path is a file'
          : code === 'EEXIST'
            ? 'a file appeared while writing'
            : code === 'ENOENT'
              ? 'no folder can be made there'
              : message;
    throw new ConfigError({ file: absolute }, `cannot be written: ${reason}; expected a folder flowd init can create files in`, {
      cause: error,
    });
  }
  return { folder: absolute, name, files: files.map(([file]) => file), added: completed?.added ?? [] };
}

/** What `flowd init` prints: the files written, and what to do next. */
export function describeInit(result: InitResult, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, result.folder);
  const where = relative.startsWith('..') || path.isAbsolute(relative) ? result.folder : relative;
  const steps = [
    ...(relative === '' ? [] : [`cd ${/\s/.test(where) ? JSON.stringify(where) : where}`]),
    'npm install',
    'npx flowd run app.ini    # Ctrl-C stops it',
    'npm test',
  ];
  const added = result.added.length === 0 ? [] : [`  package.json: added ${result.added.join(', ')}`];
  return [
    `Created app ${result.name} in ${result.folder}:`,
    ...result.files.map((file) => `  ${file}`),
    ...added,
    '',
    'Next:',
    ...steps.map((step) => `  ${step}`),
  ].join('\n');
}
