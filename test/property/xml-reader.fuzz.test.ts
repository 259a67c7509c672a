import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { readDefaultRecord, writeDefaultRecord } from '../../src/apps/xml/default-record.js';
import { compileCustomMapping } from '../../src/apps/xml/custom-mapping.js';
import { readXmlDocument } from '../../src/apps/xml/document.js';
import type { RecordData } from '../../src/apps/xml/record-data.js';
import { FlowdError } from '../../src/kernel/errors.js';

// Names that would reach a prototype if anything used them as keys, mixed with ordinary ones.
const NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'record',
  'field',
  'media',
  'a',
  'b',
  'p:x',
  'xmlns',
  'xmlns:p',
  'name',
  'href',
  'id',
  'type',
];
const name = fc.constantFrom(...NAMES);
const text = fc.string({
  unit: fc.constantFrom(
    'a',
    ' ',
    '\n',
    '&amp;',
    '&lt;',
    '&#65;',
    '&#x1F600;',
    'é',
    '"',
    "'",
    '>',
    '\u0000',
    '\uD800',
    '<!-- c -->',
    '<![CDATA[<x>&]]>',
    '<?pi x?>',
  ),
  maxLength: 12,
});
const attributeValue = fc.string({
  unit: fc.constantFrom('a', ' ', '\t', '&amp;', '&lt;', '&quot;', '&#65;', 'é', "'", '>', 'clip.mxf', '../x', '__proto__'),
  maxLength: 6,
});
const elementName = fc.constantFrom(...NAMES.filter((n) => !n.startsWith('xmlns')));

interface Tree {
  name: string;
  attributes: Array<[string, string]>;
  children: Array<Tree | string>;
}

const { tree } = fc.letrec<{ tree: Tree; node: Tree | string }>((tie) => ({
  tree: fc.record({
    name: elementName,
    attributes: fc.uniqueArray(fc.tuple(elementName, attributeValue), { maxLength: 3, selector: ([key]) => key }),
    children: fc.array(tie('node'), { maxLength: 4 }),
  }),
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, text, tie('tree')),
}));

function render(node: Tree | string, root = true): string {
  if (typeof node === 'string') return node;
  const attributes = (root ? ' xmlns:p="urn:p"' : '') + node.attributes.map(([key, value]) => ` ${key}="${value}"`).join('');
  return node.children.length === 0
    ? `<${node.name}${attributes}/>`
    : `<${node.name}${attributes}>${node.children.map((child) => render(child, false)).join('')}</${node.name}>`;
}

const DOCTYPE = fc.constantFrom('<!DOCTYPE', '<!doctype', '<!DocType', '<!DOCTYPE\n', '<!DOCTYPE\t');
const billionLaughs = fc
  .tuple(DOCTYPE, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 4 }))
  .map(([doctype, levels, copies]) => {
    const entities = ['<!ENTITY lol0 "lol">'];
    for (let i = 1; i <= levels; i++) entities.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
    return `<?xml version="1.0"?>\n${`${doctype} lolz [${entities.join('\n')}]>\n`.repeat(copies)}<lolz>&lol${levels};</lolz>`;
  });
const externalEntity = fc
  .tuple(DOCTYPE, fc.constantFrom('file:///etc/passwd', 'http://127.0.0.1:1/x', '/proc/self/environ'))
  .map(([doctype, system]) => `${doctype} r [<!ENTITY x SYSTEM "${system}">]><r>&x;</r>`);
const looseEntity = fc.constantFrom('<a><!ENTITY x "y">&x;</a>', '<!ENTITY x "y"><a/>', '<a>&x;</a><!entity', '<![CDATA[<!DOCTYPE]]>');
const deep = fc.tuple(fc.integer({ min: 200, max: 3000 }), name, fc.boolean()).map(([depth, tag, closed]) => {
  const open = `<${tag}>`.repeat(depth);
  return closed ? `${open}${`</${tag}>`.repeat(depth)}` : open;
});

/** Well-formed-ish text, then damaged: cut, a character replaced, a fragment inserted. */
const wellFormed = tree.map((root) => render(root));
const records = fc
  .record({
    name: fc.constantFrom('asset.title', 'a', 'constructor.x', '__proto__.y', 'toString'),
    value: fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
    media: fc.constantFrom('clip.mxf', 'ünï.wav', 'a b'),
  })
  .map(({ name: field, value, media }) => writeDefaultRecord({ id: 'r1', fields: { [field]: value }, media: [media] }));
const broken = fc
  .tuple(
    fc.oneof(wellFormed, records),
    fc.nat(),
    fc.constantFrom('', '<', '>', '&', '</a>', '<!--', '"', '<?', '<![CDATA[', '\u0000', '<!DOCTYPE a>', ']]>'),
    fc.boolean(),
  )
  .map(([xml, at, fragment, cut]) => {
    const index = xml.length === 0 ? 0 : at % xml.length;
    return cut ? xml.slice(0, index) : xml.slice(0, index) + fragment + xml.slice(index + 1);
  });

const anyXml = fc.oneof(
  { weight: 3, arbitrary: wellFormed },
  { weight: 1, arbitrary: records },
  { weight: 3, arbitrary: broken },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.constantFrom('<', '>', '/', '!', '?', '&', ';', '-', '[', ']', '=', '"', 'a', ' ', ':'),
      maxLength: 40,
    }),
  },
  { weight: 1, arbitrary: billionLaughs },
  { weight: 1, arbitrary: externalEntity },
  { weight: 1, arbitrary: looseEntity },
  { weight: 1, arbitrary: deep },
);

const mapping = compileCustomMapping(
  {
    Xml: { id: '/*/@id', media: '//@href' },
    Namespaces: { p: 'urn:p' },
    'Field:all': { xpath: 'string(/*)' },
    'Field:first': { xpath: '//*[1]' },
    'Field:attr': { xpath: '//@*' },
    'Field:count': { xpath: 'count(//*)', type: 'integer' },
    'Field:prefixed': { xpath: '//p:x' },
    'Field:proto': { xpath: '//__proto__/@constructor' },
    // An empty element is null, as in Flow: `all or ''` keeps the transforms on text.
    Transform: { joined: 'concat(all or \'\', "|", count)', upper: "upper(all or '')" },
    Mapping: {
      __x: 'all',
      first: 'first',
      attr: 'attr',
      count: 'count',
      prefixed: 'prefixed',
      proto: 'proto',
      joined: 'joined',
      upper: 'upper',
    },
  },
  'fuzz.ini',
  undefined,
  // In this thread: the fuzz is of the reader, which runs the same code in a worker thread
  // (test/apps/xml/parse-off-thread.test.ts shows both give the same results and errors).
  { inlineBytes: Number.POSITIVE_INFINITY },
);

/** Whatever comes out must be a result or an ERR_XML FlowdError. */
async function outcome(fn: () => unknown): Promise<'ok' | 'ERR_XML'> {
  try {
    await fn();
    return 'ok';
  } catch (error) {
    if (!(error instanceof FlowdError) || error.code !== 'ERR_XML') throw new Error(`unexpected error: ${String(error)}`, { cause: error });
    expect(error.message.startsWith('fuzz.xml: ')).toBe(true);
    return 'ERR_XML';
  }
}

const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
let consoleSpies: MockInstance[] = [];

describe('the XML reader, fuzzed', () => {
  beforeAll(() => {
    consoleSpies = (['log', 'warn', 'error', 'info', 'debug', 'trace'] as const).map((method) => vi.spyOn(console, method));
  });

  afterAll(() => vi.restoreAllMocks());

  it('only ever returns a document or record or throws ERR_XML, leaves Object.prototype alone and prints nothing (10,000 inputs)', async () => {
    const seen = { document: { ok: 0, ERR_XML: 0 }, record: { ok: 0, ERR_XML: 0 }, custom: { ok: 0, ERR_XML: 0 } };
    await fc.assert(
      fc.asyncProperty(anyXml, async (xml) => {
        const outcomes = [
          await outcome(() => readXmlDocument(xml, 'fuzz.xml')),
          await outcome(() => readDefaultRecord(xml, 'fuzz.xml')),
          await outcome(() => mapping.read(xml, 'fuzz.xml')),
        ];
        seen.document[outcomes[0]!]++;
        seen.record[outcomes[1]!]++;
        seen.custom[outcomes[2]!]++;
        expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
        if (/<!DOCTYPE|<!ENTITY/i.test(xml)) expect(outcomes).toEqual(['ERR_XML', 'ERR_XML', 'ERR_XML']);
      }),
      { numRuns: 10_000 },
    );
    for (const spy of consoleSpies) expect(spy).not.toHaveBeenCalled();
    // Both outcomes were exercised, so the generators reach past the refusals.
    for (const reader of Object.values(seen)) {
      expect(reader.ok).toBeGreaterThan(500);
      expect(reader.ERR_XML).toBeGreaterThan(500);
    }
  });

  it('reads back every record writeDefaultRecord writes (1,000 records)', () => {
    const json = fc.jsonValue({ maxDepth: 3 });
    const fieldName = fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), name);
    const record = fc.record(
      {
        id: fc.string({ minLength: 1, maxLength: 10 }).filter((id) => id.trim() === id && id !== ''),
        fields: fc.dictionary(fieldName, fc.oneof(fc.string({ unit: 'binary', maxLength: 10 }), json), { maxKeys: 5 }),
        media: fc.uniqueArray(
          fc.stringMatching(/^[\w .-]{1,12}$/).filter((m) => m.trim() === m && m !== '.' && m !== '..'),
          { maxLength: 3 },
        ),
      },
      { requiredKeys: ['fields', 'media'] },
    );
    fc.assert(
      fc.property(record, (data: RecordData) => {
        let written: string;
        try {
          written = writeDefaultRecord(data, 'out');
        } catch (error) {
          // Only the names the format refuses: printable field names are otherwise always written.
          expect((error as FlowdError).code).toBe('ERR_XML');
          expect(Object.keys(data.fields).some((key) => ['__proto__', 'constructor', 'prototype'].includes(key))).toBe(true);
          return;
        }
        expect(readDefaultRecord(written, 'out')).toEqual(JSON.parse(JSON.stringify(data)));
      }),
      { numRuns: 1000 },
    );
  });
});
