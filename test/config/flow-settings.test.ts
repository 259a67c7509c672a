import { describe, expect, it } from 'vitest';
import { compileFlowSettings, compileLogSettings, toIniKeys } from '../../src/config/flow-settings.js';
import { SectionReader, type RawValue } from '../../src/kernel/section-reader.js';
import { expectConfigError } from '../helpers/config-error.js';
import { DEFAULT_SETTINGS } from '../helpers/default-settings.js';

const FILE = 'apps/orders.ini';

function reader(values: Record<string, RawValue> | Map<string, RawValue>, section = 'Flow'): SectionReader {
  const map = values instanceof Map ? values : new Map(Object.entries(values));
  const lines = new Map([...map.keys()].map((key, index) => [key, index + 2]));
  return new SectionReader(map, { file: FILE, section, lines });
}

function flow(values: Record<string, RawValue> | Map<string, RawValue>) {
  return compileFlowSettings(reader(values));
}

describe('compileFlowSettings', () => {
  describe('defaults', () => {
    it('fills every setting with its documented default when [Flow] is empty', () => {
      expect(flow({})).toEqual({
        appName: undefined,
        workerClass: undefined,
        stateDir: undefined,
        settings: DEFAULT_SETTINGS,
      });
    });

    it('defaults workers to 1', () => {
      expect(flow({}).settings.workers).toBe(1);
    });

    it('defaults the queue size to 1000', () => {
      expect(flow({}).settings.queueSize).toBe(1000);
    });

    it('defaults the high watermark to 80% of the queue size', () => {
      expect(flow({ 'queue size': '100' }).settings.highWatermark).toBe(80);
      expect(flow({ 'queue size': '10' }).settings.highWatermark).toBe(8);
      expect(flow({ 'queue size': '15' }).settings.highWatermark).toBe(12);
      expect(flow({ 'queue size': '250' }).settings.highWatermark).toBe(200);
    });

    it('rounds the default high watermark up, and keeps it at least 1', () => {
      expect(flow({ 'queue size': '3' }).settings.highWatermark).toBe(3);
      expect(flow({ 'queue size': '7' }).settings.highWatermark).toBe(6);
      expect(flow({ 'queue size': '1' }).settings.highWatermark).toBe(1);
    });

    it('defaults the low watermark to half the high one, rounded down', () => {
      expect(flow({ 'queue size': '100' }).settings.lowWatermark).toBe(40);
      expect(flow({ 'high watermark': '9' }).settings.lowWatermark).toBe(4);
      expect(flow({ 'high watermark': '600' }).settings.lowWatermark).toBe(300);
      expect(flow({ 'queue size': '1' }).settings.lowWatermark).toBe(0);
    });

    it('defaults the queue and execution timeouts to 60s and the shutdown timeout to 30s', () => {
      const { settings } = flow({});
      expect(settings.queueTimeoutMs).toBe(60_000);
      expect(settings.executionTimeoutMs).toBe(60_000);
      expect(settings.shutdownTimeoutMs).toBe(30_000);
    });

    it('defaults to no retries, with exponential backoff from 1s up to 60s', () => {
      const { settings } = flow({});
      expect(settings.retries).toBe(0);
      expect(settings.backoff).toEqual({ kind: 'exponential', delayMs: 1000, maxDelayMs: 60_000 });
    });

    it('leaves order by unset by default', () => {
      expect(flow({}).settings.orderBy).toBeUndefined();
    });
  });

  describe('values from the file', () => {
    it('reads every [Flow] key', () => {
      expect(
        flow({
          'app name': 'orders',
          class: 'OrdersWorker',
          'state dir': '/var/lib/orders',
          workers: '8',
          'queue size': '50',
          'high watermark': '40',
          'low watermark': '10',
          'queue timeout': '5m',
          'execution timeout': '250ms',
          'shutdown timeout': '10',
          retries: '3',
          'retry backoff': 'fixed',
          'retry delay': '2s',
          'retry max delay': '1m',
          'order by': 'headers.asset-id',
        }),
      ).toEqual({
        appName: 'orders',
        workerClass: 'OrdersWorker',
        stateDir: '/var/lib/orders',
        settings: {
          workers: 8,
          queueSize: 50,
          highWatermark: 40,
          lowWatermark: 10,
          queueTimeoutMs: 300_000,
          executionTimeoutMs: 250,
          shutdownTimeoutMs: 10_000,
          retries: 3,
          backoff: { kind: 'fixed', delayMs: 2000, maxDelayMs: 60_000 },
          orderBy: ['headers', 'asset-id'],
        },
      });
    });

    it('splits order by on dots', () => {
      expect(flow({ 'order by': 'customer' }).settings.orderBy).toEqual(['customer']);
      expect(flow({ 'order by': 'payload.customer.id' }).settings.orderBy).toEqual(['payload', 'customer', 'id']);
      expect(flow({ 'order by': '  headers.key  ' }).settings.orderBy).toEqual(['headers', 'key']);
    });

    it('accepts the bounds of workers: 1 and 4096', () => {
      expect(flow({ workers: '1' }).settings.workers).toBe(1);
      expect(flow({ workers: '4096' }).settings.workers).toBe(4096);
    });

    it('accepts a high watermark equal to the queue size', () => {
      expect(flow({ 'queue size': '10', 'high watermark': '10' }).settings).toMatchObject({ highWatermark: 10, lowWatermark: 5 });
    });

    it('accepts a shutdown timeout of 0 and a retry max delay equal to the retry delay', () => {
      expect(flow({ 'shutdown timeout': '0' }).settings.shutdownTimeoutMs).toBe(0);
      expect(flow({ 'retry delay': '5s', 'retry max delay': '5s' }).settings.backoff).toEqual({
        kind: 'exponential',
        delayMs: 5000,
        maxDelayMs: 5000,
      });
    });

    it('reads the backoff kind case-insensitively', () => {
      expect(flow({ 'retry backoff': 'FIXED' }).settings.backoff.kind).toBe('fixed');
    });

    it('treats empty values as unset', () => {
      expect(flow({ workers: '', 'queue timeout': '', 'app name': '' })).toMatchObject({
        appName: undefined,
        settings: { workers: 1, queueTimeoutMs: 60_000 },
      });
    });
  });

  describe('bad values', () => {
    it('reads isolation: process by default (left out of the settings), thread when asked', () => {
      expect(flow({}).settings.isolation).toBeUndefined();
      expect(flow({ isolation: 'process' }).settings.isolation).toBeUndefined();
      expect(flow({ isolation: 'thread' }).settings.isolation).toBe('thread');
    });

    it('rejects isolation = banana, naming the file, section, key and the choices', () => {
      expectConfigError(() => flow({ isolation: 'banana' }), {
        file: FILE,
        line: 2,
        section: 'Flow',
        key: 'isolation',
        says: ['banana', 'process', 'thread'],
      });
    });

    it.each([['0'], ['-1'], ['abc'], ['1.5'], ['4097']])('rejects workers = %s, naming the file, section, key and value', (text) => {
      expectConfigError(() => flow({ workers: text }), {
        file: FILE,
        line: 2,
        section: 'Flow',
        key: 'workers',
        says: [`found "${text}"`, 'expected a whole number from 1 to 4096'],
      });
    });

    it.each([['0'], ['-5'], ['lots']])('rejects queue size = %s', (text) => {
      expectConfigError(() => flow({ 'queue size': text }), {
        file: FILE,
        section: 'Flow',
        key: 'queue size',
        says: [`found "${text}"`, 'expected a whole number of at least 1'],
      });
    });

    it('rejects a high watermark above the queue size', () => {
      expectConfigError(() => flow({ 'queue size': '10', 'high watermark': '11' }), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'high watermark',
        says: ['found "11"', 'expected a whole number from 1 to 10'],
      });
    });

    it('rejects a low watermark equal to the high watermark', () => {
      expectConfigError(() => flow({ 'high watermark': '50', 'low watermark': '50' }), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'low watermark',
        says: ['found 50', 'expected less than the high watermark (50)'],
      });
    });

    it('rejects a low watermark above the high watermark', () => {
      expectConfigError(() => flow({ 'high watermark': '50', 'low watermark': '60' }), {
        file: FILE,
        section: 'Flow',
        key: 'low watermark',
        says: ['found 60', 'expected less than the high watermark (50)'],
      });
    });

    it('rejects a low watermark above the default high watermark', () => {
      expectConfigError(() => flow({ 'low watermark': '900' }), { key: 'low watermark', says: ['found 900', 'high watermark (800)'] });
    });

    it('rejects a negative low watermark', () => {
      expectConfigError(() => flow({ 'low watermark': '-1' }), { key: 'low watermark', says: ['found "-1"', 'of at least 0'] });
    });

    it.each([
      ['queue timeout', '5 parsecs'],
      ['queue timeout', '-1'],
      ['execution timeout', '5 parsecs'],
      ['execution timeout', '-1'],
      ['shutdown timeout', '5 parsecs'],
      ['shutdown timeout', '-1'],
      ['retry delay', '5 parsecs'],
      ['retry delay', '-1'],
      ['retry max delay', '5 parsecs'],
      ['retry max delay', '-1'],
    ])('rejects %s = %s as not a duration', (key, text) => {
      expectConfigError(() => flow({ [key]: text }), {
        file: FILE,
        line: 2,
        section: 'Flow',
        key,
        says: [`found "${text}"`, 'expected a duration', '30s, 250ms, 5m or 1h'],
      });
    });

    it('rejects a queue or execution timeout of 0', () => {
      expectConfigError(() => flow({ 'queue timeout': '0' }), { key: 'queue timeout', says: ['found "0"', 'of at least 1ms'] });
      expectConfigError(() => flow({ 'execution timeout': '0s' }), { key: 'execution timeout', says: ['found "0s"', 'of at least 1ms'] });
    });

    it('rejects a retry max delay below the retry delay', () => {
      expectConfigError(() => flow({ 'retry delay': '10s', 'retry max delay': '5s' }), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'retry max delay',
        says: ['found 5000ms', 'expected at least the retry delay (10000ms)'],
      });
    });

    it('raises the default retry max delay to a retry delay above 60s', () => {
      expect(flow({ 'retry delay': '2m' }).settings.backoff).toEqual({ kind: 'exponential', delayMs: 120_000, maxDelayMs: 120_000 });
    });

    it('rejects a retry max delay set below the retry delay', () => {
      expectConfigError(() => flow({ 'retry delay': '2m', 'retry max delay': '1m' }), {
        key: 'retry max delay',
        says: ['found 60000ms', 'retry delay (120000ms)'],
      });
    });

    it.each([['-1'], ['1001'], ['some']])('rejects retries = %s', (text) => {
      expectConfigError(() => flow({ retries: text }), {
        file: FILE,
        section: 'Flow',
        key: 'retries',
        says: [`found "${text}"`, 'expected a whole number from 0 to 1000'],
      });
    });

    it('rejects an unknown retry backoff, listing the choices', () => {
      expectConfigError(() => flow({ 'retry backoff': 'linear' }), {
        file: FILE,
        section: 'Flow',
        key: 'retry backoff',
        says: ['found "linear"', 'expected one of exponential, fixed'],
      });
    });

    it.each([['a..b'], ['.a'], ['a.'], ['__proto__.x'], ['a.constructor'], ['prototype']])('rejects order by = %s', (text) => {
      expectConfigError(() => flow({ 'order by': text }), {
        file: FILE,
        section: 'Flow',
        key: 'order by',
        says: [`found "${text}"`, 'expected a dotted path into the event'],
      });
    });
  });

  describe('unknown keys', () => {
    it('leaves every key it reads known, so finish() passes on a full [Flow]', () => {
      const r = reader({
        'app name': 'a',
        class: 'C',
        'state dir': 's',
        workers: '1',
        'queue size': '10',
        'high watermark': '8',
        'low watermark': '4',
        'queue timeout': '1',
        'execution timeout': '1',
        'shutdown timeout': '1',
        retries: '0',
        'retry backoff': 'fixed',
        'retry delay': '1',
        'retry max delay': '1',
        'order by': 'a',
      });
      compileFlowSettings(r);
      expect(() => r.finish()).not.toThrow();
    });

    it('rejects workres with a hint to workers once compiled', () => {
      const r = reader({ class: 'C', workres: '4' });
      compileFlowSettings(r);
      expectConfigError(() => r.finish(), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'workres',
        says: ['is not a setting of [Flow]', '(did you mean "workers"?)', 'known keys: app name, class, state dir, workers'],
      });
    });

    it('suggests queue timeout for queue timout', () => {
      const r = reader({ 'queue timout': '5s' });
      compileFlowSettings(r);
      expectConfigError(() => r.finish(), { key: 'queue timout', says: ['(did you mean "queue timeout"?)'] });
    });
  });

  describe('settings given in code through toIniKeys', () => {
    it('reads durations given in code as milliseconds and an order-by array as a path', () => {
      const compiled = flow(toIniKeys({ workers: 3, queueTimeout: 250, retryBackoff: 'fixed', orderBy: ['headers', 'id'] }));
      expect(compiled.settings).toMatchObject({ workers: 3, queueTimeoutMs: 250, backoff: { kind: 'fixed' }, orderBy: ['headers', 'id'] });
    });
  });
});

describe('compileLogSettings', () => {
  it('defaults to level info and no file', () => {
    expect(compileLogSettings(reader({}, 'Log'))).toEqual({ level: 'info', file: undefined });
  });

  it.each([['trace'], ['debug'], ['info'], ['warn'], ['error'], ['fatal'], ['silent']])('accepts level %s', (level) => {
    expect(compileLogSettings(reader({ level }, 'Log')).level).toBe(level);
  });

  it('reads the level case-insensitively and keeps the file as written', () => {
    expect(compileLogSettings(reader({ level: 'DEBUG', file: 'logs/app.log' }, 'Log'))).toEqual({ level: 'debug', file: 'logs/app.log' });
  });

  it('rejects an unknown level, listing the levels and suggesting a near one', () => {
    expectConfigError(() => compileLogSettings(reader({ level: 'debgu' }, 'Log')), {
      file: FILE,
      line: 2,
      section: 'Log',
      key: 'level',
      says: ['found "debgu"', 'expected one of trace, debug, info, warn, error, fatal, silent', '(did you mean "debug"?)'],
    });
  });

  it('rejects an unknown [Log] key once compiled', () => {
    const r = reader({ levle: 'debug' }, 'Log');
    compileLogSettings(r);
    expectConfigError(() => r.finish(), {
      section: 'Log',
      key: 'levle',
      says: ['is not a setting of [Log]', '(did you mean "level"?)', 'known keys: level, file'],
    });
  });
});

describe('toIniKeys', () => {
  it('maps camelCase option names onto the INI keys of the same words', () => {
    expect([...toIniKeys({ appName: 'x', workers: 2, queueSize: 10, highWatermark: 8, retryMaxDelay: 500, stateDir: '/s' })]).toEqual([
      ['app name', 'x'],
      ['workers', 2],
      ['queue size', 10],
      ['high watermark', 8],
      ['retry max delay', 500],
      ['state dir', '/s'],
    ]);
  });

  it('joins arrays with dots, keeps booleans and drops undefined options', () => {
    expect([...toIniKeys({ orderBy: ['a', 'b', 'c'], enabled: true, retries: undefined })]).toEqual([
      ['order by', 'a.b.c'],
      ['enabled', true],
    ]);
  });

  it('returns an empty map for no options', () => {
    expect(toIniKeys({}).size).toBe(0);
  });
});

describe('durations past what a timer can hold', () => {
  it.each([['execution timeout'], ['queue timeout'], ['shutdown timeout'], ['retry delay']])(
    'rejects %s = 30d, naming the limit',
    (key) => {
      expectConfigError(() => flow({ [key]: '30d' }), { key, says: ['found "30d"', 'at most', 'about 24.8 days'] });
    },
  );
  it('accepts 24 days', () => {
    expect(flow({ 'execution timeout': '24d' }).settings.executionTimeoutMs).toBe(24 * 86_400_000);
  });
});
