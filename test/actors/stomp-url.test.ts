import { describe, expect, it } from 'vitest';
import { defaultDeadLetter, defaultPrefetch, parseStompUrl, redactUrl } from '../../actors/sources/stomp-url.js';
import { compileSource } from '../../src/runtime/sources.js';
import { ConfigError } from '../../src/kernel/errors.js';
import { expectConfigError } from '../helpers/config-error.js';

const where = { file: 'app.ini', section: 'Source' };
const compile = (values: Record<string, string>) => compileSource('stomp', new Map(Object.entries(values)), where);

describe('parseStompUrl', () => {
  it('reads host, port, credentials and a queue destination, and shows the URL without the password', () => {
    expect(parseStompUrl('stomp://ops:s%40cret@broker.local:61614/queue/assets')).toEqual({
      transport: 'tcp',
      host: 'broker.local',
      port: 61614,
      webSocketUrl: undefined,
      destination: '/queue/assets',
      login: 'ops',
      passcode: 's@cret',
      displayUrl: 'stomp://ops@broker.local:61614/queue/assets',
    });
  });

  it('defaults the port to 61613 and accepts topics, exchanges and /amq/queue', () => {
    expect(parseStompUrl('stomp://localhost/topic/news.*')).toMatchObject({ port: 61613, destination: '/topic/news.*', login: undefined });
    expect(parseStompUrl('stomp://localhost/exchange/media/renders')).toMatchObject({ destination: '/exchange/media/renders' });
    expect(parseStompUrl('stomp://[::1]:61613/amq/queue/existing')).toMatchObject({ host: '::1', destination: '/amq/queue/existing' });
  });

  it('splits a ws:// URL into the WebSocket endpoint and the destination', () => {
    expect(parseStompUrl('ws://127.0.0.1:15674/ws/queue/assets')).toMatchObject({
      transport: 'ws',
      webSocketUrl: 'ws://127.0.0.1:15674/ws',
      destination: '/queue/assets',
    });
    expect(parseStompUrl('ws://broker/ws/amq/queue/x')).toMatchObject({
      webSocketUrl: 'ws://broker:15674/ws',
      destination: '/amq/queue/x',
      port: 15674,
    });
    expect(parseStompUrl('ws://[::1]/ws/queue/x')).toMatchObject({ webSocketUrl: 'ws://[::1]:15674/ws', host: '::1' });
  });

  it('says what was expected for a URL without a destination, scheme or host, never repeating the password', () => {
    expect(() => parseStompUrl('stomp://u:pw@host:61613/assets')).toThrow(
      '"stomp://u@host:61613/assets" has no destination; expected a path such as /queue/name',
    );
    expect(() => parseStompUrl('amqp://u:pw@host/queue/x')).toThrow('"amqp://u@host/queue/x" uses amqp; expected stomp://');
    expect(() => parseStompUrl('stomp://u:pw@host:99999/queue/x')).toThrow('"stomp://u@host:99999/queue/x" is not a URL');
    expect(() => parseStompUrl('localhost:61613')).toThrow(/expected stomp:\/\//);
    expect(() => parseStompUrl('stomp://host:0/queue/x')).toThrow('names port 0');
    expect(() => parseStompUrl('stomp://host/queue/x?durable=true')).toThrow('has a query or fragment');
    expect(() => parseStompUrl('localhost:61613')).toThrow(ConfigError);
    expect(() => parseStompUrl('localhost:61613')).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  it('keeps a password with /, #, ?, : or @ in it out of the address and out of every message', () => {
    for (const password of ['pa/ss', '123/secret', '123#secret', 'a?b', 'x:y', 'p@ss']) {
      const endpoint = parseStompUrl(`stomp://flow:${password}@broker:61613/queue/assets`);
      expect(endpoint).toMatchObject({
        host: 'broker',
        port: 61613,
        destination: '/queue/assets',
        login: 'flow',
        passcode: password,
        displayUrl: 'stomp://flow@broker:61613/queue/assets',
      });
      for (const bad of [
        `stomp://flow:${password}@broker:61613/assets`,
        `stomp://flow:${password}@broker:99999/queue/x`,
        `stomp://flow:${password}@`,
      ]) {
        let message = '';
        try {
          parseStompUrl(bad);
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).not.toBe('');
        expect(message).not.toContain(password);
      }
    }
    expect(parseStompUrl('ws://flow:123/secret@host/ws/queue/x')).toMatchObject({
      host: 'host',
      port: 15674,
      passcode: '123/secret',
      displayUrl: 'ws://flow@host:15674/ws/queue/x',
    });
  });

  it('decodes %-escapes in credentials and says which part has a malformed one', () => {
    expect(parseStompUrl('stomp://ops:s%40cret@h/queue/a').passcode).toBe('s@cret');
    expect(() => parseStompUrl('stomp://ops:100%zz@h/queue/a')).toThrow(
      'has a malformed %-escape in its password; percent-encode it, or give it as the passcode key',
    );
  });

  it('redacts a password in text that is not a URL at all', () => {
    expect(redactUrl('stomp://me:hunter2@')).toBe('stomp://me:***@');
    expect(redactUrl('stomp://me:hun/ter@2@host')).toBe('stomp://me:***@host');
  });
});

describe('defaults', () => {
  it('dead-letters to a plain queue named after the destination', () => {
    expect(defaultDeadLetter('/queue/assets')).toBe('/queue/assets.dlq');
    expect(defaultDeadLetter('/amq/queue/assets')).toBe('/queue/assets.dlq');
    expect(defaultDeadLetter('/exchange/media/renders')).toBe('/queue/renders.dlq');
  });

  it('prefetches twice the workers, and at least the workers plus two', () => {
    expect([1, 2, 4, 8, 16, 64].map(defaultPrefetch)).toEqual([3, 4, 8, 16, 32, 128]);
  });
});

describe('[Source] type = stomp', () => {
  it('compiles with the documented defaults and describes itself without the password', () => {
    const source = compile({ 'stomp url': 'stomp://guest:guest@127.0.0.1:61613/queue/assets' });
    expect(source.type).toBe('stomp');
    expect(source.description).toBe(
      'stomp stomp://guest@127.0.0.1:61613/queue/assets (prefetch 2 x workers, payload text, dead letter /queue/assets.dlq)',
    );
    // A short cap (issue 20, point 6): back within 2s of the broker, after an outage of any length.
    expect(source.reconnect).toEqual({ delayMs: 1000, maxDelayMs: 1500 });
  });

  it('shows the default prefetch as a number when it knows the workers', () => {
    const source = compileSource('stomp', new Map([['stomp url', 'stomp://h/queue/a']]), where, {
      dir: '/app',
      stateDir: '/app/.flowd',
      workers: 8,
    });
    expect(source.description).toContain('(prefetch 16,');
  });

  it('names the key and what was expected for a missing or malformed stomp url', () => {
    expectConfigError(() => compile({}), { file: 'app.ini', section: 'Source', key: 'stomp url', says: ['is missing; expected stomp://'] });
    const error = expectConfigError(() => compile({ 'stomp url': 'stomp://guest:topsecret@host/nowhere' }), {
      key: 'stomp url',
      says: ['has no destination'],
    });
    expect(error.message).not.toContain('topsecret');
  });

  it('refuses credentials given twice, a bad prefetch, payload class or dead letter', () => {
    const url = 'stomp://ops:pw@host/queue/a';
    expectConfigError(() => compile({ 'stomp url': url, login: 'other' }), { key: 'login', says: ['expected one of them'] });
    expectConfigError(() => compile({ 'stomp url': url, passcode: 'x' }), { key: 'passcode' });
    expectConfigError(() => compile({ 'stomp url': url, prefetch: '0' }), { key: 'prefetch', says: ['expected a whole number'] });
    expectConfigError(() => compile({ 'stomp url': url, 'payload class': 'yaml' }), {
      key: 'payload class',
      says: ['found "yaml"; expected text, json or xml'],
    });
    expectConfigError(() => compile({ 'stomp url': url, 'dead letter': 'errors' }), {
      key: 'dead letter',
      says: ['expected a queue such as /queue/assets.dlq'],
    });
    expectConfigError(() => compile({ 'stomp url': url, 'dead letter': '/topic/errors' }), {
      key: 'dead letter',
      says: ['nothing bound would lose the message'],
    });
    expectConfigError(() => compile({ 'stomp url': url, 'dead letter': '/queue/a' }), {
      key: 'dead letter',
      says: ["the source's own destination"],
    });
    expectConfigError(() => compile({ 'stomp url': url, 'reconnect delay': '10s', 'reconnect max delay': '1s' }), {
      key: 'reconnect max delay',
    });
    expectConfigError(() => compile({ 'stomp url': url, heartbeats: '5s' }), { key: 'heartbeats', says: ['did you mean "heartbeat"?'] });
  });
});
