import { describe, expect, it } from 'vitest';
import { isAllowedHost, isAllowedOrigin, isSameOrigin, localHostNames, loggedPath } from '../../src/inspector/auth.js';

describe('isAllowedHost', () => {
  const names = localHostNames('127.0.0.1');

  it("accepts the loopback names with the server's port or none", () => {
    expect(
      ['127.0.0.1:9464', 'localhost:9464', '[::1]:9464', 'LOCALHOST:9464', '127.0.0.1'].map((host) => isAllowedHost(host, names, 9464)),
    ).toEqual([true, true, true, true, true]);
  });

  it("refuses another name (a DNS-rebinding page's), another port, a missing or malformed Host", () => {
    const hosts = [
      'attacker.example',
      'attacker.example:9464',
      '127.0.0.1:9465',
      'localhost.attacker.example:9464',
      '127.0.0.1:9464@x',
      undefined,
      '',
    ];
    expect(hosts.map((host) => isAllowedHost(host, names, 9464))).toEqual(hosts.map(() => false));
  });

  it("accepts the bound interface's own address, but never a wildcard one", () => {
    expect(isAllowedHost('127.0.0.2:80', localHostNames('127.0.0.2'), 80)).toBe(true);
    expect(isAllowedHost('[::1]:80', localHostNames('::1'), 80)).toBe(true);
    expect(localHostNames('0.0.0.0', '::')).toEqual(new Set(['127.0.0.1', 'localhost', '[::1]']));
  });
});

describe('isAllowedOrigin', () => {
  const names = localHostNames('127.0.0.1');

  it("accepts no Origin (not a browser) and the relay's or the inspector's own origin", () => {
    expect(
      [undefined, 'http://127.0.0.1:9465', 'http://localhost:9464', 'http://[::1]:9465'].map((origin) =>
        isAllowedOrigin(origin, names, [9465, 9464]),
      ),
    ).toEqual([true, true, true, true]);
  });

  it('refuses any other website, scheme, port, and the opaque "null" origin', () => {
    const origins = [
      'https://evil.example',
      'http://evil.example:9465',
      'https://127.0.0.1:9465',
      'http://127.0.0.1:8080',
      'http://127.0.0.1',
      'null',
      'http://127.0.0.1:9465.evil.example',
    ];
    expect(origins.map((origin) => isAllowedOrigin(origin, names, [9465, 9464]))).toEqual(origins.map(() => false));
  });
});

describe('loggedPath', () => {
  it('keeps the path and drops the query, where a token may be', () => {
    expect(loggedPath('/api/state?token=a-long-random-secret')).toBe('/api/state');
    expect(loggedPath(undefined)).toBe('/');
  });

  describe('isSameOrigin', () => {
    it('takes a page posting to the host and port it was served from, by any name, over http or https', () => {
      expect(isSameOrigin('http://myhost:9400', 'myhost:9400')).toBe(true);
      expect(isSameOrigin('https://flowd.example.com', 'flowd.example.com')).toBe(true);
      expect(isSameOrigin('http://10.0.0.5:9400', '10.0.0.5:9400')).toBe(true);
    });

    it('refuses another host or port, another scheme, a null or missing Origin', () => {
      expect(isSameOrigin('http://evil.example', 'myhost:9400')).toBe(false);
      expect(isSameOrigin('http://myhost:9401', 'myhost:9400')).toBe(false);
      expect(isSameOrigin('file://myhost', 'myhost')).toBe(false);
      expect(isSameOrigin('null', 'myhost:9400')).toBe(false);
      expect(isSameOrigin(undefined, 'myhost:9400')).toBe(false);
      expect(isSameOrigin('http://myhost:9400', undefined)).toBe(false);
    });
  });
});
