import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_XML_MAX_BYTES, readXmlDocument } from '../../../src/apps/xml/document.js';
import { FlowdError } from '../../../src/kernel/errors.js';

/** Runs `fn` and returns the FlowdError it throws. */
function xmlError(fn: () => unknown): FlowdError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FlowdError);
    expect((error as FlowdError).code).toBe('ERR_XML');
    return error as FlowdError;
  }
  throw new Error('expected an ERR_XML error, but nothing was thrown');
}

describe('readXmlDocument', () => {
  afterEach(() => vi.restoreAllMocks());

  it('parses well-formed XML, with namespaces, CDATA and the predefined and numeric entities', () => {
    const doc = readXmlDocument(
      '<?xml version="1.0"?>\n<a xmlns:p="urn:p" k="&quot;v&quot;"><p:b>x &amp; y &#65;&#x42;</p:b><![CDATA[<raw>]]></a>',
      'in/a.xml',
    );
    const root = doc.documentElement!;
    expect(root.getAttribute('k')).toBe('"v"');
    expect(root.getElementsByTagNameNS('urn:p', 'b').item(0)?.textContent).toBe('x & y AB');
    expect(root.textContent).toBe('x & y AB<raw>');
  });

  it("names the file, the line and column and the parser's message when the XML is not well-formed", () => {
    const error = xmlError(() => readXmlDocument('<a>\n  <b>\n</a>', 'in/broken.xml'));
    expect(error.message).toMatch(/^in\/broken\.xml: not well-formed XML at line 2, column \d+: /); // xmldom points at the element left open
    expect(error.message).toContain('Opening and ending tag mismatch: "b" != "a"');
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('turns parser errors that xmldom would only report (not throw) into errors as well', () => {
    expect(xmlError(() => readXmlDocument('<a>x</a>trailing', 'f.xml')).message).toContain('Extra content at the end of the document');
    expect(xmlError(() => readXmlDocument('<a>&nbsp;</a>', 'f.xml')).message).toContain('entity not found:&nbsp;');
  });

  it('refuses text without a root element, two roots and an undeclared prefix', () => {
    expect(xmlError(() => readXmlDocument('', 'f.xml')).message).toBe('f.xml: not well-formed XML: missing root element');
    expect(xmlError(() => readXmlDocument('<a/><b/>', 'f.xml')).message).toMatch(/^f\.xml: not well-formed XML at line 1/);
    expect(xmlError(() => readXmlDocument('<p:a/>', 'f.xml')).message).toContain('prefix is non-null and namespace is null');
  });

  it('refuses any DOCTYPE, in any case, before parsing it', () => {
    for (const text of [
      '<!DOCTYPE a><a/>',
      '<?xml version="1.0"?>\n<!doctype a SYSTEM "file:///etc/passwd"><a>&x;</a>',
      '<a><!-- <!DocType --></a>',
    ]) {
      expect(xmlError(() => readXmlDocument(text, 'f.xml')).message).toBe(
        'f.xml: a DOCTYPE is not allowed (DTDs and entity declarations are refused)',
      );
    }
  });

  it('refuses ENTITY declarations, so a billion laughs is never expanded', () => {
    const bomb = '<a><!ENTITY lol "lol"></a>';
    expect(xmlError(() => readXmlDocument(bomb, 'f.xml')).message).toBe('f.xml: an ENTITY declaration is not allowed');
  });

  it('refuses a text over the size cap, counting UTF-8 bytes', () => {
    const text = `<a>${'é'.repeat(10)}</a>`; // 27 bytes, 17 characters
    expect(xmlError(() => readXmlDocument(text, 'f.xml', { maxBytes: 20 })).message).toBe(
      'f.xml: the file is larger than the limit of 20 bytes',
    );
    expect(readXmlDocument(text, 'f.xml', { maxBytes: 27 }).documentElement?.textContent).toBe('é'.repeat(10));
    expect(xmlError(() => readXmlDocument(' '.repeat(DEFAULT_XML_MAX_BYTES + 1), 'f.xml')).message).toContain(
      `limit of ${DEFAULT_XML_MAX_BYTES} bytes`,
    );
  });

  it('refuses elements nested past the depth cap, quickly, even 100,000 levels deep', () => {
    const depth = 100_000;
    const started = performance.now();
    const error = xmlError(() => readXmlDocument(`${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}`, 'deep.xml'));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error.message).toContain('nested deeper than 256 levels');
    expect(readXmlDocument(`${'<a>'.repeat(256)}${'</a>'.repeat(256)}`, 'ok.xml').documentElement?.tagName).toBe('a');
    expect(xmlError(() => readXmlDocument(`${'<a>'.repeat(11)}${'</a>'.repeat(11)}`, 'f.xml', { maxDepth: 10 })).message).toContain(
      'deeper than 10 levels',
    );
  });

  it('never prints to the console, not even for warnings', () => {
    const spies = (['log', 'warn', 'error', 'info', 'debug'] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation(() => {}),
    );
    for (const text of ['<a>', '<a b="1" b="2"/>', '<a>&bogus;</a>', '<a></b>', '<a x=1/>', '<?xml version="1.0"?>'])
      xmlError(() => readXmlDocument(text, 'f.xml'));
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  });

  it('refuses character references to code points XML does not allow, in text and attribute values, naming the file and line', () => {
    const cases: Array<[string, string, number]> = [
      ['<a>\n<b>&#0;</b></a>', 'U+0000', 2],
      ['<a>\n\n<b>x&#xD800;</b></a>', 'U+D800', 3],
      ['<a><b>&#x110000;</b></a>', 'U+110000', 1],
      ['<a>\n<b k="v&#1;"/></a>', 'U+0001', 2],
      ['<a><b k="&#xFFFE;"/></a>', 'U+FFFE', 1],
      ['<a>&#99999999999999999999;</a>', 'a number past U+10FFFF', 1],
    ];
    for (const [text, found, line] of cases) {
      const error = xmlError(() => readXmlDocument(text, 'in/refs.xml'));
      expect(error.message).toMatch(
        new RegExp(`^in/refs\\.xml: not well-formed XML at line ${line}, column \\d+: the character reference &#`),
      );
      expect(error.message).toContain(`is ${found}, which XML does not allow`);
    }
  });

  it('accepts character references XML allows, and leaves &#0; inside CDATA and comments as text', () => {
    const doc = readXmlDocument('<a k="&#9;&#x10FFFF;">&#xA;&#xD7FF;&#xE000;&#xFFFD;&#x10000;<![CDATA[&#0;]]><!-- &#0; --></a>', 'f.xml');
    expect(doc.documentElement!.getAttribute('k')).toBe('\t\u{10FFFF}');
    expect(doc.documentElement!.textContent).toBe('\n\uD7FF\uE000\uFFFD\u{10000}&#0;');
  });

  it('refuses a value that is not text', () => {
    expect(xmlError(() => readXmlDocument(Buffer.from('<a/>') as unknown as string, 'f.xml')).message).toBe(
      'f.xml: expected XML text, found object',
    );
  });
});
