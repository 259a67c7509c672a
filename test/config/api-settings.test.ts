import { describe, expect, it } from 'vitest';
import { compileApiSection, compileApiSettings, findApiSection } from '../../src/config/api-settings.js';
import { compileAppConfig } from '../../src/config/app-config.js';
import { ConfigError } from '../../src/kernel/errors.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { logSink } from '../helpers/log-sink.js';
import { SectionReader, type RawValue } from '../../src/kernel/section-reader.js';
import { expectConfigError } from '../helpers/config-error.js';

function compile(values: Record<string, RawValue>, section = 'Api') {
  const reader = new SectionReader(new Map(Object.entries(values)), { file: 'app.ini', section });
  const settings = compileApiSettings(reader);
  reader.finish();
  return settings;
}

describe('compileApiSettings', () => {
  it('fills in every default from a hostname alone', () => {
    expect(compile({ hostname: 'vizone' })).toEqual({
      origin: 'http://vizone:80',
      host: 'vizone',
      port: 80,
      username: undefined,
      password: '',
      useHttps: false,
      checkCertificates: true,
      timeOutMs: 30_000,
      retries: 3,
      retryDelayMs: 200,
      retryMaxDelayMs: 10_000,
    });
  });

  it("reads the seed's [Viz One] keys as written there", () => {
    const settings = compile(
      { hostname: 'vizoneserver', username: 'user', password: 'password', 'use https': 'no', 'check certificates': 'no', 'time out': '5s' },
      'Viz One',
    );
    expect(settings).toMatchObject({
      origin: 'http://vizoneserver:80',
      username: 'user',
      password: 'password',
      useHttps: false,
      checkCertificates: false,
      timeOutMs: 5000,
    });
  });

  it('uses port 443 with https, and the port given in the hostname otherwise', () => {
    expect(compile({ hostname: 'vizone', 'use https': 'yes' })).toMatchObject({ origin: 'https://vizone:443', port: 443, useHttps: true });
    expect(compile({ hostname: 'vizone.example.com:8443', 'use https': 'yes' })).toMatchObject({
      origin: 'https://vizone.example.com:8443',
      port: 8443,
    });
    expect(compile({ hostname: '10.0.0.5:8080' })).toMatchObject({ host: '10.0.0.5', port: 8080 });
  });

  it('accepts IPv6 addresses, bare or bracketed with a port', () => {
    expect(compile({ hostname: '[::1]:8080' })).toMatchObject({ origin: 'http://[::1]:8080', host: '[::1]', port: 8080 });
    expect(compile({ hostname: '::1' })).toMatchObject({ origin: 'http://[::1]:80', host: '[::1]' });
  });

  it.each([
    ['http://vizone/api', 'a URL'],
    ['vizone/api', 'without a path'],
    [':8080', 'has no host'],
    ['vizone:70000', 'from 1 to 65535'],
    ['vizone:0', 'from 1 to 65535'],
    ['vizone:http', 'is not a number'],
    ['viz one', 'without a path, query, user or spaces'],
    ['user@vizone', 'without a path, query, user or spaces'],
    ['-vizone', 'is not a valid host name'],
    ['[zz]:80', 'is not an IPv6 address'],
  ])('rejects hostname "%s" naming the key', (hostname, says) => {
    expectConfigError(() => compile({ hostname }), { file: 'app.ini', section: 'Api', key: 'hostname', says: [hostname, says] });
  });

  it('requires a hostname', () => {
    expectConfigError(() => compile({ username: 'user' }), { key: 'hostname', says: ['is missing', 'host or host:port'] });
  });

  it('refuses a password without a username', () => {
    expectConfigError(() => compile({ hostname: 'vizone', password: 'secret' }), { key: 'password', says: ['username is not'] });
  });

  it('rejects a bad time out, use https, retries and retry max delay, naming each key', () => {
    expectConfigError(() => compile({ hostname: 'vizone', 'time out': 'soon' }), {
      key: 'time out',
      says: ['"soon"', 'expected a duration'],
    });
    expectConfigError(() => compile({ hostname: 'vizone', 'time out': '0' }), { key: 'time out' });
    expectConfigError(() => compile({ hostname: 'vizone', 'use https': 'maybe' }), { key: 'use https', says: ['expected yes or no'] });
    expectConfigError(() => compile({ hostname: 'vizone', retries: '-1' }), { key: 'retries' });
    expectConfigError(() => compile({ hostname: 'vizone', 'retry delay': '2s', 'retry max delay': '1s' }), {
      key: 'retry max delay',
      says: ['at least the retry delay'],
    });
  });

  it('leaves unknown keys for finish() to reject with a hint', () => {
    expectConfigError(() => compile({ hostname: 'vizone', 'check certificate': 'no' }), {
      key: 'check certificate',
      says: ['did you mean "check certificates"'],
    });
  });
});

describe('findApiSection', () => {
  it("finds [Api], or the seed's [Viz One] as its alias, or nothing", () => {
    expect(findApiSection(['Flow', 'Api'])).toBe('Api');
    expect(findApiSection(['Flow', 'Viz One'])).toBe('Viz One');
    expect(findApiSection(['Flow', 'Source'])).toBeUndefined();
  });

  it('refuses [Api] and [Viz One] together', () => {
    expectConfigError(() => findApiSection(['Api', 'Flow', 'Viz One'], 'app.ini'), {
      file: 'app.ini',
      section: 'Viz One',
      says: ['alias of [Api]', 'only one'],
    });
  });
});

describe('[Viz One] without a hostname', () => {
  it("is accepted, as the manual's transfer plugin INI writes it, and every key there is still checked", () => {
    const reader = new SectionReader(new Map([['use https', 'no']]), { file: 'myplugin.ini', section: 'Viz One' });
    const compiled = compileApiSection(reader);
    expect('missing' in compiled && compiled.missing).toBeInstanceOf(ConfigError);
    expectConfigError(
      () => compileApiSection(new SectionReader(new Map([['use https', 'maybe']]), { file: 'myplugin.ini', section: 'Viz One' })),
      { key: 'use https' },
    );
  });

  it('fails naming the file, section and missing key when something first needs the API (ctx.client)', async () => {
    const config = compileAppConfig('[Flow]\nclass = myplugin.MyPlugin\n\n[Viz One]\nuse https = no\n', '/apps/myplugin/myplugin.ini');
    expect(config.services.api).toBeUndefined();
    const services = createAppServices(config.services, 'myplugin', logSink().logger);
    try {
      expect(() => services.client).toThrow(ConfigError);
      expect(() => services.client).toThrow(
        '/apps/myplugin/myplugin.ini [Viz One] "hostname": is missing; expected the API server as host or host:port, such as vizone or vizone:8080',
      );
    } finally {
      await services.close();
    }
  });
});
