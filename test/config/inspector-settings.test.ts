import { describe, expect, it } from 'vitest';
import { compileInspectorSettings, isLoopback } from '../../src/config/inspector-settings.js';
import { SectionReader, type RawValue } from '../../src/kernel/section-reader.js';
import { expectConfigError } from '../helpers/config-error.js';

const FILE = 'apps/thumbnails.ini';

function compile(values: Record<string, RawValue>) {
  const map = new Map(Object.entries(values));
  const reader = new SectionReader(map, {
    file: FILE,
    section: 'Inspector',
    lines: new Map([...map.keys()].map((key, i) => [key, i + 2])),
  });
  const settings = compileInspectorSettings(reader);
  reader.finish();
  return settings;
}

describe('compileInspectorSettings', () => {
  it('defaults to port 9464 on 127.0.0.1, no token, no Stately relay', () => {
    expect(compile({})).toEqual({
      port: 9464,
      interface: '127.0.0.1',
      token: undefined,
      tokens: [],
      stately: false,
      journalSize: 1000,
      redact: [],
    });
  });

  it('takes the port, interface, token, stately, journal size and redact given', () => {
    expect(
      compile({ port: '9000', interface: '0.0.0.0', token: 's3cret-token', stately: 'yes', 'journal size': '50', redact: 'ssn, card' }),
    ).toEqual({
      port: 9000,
      interface: '0.0.0.0',
      token: 's3cret-token',
      tokens: [],
      stately: true,
      journalSize: 50,
      redact: ['ssn', 'card'],
    });
  });

  it('accepts port 0 (any free port) and any loopback address without a token', () => {
    expect(compile({ port: '0', interface: '::1' })).toMatchObject({ port: 0, interface: '::1', token: undefined });
    expect(compile({ interface: 'localhost' })).toMatchObject({ interface: 'localhost' });
  });

  it('refuses a non-loopback interface without a token, naming [Inspector] token', () => {
    expectConfigError(() => compile({ interface: '0.0.0.0' }), {
      file: FILE,
      section: 'Inspector',
      key: 'token',
      says: ['interface = 0.0.0.0', 'required'],
    });
  });

  it('rejects a port out of range, an interface that is not an address, a short token and a bad yes/no', () => {
    expectConfigError(() => compile({ port: '70000' }), { section: 'Inspector', key: 'port', line: 2, says: ['from 0 to 65535'] });
    expectConfigError(() => compile({ interface: 'example.com', token: 'long-enough' }), {
      key: 'interface',
      says: ['expected an IP address'],
    });
    expectConfigError(() => compile({ token: 'short' }), { key: 'token', says: ['at least 8'] });
    expectConfigError(() => compile({ stately: 'maybe' }), { key: 'stately', says: ['yes or no'] });
  });

  it('takes named tokens beside the token, and any of them on a non-loopback interface', () => {
    expect(compile({ token: 'the-shared-one', tokens: 'alice:alice-long-secret, ci.bot:ci:secret:with:colons,' })).toMatchObject({
      token: 'the-shared-one',
      tokens: [
        { name: 'alice', secret: 'alice-long-secret' },
        { name: 'ci.bot', secret: 'ci:secret:with:colons' },
      ],
    });
    expect(compile({ interface: '0.0.0.0', tokens: 'ops:ops-long-secret' })).toMatchObject({ token: undefined, tokens: [{ name: 'ops' }] });
  });

  it('rejects a bad tokens entry naming the file, line and key, and never shows a secret', () => {
    const secret = 'never-shown-secret';
    const cases: Array<[string, string]> = [
      [secret, 'entry 1 is not <name>:<secret>'],
      [`alice:${secret}, :${secret}x`, 'entry 2 is not <name>:<secret>'],
      [`al ice:${secret}`, 'the name of entry 1 is not a name'],
      // No name, and a secret that holds a colon: the part before it is not shown either.
      ['Zq#8w:vT!k2mNp0Lx', 'the name of entry 1 is not a name'],
      [`alice:${secret}, alice:${secret}x`, 'token name "alice" is given twice'],
      ['alice:short', 'the secret of token "alice" is too short'],
      [`alice:${secret}, bob:${secret}`, 'tokens "alice" and "bob" have the same secret'],
    ];
    for (const [tokens, says] of cases) {
      const error = expectConfigError(() => compile({ port: '0', tokens }), {
        file: FILE,
        section: 'Inspector',
        key: 'tokens',
        line: 3,
        says: [says],
      });
      expect(error.message).not.toContain(secret);
      expect(error.message).not.toContain('Zq#8w');
    }
    expectConfigError(() => compile({ token: secret, tokens: `alice:${secret}` }), {
      key: 'tokens',
      says: ['token "alice" has the same secret as token'],
    });
  });

  it('rejects an unknown key with a hint', () => {
    expectConfigError(() => compile({ prot: '9000' }), { key: 'prot', says: ['did you mean "port"'] });
  });
});

describe('isLoopback', () => {
  it('tells loopback addresses from the others', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'].map(isLoopback)).toEqual([true, true, true, true, true]);
    expect(['0.0.0.0', '192.168.1.10', '::', '10.0.0.1'].map(isLoopback)).toEqual([false, false, false, false]);
  });
});
