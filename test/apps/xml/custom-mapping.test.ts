import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppSections } from '../../../actors/workers/worker.js';
import { compileCustomMapping, type SectionLines } from '../../../src/apps/xml/custom-mapping.js';
import { parseIni } from '../../../src/config/ini-file.js';
import { DictionaryCache } from '../../../src/toolkit/dictionary.js';
import { ExpressionError, FlowdError } from '../../../src/kernel/errors.js';
import { expectConfigError } from '../../helpers/config-error.js';
import { logSink } from '../../helpers/log-sink.js';

const fixture = new URL('../../fixtures/xml/custom-item.xml', import.meta.url);

/** Sections and line numbers as the INI loader hands them to an app. */
function ini(text: string): { sections: AppSections; lines: SectionLines } {
  const document = parseIni(text, 'import.ini');
  const sections: Record<string, Record<string, string>> = {};
  const lines = new Map<string, Map<string, number>>();
  for (const [name, section] of document.sections) {
    sections[name] = Object.fromEntries([...section.entries].map(([key, entry]) => [key, entry.value]));
    lines.set(name, new Map([...section.entries].map(([key, entry]) => [key, entry.line])));
  }
  return { sections, lines };
}

async function rejection(promise: Promise<unknown>): Promise<FlowdError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FlowdError);
    return error as FlowdError;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

let server: Server;
let dictionaryUrl: string;
let dictionaryRequests = 0;

beforeAll(async () => {
  server = createServer((request, response) => {
    dictionaryRequests++;
    response.writeHead(request.url === '/genres' ? 200 : 404, { 'content-type': 'application/json' });
    response.end(request.url === '/genres' ? JSON.stringify({ Sport: 'urn:genre:sport', News: 'urn:genre:news' }) : '{}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  dictionaryUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/genres`;
});

afterAll(async () => {
  server.close();
  await once(server, 'close');
});

const FIELDS = `
[Xml]
format = custom
id = /i:item/@ref
media = //media:content/@url

[Namespaces]
i = http://example.com/ns/item
dc = http://purl.org/dc/elements/1.1/
media = http://search.yahoo.com/mrss/

[Field:title]
xpath = /i:item/dc:title

[Field:episode]
xpath = /i:item/i:episode
type = integer

[Field:rating]
xpath = /i:item/i:rating
type = float

[Field:published]
xpath = /i:item/i:published
type = iso

[Field:airdate]
xpath = /i:item/i:airdate
type = date
format = %d/%m/%Y

[Field:airtime]
xpath = /i:item/i:airtime
type = time
format = %H:%M

[Field:recorded]
xpath = /i:item/i:recorded
type = datetime
format = %d.%m.%Y %H:%M
default timezone = Europe/Oslo

[Field:summary]
xpath = /i:item/i:summary
type = integer

[Field:missing]
xpath = /i:item/i:nowhere

[Field:contents]
xpath = count(//media:content)
type = integer
`;

describe('compileCustomMapping', () => {
  it('reads every field type by namespaced XPath, runs the transforms in order and maps them to target fields', async () => {
    const { sections, lines } = ini(`${FIELDS}
[Field:genre]
xpath = /i:item/dc:subject
type = dictionary
source = ${dictionaryUrl}

[Transform]
clean = trim(title)
label = concat(clean, ' #', episode)
shout = upper(label)

[Mapping]
asset.title = clean
asset.label = shout
asset.episode = episode
asset.rating = rating
asset.published = published
asset.airDate = airdate
asset.airTime = airtime
asset.recorded = recorded
asset.genre = genre
asset.summary = summary
asset.missing = missing
asset.contents = contents
`);
    const mapping = compileCustomMapping(sections, 'import.ini', lines, { dictionaries: new DictionaryCache() });
    expect(mapping.transforms).toEqual(['clean', 'label', 'shout']);
    expect(mapping.form).toBeUndefined();
    const record = await mapping.read(await readFile(fixture, 'utf8'), 'in/item.xml');
    expect(record).toEqual({
      id: 'NEWS-17',
      fields: {
        'asset.title': 'Evening news',
        'asset.label': 'EVENING NEWS #17',
        'asset.episode': 17,
        'asset.rating': 4.5,
        'asset.published': '2024-12-04T14:07:09Z',
        'asset.airdate': '2024-12-04',
        'asset.airtime': '19:30:00',
        'asset.recorded': '2024-12-04T14:07:00Z',
        'asset.genre': 'urn:genre:sport',
        'asset.contents': 3,
      },
      media: ['clip.mxf', 'clip.wav'],
    });
    // An empty element of a non-string type and a node not found are both left out.
    expect(Object.keys(record.fields)).not.toContain('asset.summary');
    expect(Object.keys(record.fields)).not.toContain('asset.missing');
  });

  it('accepts [Vdf] as the alias of [Mapping] and keeps its form', async () => {
    const { sections, lines } = ini(`${FIELDS}\n[Vdf]\nform = news-item\nasset.title = title\n`);
    const mapping = compileCustomMapping(sections, 'import.ini', lines);
    expect(mapping.form).toBe('news-item');
    expect(mapping.targets).toEqual(['asset.title']);
    expect(await mapping.read(await readFile(fixture, 'utf8'), 'in/item.xml')).toEqual({
      id: 'NEWS-17',
      form: 'news-item',
      fields: { 'asset.title': '  Evening news ' },
      media: ['clip.mxf', 'clip.wav'],
    });
  });

  it("takes the record's id from a field named asset_id and its media from a transform named media_filename, as Flow does", async () => {
    // The original's own example (apps/xmlimport/xmlimport.ini): [Field:asset_id], [Transforms] media_filename from xml_filename, a quoted form.
    const { sections, lines } = ini(`
[Field:title]
xpath = /item/title

[Field:asset_id]
xpath = /item/@id

[Transforms]
concat_field = title
media_filename = substring(xml_filename, 0, -4) + '.mxf'

[Vdf]
form = "hubitem"
asset.title = title
`);
    const mapping = compileCustomMapping(sections, 'xmlimport.ini', lines);
    expect(mapping.transforms).toEqual(['concat_field', 'media_filename']);
    expect(mapping.form).toBe('hubitem');
    const read = await mapping.read('<item id="2011"><title>Evening news</title></item>', 'in/clip1.xml', { fileName: 'clip1.xml' });
    expect(read).toEqual({ id: '2011', form: 'hubitem', fields: { 'asset.title': 'Evening news' }, media: ['clip1.mxf'] });
    // Without an id attribute asset_id is null: the app falls back to the file's name.
    expect((await mapping.read('<item><title>x</title></item>', 'clip2.xml')).id).toBeUndefined();
  });

  it('takes asset_id from a transform too, a whole number as text, and refuses one that names nothing', async () => {
    const mapping = compileCustomMapping(
      { 'Field:n': { xpath: '/a/@n', type: 'integer' }, Transform: { asset_id: 'n' }, Mapping: { n: 'n' } },
      'import.ini',
    );
    expect((await mapping.read('<a n="42"/>', 'f.xml')).id).toBe('42');
    const listed = compileCustomMapping({ 'Field:a': { xpath: '/a' }, Transform: { asset_id: '[a]' }, Mapping: {} }, 'import.ini');
    const error = await rejection(listed.read('<a>x</a>', 'in/f.xml'));
    expect(error.code).toBe('ERR_XML');
    expect(error.message).toBe('in/f.xml: asset_id is a list; expected text or a whole number naming the record');
    const badMedia = compileCustomMapping({ 'Field:media_filename': { xpath: '/a' }, Mapping: {} }, 'import.ini');
    await expect(badMedia.read('<a>../up.mxf</a>', 'in/f.xml')).rejects.toThrow(
      /media_filename: media name "\.\.\/up\.mxf" is not a plain file name/,
    );
  });

  it('refuses [Xml] id with asset_id, and [Xml] media with media_filename: each names the same thing twice', () => {
    expectConfigError(
      () => compileCustomMapping({ Xml: { id: '/a/@id' }, 'Field:asset_id': { xpath: '/a/@ref' }, Mapping: {} }, 'import.ini'),
      { section: 'Xml', key: 'id', says: ['a field or transform is named asset_id'] },
    );
    expectConfigError(
      () =>
        compileCustomMapping(
          { Xml: { media: '/a/@m' }, 'Field:x': { xpath: '/a' }, Transform: { media_filename: 'x' }, Mapping: {} },
          'import.ini',
        ),
      { section: 'Xml', key: 'media', says: ['named media_filename'] },
    );
  });

  it("takes [Transforms] (the spelling of Flow's code) as the alias of [Transform], and refuses both together", async () => {
    const mapping = compileCustomMapping(
      { 'Field:t': { xpath: '/a' }, Transforms: { shout: 'upper(t)' }, Mapping: { x: 'shout' } },
      'import.ini',
    );
    expect((await mapping.read('<a>hi</a>', 'f.xml')).fields).toEqual({ x: 'HI' });
    expectConfigError(
      () => compileCustomMapping({ 'Field:t': { xpath: '/a' }, Transform: {}, Transforms: {}, Mapping: {} }, 'import.ini'),
      { section: 'Transforms', says: ['alias of [Transform]', 'found both'] },
    );
    expectConfigError(
      () =>
        compileCustomMapping(
          { 'Field:t': { xpath: '/a' }, Transforms: { x: 'y' }, Mapping: {} },
          'import.ini',
          new Map([['Transforms', new Map([['x', 7]])]]),
        ),
      { section: 'Transforms', key: 'x', line: 7, says: ['reads "y"'] },
    );
  });

  it("takes [Vdf] form quoted or not, as Flow's eval did, and refuses an expression", () => {
    const form = (value: string) => compileCustomMapping({ 'Field:t': { xpath: '/a' }, Vdf: { form: value, x: 't' } }, 'import.ini').form;
    expect([form('"hubitem"'), form("'hubitem'"), form('hubitem')]).toEqual(['hubitem', 'hubitem', 'hubitem']);
    expectConfigError(() => form('""'), { section: 'Vdf', key: 'form', says: ['is empty'] });
    expectConfigError(() => form("'hub' + 'item'"), { section: 'Vdf', key: 'form', says: ['not an expression'] });
  });

  it('lets a transform replace a field by its own name, reading the value before it', async () => {
    const mapping = compileCustomMapping(
      { 'Field:title': { xpath: '/a/t' }, Transform: { title: 'lower(title)' }, Mapping: { x: 'title' } },
      'import.ini',
    );
    expect((await mapping.read('<a><t>LOUD</t></a>', 'f.xml')).fields).toEqual({ x: 'loud' });
  });

  it('reads values found as attributes, text nodes and XPath strings, numbers and booleans', async () => {
    const mapping = compileCustomMapping(
      {
        'Field:attr': { xpath: '/a/@k' },
        'Field:text': { xpath: '/a/b/text()' },
        'Field:joined': { xpath: "concat(/a/@k, '-', /a/b)" },
        'Field:many': { xpath: 'count(/a/*)', type: 'integer' },
        'Field:flag': { xpath: "/a/b = 'x'" },
        Mapping: { attr: 'attr', text: 'text', joined: 'joined', many: 'many', flag: 'flag' },
      },
      'import.ini',
    );
    expect((await mapping.read('<a k="v"><b>x</b><b>y</b></a>', 'f.xml')).fields).toEqual({
      attr: 'v',
      text: 'x',
      joined: 'v-x',
      many: 2,
      flag: 'true',
    });
  });

  it('gives an ERR_XML naming the file, the field and the value when a value does not convert', async () => {
    const mapping = compileCustomMapping({ 'Field:n': { xpath: '/a', type: 'integer' }, Mapping: { n: 'n' } }, 'import.ini');
    const error = await rejection(mapping.read('<a>twelve</a>', 'in/bad.xml'));
    expect(error.code).toBe('ERR_XML');
    expect(error.message).toBe(
      'in/bad.xml: [Field:n] "xpath" /a: cannot parse "twelve" as integer: expected a whole number such as 42 or -7',
    );
  });

  it("gives an ERR_XML naming the file and the parser's message for malformed XML", async () => {
    const mapping = compileCustomMapping({ 'Field:n': { xpath: '/a' }, Mapping: { n: 'n' } }, 'import.ini');
    const error = await rejection(mapping.read('<a><b></a>', 'in/broken.xml'));
    expect(error.code).toBe('ERR_XML');
    expect(error.message).toMatch(/^in\/broken\.xml: not well-formed XML at line 1, column \d+: Opening and ending tag mismatch/);
    expect((await rejection(mapping.read('<!DOCTYPE a><a/>', 'in/dtd.xml'))).message).toBe(
      'in/dtd.xml: a DOCTYPE is not allowed (DTDs and entity declarations are refused)',
    );
  });

  it('names the file and the transform when a transform fails while reading', async () => {
    const mapping = compileCustomMapping(
      { 'Field:t': { xpath: '/a' }, Transform: { u: 'substring(t, 0, "x")' }, Mapping: { u: 'u' } },
      'import.ini',
    );
    const error = await rejection(mapping.read('<a>t</a>', 'in/a.xml'));
    expect(error).toBeInstanceOf(ExpressionError);
    expect(error.message).toMatch(/^in\/a\.xml: import\.ini \[Transform\] "u": expression/);
  });

  it('refuses media names with a folder', async () => {
    const mapping = compileCustomMapping({ Xml: { media: '/a/m' }, 'Field:t': { xpath: '/a' }, Mapping: { t: 't' } }, 'import.ini');
    expect((await rejection(mapping.read('<a><m>../secret.mxf</m></a>', 'in/a.xml'))).message).toContain(
      'in/a.xml: [Xml] "media": media name "../secret.mxf" is not a plain file name',
    );
  });

  describe('refuses a bad configuration at start, naming file, section, key and line', () => {
    it('a bad XPath', () => {
      const { sections, lines } = ini('[Field:title]\nxpath = /a/b[\n[Mapping]\nt = title\n');
      expectConfigError(() => compileCustomMapping(sections, 'import.ini', lines), {
        file: 'import.ini',
        line: 2,
        section: 'Field:title',
        key: 'xpath',
        says: ['"/a/b[" is not a valid XPath 1.0 expression: '],
      });
      expectConfigError(() => compileCustomMapping({ 'Field:t': { xpath: 'nosuch(/a)' }, Mapping: { t: 't' } }, 'import.ini'), {
        section: 'Field:t',
        key: 'xpath',
        says: ['Unknown function nosuch'],
      });
    });

    it('a namespace prefix [Namespaces] does not declare', () => {
      expectConfigError(
        () =>
          compileCustomMapping(
            { Namespaces: { dc: 'urn:dc' }, 'Field:t': { xpath: "/x:a[@k = 'p:q']/child::dc:b" }, Mapping: { t: 't' } },
            'import.ini',
          ),
        {
          section: 'Field:t',
          key: 'xpath',
          says: ['uses the namespace prefix "x", which [Namespaces] does not declare (it has dc)'],
        },
      );
      expectConfigError(() => compileCustomMapping({ Namespaces: { xmlfoo: 'urn:x' }, Mapping: {} }, 'import.ini'), {
        section: 'Namespaces',
        key: 'xmlfoo',
        says: ['is not a namespace prefix'],
      });
    });

    it('a missing xpath, an unknown type, a misspelled key', () => {
      expectConfigError(() => compileCustomMapping({ 'Field:t': {}, Mapping: {} }, 'import.ini'), {
        file: 'import.ini',
        section: 'Field:t',
        key: 'xpath',
        says: ['is missing'],
      });
      const { sections, lines } = ini('[Field:t]\nxpath = /a\ntype = dat\n[Mapping]\nt = t\n');
      expectConfigError(() => compileCustomMapping(sections, 'import.ini', lines), {
        line: 3,
        section: 'Field:t',
        key: 'type',
        says: ['did you mean "date"?'],
      });
      expectConfigError(() => compileCustomMapping({ 'Field:t': { xpath: '/a', fromat: '%d' }, Mapping: {} }, 'import.ini'), {
        section: 'Field:t',
        key: 'fromat',
      });
      expectConfigError(() => compileCustomMapping({ 'Field:t': { xpath: '/a', type: 'dictionary' }, Mapping: {} }, 'import.ini'), {
        section: 'Field:t',
        key: 'source',
      });
      expectConfigError(
        () =>
          compileCustomMapping(
            { 'Field:t': { xpath: '/a', type: 'datetime', 'default timezone': 'Mars/Base' }, Mapping: {} },
            'import.ini',
          ),
        { key: 'default timezone' },
      );
    });

    it('a field or transform name an expression cannot read', () => {
      expectConfigError(() => compileCustomMapping({ 'Field:air-date': { xpath: '/a' }, Mapping: {} }, 'import.ini'), {
        section: 'Field:air-date',
        says: ['field name "air-date" is not a name an expression can read'],
      });
      expectConfigError(() => compileCustomMapping({ 'Field:constructor': { xpath: '/a' }, Mapping: {} }, 'import.ini'), {
        section: 'Field:constructor',
        says: ['is not allowed'],
      });
    });

    it('a transform reading a name that is not a field or an earlier transform', () => {
      const { sections, lines } = ini(
        '[Field:title]\nxpath = /a\n[Transform]\nfirst = later + titel\nlater = title\n[Mapping]\nt = first\n',
      );
      expectConfigError(() => compileCustomMapping(sections, 'import.ini', lines), {
        line: 4,
        section: 'Transform',
        key: 'first',
        says: ['reads "later"', 'a transform may only read fields and transforms above it'],
      });
      expectConfigError(
        () => compileCustomMapping({ 'Field:title': { xpath: '/a' }, Transform: { t: 'titel' }, Mapping: {} }, 'import.ini'),
        { key: 't', says: ['(did you mean "title"?)'] },
      );
      expectConfigError(() => compileCustomMapping({ Transform: { t: '1 +' }, Mapping: {} }, 'import.ini'), {
        section: 'Transform',
        key: 't',
      });
    });

    it('an unknown name in [Mapping], and [Mapping] together with [Vdf], or neither', () => {
      const { sections, lines } = ini('[Field:title]\nxpath = /a\n[Mapping]\nasset.title = titel\n');
      expectConfigError(() => compileCustomMapping(sections, 'import.ini', lines), {
        line: 4,
        section: 'Mapping',
        key: 'asset.title',
        says: ['found "titel"', '(did you mean "title"?)'],
      });
      expectConfigError(() => compileCustomMapping({ Vdf: { form: 'f', 'asset.x': 'nope' } }, 'import.ini'), {
        section: 'Vdf',
        key: 'asset.x',
        says: ['(there are none)'],
      });
      expectConfigError(() => compileCustomMapping({ Mapping: {}, Vdf: { form: 'f' } }, 'import.ini'), {
        file: 'import.ini',
        section: 'Vdf',
        says: ['found both'],
      });
      expectConfigError(() => compileCustomMapping({ 'Field:t': { xpath: '/a' } }, 'import.ini'), {
        section: 'Mapping',
        says: ['is missing'],
      });
    });

    it('a bad [Xml] id or media XPath', () => {
      expectConfigError(() => compileCustomMapping({ Xml: { id: '/a/@' }, Mapping: {} }, 'import.ini'), { section: 'Xml', key: 'id' });
      expectConfigError(() => compileCustomMapping({ Xml: { media: 'm:x' }, Mapping: {} }, 'import.ini'), {
        section: 'Xml',
        key: 'media',
        says: ['prefix "m"'],
      });
    });
  });

  it('fetches a dictionary once for many reads; a term it does not have is null, with one warning naming the field, term and feed', async () => {
    const before = dictionaryRequests;
    const mapping = compileCustomMapping(
      { 'Field:g': { xpath: '/a', type: 'dictionary', source: dictionaryUrl }, Mapping: { g: 'g' } },
      'import.ini',
      undefined,
      { dictionaries: new DictionaryCache() },
    );
    expect((await mapping.read('<a>News</a>', 'f.xml')).fields).toEqual({ g: 'urn:genre:news' });
    expect((await mapping.read('<a> Sport </a>', 'f.xml')).fields).toEqual({ g: 'urn:genre:sport' });
    expect(dictionaryRequests - before).toBe(1);
    const log = logSink('warn');
    expect((await mapping.read('<a>Opera</a>', 'in/o.xml', { log: log.logger })).fields).toEqual({ g: null });
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({
      field: 'g',
      term: 'Opera',
      dictionary: dictionaryUrl,
      msg: `in/o.xml: [Field:g]: no term "Opera" in the dictionary at ${dictionaryUrl}; the field is null`,
    });
  });
});
