import { describe, expect, it } from 'vitest';
import { appSectionReader, expandEnv, hint, SectionReader, type RawValue } from '../../../src/kernel/section-reader.js';
import { expectConfigError } from '../../helpers/config-error.js';

const FILE = 'apps/orders.ini';

function reader(values: Record<string, RawValue>, lines: Record<string, number> = {}): SectionReader {
  return new SectionReader(new Map(Object.entries(values)), { file: FILE, section: 'Flow', lines: new Map(Object.entries(lines)) });
}

describe('SectionReader', () => {
  describe('has and locate', () => {
    it('says whether a key is set, counting an undefined value as not set', () => {
      const r = reader({ a: 'x', b: '', c: undefined });
      expect(r.has('a')).toBe(true);
      expect(r.has('b')).toBe(true);
      expect(r.has('c')).toBe(false);
      expect(r.has('d')).toBe(false);
    });

    it('locates a key by file, section, key and line', () => {
      const r = reader({ a: 'x' }, { a: 7 });
      expect(r.locate('a')).toEqual({ file: FILE, section: 'Flow', key: 'a', line: 7 });
      expect(r.locate('b')).toEqual({ file: FILE, section: 'Flow', key: 'b', line: undefined });
    });

    it('fails with a ConfigError located at the key', () => {
      const error = expectConfigError(() => reader({ a: 'x' }, { a: 3 }).fail('a', 'found "x"; expected y'), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'a',
      });
      expect(error.message).toBe(`${FILE}:3 [Flow] "a": found "x"; expected y`);
    });
  });

  describe('string', () => {
    it('returns the text, or the fallback when the key is missing or empty', () => {
      const r = reader({ name: 'orders', empty: '' });
      expect(r.string('name')).toBe('orders');
      expect(r.string('name', 'other')).toBe('orders');
      expect(r.string('missing')).toBeUndefined();
      expect(r.string('missing', 'fallback')).toBe('fallback');
      expect(r.string('empty')).toBeUndefined();
      expect(r.string('empty', 'fallback')).toBe('fallback');
    });

    it('rejects a number or boolean given in code where text is expected', () => {
      expectConfigError(() => reader({ name: 5 }).string('name'), {
        file: FILE,
        section: 'Flow',
        key: 'name',
        says: ['found 5', 'expected text'],
      });
      expectConfigError(() => reader({ name: true }).string('name'), { file: FILE, section: 'Flow', key: 'name', says: ['found true'] });
    });
  });

  describe('integer', () => {
    it('reads whole numbers written as text, with an optional sign and spaces', () => {
      const r = reader({ a: '42', b: '+7', c: ' 12 ', d: '007', e: '-3' });
      expect(r.integer('a', 0)).toBe(42);
      expect(r.integer('b', 0)).toBe(7);
      expect(r.integer('c', 0)).toBe(12);
      expect(r.integer('d', 0)).toBe(7);
      expect(r.integer('e', 0)).toBe(-3);
    });

    it('accepts a whole number given in code', () => {
      expect(reader({ a: 9 }).integer('a', 0)).toBe(9);
    });

    it('returns the fallback when the key is missing or empty', () => {
      expect(reader({}).integer('a', 5)).toBe(5);
      expect(reader({ a: '' }).integer('a', 5)).toBe(5);
    });

    it.each([['abc'], ['1.5'], ['1e3'], ['0x10'], ['1 000'], ['4 workers'], ['true']])(
      'rejects %j, naming the key and the value found',
      (text) => {
        expectConfigError(() => reader({ n: text }, { n: 4 }).integer('n', 1), {
          file: FILE,
          line: 4,
          section: 'Flow',
          key: 'n',
          says: [`found "${text}"`, 'expected a whole number'],
        });
      },
    );

    it('rejects a fraction or NaN given in code', () => {
      expectConfigError(() => reader({ n: 1.5 }).integer('n', 1), { key: 'n', says: ['found "1.5"'] });
      expectConfigError(() => reader({ n: Number.NaN }).integer('n', 1), { key: 'n', says: ['found "NaN"'] });
    });

    it('enforces bounds and says which ones in the message', () => {
      expect(reader({ n: '1' }).integer('n', 0, { min: 1, max: 3 })).toBe(1);
      expect(reader({ n: '3' }).integer('n', 0, { min: 1, max: 3 })).toBe(3);
      expectConfigError(() => reader({ n: '0' }).integer('n', 1, { min: 1, max: 3 }), {
        key: 'n',
        says: ['found "0"; expected a whole number from 1 to 3'],
      });
      expectConfigError(() => reader({ n: '4' }).integer('n', 1, { min: 1, max: 3 }), {
        key: 'n',
        says: ['found "4"; expected a whole number from 1 to 3'],
      });
      expectConfigError(() => reader({ n: '-1' }).integer('n', 1, { min: 0 }), {
        key: 'n',
        says: ['found "-1"; expected a whole number of at least 0'],
      });
      expectConfigError(() => reader({ n: '11' }).integer('n', 1, { max: 10 }), {
        key: 'n',
        says: ['found "11"; expected a whole number of at most 10'],
      });
    });

    it('rejects a number beyond the safe integer range', () => {
      expectConfigError(() => reader({ n: '99999999999999999999' }).integer('n', 1), { key: 'n', says: ['found "99999999999999999999"'] });
    });
  });

  describe('duration', () => {
    it('reads durations written as text into milliseconds', () => {
      const r = reader({ a: '30', b: '250ms', c: '5m', d: '1h' });
      expect(r.duration('a', 0)).toBe(30_000);
      expect(r.duration('b', 0)).toBe(250);
      expect(r.duration('c', 0)).toBe(300_000);
      expect(r.duration('d', 0)).toBe(3_600_000);
    });

    it('reads a number given in code as milliseconds', () => {
      expect(reader({ a: 250 }).duration('a', 0)).toBe(250);
    });

    it('returns the fallback when the key is missing or empty', () => {
      expect(reader({}).duration('a', 1234)).toBe(1234);
      expect(reader({ a: '' }).duration('a', 1234)).toBe(1234);
    });

    it.each([['5 parsecs'], ['-1'], ['soon']])('rejects %j, naming the key, the value found and examples', (text) => {
      expectConfigError(() => reader({ t: text }, { t: 9 }).duration('t', 1000), {
        file: FILE,
        line: 9,
        section: 'Flow',
        key: 't',
        says: [`found "${text}"`, 'expected a duration such as 30, 30s, 250ms, 5m or 1h'],
      });
    });

    it('rejects a negative, infinite or boolean value given in code', () => {
      expectConfigError(() => reader({ t: -5 }).duration('t', 1000), { key: 't', says: ['found "-5"'] });
      expectConfigError(() => reader({ t: Number.POSITIVE_INFINITY }).duration('t', 1000), { key: 't', says: ['found "Infinity"'] });
      expectConfigError(() => reader({ t: true }).duration('t', 1000), { key: 't', says: ['found "true"'] });
    });

    it('enforces a minimum and states it in the message', () => {
      expect(reader({ t: '1ms' }).duration('t', 1000, { minMs: 1 })).toBe(1);
      expectConfigError(() => reader({ t: '0' }).duration('t', 1000, { minMs: 1 }), {
        key: 't',
        says: ['found "0"; expected a duration of at least 1ms'],
      });
      expectConfigError(() => reader({ t: '10s' }).duration('t', 1000, { minMs: 60_000 }), { key: 't', says: ['of at least 1m'] });
    });

    it('accepts zero when there is no minimum', () => {
      expect(reader({ t: '0' }).duration('t', 1000)).toBe(0);
    });
  });

  describe('boolean', () => {
    it.each([['yes'], ['true'], ['on'], ['1'], ['YES'], [' True ']])('reads %j as true', (text) => {
      expect(reader({ b: text }).boolean('b', false)).toBe(true);
    });

    it.each([['no'], ['false'], ['off'], ['0'], ['NO'], ['Off']])('reads %j as false', (text) => {
      expect(reader({ b: text }).boolean('b', true)).toBe(false);
    });

    it('accepts a boolean given in code and falls back when missing or empty', () => {
      expect(reader({ b: false }).boolean('b', true)).toBe(false);
      expect(reader({}).boolean('b', true)).toBe(true);
      expect(reader({ b: '' }).boolean('b', false)).toBe(false);
    });

    it('rejects other words, naming the key and the value found', () => {
      expectConfigError(() => reader({ b: 'maybe' }, { b: 2 }).boolean('b', false), {
        file: FILE,
        line: 2,
        section: 'Flow',
        key: 'b',
        says: ['found "maybe"; expected yes or no'],
      });
    });
  });

  describe('choice', () => {
    const kinds = ['exponential', 'fixed'] as const;

    it('returns the chosen word, lower-cased and trimmed', () => {
      expect(reader({ k: 'fixed' }).choice('k', kinds, 'exponential')).toBe('fixed');
      expect(reader({ k: ' Fixed ' }).choice('k', kinds, 'exponential')).toBe('fixed');
    });

    it('falls back when missing or empty', () => {
      expect(reader({}).choice('k', kinds, 'exponential')).toBe('exponential');
      expect(reader({ k: '' }).choice('k', kinds, 'fixed')).toBe('fixed');
    });

    it('rejects another word, listing the choices and suggesting a near one', () => {
      expectConfigError(() => reader({ k: 'fixd' }, { k: 5 }).choice('k', kinds, 'exponential'), {
        file: FILE,
        line: 5,
        section: 'Flow',
        key: 'k',
        says: ['found "fixd"; expected one of exponential, fixed (did you mean "fixed"?)'],
      });
    });

    it('gives no hint when no choice is close', () => {
      const error = expectConfigError(() => reader({ k: 'linear' }).choice('k', kinds, 'exponential'), {
        key: 'k',
        says: ['found "linear"; expected one of exponential, fixed'],
      });
      expect(error.message).not.toContain('did you mean');
    });
  });

  describe('finish', () => {
    it('passes when every key was read', () => {
      const r = reader({ a: '1', b: 'x' });
      r.integer('a', 0);
      r.string('b');
      expect(() => r.finish()).not.toThrow();
    });

    it('counts a key as known once read, even if it was missing', () => {
      const r = reader({});
      r.string('a');
      expect(() => r.finish()).not.toThrow();
    });

    it('ignores keys whose value is undefined', () => {
      const r = reader({ ghost: undefined });
      expect(() => r.finish()).not.toThrow();
    });

    it('rejects a key nothing read, suggesting the nearest known key and listing them all', () => {
      const r = reader({ workres: '4' }, { workres: 6 });
      r.integer('workers', 1);
      r.string('class');
      expectConfigError(() => r.finish(), {
        file: FILE,
        line: 6,
        section: 'Flow',
        key: 'workres',
        says: ['is not a setting of [Flow] (did you mean "workers"?); known keys: workers, class'],
      });
    });

    it('rejects an unknown key without a hint when nothing known is close', () => {
      const r = reader({ colour: 'blue' });
      r.integer('workers', 1);
      const error = expectConfigError(() => r.finish(), { key: 'colour', says: ['is not a setting of [Flow]; known keys: workers'] });
      expect(error.message).not.toContain('did you mean');
    });
  });
});

describe('hint', () => {
  it('suggests the nearest known word when it is a plausible typo', () => {
    expect(hint('workres', ['workers', 'class', 'queue size'])).toBe(' (did you mean "workers"?)');
    expect(hint('queue sise', ['workers', 'queue size'])).toBe(' (did you mean "queue size"?)');
    expect(hint('clas', ['workers', 'class'])).toBe(' (did you mean "class"?)');
  });

  it('allows more edits for longer words (a third of their length)', () => {
    // "execution timeout" has 17 letters: up to 5 edits count as a typo.
    expect(hint('exectn timeot', ['execution timeout'])).toBe(' (did you mean "execution timeout"?)');
    expect(hint('xyz', ['execution timeout'])).toBe('');
  });

  it('suggests nothing when no known word is close or none is known', () => {
    expect(hint('colour', ['workers', 'class'])).toBe('');
    expect(hint('workers', [])).toBe('');
  });
});

describe('expandEnv', () => {
  const where = { file: FILE, section: 'Db', key: 'url', line: 3 };

  it('replaces ${NAME} with the variable from the environment', () => {
    expect(expandEnv('postgres://${DB_USER}@${DB_HOST}/x', { DB_USER: 'app', DB_HOST: 'db.local' }, where)).toBe(
      'postgres://app@db.local/x',
    );
  });

  it('replaces a variable set to empty text with nothing', () => {
    expect(expandEnv('a${EMPTY}b', { EMPTY: '' }, where)).toBe('ab');
  });

  it('does not expand the value of a variable a second time', () => {
    expect(expandEnv('${A}', { A: '${B}', B: 'no' }, where)).toBe('${B}');
  });

  it('reads $$ as a literal $, so $${NAME} stays ${NAME}', () => {
    expect(expandEnv('cost $$5', {}, where)).toBe('cost $5');
    expect(expandEnv('$${HOME}', { HOME: '/root' }, where)).toBe('${HOME}');
  });

  it('leaves text without references, a lone $ and $NAME untouched', () => {
    expect(expandEnv('plain text', {}, where)).toBe('plain text');
    expect(expandEnv('$5 and $HOME', { HOME: '/root' }, where)).toBe('$5 and $HOME');
  });

  it('rejects a missing variable, naming it and the place it was used', () => {
    expectConfigError(() => expandEnv('${DB_HOST}:5432', {}, where), {
      file: FILE,
      line: 3,
      section: 'Db',
      key: 'url',
      says: ['uses ${DB_HOST}', 'environment variable DB_HOST is not set'],
    });
  });

  it.each([['${}'], ['${1ABC}'], ['${A-B}'], ['${ A }']])('rejects %j as not a variable reference', (text) => {
    expectConfigError(() => expandEnv(text, { A: 'x' }, where), {
      file: FILE,
      line: 3,
      section: 'Db',
      key: 'url',
      says: [`"${text}" is not a variable reference`],
    });
  });
});

describe('appSectionReader', () => {
  it("reads an app section's settings in any case, as configparser does, and names the key as read in errors", () => {
    const reader = appSectionReader(
      { XPath: '/asset/title', 'Default Timezone': 'Europe/Oslo', Type: 'sometimes' },
      { file: 'app.ini', section: 'Field:title', lines: new Map([['Type', 7]]) },
    );
    expect(reader.string('xpath')).toBe('/asset/title');
    expect(reader.string('default timezone')).toBe('Europe/Oslo');
    expect(() => reader.choice('type', ['string', 'date'] as const, 'string')).toThrow(
      'app.ini:7 [Field:title] "type": found "sometimes"; expected one of string, date',
    );
  });
});
