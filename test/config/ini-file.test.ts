import { describe, expect, it } from 'vitest';
import { parseIni, type IniDocument } from '../../src/config/ini-file.js';
import { expectConfigError } from '../helpers/config-error.js';

const FILE = 'apps/orders.ini';

/** Every section as { name: { key: value } }, in file order. */
function values(document: IniDocument): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [name, section] of document.sections) {
    out[name] = Object.fromEntries([...section.entries].map(([key, entry]) => [key, entry.value]));
  }
  return out;
}

/** The value of one key, parsed from `[S]` followed by the given lines. */
function valueOf(key: string, ...lines: string[]): string | undefined {
  return parseIni(['[S]', ...lines].join('\n'), FILE)
    .sections.get('S')
    ?.entries.get(key)?.value;
}

describe('parseIni', () => {
  describe('sections and keys', () => {
    it('reads sections and their keys in file order, with the line each was written on', () => {
      const document = parseIni(['[Flow]', 'class = Orders', 'workers = 4', '', '[Source]', 'type = stdin'].join('\n'), FILE);
      expect(document.file).toBe(FILE);
      expect([...document.sections.keys()]).toEqual(['Flow', 'Source']);
      const flow = document.sections.get('Flow')!;
      expect(flow.name).toBe('Flow');
      expect(flow.line).toBe(1);
      expect([...flow.entries]).toEqual([
        ['class', { value: 'Orders', line: 2, key: 'class' }],
        ['workers', { value: '4', line: 3, key: 'workers' }],
      ]);
      expect(document.sections.get('Source')!.line).toBe(5);
      expect([...document.sections.get('Source')!.entries]).toEqual([['type', { value: 'stdin', line: 6, key: 'type' }]]);
    });

    it('returns no sections for empty text or text with only comments and blank lines', () => {
      expect(parseIni('', FILE).sections.size).toBe(0);
      expect(parseIni('# a comment\n; another\n\n   \n', FILE).sections.size).toBe(0);
    });

    it('keeps a section with no keys', () => {
      const document = parseIni('[Empty]\n[Flow]\nclass = X', FILE);
      expect(values(document)).toEqual({ Empty: {}, Flow: { class: 'X' } });
    });

    it('accepts = or : between key and value', () => {
      expect(values(parseIni('[S]\na = 1\nb: 2\nc=3\nd:4', FILE))).toEqual({ S: { a: '1', b: '2', c: '3', d: '4' } });
    });

    it('splits on the first = or : so later ones stay in the value', () => {
      expect(values(parseIni('[S]\nurl = http://host:8080/x?a=b\nmix: b = c\nexpr = a == b', FILE))).toEqual({
        S: { url: 'http://host:8080/x?a=b', mix: 'b = c', expr: 'a == b' },
      });
    });

    it('lower-cases keys but keeps the case of values and section names', () => {
      expect(values(parseIni('[My Section]\nApp Name = MixedCase Value\nQUEUE SIZE = 10', FILE))).toEqual({
        'My Section': { 'app name': 'MixedCase Value', 'queue size': '10' },
      });
    });

    it('trims the whitespace around keys and values but keeps the spaces inside them, as configparser does', () => {
      expect(values(parseIni('[S]\nretry max delay   =    5 m   \t\nqueue  size = 1', FILE))).toEqual({
        S: { 'retry max delay': '5 m', 'queue  size': '1' },
      });
    });

    it('reads an empty value as empty text', () => {
      expect(valueOf('empty', 'empty =')).toBe('');
      expect(valueOf('blank', 'blank :   ')).toBe('');
    });

    it('reads Windows line endings like Unix ones', () => {
      const document = parseIni('[Flow]\r\nclass = X\r\nworkers = 2\r\n', FILE);
      expect(values(document)).toEqual({ Flow: { class: 'X', workers: '2' } });
      expect(document.sections.get('Flow')!.entries.get('workers')!.line).toBe(3);
    });

    it('keeps a dotted section name such as [a.b] as one section, apart from [a]', () => {
      const document = parseIni('[a.b]\nx = 1\n[a]\ny = 2\n[a.b.c]\nz = 3', FILE);
      expect([...document.sections.keys()]).toEqual(['a.b', 'a', 'a.b.c']);
      expect(values(document)).toEqual({ 'a.b': { x: '1' }, a: { y: '2' }, 'a.b.c': { z: '3' } });
    });

    it('trims the spaces inside a section header', () => {
      expect([...parseIni('[  Flow  ]\nclass = X', FILE).sections.keys()]).toEqual(['Flow']);
    });

    it('keeps the same key in different sections apart', () => {
      expect(values(parseIni('[A]\nk = 1\n[B]\nk = 2\n[C]\nk = 3', FILE))).toEqual({ A: { k: '1' }, B: { k: '2' }, C: { k: '3' } });
    });
  });

  describe('values are verbatim', () => {
    it("keeps quotes, so a = 'x' + 'y' stays exactly 'x' + 'y'", () => {
      expect(valueOf('a', "a = 'x' + 'y'")).toBe("'x' + 'y'");
    });

    it('keeps double and single quotes around a whole value', () => {
      expect(valueOf('q', 'q = "quoted"')).toBe('"quoted"');
      expect(valueOf('s', "s = 'single'")).toBe("'single'");
      expect(valueOf('e', 'e = ""')).toBe('""');
    });

    it('keeps an inline ; or # as part of the value', () => {
      expect(valueOf('url', 'url = http://x/#frag ; not a comment')).toBe('http://x/#frag ; not a comment');
      expect(valueOf('k', 'k = a;b#c')).toBe('a;b#c');
    });

    it("keeps flag = true as the string 'true' and false as 'false'", () => {
      expect(valueOf('flag', 'flag = true')).toBe('true');
      expect(valueOf('off', 'off = false')).toBe('false');
    });

    it("keeps n = null as the string 'null'", () => {
      expect(valueOf('n', 'n = null')).toBe('null');
    });

    it('keeps numbers as text', () => {
      expect(valueOf('n', 'n = 007')).toBe('007');
      expect(valueOf('f', 'f = 1.50')).toBe('1.50');
    });

    it('keeps backslashes, escape-like sequences, brackets and JSON verbatim', () => {
      expect(valueOf('path', 'path = C:\\temp\\new')).toBe('C:\\temp\\new');
      expect(valueOf('esc', 'esc = \\;x \\#y')).toBe('\\;x \\#y');
      expect(valueOf('nl', 'nl = "a\\nb"')).toBe('"a\\nb"');
      expect(valueOf('list', 'list = [1, 2]')).toBe('[1, 2]');
      expect(valueOf('json', 'json = {"a": [1, "b"]}')).toBe('{"a": [1, "b"]}');
    });

    it("keeps ${...} references unexpanded (expansion is not the parser's job)", () => {
      expect(valueOf('home', 'home = ${HOME}/x')).toBe('${HOME}/x');
    });
  });

  describe('comments', () => {
    it('skips whole lines that start with # or ;', () => {
      const document = parseIni(['# top', '; top', '[S]', '# inside', 'a = 1', '; inside', 'b = 2'].join('\n'), FILE);
      expect(values(document)).toEqual({ S: { a: '1', b: '2' } });
      expect(document.sections.get('S')!.entries.get('b')!.line).toBe(7);
    });

    it('skips indented comment lines', () => {
      expect(values(parseIni('[S]\n   # note\n\t; note\na = 1', FILE))).toEqual({ S: { a: '1' } });
    });
  });

  describe('continuation lines', () => {
    it('joins indented lines onto the value above with newlines', () => {
      expect(valueOf('sql', 'sql = select *', '    from t', '\twhere x = 1')).toBe('select *\nfrom t\nwhere x = 1');
    });

    it('reads a continuation line that looks like a setting or a section as part of the value', () => {
      expect(valueOf('v', 'v = first', '  k = 2', '  [Not]')).toBe('first\nk = 2\n[Not]');
    });

    it('keeps blank lines inside a continued value and trims trailing ones', () => {
      const document = parseIni(['[S]', 'key = a', '', '  b', '', '', 'next = 1'].join('\n'), FILE);
      expect(values(document)).toEqual({ S: { key: 'a\n\nb', next: '1' } });
    });

    it('skips comment lines inside a continued value', () => {
      expect(valueOf('key', 'key = a', '  b', '# comment', '  c')).toBe('a\nb\nc');
    });

    it('ends a value at the next unindented line', () => {
      expect(values(parseIni('[S]\na = 1\n  more\nb = 2', FILE))).toEqual({ S: { a: '1\nmore', b: '2' } });
    });

    it('keeps each key as written beside its lower-cased name, which stays case-insensitive', () => {
      const section = parseIni('[Vdf]\nasset.alternateTitle = T', FILE).sections.get('Vdf')!;
      expect(section.entries.get('asset.alternatetitle')).toEqual({ value: 'T', line: 2, key: 'asset.alternateTitle' });
      expect(() => parseIni('[Vdf]\nA = 1\na = 2', FILE)).toThrow(/key is written twice/);
    });

    it('records the line of the key for a continued value', () => {
      const entry = parseIni('[S]\na = 1\n  2\n  3', FILE).sections.get('S')!.entries.get('a')!;
      expect(entry).toEqual({ value: '1\n2\n3', line: 2, key: 'a' });
    });

    it('reads keys that are all indented the same as separate keys, as configparser does', () => {
      // configparser continues a value only with lines indented deeper than its key.
      expect(values(parseIni('[S]\n  a = 1\n  b = 2', FILE))).toEqual({ S: { a: '1', b: '2' } });
    });
  });

  describe('section names the parser must not rewrite', () => {
    it('keeps the values of a section whose name is quoted', () => {
      expect(values(parseIni('["quoted"]\na = 1', FILE))).toEqual({ '"quoted"': { a: '1' } });
      expect(values(parseIni("['single']\na = 1", FILE))).toEqual({ "'single'": { a: '1' } });
    });

    it('keeps the values of a section whose name holds a backslash', () => {
      expect(values(parseIni('[a\\\\b]\na = 1', FILE))).toEqual({ 'a\\\\b': { a: '1' } });
    });

    it('keeps the value of a key named __proto__', () => {
      expect(values(parseIni('[S]\n__proto__ = 1', FILE))).toEqual({ S: { ['__proto__']: '1' } });
    });
  });

  describe('errors', () => {
    it('rejects a key written twice in a section, naming the line, the key and the first line', () => {
      expectConfigError(() => parseIni('[Flow]\nworkers = 1\nclass = X\nworkers = 2', FILE), {
        file: FILE,
        line: 4,
        section: 'Flow',
        key: 'workers',
        says: ['written twice', 'first on line 2'],
      });
    });

    it('treats keys that differ only in case as the same key', () => {
      expectConfigError(() => parseIni('[Flow]\nWorkers = 1\nWORKERS = 2', FILE), {
        file: FILE,
        line: 3,
        section: 'Flow',
        key: 'workers',
        says: ['first on line 2'],
      });
    });

    it('rejects a section written twice, naming the line and the first line', () => {
      const error = expectConfigError(() => parseIni('[Flow]\nclass = X\n\n[Flow]\nworkers = 2', FILE), {
        file: FILE,
        line: 4,
        section: 'Flow',
        says: ['written twice', 'first on line 1'],
      });
      expect(error.key).toBeUndefined();
    });

    it('rejects a key before any section, naming the line and the text found', () => {
      const error = expectConfigError(() => parseIni('# header\n\nworkers = 4\n[Flow]', FILE), {
        file: FILE,
        line: 3,
        says: ['"workers = 4"', 'before any [Section]'],
      });
      expect(error.section).toBeUndefined();
      expect(error.message).toBe(`${FILE}:3: "workers = 4" comes before any [Section]; expected a section header first`);
    });

    it('rejects a line without = or :, naming the line, the section and the text found', () => {
      expectConfigError(() => parseIni('[Flow]\nclass = X\njust words', FILE), {
        file: FILE,
        line: 3,
        section: 'Flow',
        says: ['"just words"', 'expected "key = value"'],
      });
    });

    it('rejects a line that starts with = (no key)', () => {
      expectConfigError(() => parseIni('[Flow]\n= 4', FILE), { file: FILE, line: 2, section: 'Flow', says: ['"= 4"'] });
    });

    it('rejects an empty section header or one holding ; # or [', () => {
      expectConfigError(() => parseIni('[]\na = 1', FILE), { file: FILE, line: 1, says: ['"[]"', 'not valid'] });
      expectConfigError(() => parseIni('[S]\na = 1\n[a;b]', FILE), { file: FILE, line: 3, says: ['"[a;b]"'] });
      expectConfigError(() => parseIni('[a#b]', FILE), { file: FILE, line: 1, says: ['"[a#b]"'] });
      expectConfigError(() => parseIni('[[a]]', FILE), { file: FILE, line: 1, says: ['"[[a]]"'] });
    });
  });
});
