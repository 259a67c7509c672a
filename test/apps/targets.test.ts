import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FolderTarget } from '../../src/apps/folder-target.js';
import { HttpTarget } from '../../src/apps/http-target.js';
import { compileTargetSettings, targetFromConfig } from '../../src/apps/targets.js';
import type { ApiClient } from '../../src/toolkit/client.js';
import { SectionReader } from '../../src/kernel/section-reader.js';
import { ConflictError, FlowdError } from '../../src/kernel/errors.js';
import { expectConfigError } from '../helpers/config-error.js';
import { RecordApi } from '../helpers/record-api.js';

const app = { name: 'imports', dir: '/srv/app', stateDir: '/srv/app/.flowd/imports' };
const compile = (values: Record<string, string>) => {
  const reader = new SectionReader(new Map(Object.entries(values)), { file: 'app.ini', section: 'Target' });
  const settings = compileTargetSettings(reader, app);
  reader.finish();
  return settings;
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flowd-targets-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('[Target]', () => {
  it('defaults to a folder target under the state dir', () => {
    expect(compile({})).toEqual({ type: 'folder', folder: '/srv/app/.flowd/imports/records' });
  });

  it('resolves a folder relative to the INI file', () => {
    expect(compile({ type: 'folder', folder: 'out/records' })).toEqual({ type: 'folder', folder: '/srv/app/out/records' });
  });

  it('reads an http target with its path and media folder', () => {
    expect(compile({ type: 'http', path: '/api/records/' })).toEqual({
      type: 'http',
      path: '/api/records',
      mediaFolder: '/srv/app/.flowd/imports/media',
    });
    expect(compile({ type: 'HTTP', 'media folder': '/mnt/media' })).toEqual({ type: 'http', path: '/records', mediaFolder: '/mnt/media' });
  });

  it('names the key when a setting belongs to the other type, the type is unknown or the path is relative', () => {
    expectConfigError(() => compile({ type: 'folder', path: '/api' }), {
      file: 'app.ini',
      section: 'Target',
      key: 'path',
      says: ['is a setting of type = http'],
    });
    expectConfigError(() => compile({ type: 'http', folder: 'x' }), {
      section: 'Target',
      key: 'folder',
      says: ['is a setting of type = folder'],
    });
    expectConfigError(() => compile({ type: 'ftp' }), { section: 'Target', key: 'type', says: ['expected one of folder, http'] });
    expectConfigError(() => compile({ type: 'http', path: 'api' }), { section: 'Target', key: 'path', says: ['starting with /'] });
    expectConfigError(() => compile({ floder: 'x' }), { section: 'Target', key: 'floder', says: ['did you mean "folder"'] });
  });

  it('makes an http target only when asked, reading the client then', () => {
    let asked = 0;
    const ctx = {
      config: {},
      app: { ...app, stateDir: dir },
      get client(): ApiClient {
        asked++;
        throw new FlowdError('ERR_CONFIG', 'no [Api]');
      },
    };
    expect(targetFromConfig(ctx).target).toBeInstanceOf(FolderTarget);
    expect(asked).toBe(0);
    expect(() => targetFromConfig({ ...ctx, config: { Target: { type: 'http' } } })).toThrow('no [Api]');
  });
});

describe('the folder target', () => {
  it('creates <id>.json, merges later fields over it, and writes nothing when no value changes', async () => {
    const target = new FolderTarget(path.join(dir, 'records'));
    expect(await target.get('A1')).toBeUndefined();
    const created = await target.createOrUpdate('A1', { 'asset.title': 'News', 'asset.duration': 30 });
    expect(created).toMatchObject({ created: true, updated: false, unchanged: false, record: { id: 'A1', media: [] } });
    const updated = await target.createOrUpdate('A1', { 'asset.title': 'Evening news' });
    expect(updated.record.fields).toEqual({ 'asset.title': 'Evening news', 'asset.duration': 30 });
    expect(updated.updated).toBe(true);
    const again = await target.createOrUpdate('A1', { 'asset.title': 'Evening news' });
    expect(again.unchanged).toBe(true);
    const stored = JSON.parse(await readFile(path.join(dir, 'records/A1.json'), 'utf8')) as { version: number; fields: unknown };
    expect(stored).toMatchObject({ id: 'A1', version: 2, fields: { 'asset.title': 'Evening news', 'asset.duration': 30 }, media: [] });
    expect(await target.get('A1')).toMatchObject({ etag: '"2"' });
  });

  it('keeps the form a write gives ([Vdf] form), counts a new form as a change, and keeps it when a write gives none', async () => {
    const target = new FolderTarget(path.join(dir, 'records'));
    expect((await target.createOrUpdate('A1', { 'asset.title': 'News' }, { form: 'hubitem' })).record.form).toBe('hubitem');
    expect((await target.createOrUpdate('A1', { 'asset.title': 'News' }, { form: 'hubitem' })).unchanged).toBe(true);
    expect((await target.createOrUpdate('A1', { 'asset.title': 'News' }, { form: 'newsitem' })).updated).toBe(true);
    expect((await target.createOrUpdate('A1', { 'asset.title': 'Evening news' })).record).toMatchObject({ form: 'newsitem' });
    expect(JSON.parse(await readFile(path.join(dir, 'records/A1.json'), 'utf8'))).toMatchObject({ form: 'newsitem', version: 3 });
    expect((await target.get('A1'))?.record.form).toBe('newsitem');
  });

  it('leaves no temp or lock file behind after concurrent writes, and loses none of them', async () => {
    const target = new FolderTarget(path.join(dir, 'records'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => target.createOrUpdate('A1', { [`f${i}`]: i })));
    const record = await target.get('A1');
    expect(Object.keys(record!.record.fields)).toHaveLength(20);
    expect(record!.etag).toBe('"20"');
    expect(await readdir(path.join(dir, 'records'))).toEqual(['A1.json']);
  });

  it('refuses a write over a version other than the one given, as a conflict', async () => {
    const target = new FolderTarget(path.join(dir, 'records'));
    const { etag } = (await target.createOrUpdate('A1', { a: 1 }), (await target.get('A1'))!);
    await target.createOrUpdate('A1', { a: 2 });
    await expect(target.createOrUpdate('A1', { a: 3 }, { etag })).rejects.toBeInstanceOf(ConflictError);
    expect((await target.get('A1'))!.record.fields).toEqual({ a: 2 });
  });

  it('moves media into <id>.media/ and lists it on the record', async () => {
    const target = new FolderTarget(path.join(dir, 'records'));
    await target.createOrUpdate('A1', { a: 1 });
    const dropped = path.join(dir, 'x9-clip.mxf');
    await writeFile(dropped, 'essence');
    expect(await target.hasMedia('A1')).toBe(false);
    await target.attachMedia('A1', dropped, { name: 'clip.mxf' });
    expect(await readFile(path.join(dir, 'records/A1.media/clip.mxf'), 'utf8')).toBe('essence');
    await expect(readFile(dropped)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await target.get('A1'))!.record.media).toEqual(['clip.mxf']);
    expect(await target.hasMedia('A1')).toBe(true);
  });

  it('refuses media for a record that does not exist, a second file of the same name, and unusable ids', async () => {
    const target = new FolderTarget(path.join(dir, 'records'));
    const dropped = path.join(dir, 'clip.mxf');
    await writeFile(dropped, 'essence');
    await expect(target.attachMedia('nope', dropped)).rejects.toThrow('record "nope" does not exist');
    await target.createOrUpdate('A1', {});
    await target.attachMedia('A1', dropped);
    await writeFile(dropped, 'again');
    await expect(target.attachMedia('A1', dropped)).rejects.toThrow('already has media of that name');
    await expect(target.createOrUpdate('../etc', {})).rejects.toMatchObject({
      code: 'ERR_RECORD',
      message: expect.stringContaining('record id "../etc" is not usable'),
    });
    await expect(target.attachMedia('A1', dropped, { name: '../x' })).rejects.toThrow('media name "../x" is not usable');
  });

  it('names the file of a record that is not JSON', async () => {
    const target = new FolderTarget(dir);
    await writeFile(path.join(dir, 'bad.json'), '{ nope');
    await expect(target.get('bad')).rejects.toThrow(`record file ${path.join(dir, 'bad.json')} is not JSON`);
  });
});

describe('the http target, against a REST server', () => {
  let api: RecordApi;
  let client: ApiClient;
  beforeEach(async () => {
    api = await new RecordApi().listen();
    client = api.client();
  });
  afterEach(async () => {
    await client.close();
    await api.close();
  });

  it('creates a record with PUT and If-None-Match, then updates only when the fields changed, with If-Match', async () => {
    const target = new HttpTarget(client, '/records', path.join(dir, 'media'));
    expect(await target.get('A1')).toBeUndefined();
    expect((await target.createOrUpdate('A1', { title: 'News' })).created).toBe(true);
    expect(api.seen.at(-1)).toMatchObject({ method: 'PUT', url: '/records/A1', ifNoneMatch: '*', contentType: 'application/json' });
    expect(JSON.parse(api.seen.at(-1)!.body)).toEqual({ id: 'A1', fields: { title: 'News' } });
    expect((await target.createOrUpdate('A1', { title: 'News' })).unchanged).toBe(true);
    const updated = await target.createOrUpdate('A1', { duration: 30 });
    expect(updated).toMatchObject({ updated: true, record: { fields: { title: 'News', duration: 30 } } });
    expect(api.seen.at(-1)).toMatchObject({ method: 'PUT', ifMatch: '"1"' });
    expect(api.writes).toBe(2);
  });

  it('sends the form a write gives in the PUT body, and writes again only when it changes', async () => {
    const target = new HttpTarget(client, '/records', path.join(dir, 'media'));
    await target.createOrUpdate('A1', { title: 'News' }, { form: 'hubitem' });
    expect(JSON.parse(api.seen.at(-1)!.body)).toEqual({ id: 'A1', form: 'hubitem', fields: { title: 'News' } });
    expect((await target.createOrUpdate('A1', { title: 'News' }, { form: 'hubitem' })).unchanged).toBe(true);
    expect((await target.createOrUpdate('A1', { title: 'News' })).unchanged).toBe(true);
    expect((await target.createOrUpdate('A1', { title: 'News' }, { form: 'newsitem' })).updated).toBe(true);
    expect((await target.get('A1'))?.record.form).toBe('newsitem');
    expect(api.writes).toBe(2);
  });

  it('retries a conflict itself, merging into the newer version', async () => {
    const target = new HttpTarget(client, '/records', path.join(dir, 'media'));
    api.put('A1', { title: 'News' });
    let sneak = true;
    api.beforeWrite = (id) => {
      if (sneak) api.put(id, { title: 'News', editor: 'ada' });
      sneak = false;
    };
    await target.createOrUpdate('A1', { duration: 30 });
    expect(api.records.get('A1')!.fields).toEqual({ title: 'News', editor: 'ada', duration: 30 });
  });

  it('hands a conflict back when the write was based on a given version', async () => {
    const target = new HttpTarget(client, '/records', path.join(dir, 'media'));
    api.put('A1', { title: 'News' });
    const { etag } = (await target.get('A1'))!;
    api.put('A1', { title: 'Newer' });
    await expect(target.createOrUpdate('A1', { title: 'Mine' }, { etag: etag! })).rejects.toBeInstanceOf(ConflictError);
    expect(api.records.get('A1')!.fields).toEqual({ title: 'Newer' });
  });

  it('moves media into the media folder and POSTs its file:// URI as a text/uri-list', async () => {
    const target = new HttpTarget(client, '/records', path.join(dir, 'media'));
    api.put('A1', { title: 'News' });
    const dropped = path.join(dir, 'clip one.mxf');
    await writeFile(dropped, 'essence');
    await target.attachMedia('A1', dropped);
    const home = path.join(dir, 'media/A1/clip one.mxf');
    expect(await readFile(home, 'utf8')).toBe('essence');
    expect(api.seen.at(-1)).toMatchObject({
      method: 'POST',
      url: '/records/A1/media',
      contentType: 'text/uri-list',
      body: `${pathToFileURL(home).href}\r\n`,
    });
    expect(await target.hasMedia('A1')).toBe(true);
  });

  it('says what the server answered when it is not a record', async () => {
    const target = new HttpTarget(
      { request: async () => ({ status: 200, headers: {}, body: 'hello', text: 'hello', etag: undefined }) as never },
      '/records',
      dir,
    );
    await expect(target.get('A1')).rejects.toThrow('GET /records/A1 answered text "hello"; expected a JSON record');
  });
});
