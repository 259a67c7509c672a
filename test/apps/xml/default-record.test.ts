import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { readDefaultRecord, writeDefaultRecord } from '../../../src/apps/xml/default-record.js';
import type { RecordData } from '../../../src/apps/xml/record-data.js';
import { FlowdError } from '../../../src/kernel/errors.js';

const fixture = new URL('../../fixtures/xml/default-record.xml', import.meta.url);

function xmlError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FlowdError);
    expect((error as FlowdError).code).toBe('ERR_XML');
    return (error as FlowdError).message;
  }
  throw new Error('expected an ERR_XML error, but nothing was thrown');
}

describe('readDefaultRecord', () => {
  it('reads the documented example: id, typed fields and each media name once, in order', async () => {
    const record = readDefaultRecord(await readFile(fixture, 'utf8'), 'in/2024-0042.xml');
    expect(record).toEqual({
      id: '2024-0042',
      fields: {
        'asset.title': 'Evening news & weather',
        'asset.description': 'Lines <with> markup',
        'asset.duration': 1800,
        'asset.live': true,
        'asset.tags': ['news', 'evening'],
        'asset.note': null,
      },
      media: ['clip.mxf', 'clip.wav'],
    });
  });

  it('keeps a string field exactly as written, white space included', () => {
    expect(readDefaultRecord('<record><field name="t">  two\n lines </field></record>', 'f.xml').fields).toEqual({ t: '  two\n lines ' });
  });

  it('reads a record without id, fields or media', () => {
    expect(readDefaultRecord('<record/>', 'f.xml')).toEqual({ fields: {}, media: [] });
  });

  it('refuses what is not a record, naming the file and what was expected', () => {
    expect(xmlError(() => readDefaultRecord('<asset/>', 'in/a.xml'))).toBe(
      'in/a.xml: the root element is <asset>; expected <record> in no namespace',
    );
    expect(xmlError(() => readDefaultRecord('<record xmlns="urn:x"/>', 'f.xml'))).toContain('in namespace urn:x');
    expect(xmlError(() => readDefaultRecord('<record>\n<feild name="a"/></record>', 'f.xml'))).toBe(
      'f.xml: unexpected element <feild> in <record> (line 2); expected <field> or <media>',
    );
    expect(xmlError(() => readDefaultRecord('<record>loose</record>', 'f.xml'))).toContain('<record> contains text "loose"');
    expect(xmlError(() => readDefaultRecord('<record ib="1"/>', 'f.xml'))).toContain('unexpected attribute "ib"');
    expect(xmlError(() => readDefaultRecord('<record id=" "/>', 'f.xml'))).toContain('<record id=""> is empty');
  });

  it('refuses bad fields: no name, a name twice, an unsafe name, nested elements, a value that does not fit its type', () => {
    expect(xmlError(() => readDefaultRecord('<record><field>x</field></record>', 'f.xml'))).toContain('<field> has no name');
    expect(xmlError(() => readDefaultRecord('<record><field name="a"/><field name="a"/></record>', 'f.xml'))).toContain(
      'field "a" is given twice',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="__proto__">x</field></record>', 'f.xml'))).toContain(
      'field name "__proto__" is not allowed',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a"><b/></field></record>', 'f.xml'))).toContain(
      'contains an element <b>',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a" type="number">1,5</field></record>', 'f.xml'))).toContain(
      'expected a finite number',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a" type="boolean">yes</field></record>', 'f.xml'))).toContain(
      'expected true or false',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a" type="null">x</field></record>', 'f.xml'))).toContain(
      'expected it empty',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a" type="json">{</field></record>', 'f.xml'))).toContain(
      'field "a" is not JSON',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a" type="date">x</field></record>', 'f.xml'))).toContain(
      'expected one of string, number, boolean, null, json',
    );
  });

  it('refuses media that names a folder, so a record never reaches outside its folder', () => {
    for (const href of ['../etc/passwd', 'sub/clip.mxf', 'C:\\clip.mxf', '..', ' ']) {
      expect(xmlError(() => readDefaultRecord(`<record><media href="${href}"/></record>`, 'f.xml'))).toContain('is not a plain file name');
    }
    expect(xmlError(() => readDefaultRecord('<record><media/></record>', 'f.xml'))).toContain('<media> has no href');
  });

  it('refuses characters XML does not allow, raw or as character references, in text and attributes, naming the file and line', () => {
    for (const bad of [
      '&#0;',
      '&#xD800;',
      '&#x110000;',
      '&#-1;',
      '&#x;',
      '\u0000',
      '\u0001',
      '\u000B',
      '\u001F',
      '\uFFFE',
      '\uFFFF',
      '\uD800',
      '\uDC00',
    ]) {
      for (const text of [`<record>\n<field name="a">x${bad}y</field></record>`, `<record>\n<field name="a${bad}">x</field></record>`]) {
        expect(
          xmlError(() => readDefaultRecord(text, 'in/bad.xml')),
          JSON.stringify(text),
        ).toMatch(
          /^in\/bad\.xml: not well-formed XML at line 2, column \d+: (the character|a lone surrogate) .*(not allowed in XML|which XML does not allow|is malformed)/,
        );
      }
    }
    expect(
      readDefaultRecord('<record><field name="a">&#x9;&#xD7FF;&#x10FFFF;\u{1F600}<![CDATA[&#0;]]></field></record>', 'f.xml').fields,
    ).toEqual({
      a: '\t\uD7FF\u{10FFFF}\u{1F600}&#0;',
    });
  });

  it('reads XML 1.0 strictly: a bare & or ]]> in text, an undefined entity or a DOCTYPE is refused', () => {
    expect(xmlError(() => readDefaultRecord('<record><field name="a">Tom & Jerry</field></record>', 'f.xml'))).toMatch(
      /^f\.xml: not well-formed XML at line 1, column \d+: /,
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a">x ]]> y</field></record>', 'f.xml'))).toContain(
      'the string "]]>" is disallowed',
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a">&nbsp;</field></record>', 'f.xml'))).toContain('undefined entity');
    expect(xmlError(() => readDefaultRecord('<!DOCTYPE record><record/>', 'f.xml'))).toBe(
      'f.xml: a DOCTYPE is not allowed (DTDs and entity declarations are refused)',
    );
    expect(xmlError(() => readDefaultRecord('<?xml version="1.1"?><record><field name="a">&#1;</field></record>', 'f.xml'))).toContain(
      'U+0001',
    );
  });

  it('says first that the XML is not well-formed, then what is wrong with the record, as a DOM reader would', () => {
    expect(xmlError(() => readDefaultRecord('<asset>\n<x></asset>', 'f.xml'))).toBe(
      'f.xml: not well-formed XML at line 2, column 11: tag mismatch: </asset> where </x> was expected',
    );
    expect(xmlError(() => readDefaultRecord('<record>\n<field name="a">x</record>', 'f.xml'))).toMatch(
      /^f\.xml: not well-formed XML at line 2, column \d+: tag mismatch: <\/record> where <\/field> was expected$/,
    );
  });

  it('refuses elements nested past the depth cap, and a text over the size cap', () => {
    const deep = `<record>${'<a>'.repeat(300)}${'</a>'.repeat(300)}</record>`;
    expect(xmlError(() => readDefaultRecord(deep, 'f.xml'))).toMatch(
      /^f\.xml: not well-formed XML at line 1, column \d+: elements are nested deeper than 256 levels$/,
    );
    expect(xmlError(() => readDefaultRecord('<record><field name="a">x</field></record>', 'f.xml', { maxBytes: 20 }))).toBe(
      'f.xml: the file is larger than the limit of 20 bytes',
    );
  });

  it('names the line where a field, a media or stray text starts', () => {
    expect(xmlError(() => readDefaultRecord('<record>\n<field name="a"\n type="number">x</field></record>', 'f.xml'))).toContain(
      '(line 2)',
    );
    expect(xmlError(() => readDefaultRecord('<record>\n<!-- c -->\n  loose\n</record>', 'f.xml'))).toBe(
      'f.xml: <record> contains text "\\n  loose\\n" (line 2); expected only <field> and <media>',
    );
    expect(xmlError(() => readDefaultRecord('<record>\n\n<media href="a/b"/></record>', 'f.xml'))).toBe(
      'f.xml: media name "a/b" is not a plain file name; expected a name such as clip.mxf, without a folder',
    );
  });

  it("keeps JSON's own __proto__ keys as data and leaves Object.prototype alone", () => {
    const record = readDefaultRecord('<record><field name="a" type="json">{"__proto__": {"polluted": true}}</field></record>', 'f.xml');
    expect(Object.keys(record.fields['a'] as object)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('writeDefaultRecord', () => {
  it('writes what readDefaultRecord reads back to an equal record, awkward text included', () => {
    const record: RecordData = {
      id: 'a "quoted" & <odd> id',
      fields: {
        'asset.title': 'Tom & Jerry <live>\r\n',
        'name with\ttab': 'x',
        empty: '',
        control: 'bell\u0007 and \uFFFE and lone \uD800',
        count: -0.5,
        on: false,
        nothing: null,
        nested: { list: [1, 'two', { three: null }], 'key\u0000': '\uFFFF' },
      },
      media: ['clip one.mxf', 'ünïcödé.wav'],
    };
    expect(readDefaultRecord(writeDefaultRecord(record), 'f.xml')).toEqual(record);
  });

  it('leaves out fields whose value is undefined', () => {
    expect(readDefaultRecord(writeDefaultRecord({ fields: { a: undefined, b: 'x' }, media: [] }), 'f.xml')).toEqual({
      fields: { b: 'x' },
      media: [],
    });
  });

  it('refuses what the format cannot carry', () => {
    expect(xmlError(() => writeDefaultRecord({ fields: { n: Number.NaN }, media: [] }, 'out'))).toBe(
      'out: field "n" is NaN; a record carries finite numbers only',
    );
    expect(xmlError(() => writeDefaultRecord({ fields: { f: () => 1 }, media: [] }, 'out'))).toContain('a record carries JSON values only');
    expect(xmlError(() => writeDefaultRecord({ id: ' padded ', fields: {}, media: [] }, 'out'))).toContain('cannot be written');
    expect(xmlError(() => writeDefaultRecord({ fields: {}, media: ['../x'] }, 'out'))).toContain('is not a plain file name');
  });
});
