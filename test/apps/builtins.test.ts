import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_WORKERS, builtinWorker, isBuiltinWorker } from '../../src/apps/builtins.js';
import { MetadataMapper } from '../../src/apps/metadatamapper.js';
import { XmlImport } from '../../src/apps/xmlimport.js';
import { WorkerLoadError } from '../../src/kernel/errors.js';
import { loadWorker } from '../../src/runtime/worker-loader.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flowd-builtins-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('built-in apps', () => {
  it('are known by the dotted names Flow users write', async () => {
    expect(Object.keys(BUILTIN_WORKERS)).toEqual([
      'xmlimport.XmlImport',
      'metadatamapper.MetadataMapper',
      'flow.transfer.TransferPlugin',
      'xmlexport.XmlExport',
    ]);
    expect(await builtinWorker('xmlimport.XmlImport')).toBe(XmlImport);
    expect(await builtinWorker(' metadatamapper.MetadataMapper ')).toBe(MetadataMapper);
    expect(await builtinWorker('thumbnails.Thumbnails')).toBeUndefined();
    expect(isBuiltinWorker('toString')).toBe(false);
  });

  it('load from [Flow] class with their own default source', async () => {
    const importer = await loadWorker('xmlimport.XmlImport', dir);
    expect(importer).toMatchObject({ name: 'XmlImport', source: 'files' });
    const mapper = await loadWorker('metadatamapper.MetadataMapper', dir);
    // Flow's MetadataMapper listened to asset entries with no [Source] keys: flowd's takes them over HTTP.
    expect(mapper).toMatchObject({ name: 'MetadataMapper', source: 'http' });
  });

  it('give way to a module of the same name beside the INI file, as a local Python module would', async () => {
    await writeFile(path.join(dir, 'xmlimport.mjs'), 'export const XmlImport = { name: "mine", start: () => "local" };\n');
    const runner = await loadWorker('xmlimport.XmlImport', dir);
    expect(runner.name).toBe('mine');
  });

  it('leave the error about a missing module as it was for names that are not built in', async () => {
    await expect(loadWorker('thumbnails.Thumbnails', dir)).rejects.toThrow(WorkerLoadError);
    await expect(loadWorker('thumbnails.Thumbnails', dir)).rejects.toThrow('class "thumbnails.Thumbnails": no module found; tried');
  });
});
