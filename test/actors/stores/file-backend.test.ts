import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileNameFor } from '../../../actors/stores/file-names.js';
import { openStore } from '../../../actors/stores/store.js';
import { storeContract } from '../../contracts/store.js';
import { fileSpace } from '../../fixtures/stores/spaces.js';

storeContract('file', fileSpace, { canLoseConnection: false });

describe('the file backend', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });
  async function space() {
    const s = await fileSpace();
    cleanups.push(() => s.dispose());
    return s;
  }

  it("keeps one JSON file per key, named so no key can leave the folder or meet another key's lock or temp file", async () => {
    const s = await space();
    const { store } = s.open();
    await store.put('../escape', 1);
    await store.put('a.json.lock', 2);
    expect((await readdir(s.folder)).sort()).toEqual(['a~2ejson~2elock.json', '~2e~2e~2fescape.json']);
    expect(JSON.parse(await readFile(join(s.folder, '~2e~2e~2fescape.json'), 'utf8'))).toEqual({
      key: '../escape',
      version: 1,
      fence: 0,
      value: 1,
    });
  });

  it('names long keys by a hash within file-name limits, and two long keys that share a beginning stay apart', () => {
    const a = fileNameFor(`${'é'.repeat(300)}a`);
    const b = fileNameFor(`${'é'.repeat(300)}b`);
    expect(a).not.toBe(b);
    expect(Buffer.byteLength(`${a}.json.lock`)).toBeLessThan(255);
    expect(a).toMatch(/^(~c3~a9)+~~[0-9a-f]{64}$/);
  });

  it('names keys that differ only in case apart even on a case-insensitive disk, where Asset and asset would share a file', async () => {
    expect(fileNameFor('Asset').toLowerCase()).not.toBe(fileNameFor('asset').toLowerCase());
    expect(fileNameFor('Asset')).toBe('~41sset');
    expect(fileNameFor(`${'A'.repeat(200)}`)).toBe(fileNameFor(`${'A'.repeat(200)}`).toLowerCase());
    const s = await space();
    const { store } = s.open();
    await store.put('Asset', 'upper');
    await store.put('asset', 'lower');
    const names = await readdir(s.folder);
    expect(new Set(names.map((name) => name.toLowerCase())).size).toBe(2);
    await expect(store.get('Asset')).resolves.toBe('upper');
  });

  it("says a file holding another key's record belongs to that key, naming both and its own file, and never advises moving it aside", async () => {
    const s = await space();
    const { store } = s.open();
    await store.put('mine', 1);
    const file = join(s.folder, 'mine.json');
    // What an older flowd wrote for key "Mine" as Mine.json, found as mine.json on a case-insensitive disk.
    await writeFile(file, JSON.stringify({ key: 'Mine', version: 1, fence: 0, value: 2 }));
    for (const operation of [() => store.get('mine'), () => store.put('mine', 3), () => store.delete('mine')]) {
      const error = await operation().then(
        () => undefined,
        (caught: unknown) => caught as Error & { code?: string },
      );
      expect(error).toMatchObject({ code: 'ERR_STORE' });
      expect(error?.message).toContain(`the file ${file} belongs to key "Mine", not to key "mine"`);
      expect(error?.message).toContain(join(s.folder, '~4dine.json'));
      expect(error?.message).not.toMatch(/corrupt|move it aside/);
    }
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ key: 'Mine', version: 1, fence: 0, value: 2 });
  });

  it('treats an empty file as corrupt rather than as no value, and refuses to write over it', async () => {
    const s = await space();
    const { store } = s.open();
    await writeFile(join(s.folder, 'empty.json'), '');
    await expect(store.get('empty')).rejects.toMatchObject({ code: 'ERR_STORE', message: expect.stringContaining('is empty') as string });
    await expect(store.put('empty', 1)).rejects.toMatchObject({ code: 'ERR_STORE' });
  });

  it('leaves a tombstone holding the version and fence of a deleted key, and no temp files', async () => {
    const s = await space();
    const { store } = s.open();
    await store.put('gone', 'x', { fence: 9 });
    await store.put('gone', 'y');
    await store.delete('gone');
    expect(await readdir(s.folder)).toEqual(['gone.json']);
    expect(JSON.parse(await readFile(join(s.folder, 'gone.json'), 'utf8'))).toEqual({ key: 'gone', version: 2, fence: 9, deleted: true });
    await store.delete('gone', { fence: 11 });
    await store.delete('never', { fence: 2 });
    expect(JSON.parse(await readFile(join(s.folder, 'gone.json'), 'utf8'))).toEqual({ key: 'gone', version: 2, fence: 11, deleted: true });
    expect(JSON.parse(await readFile(join(s.folder, 'never.json'), 'utf8'))).toEqual({ key: 'never', version: 0, fence: 2, deleted: true });
  });

  it('removes temp files a killed writer left behind once they are old, and keeps young ones', async () => {
    const folder = (await space()).folder;
    await writeFile(join(folder, 'k.json.123-aa.tmp'), '{"half');
    await writeFile(join(folder, 'k.json.124-bb.tmp'), '{"half');
    const old = new Date(Date.now() - 120_000);
    await utimes(join(folder, 'k.json.123-aa.tmp'), old, old);
    const opened = openStore({ backend: 'file', folder, namespace: 'sweep' });
    await opened.ready;
    await opened.close();
    expect(await readdir(folder)).toEqual(['k.json.124-bb.tmp']);
  });

  it('fails to open with ERR_STORE_UNAVAILABLE naming the folder when it cannot be created', async () => {
    const parent = (await space()).folder;
    await writeFile(join(parent, 'a-file'), '');
    const folder = join(parent, 'a-file', 'store');
    const opened = openStore({ backend: 'file', folder, namespace: 'blocked' });
    await expect(opened.ready).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringContaining(folder) as string });
    expect(opened.actor.getSnapshot().value).toBe('failed');
    await expect(opened.store.get('k')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await opened.close();
  });

  it("waits for a key's lock held by another writer, then writes", async () => {
    const s = await space();
    const { store } = s.open();
    // A lock taken by "another process": its directory, fresh.
    await mkdir(join(s.folder, 'held.json.lock'));
    const write = store.put('held', 1);
    let settled = false;
    void write.finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    await rm(join(s.folder, 'held.json.lock'), { recursive: true });
    await expect(write).resolves.toMatchObject({ value: 1 });
  });

  it('answers a ping while its folder is there, and refuses one with ERR_STORE_UNAVAILABLE naming the folder while it is gone', async () => {
    const s = await space();
    const opened = s.open();
    await opened.store.put('k', 1);
    await opened.ping!();
    await rm(s.folder, { recursive: true });
    const refused = opened.ping!();
    await expect(refused).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await expect(refused).rejects.toThrow(s.folder);
    await mkdir(s.folder);
    await expect(opened.ping!()).resolves.toBeUndefined();
  });

  it('keeps a log as a JSON-lines file, drops a last line a crash cut short, and writes the next entry over it', async () => {
    const s = await space();
    const first = s.open();
    await first.store.logs.append('run/1', [{ type: 'started' }, { type: 'scheduled' }]);
    const file = join(s.folder, `${fileNameFor('run/1')}.log`);
    expect((await readFile(file, 'utf8')).split('\n')).toEqual(['{"f":0,"v":{"type":"started"}}', '{"f":0,"v":{"type":"scheduled"}}', '']);
    await first.close();
    // A writer killed mid-line.
    await writeFile(file, '{"f":0,"v":{"type":"comp', { flag: 'a' });
    const second = s.open();
    await expect(second.store.logs.read('run/1')).resolves.toEqual([{ type: 'started' }, { type: 'scheduled' }]);
    await expect(second.store.logs.append('run/1', [{ type: 'completed' }], { ifLength: 2 })).resolves.toBe(3);
    await expect(second.store.logs.read('run/1')).resolves.toEqual([{ type: 'started' }, { type: 'scheduled' }, { type: 'completed' }]);
    await writeFile(file, 'garbage\n', { flag: 'a' });
    await expect(second.store.logs.read('run/1')).rejects.toThrow(/line 4 of .*run~2f1\.log \(log "run\/1"\) is corrupt/);
    await second.close();
  });
});
