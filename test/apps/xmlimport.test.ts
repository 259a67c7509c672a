import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppSections } from '../../actors/workers/worker.js';
import { openStore } from '../../actors/stores/store.js';
import { XmlImport, compileXmlImportSettings, type XmlImportResult } from '../../src/apps/xmlimport.js';
import { SectionReader } from '../../src/kernel/section-reader.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { expectConfigError } from '../helpers/config-error.js';
import { logSink } from '../helpers/log-sink.js';

/** flowd's default record XML (src/apps/xml/default-record.ts). */
export function recordXml(id: string | undefined, fields: Record<string, string>, media: string[] = []): string {
  const body = Object.entries(fields).map(([name, value]) => `  <field name="${name}">${value}</field>`);
  const refs = media.map((name) => `  <media href="${name}"/>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<record${id === undefined ? '' : ` id="${id}"`}>\n${[...body, ...refs].join('\n')}\n</record>\n`;
}

type Outcome = { outcome: 'completed'; result: XmlImportResult } | { outcome: 'failed'; error: { code: string; message: string } };

let dir: string;
let runtime: Runtime | undefined;
const inbox = () => path.join(dir, 'in');
const records = () => path.join(dir, 'records');
const stateDir = () => path.join(dir, 'state');

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flowd-xmlimport-'));
  await mkdir(inbox());
});
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** Starts XmlImport on the files source over `in/`, writing to a folder target `records/`. */
async function startImport(
  config: AppSections = {},
  workers = 1,
  executionTimeout?: string,
  logger?: ReturnType<typeof logSink>['logger'],
) {
  const outcomes = new Map<string, Outcome>();
  const waiters = new Map<string, (o: Outcome) => void>();
  const settle = (name: string, outcome: Outcome) => {
    outcomes.set(name, outcome);
    waiters.get(name)?.(outcome);
  };
  runtime = createRuntime({
    worker: XmlImport,
    workers,
    ...(logger ? { logger } : {}),
    ...(executionTimeout ? { executionTimeout } : {}),
    source: sources.files({
      location: inbox(),
      settleTime: '20ms',
      rescanInterval: '200ms',
      moveDoneTo: path.join(dir, 'done'),
      moveFailedTo: path.join(dir, 'failed'),
    }),
    app: { name: 'imports', dir, stateDir: stateDir() },
    config: { Target: { type: 'folder', folder: records() }, ...config },
  });
  runtime.on('event.completed', (e) =>
    settle(e.meta!.relativePath as string, { outcome: 'completed', result: e.result as XmlImportResult }),
  );
  runtime.on('event.failed', (e) => settle(e.meta!.relativePath as string, { outcome: 'failed', error: e.error }));
  await runtime.start();
  return {
    /** Drops a file into the inbox and resolves with its outcome. */
    drop(name: string, content: string): Promise<Outcome> {
      const outcome = new Promise<Outcome>((resolve) => waiters.set(name, resolve));
      void writeFile(path.join(inbox(), name), content);
      return outcome;
    },
  };
}

const readRecord = async (id: string) =>
  JSON.parse(await readFile(path.join(records(), `${id}.json`), 'utf8')) as {
    id: string;
    version: number;
    form?: string;
    fields: Record<string, unknown>;
    media: string[];
  };

/** The store after the run, as the next run would see it. */
async function storeEntries(): Promise<Record<string, unknown>> {
  await runtime?.stop();
  runtime = undefined;
  const opened = openStore({ backend: 'file', folder: path.join(stateDir(), 'store'), namespace: 'imports' });
  try {
    const entries: Record<string, unknown> = {};
    for (const key of ['media:clip.mxf', 'record-for:clip.mxf', 'media:other.mxf', 'record-for:other.mxf']) {
      const value = await opened.store.get(key);
      if (value !== undefined) entries[key] = value;
    }
    return entries;
  } finally {
    await opened.close();
  }
}

describe('XmlImport', () => {
  it('creates a placeholder from an XML, then attaches the media it names when that arrives', async () => {
    const app = await startImport();
    const xml = await app.drop('A1.xml', recordXml('A1', { 'asset.title': 'Evening news' }, ['clip.mxf']));
    expect(xml).toEqual({
      outcome: 'completed',
      result: { type: 'record', id: 'A1', created: true, updated: false, occupied: false, attached: [], waiting: ['clip.mxf'] },
    });
    expect(await readRecord('A1')).toMatchObject({ id: 'A1', fields: { 'asset.title': 'Evening news' }, media: [] });

    const media = await app.drop('clip.mxf', 'essence');
    expect(media).toEqual({ outcome: 'completed', result: { type: 'media', name: 'clip.mxf', attachedTo: 'A1', remembered: false } });
    expect((await readRecord('A1')).media).toEqual(['clip.mxf']);
    expect(await readFile(path.join(records(), 'A1.media', 'clip.mxf'), 'utf8')).toBe('essence');
    // The source moved the dropped file as usual; the record has its own copy.
    await vi.waitFor(async () => expect(await readFile(path.join(dir, 'done', 'clip.mxf'), 'utf8')).toBe('essence'));
    expect(await storeEntries()).toEqual({ 'record-for:clip.mxf': { id: 'A1' } });
  });

  it('remembers media that no record names yet, and attaches it as soon as an XML names it', async () => {
    const app = await startImport();
    const media = await app.drop('clip.mxf', 'essence');
    expect(media).toEqual({ outcome: 'completed', result: { type: 'media', name: 'clip.mxf', attachedTo: undefined, remembered: true } });
    const pending = await readdir(path.join(stateDir(), 'pending-media'));
    expect(pending).toHaveLength(1);
    expect(await readFile(path.join(stateDir(), 'pending-media', pending[0]!), 'utf8')).toBe('essence');

    const xml = await app.drop('B1.xml', recordXml('B1', { 'asset.title': 'Weather' }, ['clip.mxf']));
    expect(xml).toMatchObject({ outcome: 'completed', result: { id: 'B1', created: true, attached: ['clip.mxf'], waiting: [] } });
    expect(await readRecord('B1')).toMatchObject({ fields: { 'asset.title': 'Weather' }, media: ['clip.mxf'] });
    expect(await readFile(path.join(records(), 'B1.media', 'clip.mxf'), 'utf8')).toBe('essence');
    expect(await readdir(path.join(stateDir(), 'pending-media'))).toEqual([]);
    expect(await storeEntries()).toEqual({ 'record-for:clip.mxf': { id: 'B1' } });
  });

  it('updates the record an XML names by id, and leaves it alone when nothing changed', async () => {
    const app = await startImport();
    await app.drop('first.xml', recordXml('A1', { 'asset.title': 'News', 'asset.genre': 'news' }));
    const update = await app.drop('second.xml', recordXml('A1', { 'asset.title': 'Evening news' }));
    expect(update).toMatchObject({ outcome: 'completed', result: { id: 'A1', created: false, updated: true } });
    expect(await readRecord('A1')).toMatchObject({ version: 2, fields: { 'asset.title': 'Evening news', 'asset.genre': 'news' } });
    const same = await app.drop('third.xml', recordXml('A1', { 'asset.title': 'Evening news' }));
    expect(same).toMatchObject({ outcome: 'completed', result: { created: false, updated: false } });
    expect((await readRecord('A1')).version).toBe(2);
  });

  it('takes the id from the file name when the XML has none, and knows XML by its content too', async () => {
    const app = await startImport();
    expect(await app.drop('promo-7.xml', recordXml(undefined, { 'asset.title': 'Promo' }))).toMatchObject({
      result: { id: 'promo-7', created: true },
    });
    expect(await app.drop('sidecar.meta', recordXml('S1', { 'asset.title': 'Sidecar' }))).toMatchObject({
      result: { type: 'record', id: 'S1' },
    });
    expect((await readRecord('promo-7')).fields).toEqual({ 'asset.title': 'Promo' });
    expect(await readdir(records())).not.toContain('sidecar.meta.media');
  });

  it('updates only the metadata of a record that has media, and fails media arriving for it', async () => {
    const app = await startImport();
    await app.drop('A1.xml', recordXml('A1', { 'asset.title': 'News' }, ['clip.mxf']));
    await app.drop('clip.mxf', 'essence');
    const update = await app.drop('A1-v2.xml', recordXml('A1', { 'asset.title': 'Late news' }, ['other.mxf']));
    expect(update).toMatchObject({ outcome: 'completed', result: { id: 'A1', updated: true, occupied: true, attached: [], waiting: [] } });
    expect(await readRecord('A1')).toMatchObject({ fields: { 'asset.title': 'Late news' }, media: ['clip.mxf'] });

    const again = await app.drop('clip.mxf', 'new essence');
    expect(again).toMatchObject({ outcome: 'failed', error: { code: 'ERR_RECORD', message: expect.stringContaining('record "A1"') } });
    expect(again.outcome === 'failed' && again.error.message).toContain(
      'already has media (clip.mxf), so it is no longer a placeholder; clip.mxf was not attached',
    );
    expect(await readFile(path.join(records(), 'A1.media', 'clip.mxf'), 'utf8')).toBe('essence');
    await vi.waitFor(async () => expect(await readFile(path.join(dir, 'failed', 'clip.mxf.error.txt'), 'utf8')).toContain('ERR_RECORD'));
  });

  it('fails a malformed XML with the parser message and writes no record', async () => {
    const app = await startImport();
    const bad = await app.drop('broken.xml', '<?xml version="1.0"?>\n<record id="X1"><field name="a">unclosed</record>\n');
    expect(bad).toMatchObject({
      outcome: 'failed',
      error: { code: 'ERR_XML', message: expect.stringMatching(/^broken\.xml: .*line 2.*tag mismatch/) },
    });
    await expect(readdir(records())).rejects.toMatchObject({ code: 'ENOENT' });
    await vi.waitFor(async () =>
      expect(await readFile(path.join(dir, 'failed', 'broken.xml.error.txt'), 'utf8')).toMatch(/^ERR_XML: .*broken\.xml/),
    );
  });

  it('skips an empty XML file with an info line, as Flow does: completed, not failed, and no record', async () => {
    const log = logSink('info');
    const app = await startImport({}, 1, undefined, log.logger);
    const empty = await app.drop('empty.xml', '');
    expect(empty).toEqual({ outcome: 'completed', result: { type: 'ignored', reason: 'empty.xml is empty' } });
    expect(log.messages()).toContain('empty.xml: skipping empty XML file');
    await expect(readdir(records())).rejects.toMatchObject({ code: 'ENOENT' });
    await vi.waitFor(async () => expect(await readdir(path.join(dir, 'done'))).toContain('empty.xml'));
  });

  it('stops a parse past the execution timeout (its thread is terminated), and the next file is imported at once', async () => {
    const custom = {
      Xml: { format: 'custom', id: '/a/@id' },
      'Field:x': { xpath: '/a/b[3999]' },
      Mapping: { 'asset.x': 'x' },
    };
    const app = await startImport(custom, 1, '1s');
    // xpath takes tens of seconds over 4,000 siblings with a positional predicate; in the main thread nothing could stop it.
    const slow = await app.drop('slow.xml', `<a id="S1">${'<b>x</b>'.repeat(4000)}</a>`);
    expect(slow).toMatchObject({ outcome: 'failed', error: { code: 'ERR_WORKER_TIMEOUT' } });
    const next = await app.drop('next.xml', '<a id="N1"><b>only</b></a>');
    expect(next).toMatchObject({ outcome: 'completed', result: { type: 'record', id: 'N1', created: true } });
    expect((await readRecord('N1')).fields).toEqual({});
  }, 15_000);

  it("runs the original's custom INI: asset_id names the record, media_filename links the media, the form goes to the target", async () => {
    // eblade/flow apps/xmlimport/xmlimport.ini, its Python slice written as substring().
    const original = {
      Xml: { format: 'custom' },
      'Field:title': { xpath: '/item/title' },
      'Field:asset_id': { xpath: '/item/@id' },
      Transforms: { concatField: 'title', media_filename: "substring(xml_filename, 0, -4) + '.mxf'" },
      Vdf: { form: '"hubitem"', 'asset.title': 'title' },
    };
    const app = await startImport(original);
    const xml = await app.drop('clip1.xml', '<item id="2011"><title>Evening news</title></item>');
    expect(xml).toMatchObject({ outcome: 'completed', result: { type: 'record', id: '2011', created: true, waiting: ['clip1.mxf'] } });
    const media = await app.drop('clip1.mxf', 'essence');
    expect(media).toMatchObject({ outcome: 'completed', result: { type: 'media', attachedTo: '2011' } });
    expect(await readRecord('2011')).toMatchObject({
      id: '2011',
      form: 'hubitem',
      fields: { 'asset.title': 'Evening news' },
      media: ['clip1.mxf'],
    });
  });

  it('attaches media and its XML dropped together, whichever runs first', async () => {
    const app = await startImport({}, 4);
    const [xml, media] = await Promise.all([
      app.drop('C1.xml', recordXml('C1', { 'asset.title': 'Race' }, ['clip.mxf'])),
      app.drop('clip.mxf', 'essence'),
    ]);
    expect(xml.outcome).toBe('completed');
    expect(media.outcome).toBe('completed');
    expect((await readRecord('C1')).media).toEqual(['clip.mxf']);
    expect(await storeEntries()).toEqual({ 'record-for:clip.mxf': { id: 'C1' } });
  });
});

describe('[Xml]', () => {
  const compile = (values: Record<string, string>) =>
    compileXmlImportSettings(new SectionReader(new Map(Object.entries(values)), { file: 'app.ini', section: 'Xml' }));

  it('defaults to the default format and accepts custom with its id and media XPaths', () => {
    expect(compile({})).toEqual({ format: 'default' });
    expect(compile({ format: 'custom', id: '/a/@id', media: '//file/@name' })).toEqual({ format: 'custom' });
  });

  it('is checked with [Target] before the app runs, naming the INI file', () => {
    const app = { name: 'imports', dir: '/srv', stateDir: '/srv/.flowd/imports' };
    expect(() => XmlImport.checkConfig({ Xml: { format: 'default' }, Target: { folder: 'records' } }, app, 'app.ini')).not.toThrow();
    expectConfigError(() => XmlImport.checkConfig({ Target: { type: 'ftp' } }, app, 'app.ini'), {
      file: 'app.ini',
      section: 'Target',
      key: 'type',
    });
    expectConfigError(() => XmlImport.checkConfig({ Xml: { fromat: 'custom' } }, app, 'app.ini'), {
      file: 'app.ini',
      section: 'Xml',
      key: 'fromat',
      says: ['did you mean "format"'],
    });
  });

  it('refuses a section it does not read, and the custom sections with the default format, where Flow ignored them', () => {
    const app = { name: 'imports', dir: '/srv', stateDir: '/srv/.flowd/imports' };
    const custom = { Xml: { format: 'custom' }, 'Field:t': { xpath: '/a' }, Mapping: { x: 't' } };
    expect(() => XmlImport.checkConfig(custom, app, 'app.ini')).not.toThrow();
    expectConfigError(() => XmlImport.checkConfig({ ...custom, Trasnform: { y: 't' } }, app, 'app.ini'), {
      file: 'app.ini',
      section: 'Trasnform',
      says: ['is not a section xmlimport.XmlImport reads (did you mean "Transform"?)', '[Field:...]'],
    });
    expectConfigError(() => XmlImport.checkConfig({ 'Field:t': { xpath: '/a' } }, app, 'app.ini'), {
      section: 'Field:t',
      says: ['is read only with [Xml] format = custom'],
    });
  });

  it('names the key of a custom setting given with the default format, and an unknown format', () => {
    expectConfigError(() => compile({ media: '//file' }), { section: 'Xml', key: 'media', says: ['is a setting of format = custom'] });
    expectConfigError(() => compile({ format: 'vdf' }), { section: 'Xml', key: 'format', says: ['expected one of default, custom'] });
  });
});
