import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findXmlCharProblem, indexOfNonXmlChar, isXmlChar } from '../../../src/kernel/xml-chars.js';

/** Code points of XML 1.0's Char production, drawn from each of its ranges. */
const xmlChar = fc.oneof(
  fc.constantFrom(0x9, 0xa, 0xd),
  fc.integer({ min: 0x20, max: 0xd7ff }),
  fc.integer({ min: 0xe000, max: 0xfffd }),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
);
/** Code points outside it: the other C0 controls, the surrogates, U+FFFE and U+FFFF. */
const nonXmlChar = fc.oneof(
  fc.integer({ min: 0x0, max: 0x8 }),
  fc.constantFrom(0xb, 0xc),
  fc.integer({ min: 0xe, max: 0x1f }),
  fc.integer({ min: 0xd800, max: 0xdfff }),
  fc.constantFrom(0xfffe, 0xffff),
);
/** Past Unicode, or negative: what a numeric reference can still spell. */
const pastUnicode = fc.oneof(fc.integer({ min: 0x110000, max: 0x7fffffff }), fc.bigInt({ min: 2n ** 40n, max: 2n ** 80n }));

/** A reference to `code`, in decimal or hex, with or without leading zeros. */
const reference = (code: fc.Arbitrary<number | bigint>): fc.Arbitrary<string> =>
  fc.tuple(code, fc.boolean(), fc.boolean(), fc.nat({ max: 3 })).map(([c, hex, upper, zeros]) => {
    const digits = hex ? c.toString(16) : c.toString(10);
    return `&#${hex ? 'x' : ''}${'0'.repeat(zeros)}${upper ? digits.toUpperCase() : digits};`;
  });

const document = (inside: string): string => `<a k="v">\n<b>${inside}</b></a>`;

describe('isXmlChar', () => {
  it('holds for every code point of the Char production and for none outside it', () => {
    fc.assert(fc.property(xmlChar, (code) => isXmlChar(code)));
    fc.assert(fc.property(nonXmlChar, (code) => !isXmlChar(code)));
    fc.assert(fc.property(fc.integer({ min: 0x110000 }), (code) => !isXmlChar(code)));
  });
});

describe('findXmlCharProblem', () => {
  it('passes text of XML Chars, raw or as references in decimal or hex', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            xmlChar.map((c) => String.fromCodePoint(c)),
            reference(xmlChar),
          ),
        ),
        (parts) => {
          // Only what markup allows raw in text: the escapes stand for < and &.
          const text = parts
            .join('')
            .replace(/&(?!#)/g, '&amp;')
            .replace(/</g, '&lt;');
          expect(findXmlCharProblem(document(text))).toBeUndefined();
        },
      ),
    );
  });

  it('refuses a raw character outside the Char production, naming its line and column', () => {
    fc.assert(
      fc.property(
        nonXmlChar,
        fc.string({ maxLength: 5 }).filter((s) => indexOfNonXmlChar(s) === -1 && !s.includes('\n')),
        (code, before) => {
          // A lone surrogate stays lone: nothing after it can pair with it.
          const problem = findXmlCharProblem(document(`${before.replace(/&/g, '')}${String.fromCharCode(code)}x`));
          expect(problem).toMatchObject({ line: 2, column: 4 + before.replace(/&/g, '').length });
          expect(problem!.message).toMatch(/^(the character|a lone surrogate) U\+[0-9A-F]{4} is not allowed in XML/);
        },
      ),
    );
  });

  it('refuses a reference to a code point outside the Char production, in text or attribute values', () => {
    fc.assert(
      fc.property(reference(fc.oneof(nonXmlChar, pastUnicode)), fc.boolean(), (ref, inAttribute) => {
        const text = inAttribute ? `<a>\n\n<b k="x${ref}"/></a>` : `<a>\n\n<b>x${ref}</b></a>`;
        const problem = findXmlCharProblem(text);
        expect(problem).toMatchObject({ line: 3, column: inAttribute ? 8 : 5 });
        expect(problem!.message).toMatch(
          /^the character reference &#.*;? is (U\+[0-9A-F]{4,8}|a number past U\+10FFFF), which XML does not allow/,
        );
      }),
    );
  });

  it('refuses malformed references', () => {
    for (const ref of ['&#x;', '&#;', '&#-1;', '&#x-1;', '&#12a;', '&#xG1;', '&#65', '&# 65;']) {
      expect(findXmlCharProblem(`<a>${ref}</a>`)?.message, ref).toMatch(/^the character reference &#.* is malformed; expected &#decimal;/);
    }
  });

  it('leaves references inside CDATA, comments and processing instructions alone, but not raw characters there', () => {
    expect(findXmlCharProblem('<a><![CDATA[&#0;]]><!-- &#x; --><?pi &#-1;?>&#65;</a>')).toBeUndefined();
    expect(findXmlCharProblem('<a><![CDATA[\u0001]]></a>')?.message).toContain('U+0001');
    expect(findXmlCharProblem('<a><!-- \uFFFF --></a>')?.message).toContain('U+FFFF');
  });

  it('reports the first problem in the text, whichever kind it is', () => {
    expect(findXmlCharProblem('<a>\u0001&#0;</a>')?.message).toContain('the character U+0001');
    expect(findXmlCharProblem('<a>&#0;\u0001</a>')?.message).toContain('the character reference &#0;');
  });

  it('stays linear over many unclosed comments (no quadratic regex)', () => {
    const text = `<a>&#65;${'<!--'.repeat(200_000)}</a>`;
    const started = performance.now();
    expect(findXmlCharProblem(text)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('indexOfNonXmlChar', () => {
  it('finds the first unit XML cannot carry, and accepts paired surrogates', () => {
    expect(indexOfNonXmlChar('ok \u{1F600} fine\ttab\r\n')).toBe(-1);
    expect(indexOfNonXmlChar('ab\uDC00')).toBe(2);
    expect(indexOfNonXmlChar('a\uD800b')).toBe(1);
    expect(indexOfNonXmlChar('a\u000Bb')).toBe(1);
  });
});
