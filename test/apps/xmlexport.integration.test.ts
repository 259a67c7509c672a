import { randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRecordXml, XmlExport } from '../../src/apps/xmlexport.js';
import { ftpTarget } from '../../src/apps/ftp.js';
import { tempDir } from '../helpers/cli.js';
import { startFtpServer, type FtpServer } from '../helpers/ftp-server.js';
import { runTransfer } from '../helpers/transfer.js';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  isArray: (name) => name === 'field' || name === 'media',
});
const noLimit = { Transfer: { 'progress interval': '0' } };

describe('buildRecordXml', () => {
  it('writes flowd record XML with every text and attribute escaped, lists as repeated fields, and no DOCTYPE', () => {
    const xml = buildRecordXml({
      id: 'A"1<&>',
      fields: { 'asset.title': 'Tom & "Jerry" <live> ]]>', tags: ['a', 'b'], count: 3, none: null, nested: { k: 'v' } },
      media: ['a b.mxf'],
    });
    expect(xml).not.toMatch(/<!DOCTYPE/i);
    expect(xml).toContain('<record id="A&quot;1&lt;&amp;&gt;">');
    const record = (
      parser.parse(xml) as {
        record: { '@_id': string; field: Array<{ '@_name': string; '#text'?: string }>; media: Array<{ '@_href': string }> };
      }
    ).record;
    const decode = (t = '') =>
      t
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'")
        .replace(/&amp;/g, '&');
    expect(record.field.map((f) => [f['@_name'], decode(f['#text'])])).toEqual([
      ['asset.title', 'Tom & "Jerry" <live> ]]>'],
      ['tags', 'a'],
      ['tags', 'b'],
      ['count', '3'],
      ['none', ''],
      ['nested', '{"k":"v"}'],
    ]);
    expect(record.media).toEqual([{ '@_href': 'a b.mxf' }]);
  });

  it('refuses a control character that XML cannot carry, naming the field', () => {
    expect(() => buildRecordXml({ id: '1', fields: { title: 'bell\u0007' }, media: [] })).toThrowError(
      /record "1": field "title" has a control character XML cannot carry \(U\+0007\)/,
    );
    expect(() => buildRecordXml({ id: '1', fields: { title: 'half \uD83D pair' }, media: [] })).toThrowError(
      /record "1": field "title" has a lone surrogate XML cannot carry \(U\+D83D\)/,
    );
    expect(() => buildRecordXml({ id: '1', fields: {}, media: ['\uFFFF.mxf'] })).toThrowError(
      /record "1": a media name has a character XML cannot carry \(U\+FFFF\)/,
    );
  });
});

describe('XmlExport', () => {
  let ftp: FtpServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const video = randomBytes(2 * 1024 * 1024 + 5);
  const audio = randomBytes(40_000);

  beforeAll(async () => {
    ftp = await startFtpServer();
    dir = await tempDir();
    await writeFile(path.join(dir.dir, 'clip.mxf'), video);
    await writeFile(path.join(dir.dir, 'clip.wav'), audio);
  });
  afterAll(async () => {
    await ftp?.stop();
    await dir?.cleanup();
  });

  const asset = { id: 'A-2011', fields: { 'asset.title': 'Evening news & weather' }, media: ['clip.mxf', 'clip.wav'] };
  const expectExported = async (folder: string) => {
    expect((await readdir(folder)).sort()).toEqual(['A-2011.xml', 'clip.mxf', 'clip.wav']);
    expect((await readFile(path.join(folder, 'clip.mxf'))).equals(video)).toBe(true);
    expect((await readFile(path.join(folder, 'clip.wav'))).equals(audio)).toBe(true);
    const xml = await readFile(path.join(folder, 'A-2011.xml'), 'utf8');
    expect(xml).toBe(buildRecordXml({ id: 'A-2011', fields: asset.fields, media: ['clip.mxf', 'clip.wav'] }));
    expect(xml).toContain('<field name="asset.title">Evening news &amp; weather</field>');
  };

  it('exports to a file:// folder: the XML and the media arrive byte-identical, with progress 0, 99, 100', async () => {
    const out = path.join(dir.dir, 'out-file');
    const run = await runTransfer(XmlExport, JSON.stringify({ source: `file://${dir.dir}/`, destination: `file://${out}/`, asset }), {
      config: noLimit,
    });
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual({ id: 'A-2011', destination: `file://${out}/`, files: ['clip.mxf', 'clip.wav', 'A-2011.xml'] });
    expect(run.reports).toEqual([{ progress: 0 }, { progress: 99 }, { progress: 100 }, { status: 'completed' }]);
    await expectExported(out);
  });

  it('reports 0, 99 and 100 even with the default progress interval', async () => {
    const out = path.join(dir.dir, 'out-default');
    const run = await runTransfer(XmlExport, { source: `file://${dir.dir}/`, destination: `file://${out}/`, asset });
    expect(run.reports).toEqual([{ progress: 0 }, { progress: 99 }, { progress: 100 }, { status: 'completed' }]);
  });

  it('exports to an ftp:// folder on a real vsftpd, creating the folder, byte-identical, with progress 0, 99, 100', async () => {
    const run = await runTransfer(XmlExport, JSON.stringify({ source: `file://${dir.dir}/`, destination: ftp.url('news/today/'), asset }), {
      config: noLimit,
    });
    expect(run.error).toBeUndefined();
    expect(run.reports).toEqual([{ progress: 0 }, { progress: 99 }, { progress: 100 }, { status: 'completed' }]);
    expect(JSON.stringify(run.result)).not.toContain(ftp.password);
    await expectExported(path.join(ftp.folder, 'news/today'));
  });

  it('takes FTP credentials from [Destination] when the URL has none', async () => {
    const config = { ...noLimit, Destination: { username: 'anonymous', password: ftp.password, timeout: '10s' } };
    const run = await runTransfer(
      XmlExport,
      { source: `file://${dir.dir}/`, destination: ftp.url('from-settings/', { password: false }).replace('anonymous@', ''), asset },
      { config },
    );
    expect(run.error).toBeUndefined();
    await expectExported(path.join(ftp.folder, 'from-settings'));
  });

  it("fails the transfer step with the server's answer, without the password, when the FTP password is wrong", async () => {
    const wrong = `wrong-${randomBytes(4).toString('hex')}`;
    const run = await runTransfer(
      XmlExport,
      { source: `file://${dir.dir}/`, destination: ftp.url('denied/', { password: wrong }), asset },
      { config: noLimit },
    );
    expect(run.error).toBeUndefined();
    const failure = run.reports.at(-1) as { status: string; message: string };
    expect(failure.status).toBe('failed');
    expect(failure.message).toMatch(
      /XML export of A-2011 to ftp:\/\/anonymous:\*\*\*@127\.0\.0\.1:\d+\/upload\/denied\/ failed: FTP upload to ftp:\/\/anonymous@127\.0\.0\.1:\d+\/upload\/denied\/ failed: 530 Login incorrect/,
    );
    expect(JSON.stringify(run)).not.toContain(wrong);
    expect(run.result).toEqual({ status: 'failed', message: failure.message });
  });

  it('fails the transfer step naming a media file that does not exist, and writes nothing', async () => {
    const out = path.join(dir.dir, 'out-missing');
    const run = await runTransfer(
      XmlExport,
      { source: `file://${dir.dir}/`, destination: `file://${out}/`, asset: { ...asset, media: ['nope.mxf'] } },
      { config: noLimit },
    );
    expect(run.reports.at(-1)).toEqual({
      status: 'failed',
      message: expect.stringMatching(/media "nope\.mxf" of asset A-2011 does not exist \(looked at .*nope\.mxf\)/) as string,
    });
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('fails the transfer step for an id that cannot name a file and for an unsupported destination', async () => {
    const traversal = await runTransfer(
      XmlExport,
      { destination: `file://${dir.dir}/x/`, asset: { id: '../evil', fields: {} } },
      { config: noLimit },
    );
    expect(traversal.result).toEqual({
      status: 'failed',
      message: expect.stringMatching(/record id "\.\.\/evil" cannot name a file/) as string,
    });
    const http = await runTransfer(XmlExport, { destination: 'http://example.com/in/', asset }, { config: noLimit });
    expect(http.result).toEqual({
      status: 'failed',
      message: expect.stringMatching(
        /destination http:\/\/example\.com\/in\/ is not supported; expected a file:\/\/ or ftp:\/\/ URL/,
      ) as string,
    });
  });
});

describe('ftpTarget', () => {
  it("prefers the URL's credentials, then the ones given, else anonymous; decodes the folder", () => {
    expect(ftpTarget('ftp://u%40x:p%3Aw@h:2121/a%20b/', { username: 'other', password: 'other' })).toMatchObject({
      host: 'h',
      port: 2121,
      user: 'u@x',
      password: 'p:w',
      dir: '/a b/',
    });
    expect(ftpTarget('ftp://h/in/', { username: 'bob', password: 'pw' })).toMatchObject({ port: 21, user: 'bob', password: 'pw' });
    expect(ftpTarget('ftp://h', {})).toMatchObject({ user: 'anonymous', dir: '/' });
  });
});
