import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileAppConfig } from '../../src/config/app-config.js';
import { compileSource } from '../../src/runtime/sources.js';
import { expectConfigError } from '../helpers/config-error.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'flowd-plugin-settings-'));
mkdirSync(path.join(dir, 'plugins'));
mkdirSync(path.join(dir, 'more'));
writeFileSync(path.join(dir, 'not-a-folder'), '');
const FILE = path.join(dir, 'events.ini');
const compile = (...lines: string[]) => compileAppConfig(lines.join('\n'), FILE, {}, { DB_PASSWORD: 's3cret' });
const SOURCE = ['[Source]', 'type = event-log', 'url = postgres://postgres@127.0.0.1:5432/test'];

const eventLog = (values: Record<string, string>) =>
  compileSource('event-log', new Map(Object.entries(values)), { file: FILE, section: 'Source' }, { dir, stateDir: dir });

describe('[Plugins]', () => {
  it('compiles paths relative to the INI file, with reload on and a 5s rescan by default', () => {
    const config = compile('[Flow]', ...SOURCE, '[Plugins]', 'paths = ./plugins, more, ./plugins');
    expect(config.plugins).toEqual({ paths: [path.join(dir, 'plugins'), path.join(dir, 'more')], reload: true, rescanIntervalMs: 5000 });
    expect(config.workerClass).toBeUndefined();
    expect(config.sections).not.toHaveProperty('Plugins');
  });

  it('reads reload and rescan interval', () => {
    expect(compile('[Flow]', ...SOURCE, '[Plugins]', 'paths = plugins', 'reload = no', 'rescan interval = 250ms').plugins).toMatchObject({
      reload: false,
      rescanIntervalMs: 250,
    });
  });

  it.each([
    [['paths = ./missing'], 'paths', `${path.join(dir, 'missing')} does not exist; expected a folder of plugin modules`],
    [['paths = not-a-folder'], 'paths', 'is not a folder'],
    [['reload = yes'], 'paths', 'is missing; expected one or more plugin folders'],
    [['paths = plugins', 'folders = x'], 'folders', ''],
  ])('refuses %j, naming the key', (lines, key, says) => {
    expectConfigError(() => compile('[Flow]', ...SOURCE, '[Plugins]', ...lines), {
      file: FILE,
      section: 'Plugins',
      key,
      says: says ? [says] : [],
    });
  });

  it('refuses a [Flow] class beside [Plugins]: the plugins are the workers', () => {
    expectConfigError(() => compile('[Flow]', 'class = ./worker.ts', ...SOURCE, '[Plugins]', 'paths = plugins'), {
      section: 'Flow',
      key: 'class',
      line: 2,
      says: ['and so is [Plugins]'],
    });
  });

  it('refuses [Plugins] with a source other than event-log, and event-log without [Plugins]', () => {
    expectConfigError(() => compile('[Flow]', '[Source]', 'type = stomp', '[Plugins]', 'paths = plugins'), {
      section: 'Source',
      key: 'type',
      says: ['expected type = event-log'],
    });
    expectConfigError(() => compile('[Flow]', ...SOURCE), { section: 'Plugins', says: ['expected [Plugins] paths = ./plugins'] });
  });
});

describe('[Source] type = event-log', () => {
  it('compiles a PostgreSQL log with the documented defaults', () => {
    const source = eventLog({ url: 'postgres://flowd:${DB_PASSWORD}@127.0.0.1:5432/test' });
    expect(source.description).toBe(
      'event-log postgres://flowd:***@127.0.0.1:5432/test table flowd_events (start from latest, fetch interval 5s, max batch size 500, backlog timeout 5m)',
    );
    expect(source.reconnect).toEqual({ delayMs: 1000, maxDelayMs: 1_500 });
  });

  it('compiles an HTTP feed', () => {
    const source = eventLog({
      url: 'http://127.0.0.1:8000/events?after={id}&limit={n}',
      'latest url': 'http://127.0.0.1:8000/events/latest',
      'start from': '1200',
      'fetch interval': '1s',
    });
    expect(source.description).toContain('event-log http://127.0.0.1:8000/events?after={id}&limit={n} (start from 1200, fetch interval 1s');
    // A feed cannot tell a rolled-back id from one still to come: its gaps wait less by default.
    expect(source.description).toMatch(/, backlog timeout 30s\)$/);
    expect(eventLog({ url: 'http://127.0.0.1:8000/e?after={id}', 'backlog timeout': '2m' }).description).toMatch(/, backlog timeout 2m\)$/);
  });

  it('says NOT loopback for a remote log', () => {
    expect(eventLog({ url: 'postgres://db.example.com/events' }).description).toMatch(/, NOT loopback$/);
  });

  it.each([
    [{}, 'url', 'is missing; expected postgres://'],
    [
      { url: 'mysql://root:pw@127.0.0.1/test' },
      'url',
      'found "mysql://root:***@127.0.0.1/test"; expected postgres://, postgresql://, http:// or https://',
    ],
    [{ url: 'http://127.0.0.1/events' }, 'url', 'expected {id} where the feed takes the last id seen'],
    [{ url: 'postgres://127.0.0.1/test', table: 'events; drop table x' }, 'table', 'expected a table name'],
    [{ url: 'http://127.0.0.1/e?after={id}', table: 'events' }, 'table', 'is only read for a PostgreSQL url'],
    [{ url: 'postgres://127.0.0.1/test', 'latest url': 'http://x/latest' }, 'latest url', 'is only read for an HTTP feed'],
    [{ url: 'postgres://127.0.0.1/test', 'start from': 'yesterday' }, 'start from', 'expected latest, earliest or an event id'],
    [{ url: 'postgres://127.0.0.1/test', 'start from': '0' }, 'start from', 'expected latest, earliest or an event id'],
    [{ url: 'postgres://127.0.0.1/test', 'max batch size': '0' }, 'max batch size', ''],
  ] as Array<[Record<string, string>, string, string]>)('refuses %j, naming the key', (values, key, says) => {
    expectConfigError(() => eventLog(values), { file: FILE, section: 'Source', key, says: says ? [says] : [] });
  });

  it('never shows the password of a URL it refuses', () => {
    try {
      eventLog({ url: 'ftp://user:hunter2@127.0.0.1/x' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});
