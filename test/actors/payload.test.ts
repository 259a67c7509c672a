import { describe, expect, it } from 'vitest';
import { compilePayloadClass, parsePayload } from '../../actors/sources/payload.js';
import { SectionReader } from '../../src/kernel/section-reader.js';
import { expectConfigError } from '../helpers/config-error.js';

describe('parsePayload', () => {
  it('hands text over as it is', () => {
    expect(parsePayload('{not json', 'text', 'message 1')).toEqual({ payload: '{not json' });
  });

  it('parses JSON, and names where text that is not JSON came from', () => {
    expect(parsePayload('{"a":[1,2]}', 'json', 'message 1')).toEqual({ payload: { a: [1, 2] } });
    const bad = parsePayload('{"a":', 'json', 'message 7');
    expect(bad.payload).toBe('{"a":');
    expect(bad.error).toMatchObject({ code: 'ERR_PAYLOAD', message: expect.stringMatching(/^message 7 is not JSON: /) as unknown });
  });

  it('parses XML with attributes as @_name and leaves entity references unexpanded', () => {
    expect(parsePayload('<asset id="7"><title>A &amp; B</title><n>007</n></asset>', 'xml', 'm')).toEqual({
      payload: { asset: { '@_id': '7', title: 'A &amp; B', n: '007' } },
    });
  });

  it('refuses any DOCTYPE, with or without entities, before parsing', () => {
    for (const text of ['<!DOCTYPE a><a/>', '<?xml version="1.0"?>\n<!doctype a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>']) {
      expect(parsePayload(text, 'xml', 'message 3').error).toEqual({
        code: 'ERR_PAYLOAD',
        message: 'message 3 has a DOCTYPE; XML with a DOCTYPE is refused (entities are never expanded)',
      });
    }
  });

  it('names the line and column of XML that is not well-formed', () => {
    const bad = parsePayload('<a>\n  <b></a>', 'xml', 'message 9');
    expect(bad.error?.code).toBe('ERR_PAYLOAD');
    expect(bad.error?.message).toMatch(/^message 9 is not well-formed XML \(line 2, column \d+\): /);
  });

  it('refuses characters XML does not allow, raw or as character references, naming the line and column', () => {
    for (const bad of [
      '&#0;',
      '&#xD800;',
      '&#x110000;',
      '&#-1;',
      '&#x;',
      '\u0000',
      '\u0008',
      '\u000B',
      '\u001F',
      '\uFFFE',
      '\uFFFF',
      '\uD800',
      '\uDC00',
    ]) {
      for (const text of [`<a>\n<b>x${bad}</b></a>`, `<a>\n<b k="x${bad}"/></a>`]) {
        const result = parsePayload(text, 'xml', 'message 4');
        expect(result.payload).toBe(text);
        expect(result.error?.code).toBe('ERR_PAYLOAD');
        expect(result.error?.message, JSON.stringify(text)).toMatch(
          /^message 4 is not well-formed XML \(line 2, column \d+\): (the character|a lone surrogate) .*(not allowed in XML|which XML does not allow|is malformed)/,
        );
      }
    }
    expect(parsePayload('<a k="&#x9;">&#x10FFFF;\u{1F600}<![CDATA[&#0;]]></a>', 'xml', 'm').error).toBeUndefined();
  });
});

describe('[Source] payload class', () => {
  const compile = (value?: string) =>
    compilePayloadClass(
      new SectionReader(new Map(value === undefined ? [] : [['payload class', value]]), { file: 'myplugin.ini', section: 'Source' }),
    );

  it("takes text, json and xml in any case, and Flow's class names: None and Viz One's transfer PluginData read as text", () => {
    expect([compile(), compile('JSON'), compile(' xml ')]).toEqual(['text', 'json', 'xml']);
    expect(compile('vizone.payload.transfer.PluginData')).toBe('text');
    expect(compile('None')).toBe('text');
    expect(compile('none')).toBe('text');
  });

  it('names the key, what flowd takes and the nearest name for another class', () => {
    expectConfigError(() => compile('vizone.payload.transfer.PlugInDat'), {
      file: 'myplugin.ini',
      section: 'Source',
      key: 'payload class',
      says: ['found "vizone.payload.transfer.PlugInDat"', "one of Flow's names", 'did you mean "vizone.payload.transfer.PluginData"'],
    });
    expectConfigError(() => compile('vizone.payload.asset.Item'), { key: 'payload class', says: ['expected text, json or xml'] });
  });
});
