import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileAppConfig, loadAppConfig, type ConfigOverrides } from '../../src/config/app-config.js';
import { expectConfigError, expectConfigErrorAsync } from '../helpers/config-error.js';
import { DEFAULT_SETTINGS } from '../helpers/default-settings.js';

const DIR = path.resolve('/srv/apps');
const FILE = path.join(DIR, 'orders.ini');

function ini(...lines: string[]): string {
  return lines.join('\n');
}

function compile(text: string, overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = {}) {
  return compileAppConfig(text, FILE, overrides, env);
}

describe('compileAppConfig', () => {
  describe('a minimal app', () => {
    it('compiles [Flow] with just a class into fully defaulted settings', () => {
      const config = compile(ini('[Flow]', 'class = OrdersWorker'));
      expect(config).toEqual({
        file: FILE,
        app: { name: 'orders', dir: DIR, stateDir: path.join(DIR, '.flowd', 'orders') },
        workerClass: 'OrdersWorker',
        workerClassLine: 2,
        settings: DEFAULT_SETTINGS,
        source: { type: undefined, values: new Map(), lines: new Map() },
        log: { level: 'info', file: undefined },
        services: {
          store: { backend: 'file', folder: path.join(DIR, '.flowd', 'orders', 'store') },
          lock: { backend: 'local', leaseMs: 60_000 },
          api: undefined,
        },
        sections: {},
        sectionLines: new Map(),
      });
    });

    it("compiles [Store], [Lock] and [Viz One] (Flow's name for [Api]) and keeps them from the app's own sections", () => {
      const config = compile(
        ini(
          '[Flow]',
          'class = OrdersWorker',
          '[Store]',
          'backend = redis',
          'url = redis://127.0.0.1:6379/3',
          '[Lock]',
          'lease = 2m',
          '[Viz One]',
          'hostname = vizone:8080',
          'username = admin',
          'password = pw',
          '[Orders]',
          'size = 3',
        ),
      );
      expect(config.services.store).toMatchObject({ backend: 'redis', url: 'redis://127.0.0.1:6379/3' });
      expect(config.services.lock).toMatchObject({ backend: 'redis', url: 'redis://127.0.0.1:6379/3', leaseMs: 120_000 });
      expect(config.services.api).toMatchObject({ origin: 'http://vizone:8080', username: 'admin', password: 'pw' });
      expect(config.sections).toEqual({ Orders: { size: '3' } });
    });

    it("resolves a relative [Store] folder against the INI file's folder", () => {
      expect(compile(ini('[Flow]', '[Store]', 'folder = data/store')).services.store).toEqual({
        backend: 'file',
        folder: path.join(DIR, 'data', 'store'),
      });
    });

    it('accepts an empty [Flow] and leaves the worker class unset', () => {
      expect(compile('[Flow]').workerClass).toBeUndefined();
    });
  });

  describe('app name and state dir', () => {
    it("defaults the app name to the INI file's base name without its extension", () => {
      expect(compileAppConfig('[Flow]', '/srv/x/nightly-export.ini', {}, {}).app.name).toBe('nightly-export');
      expect(compileAppConfig('[Flow]', '/srv/x/my.app.conf', {}, {}).app.name).toBe('my.app');
      expect(compileAppConfig('[Flow]', '/srv/x/bare', {}, {}).app.name).toBe('bare');
    });

    it('uses app name from [Flow] when given', () => {
      const config = compile(ini('[Flow]', 'app name = billing'));
      expect(config.app.name).toBe('billing');
      expect(config.app.stateDir).toBe(path.join(DIR, '.flowd', 'billing'));
    });

    it('puts the state dir at .flowd/<app name> beside the INI file, for a relative file path too', () => {
      const config = compileAppConfig('[Flow]', path.join('apps', 'orders.ini'), {}, {});
      expect(config.file).toBe(path.join('apps', 'orders.ini'));
      expect(config.app.dir).toBe(path.resolve('apps'));
      expect(config.app.stateDir).toBe(path.resolve('apps', '.flowd', 'orders'));
    });

    it('resolves a relative state dir against the INI file folder and keeps an absolute one', () => {
      expect(compile(ini('[Flow]', 'state dir = data/state')).app.stateDir).toBe(path.join(DIR, 'data', 'state'));
      const absolute = path.resolve('/var/lib/orders');
      expect(compile(ini('[Flow]', `state dir = ${absolute}`)).app.stateDir).toBe(absolute);
    });
  });

  describe('[Flow] settings', () => {
    it('compiles the [Flow] keys written in the file, case-insensitively', () => {
      const config = compile(ini('[Flow]', 'Class = W', 'WORKERS = 4', 'queue size: 20', 'retry backoff = fixed', 'order by = headers.id'));
      expect(config.workerClass).toBe('W');
      expect(config.settings).toMatchObject({
        workers: 4,
        queueSize: 20,
        highWatermark: 16,
        lowWatermark: 8,
        backoff: { kind: 'fixed' },
        orderBy: ['headers', 'id'],
      });
    });

    it.each([['0'], ['-1'], ['abc'], ['1.5']])(
      'rejects workers = %s, naming the file and line, [Flow], "workers" and the value',
      (text) => {
        expectConfigError(() => compile(ini('[Flow]', 'class = W', `workers = ${text}`)), {
          file: FILE,
          line: 3,
          section: 'Flow',
          key: 'workers',
          says: [`found "${text}"`, 'expected a whole number from 1 to 4096'],
        });
      },
    );

    it.each([['5 parsecs'], ['-1']])('rejects execution timeout = %s, naming the file and line, [Flow], the key and the value', (text) => {
      expectConfigError(() => compile(ini('[Flow]', `execution timeout = ${text}`)), {
        file: FILE,
        line: 2,
        section: 'Flow',
        key: 'execution timeout',
        says: [`found "${text}"`, 'expected a duration'],
      });
    });

    it('rejects a low watermark not below the high watermark', () => {
      expectConfigError(() => compile(ini('[Flow]', 'high watermark = 10', 'low watermark = 10')), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'low watermark',
        says: ['found 10', 'expected less than the high watermark (10)'],
      });
    });

    it('rejects a retry max delay below the retry delay', () => {
      expectConfigError(() => compile(ini('[Flow]', 'retry delay = 30s', 'retry max delay = 10s')), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'retry max delay',
        says: ['found 10000ms', 'retry delay (30000ms)'],
      });
    });

    it('rejects an unknown [Flow] key with a did-you-mean hint', () => {
      expectConfigError(() => compile(ini('[Flow]', 'class = W', 'workres = 4')), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'workres',
        says: ['is not a setting of [Flow]', '(did you mean "workers"?)'],
      });
    });

    it('rejects an unknown [Flow] key even when it is written in another case', () => {
      expectConfigError(() => compile(ini('[Flow]', 'Worker Class = W')), {
        file: FILE,
        line: 2,
        section: 'Flow',
        key: 'worker class',
        says: ['is not a setting of [Flow]'],
      });
    });
  });

  describe('missing or misnamed [Flow]', () => {
    it('rejects a file without a [Flow] section, naming the file and the section', () => {
      const error = expectConfigError(() => compile(ini('[Source]', 'type = stdin')), {
        file: FILE,
        section: 'Flow',
        says: ['is missing', 'expected a [Flow] section'],
      });
      expect(error.key).toBeUndefined();
      expect(error.line).toBeUndefined();
    });

    it('rejects an empty file as missing [Flow]', () => {
      expectConfigError(() => compile(''), { file: FILE, section: 'Flow', says: ['is missing'] });
    });

    it('rejects a lower-case [flow] section, saying section names are case-sensitive', () => {
      expectConfigError(() => compile(ini('[flow]', 'class = W')), {
        file: FILE,
        section: 'flow',
        says: ['section names are case-sensitive', 'expected [Flow], found [flow]'],
      });
    });

    it('rejects an upper-case [FLOW] section the same way', () => {
      expectConfigError(() => compile(ini('[FLOW]', 'class = W')), {
        file: FILE,
        section: 'FLOW',
        says: ['expected [Flow], found [FLOW]'],
      });
    });
  });

  describe('parse errors', () => {
    it('passes on the parser error for a duplicate key, with the line', () => {
      expectConfigError(() => compile(ini('[Flow]', 'class = A', 'class = B')), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'class',
        says: ['written twice'],
      });
    });

    it('passes on the parser error for a key before any section', () => {
      expectConfigError(() => compile(ini('class = A', '[Flow]')), { file: FILE, line: 1, says: ['"class = A"', 'before any [Section]'] });
    });
  });

  describe('environment variables', () => {
    it('expands ${NAME} in [Flow], [Log] and [Source] values', () => {
      const config = compile(
        ini(
          '[Flow]',
          'class = ${WORKER}',
          'workers = ${N}',
          '[Log]',
          'level = ${LEVEL}',
          '[Source]',
          'type = ${SOURCE}',
          'path = ${HOME}/in',
        ),
        {},
        { WORKER: 'W', N: '3', LEVEL: 'warn', SOURCE: 'file', HOME: '/home/app' },
      );
      expect(config.workerClass).toBe('W');
      expect(config.settings.workers).toBe(3);
      expect(config.log.level).toBe('warn');
      expect(config.source.type).toBe('file');
      expect(config.source.values.get('path')).toBe('/home/app/in');
    });

    it('reads $$ as a literal $', () => {
      expect(compile(ini('[Flow]', '[Db]', 'password = pa$$word')).sections).toEqual({ Db: { password: 'pa$word' } });
    });

    it('rejects a missing variable, naming the file, line, section, key and variable', () => {
      expectConfigError(() => compile(ini('[Flow]', 'class = W', '[Db]', 'url = postgres://${DB_HOST}/orders'), {}, { OTHER: 'x' }), {
        file: FILE,
        line: 4,
        section: 'Db',
        key: 'url',
        says: ['${DB_HOST}', 'environment variable DB_HOST is not set'],
      });
    });

    it('rejects a missing variable in [Flow] too', () => {
      expectConfigError(() => compile(ini('[Flow]', 'class = ${WORKER_CLASS}')), {
        file: FILE,
        line: 2,
        section: 'Flow',
        key: 'class',
        says: ['WORKER_CLASS is not set'],
      });
    });

    it('uses process.env when no environment is given', () => {
      const name = `FLOWD_TEST_${process.pid}`;
      process.env[name] = 'from-process';
      try {
        expect(compileAppConfig(ini('[Flow]', '[App]', `v = \${${name}}`), FILE).sections).toEqual({ App: { v: 'from-process' } });
      } finally {
        delete process.env[name];
      }
    });
  });

  describe('overrides', () => {
    it('lets the app name override win over the file and move the state dir with it', () => {
      const config = compile(ini('[Flow]', 'app name = from-file'), { appName: 'from-cli' });
      expect(config.app.name).toBe('from-cli');
      expect(config.app.stateDir).toBe(path.join(DIR, '.flowd', 'from-cli'));
    });

    it('lets the workers override win over the file', () => {
      expect(compile(ini('[Flow]', 'workers = 2'), { workers: 7 }).settings.workers).toBe(7);
      expect(compile('[Flow]', { workers: 5 }).settings.workers).toBe(5);
    });

    it('lets the workers override replace a bad value in the file', () => {
      expect(compile(ini('[Flow]', 'workers = abc'), { workers: 3 }).settings.workers).toBe(3);
    });

    it('lets the log level override win over the file', () => {
      expect(compile(ini('[Flow]', '[Log]', 'level = error'), { logLevel: 'debug' }).log.level).toBe('debug');
      expect(compile('[Flow]', { logLevel: 'trace' }).log.level).toBe('trace');
    });

    it('keeps the file values when the overrides are empty', () => {
      const config = compile(ini('[Flow]', 'app name = a', 'workers = 2', '[Log]', 'level = warn'), {});
      expect([config.app.name, config.settings.workers, config.log.level]).toEqual(['a', 2, 'warn']);
    });

    it('checks override values like file values', () => {
      expectConfigError(() => compile('[Flow]', { workers: 0 }), {
        file: FILE,
        section: 'Flow',
        key: 'workers',
        says: ['found "0"', 'expected a whole number from 1 to 4096'],
      });
      expectConfigError(() => compile('[Flow]', { logLevel: 'loud' }), {
        file: FILE,
        section: 'Log',
        key: 'level',
        says: ['found "loud"', 'expected one of trace, debug'],
      });
    });
  });

  describe('[Log]', () => {
    it('resolves the log file against the INI file folder', () => {
      expect(compile(ini('[Flow]', '[Log]', 'level = WARN', 'file = logs/orders.log')).log).toEqual({
        level: 'warn',
        file: path.join(DIR, 'logs', 'orders.log'),
      });
    });

    it('rejects an unknown level and an unknown key', () => {
      expectConfigError(() => compile(ini('[Flow]', '[Log]', 'level = verbose')), {
        file: FILE,
        line: 3,
        section: 'Log',
        key: 'level',
        says: ['found "verbose"'],
      });
      expectConfigError(() => compile(ini('[Flow]', '[Log]', 'lvel = info')), {
        file: FILE,
        line: 3,
        section: 'Log',
        key: 'lvel',
        says: ['(did you mean "level"?)'],
      });
    });
  });

  describe('[Source]', () => {
    it('keeps the [Source] values and lines as written, with its type', () => {
      const config = compile(ini('[Flow]', '[Source]', 'Type = file', 'path = in/*.json', 'poll = 5s'));
      expect(config.source).toEqual({
        type: 'file',
        values: new Map([
          ['type', 'file'],
          ['path', 'in/*.json'],
          ['poll', '5s'],
        ]),
        lines: new Map([
          ['type', 3],
          ['path', 4],
          ['poll', 5],
        ]),
      });
    });

    it('leaves the source type unset when it is empty or missing', () => {
      expect(compile(ini('[Flow]', '[Source]', 'type =')).source.type).toBeUndefined();
      expect(compile(ini('[Flow]', '[Source]', 'path = x')).source.type).toBeUndefined();
    });

    it('does not reject unknown [Source] keys (the source compiles them later)', () => {
      expect(compile(ini('[Flow]', '[Source]', 'type = stdin', 'anything = goes')).source.values.get('anything')).toBe('goes');
    });
  });

  describe('app sections', () => {
    it('passes every section the runtime does not own through, with env expanded and keys as written (field names are case-sensitive)', () => {
      const config = compile(
        ini(
          '[Flow]',
          'class = W',
          '[Source]',
          'type = stdin',
          '[Log]',
          'level = info',
          '[Database]',
          'URL = postgres://${DB_HOST}/orders',
          'pool: 5',
          '[Mail.Out]',
          'to = ops@example.com',
          'flag = true',
        ),
        {},
        { DB_HOST: 'db.internal' },
      );
      expect(config.sections).toEqual({
        Database: { URL: 'postgres://db.internal/orders', pool: '5' },
        'Mail.Out': { to: 'ops@example.com', flag: 'true' },
      });
    });

    it('keeps app values verbatim: quotes, inline ; and # and multi-line text', () => {
      const config = compile(
        ini('[Flow]', '[Rules]', "expr = 'x' + 'y'", 'url = http://x/#frag ; not a comment', 'sql = select *', '  from t'),
      );
      expect(config.sections).toEqual({ Rules: { expr: "'x' + 'y'", url: 'http://x/#frag ; not a comment', sql: 'select *\nfrom t' } });
    });

    it('passes an empty app section through as an empty object', () => {
      expect(compile(ini('[Flow]', '[Empty]')).sections).toEqual({ Empty: {} });
    });

    it('does not check app section keys against any list', () => {
      expect(compile(ini('[Flow]', '[Custom]', 'workres = 4')).sections).toEqual({ Custom: { workres: '4' } });
    });
  });
});

describe('loadAppConfig', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'flowd-config-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads and compiles an INI file, placing the app beside it', async () => {
    const file = path.join(dir, 'sync.ini');
    await writeFile(file, ini('[Flow]', 'class = SyncWorker', 'workers = 2', '[Target]', 'host = ${TARGET}'));
    const config = await loadAppConfig(file, {}, { TARGET: 'example.org' });
    expect(config.file).toBe(file);
    expect(config.app).toEqual({ name: 'sync', dir, stateDir: path.join(dir, '.flowd', 'sync') });
    expect(config.workerClass).toBe('SyncWorker');
    expect(config.settings.workers).toBe(2);
    expect(config.sections).toEqual({ Target: { host: 'example.org' } });
  });

  it('applies overrides', async () => {
    const file = path.join(dir, 'sync.ini');
    await writeFile(file, ini('[Flow]', 'workers = 2', '[Log]', 'level = info'));
    const config = await loadAppConfig(file, { appName: 'other', workers: 9, logLevel: 'error' }, {});
    expect([config.app.name, config.settings.workers, config.log.level]).toEqual(['other', 9, 'error']);
  });

  it('rejects a missing file, naming it as given and saying it does not exist', async () => {
    const file = path.join(dir, 'missing.ini');
    const error = await expectConfigErrorAsync(loadAppConfig(file, {}, {}), {
      file,
      says: ['cannot be read: does not exist', "expected an app's INI file"],
    });
    expect(error.section).toBeUndefined();
    expect(error.line).toBeUndefined();
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('rejects a folder given as the file, naming it', async () => {
    const error = await expectConfigErrorAsync(loadAppConfig(dir, {}, {}), { file: dir, says: ['cannot be read'] });
    expect(error.message).not.toContain('does not exist');
  });

  it('passes on configuration errors with the file name and line', async () => {
    const file = path.join(dir, 'bad.ini');
    await writeFile(file, ini('[Flow]', 'class = W', 'workers = many'));
    await expectConfigErrorAsync(loadAppConfig(file, {}, {}), { file, line: 3, section: 'Flow', key: 'workers', says: ['found "many"'] });
  });
});
