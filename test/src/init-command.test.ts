import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadAppConfig } from '../../src/config/app-config.js';
import { ConfigError } from '../../src/errors.js';
import { describeInit, initApp, packageName } from '../../src/init-command.js';
import { tempDir } from '../helpers/cli.js';

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
    expect(result).toEqual({ folder: path.join(tmp.dir, 'Video Ingest'), name: 'video-ingest', files: ['package.json', 'app.ini', 'worker.ts', 'worker.test.ts', '.gitignore'] });
    expect((await readdir(result.folder)).sort()).toEqual(['.gitignore', 'app.ini', 'package.json', 'worker.test.ts', 'worker.ts']);
    const pkg = JSON.parse(await readFile(path.join(result.folder, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({
      name: 'video-ingest',
      private: true,
      type: 'module',
      scripts: { start: 'flowd run app.ini', test: 'node --import tsx --test worker.test.ts' },
      dependencies: { flowd: '^1.2.3' },
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

  it('says in one error when the folder cannot be written', async () => {
    await writeFile(path.join(tmp.dir, 'file'), '');
    await expect(initApp(path.join(tmp.dir, 'file', 'app'), { version: '0.1.0' })).rejects.toThrow(/file\/app: cannot be written: a part of its path is a file/);
  });

  it('makes an npm package name of any folder name', () => {
    expect(packageName('My Flows!')).toBe('my-flows');
    expect(packageName('.hidden')).toBe('hidden');
    expect(packageName('flowd')).toBe('flowd-app');
    expect(packageName('***')).toBe('flowd-app');
  });

  it('tells what it wrote and what to do next, with a cd only when the folder is not the current one', async () => {
    await mkdir(path.join(tmp.dir, 'app'));
    const result = { folder: path.join(tmp.dir, 'app'), name: 'app', files: ['package.json', 'app.ini'] };
    expect(describeInit(result, tmp.dir).split('\n')).toEqual([`Created app app in ${result.folder}:`, '  package.json', '  app.ini', '', 'Next:', '  cd app', '  npm install', '  npx flowd run app.ini    # Ctrl-C stops it', '  npm test']);
    expect(describeInit(result, result.folder)).not.toContain('cd ');
  });
});
