import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppSections } from '../../actors/workers/worker.js';
import { FolderTarget } from '../../src/apps/folder-target.js';
import {
  MetadataMapper,
  applyMappings,
  changedFields,
  compileMappings,
  recordIdOf,
  type MetadataMapperResult,
} from '../../src/apps/metadatamapper.js';
import { ExpressionError } from '../../src/kernel/errors.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { expectConfigError } from '../helpers/config-error.js';
import { manualSource } from '../helpers/manual-source.js';
import { RecordApi } from '../helpers/record-api.js';

const MAPPINGS = {
  'asset.alternateTitle': "metadata.get('asset.title') + ' alternative'",
  'asset.slug': "lower(replace(get(metadata, 'asset.title'), ' ', '-'))",
};

let dir: string;
let api: RecordApi;
let runtime: Runtime | undefined;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flowd-mapper-'));
  api = await new RecordApi().listen();
});
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the mapper on a manual source against the REST server; resolves each event's outcome in order. */
async function startMapper(config: AppSections = { Target: { type: 'http' }, Mappings: MAPPINGS }) {
  const source = manualSource();
  const outcomes: Array<MetadataMapperResult | Error> = [];
  runtime = createRuntime({
    worker: MetadataMapper,
    source: source.driver,
    app: { name: 'mapper', dir, stateDir: path.join(dir, 'state') },
    config,
    api: { hostname: `127.0.0.1:${api.port}` },
  });
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const record = (outcome: MetadataMapperResult | Error) => {
    outcomes.push(outcome);
    for (const waiter of waiters.filter((w) => outcomes.length >= w.count)) waiter.resolve();
  };
  runtime.on('event.completed', (e) => record(e.result as MetadataMapperResult));
  runtime.on('event.failed', (e) => record(Object.assign(new Error(e.error.message), { code: e.error.code })));
  await runtime.start();
  await source.ready;
  /** Resolves once `count` events have an outcome. */
  const settled = (count: number) =>
    new Promise<void>((resolve) => (outcomes.length >= count ? resolve() : waiters.push({ count, resolve })));
  return { source, outcomes, settled };
}

describe('[Mappings]', () => {
  it('computes every mapping over the record and keeps only the fields that change', () => {
    const mappings = compileMappings({ Mappings: MAPPINGS }, 'app.ini');
    const record = { id: 'A1', fields: { 'asset.title': 'Evening News', 'asset.slug': 'evening-news' }, media: [] };
    const computed = applyMappings(mappings, record);
    expect(computed).toEqual({ 'asset.alternateTitle': 'Evening News alternative', 'asset.slug': 'evening-news' });
    expect(changedFields(record, computed)).toEqual({ 'asset.alternateTitle': 'Evening News alternative' });
  });

  it('is a ConfigError when missing, and names the key of an expression that does not parse', () => {
    expectConfigError(() => compileMappings({}, 'app.ini'), {
      file: 'app.ini',
      section: 'Mappings',
      says: ['expected at least one line target.field = expression'],
    });
    expectConfigError(() => compileMappings({ Mappings: { 'asset.x': "upper('a'" } }, 'app.ini'), { section: 'Mappings', key: 'asset.x' });
  });

  it('is checked with [Target] before the app runs, naming the INI file', () => {
    const app = { name: 'mapper', dir: '/srv', stateDir: '/srv/.flowd/mapper' };
    expect(() => MetadataMapper.checkConfig({ Mappings: MAPPINGS }, app, 'app.ini')).not.toThrow();
    expectConfigError(() => MetadataMapper.checkConfig({ Mappings: MAPPINGS, Target: { type: 'http', folder: 'x' } }, app, 'app.ini'), {
      file: 'app.ini',
      section: 'Target',
      key: 'folder',
    });
    expectConfigError(() => MetadataMapper.checkConfig({ Mappings: { a: '1 +' } }, app, 'app.ini'), {
      file: 'app.ini',
      section: 'Mappings',
      key: 'a',
    });
  });

  it('refuses a section it does not read, with a did-you-mean, where Flow ignored it', () => {
    const app = { name: 'mapper', dir: '/srv', stateDir: '/srv/.flowd/mapper' };
    expectConfigError(() => MetadataMapper.checkConfig({ Mappings: MAPPINGS, Mapping: { 'asset.x': 'id' } }, app, 'app.ini'), {
      file: 'app.ini',
      section: 'Mapping',
      says: ['is not a section metadatamapper.MetadataMapper reads (did you mean "Mappings"?); expected [Target], [Mappings]'],
    });
    expectConfigError(() => MetadataMapper.checkConfig({ Mappings: MAPPINGS, Logging: { level: 'debug' } }, app, 'app.ini'), {
      section: 'Logging',
      says: ['is not a section metadatamapper.MetadataMapper reads'],
    });
  });

  it('raises ExpressionError when a mapping fails on a record', () => {
    const mappings = compileMappings({ Mappings: { x: "metadata.get('n') * 2" } });
    expect(() => applyMappings(mappings, { id: 'A1', fields: { n: 'text' }, media: [] })).toThrow(ExpressionError);
  });

  it('finds the record id in a plain event, an HTTP request and a STOMP message with JSON text', () => {
    expect(recordIdOf({ id: 'A1' })).toBe('A1');
    expect(recordIdOf({ method: 'POST', path: '/', headers: {}, query: {}, body: { id: 7, fields: {} } })).toBe('7');
    expect(recordIdOf({ destination: '/topic/updates', messageId: 'm1', headers: {}, body: '{"id":"B2"}' })).toBe('B2');
    expect(() => recordIdOf({ body: 'hello' })).toThrow('expected an event naming a record');
  });
});

describe('MetadataMapper', () => {
  it('writes the mapped fields once, and its own update event writes nothing (no loop)', async () => {
    api.put('A1', { 'asset.title': 'Evening News' });
    const mapper = await startMapper();
    // The server announces every change, as Viz One does; the mapper hears its own write too.
    api.onUpdate = (id) => mapper.source.deliver({ method: 'POST', path: '/', headers: {}, query: {}, body: { id } });
    mapper.source.deliver({ id: 'A1' });
    await mapper.settled(2);
    expect(mapper.outcomes).toEqual([
      { id: 'A1', changed: { 'asset.alternateTitle': 'Evening News alternative', 'asset.slug': 'evening-news' }, attempts: 1 },
      { id: 'A1', changed: {}, attempts: 1 },
    ]);
    expect(api.records.get('A1')!.fields).toEqual({
      'asset.title': 'Evening News',
      'asset.alternateTitle': 'Evening News alternative',
      'asset.slug': 'evening-news',
    });
    expect(api.writes).toBe(1);
    expect(api.seen.filter((r) => r.method === 'PUT')[0]).toMatchObject({ ifMatch: '"1"' });
  });

  it('recomputes from the newer version when another writer came first, and writes that', async () => {
    api.put('A1', { 'asset.title': 'News' });
    let sneak = true;
    api.beforeWrite = (id) => {
      if (sneak) api.put(id, { 'asset.title': 'Late News', 'asset.genre': 'news' });
      sneak = false;
    };
    const mapper = await startMapper();
    mapper.source.deliver({ id: 'A1' });
    await mapper.settled(1);
    expect(mapper.outcomes[0]).toEqual({
      id: 'A1',
      changed: { 'asset.alternateTitle': 'Late News alternative', 'asset.slug': 'late-news' },
      attempts: 2,
    });
    expect(api.records.get('A1')!.fields).toEqual({
      'asset.title': 'Late News',
      'asset.genre': 'news',
      'asset.alternateTitle': 'Late News alternative',
      'asset.slug': 'late-news',
    });
    expect(api.seen.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"1"', '"2"']);
  });

  it('fails an event for a record the target does not have, naming it', async () => {
    const mapper = await startMapper();
    mapper.source.deliver({ id: 'missing' });
    await mapper.settled(1);
    expect(mapper.outcomes[0]).toMatchObject({ code: 'ERR_RECORD', message: expect.stringContaining('record "missing" does not exist') });
    expect(api.writes).toBe(0);
  });

  it('works on a folder target too, writing only when a value changes', async () => {
    const folder = path.join(dir, 'records');
    const target = new FolderTarget(folder);
    await target.createOrUpdate('A1', { 'asset.title': 'News' });
    const mapper = await startMapper({ Target: { folder }, Mappings: MAPPINGS });
    mapper.source.deliver({ id: 'A1' });
    mapper.source.deliver({ id: 'A1' });
    await mapper.settled(2);
    expect(mapper.outcomes.map((o) => Object.keys((o as MetadataMapperResult).changed).length)).toEqual([2, 0]);
    expect((await target.get('A1'))!.etag).toBe('"2"');
  });
});
