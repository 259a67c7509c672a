import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAppConfig } from '../../../src/config/app-config.js';
import { ConfigError } from '../../../src/kernel/errors.js';
import { describeInit, initApp, packageName } from '../../../src/cli/init-command.js';
import { tempDir } from '../../helpers/cli.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('flowd init', () => {
  it('writes package.json, app.ini, worker.ts, its test and .gitignore into a new folder, named after it', async () => {
    const result = await initApp(path.join(tmp.dir, 'Video Ingest'), { version: '1.2.3' });
    expect(result).toEqual({
      folder: path.join(tmp.dir, 'Video Ingest'),
      name: 'video-ingest',
      files: ['package.json', 'app.ini', 'worker.ts', 'worker.test.ts', '.gitignore'],
      added: [],
    });
    expect((await readdir(result.folder)).sort()).toEqual(['.gitignore', 'app.ini', 'package.json', 'worker.test.ts', 'worker.ts']);
    const pkg = JSON.parse(await readFile(path.join(result.folder, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({
      name: 'video-ingest',
      private: true,
      type: 'module',
      scripts: { start: 'flowd run app.ini', test: 'node --import tsx --test worker.test.ts' },
      dependencies: { flowd: '^1.2.3' },
      devDependencies: { tsx: '^4' },
    });
    expect(await readFile(path.join(result.folder, 'worker.ts'), 'utf8')).toContain("import { defineWorker } from 'flowd';");
    expect(await readFile(path.join(result.folder, 'worker.test.ts'), 'utf8')).toContain("import worker from './worker.ts';");
  });

  it('writes an app.ini that flowd compiles: the worker, an interval source, the app name', async () => {
    const { folder } = await initApp(tmp.dir, { version: '0.1.0' });
    const config = await loadAppConfig(path.join(folder, 'app.ini'));
    expect(config.app.name).toBe(packageName(path.basename(tmp.dir)));
    expect(config.workerClass).toBe('./worker.ts');
    expect(config.source.type).toBe('interval');
    expect(config.sections.Greeter).toEqual({ greeting: 'Hello' });
  });

  it('refuses a folder that has any of its files, naming them, and writes none', async () => {
    await writeFile(path.join(tmp.dir, 'app.ini'), '[Flow]\n');
    await writeFile(path.join(tmp.dir, '.gitignore'), 'dist/\n');
    const failure = initApp(tmp.dir, { version: '0.1.0' });
    await expect(failure).rejects.toThrow(ConfigError);
    await expect(failure).rejects.toThrow(`${tmp.dir}: already has app.ini, .gitignore; flowd init never overwrites a file`);
    expect((await readdir(tmp.dir)).sort()).toEqual(['.gitignore', 'app.ini']);
    expect(await readFile(path.join(tmp.dir, 'app.ini'), 'utf8')).toBe('[Flow]\n');
  });

  it('keeps a package.json that is there (npm init -y, npm install flowd) and adds the scripts, flowd and tsx it lacks', async () => {
    const npmInit = {
      name: 'mine',
      version: '1.0.0',
      type: 'commonjs',
      scripts: { test: 'echo "Error: no test specified" && exit 1', build: 'tsc' },
      dependencies: { flowd: '^0.1.0', undici: '^7' },
    };
    await writeFile(path.join(tmp.dir, 'package.json'), JSON.stringify(npmInit));
    const result = await initApp(tmp.dir, { version: '9.9.9', tsxVersion: '^4.1.0' });
    expect(result.files).toEqual(['app.ini', 'worker.ts', 'worker.test.ts', '.gitignore']);
    expect(result.added).toEqual(['scripts.start', 'scripts.check', 'scripts.test', 'devDependencies.tsx']);
    expect(JSON.parse(await readFile(path.join(tmp.dir, 'package.json'), 'utf8'))).toEqual({
      ...npmInit,
      scripts: { test: 'node --import tsx --test worker.test.ts', build: 'tsc', start: 'flowd run app.ini', check: 'flowd check app.ini' },
      devDependencies: { tsx: '^4.1.0' },
    });
    expect(describeInit(result, tmp.dir)).toContain(
      '  package.json: added scripts.start, scripts.check, scripts.test, devDependencies.tsx',
    );
  });

  it('refuses a package.json that is not a JSON object, naming it, and writes nothing', async () => {
    await writeFile(path.join(tmp.dir, 'package.json'), '{ "name": ');
    await expect(initApp(tmp.dir, { version: '0.1.0' })).rejects.toThrow(`${path.join(tmp.dir, 'package.json')}: is not JSON`);
    await writeFile(path.join(tmp.dir, 'package.json'), '{ "scripts": [] }');
    await expect(initApp(tmp.dir, { version: '0.1.0' })).rejects.toThrow(
      `${path.join(tmp.dir, 'package.json')} "scripts": found []; expected an object`,
    );
    expect(await readdir(tmp.dir)).toEqual(['package.json']);
  });

  it('says in one error when the folder cannot be written', async () => {
    await writeFile(path.join(tmp.dir, 'file'), '');
    await expect(initApp(path.join(tmp.dir, 'file', 'app'), { version: '0.1.0' })).rejects.toThrow(
      /file\/app: cannot be written: a part of its path is a file/,
    );
  });

  it('makes an npm package name of any folder name', () => {
    expect(packageName('My Flows!')).toBe('my-flows');
    expect(packageName('.hidden')).toBe('hidden');
    expect(packageName('flowd')).toBe('flowd-app');
    expect(packageName('***')).toBe('flowd-app');
  });

  it('tells what it wrote and what to do next, with a cd only when the folder is not the current one', async () => {
    await mkdir(path.join(tmp.dir, 'app'));
    const result = { folder: path.join(tmp.dir, 'app'), name: 'app', files: ['package.json', 'app.ini'], added: [] };
    expect(describeInit(result, tmp.dir).split('\n')).toEqual([
      `Created app app in ${result.folder}:`,
      '  package.json',
      '  app.ini',
      '',
      'Next:',
      '  cd app',
      '  npm install',
      '  npx flowd run app.ini    # Ctrl-C stops it',
      '  npm test',
    ]);
    expect(describeInit(result, result.folder)).not.toContain('cd ');
  });
});
