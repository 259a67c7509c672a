import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { flowd, tempDir } from '../helpers/cli.js';

type Temp = Awaited<ReturnType<typeof tempDir>>;

/** flowd's default record XML (src/apps/xml/default-record.ts). */
function recordXml(id: string, fields: Record<string, string>, media: string[] = []): string {
  const body = Object.entries(fields).map(([name, value]) => `  <field name="${name}">${value}</field>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<record id="${id}">\n${[...body, ...media.map((m) => `  <media href="${m}"/>`)].join('\n')}\n</record>\n`;
}

const APP = `[Flow]
app name = importer
class = xmlimport.XmlImport

[Source]
location = in
settle time = 100ms
rescan interval = 500ms
move done to = done
move failed to = failed

[Target]
type = folder
folder = records
`;

let temp: Temp;
beforeEach(async () => {
  temp = await tempDir();
  await mkdir(path.join(temp.dir, 'in'));
});
afterEach(async () => {
  await temp.cleanup();
});

const at = (...parts: string[]) => path.join(temp.dir, ...parts);
const record = async (id: string) =>
  JSON.parse(await readFile(at('records', `${id}.json`), 'utf8')) as { version: number; fields: Record<string, unknown>; media: string[] };
const drop = (name: string, content: string) => writeFile(at('in', name), content);
/** Waits until the source has moved the file away after its outcome. */
const handled = (name: string, outcome: 'done' | 'failed') =>
  vi.waitFor(async () => expect(await readdir(at(outcome))).toContain(name), { timeout: 10_000, interval: 50 });

describe('flowd run with class = xmlimport.XmlImport', () => {
  it('imports XML and media in either order, updates records, refuses media for an occupied record and sets malformed XML aside', async () => {
    const ini = await temp.write('importer.ini', APP);
    const check = flowd(['check', ini]);
    expect((await check.exit).code).toBe(0);
    expect(check.stdout()).toMatch(/importer: ok: worker XmlImport \(xmlimport\.XmlImport\), source files in /);

    const run = flowd(['run', ini]);
    await run.waitFor('stderr', /importer started/);

    // XML, then its media.
    await drop('A1.xml', recordXml('A1', { 'asset.title': 'Evening news' }, ['clip.mxf']));
    await handled('A1.xml', 'done');
    expect(await record('A1')).toMatchObject({ fields: { 'asset.title': 'Evening news' }, media: [] });
    await drop('clip.mxf', 'essence A');
    await handled('clip.mxf', 'done');
    expect((await record('A1')).media).toEqual(['clip.mxf']);
    expect(await readFile(at('records', 'A1.media', 'clip.mxf'), 'utf8')).toBe('essence A');

    // Media, then the XML that names it.
    await drop('promo.mxf', 'essence B');
    await handled('promo.mxf', 'done');
    await expect(readFile(at('records', 'B1.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    await drop('B1.xml', recordXml('B1', { 'asset.title': 'Promo' }, ['promo.mxf']));
    await handled('B1.xml', 'done');
    expect(await record('B1')).toMatchObject({ fields: { 'asset.title': 'Promo' }, media: ['promo.mxf'] });
    expect(await readFile(at('records', 'B1.media', 'promo.mxf'), 'utf8')).toBe('essence B');
    expect(await readdir(at('.flowd', 'importer', 'pending-media'))).toEqual([]);

    // An update of an existing record (occupied: only its metadata changes).
    await drop('A1-update.xml', recordXml('A1', { 'asset.title': 'Late news', 'asset.genre': 'news' }));
    await handled('A1-update.xml', 'done');
    expect(await record('A1')).toMatchObject({
      version: 3,
      fields: { 'asset.title': 'Late news', 'asset.genre': 'news' },
      media: ['clip.mxf'],
    });

    // Media for a record that already has media fails, and says why beside the file.
    await drop('clip.mxf', 'essence C');
    await handled('clip.mxf.error.txt', 'failed');
    expect(await readFile(at('failed', 'clip.mxf.error.txt'), 'utf8')).toMatch(
      /^ERR_RECORD: clip\.mxf: record "A1" .* already has media \(clip\.mxf\)/,
    );
    expect(await readFile(at('records', 'A1.media', 'clip.mxf'), 'utf8')).toBe('essence A');

    // A malformed XML goes to `move failed to` with the parser's message.
    await drop('broken.xml', '<?xml version="1.0"?>\n<record id="X1"><field name="a">unclosed</record>\n');
    await handled('broken.xml.error.txt', 'failed');
    const why = await readFile(at('failed', 'broken.xml.error.txt'), 'utf8');
    expect(why).toMatch(/^ERR_XML: .*broken\.xml/);
    // xmldom's own words, with the line they point at.
    expect(why).toMatch(/line 2.*tag mismatch/);
    expect(await readdir(at('records'))).toEqual(['A1.json', 'A1.media', 'B1.json', 'B1.media']);

    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
  });

  describe('with a custom mapping', () => {
    let server: Server;
    let port: number;
    beforeEach(async () => {
      server = createServer((req, res) => {
        if (req.url !== '/categories') return void res.writeHead(404).end();
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ 'Breaking News': 'category/1', Weather: 'category/2' }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterEach(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('reads every field type, applies the transforms in order and maps them onto the record', async () => {
      const ini = await temp.write(
        'custom.ini',
        `${APP}
[Xml]
format = custom
id = /n:story/@ref
media = /n:story/n:video/@file

[Namespaces]
n = http://example.com/news

[Field:headline]
xpath = /n:story/n:headline

[Field:parts]
xpath = /n:story/n:parts
type = integer

[Field:day]
xpath = /n:story/n:day
type = date
format = %d.%m.%Y

[Field:clock]
xpath = /n:story/n:clock
type = time
format = %H.%M

[Field:aired]
xpath = /n:story/n:aired
type = datetime
format = %Y-%m-%d %H:%M
default timezone = Europe/Stockholm

[Field:category]
xpath = /n:story/n:category
type = dictionary
source = http://127.0.0.1:${port}/categories

[Transform]
title = upper(headline)
label = title + ' (' + concat(parts) + ' parts)'
slot = day + ' ' + clock

[Mapping]
asset.title = label
asset.parts = parts
asset.slot = slot
asset.aired = aired
asset.category = category
`,
      );
      const run = flowd(['run', ini]);
      await run.waitFor('stderr', /importer started/);
      await drop(
        'story.xml',
        `<?xml version="1.0"?>
<story xmlns="http://example.com/news" ref="N7">
  <headline>Storm warning</headline>
  <parts>3</parts>
  <day>24.12.2024</day>
  <clock>18.30</clock>
  <aired>2024-12-24 18:30</aired>
  <category>Breaking News</category>
  <video file="storm.mxf"/>
</story>
`,
      );
      await handled('story.xml', 'done');
      expect(await record('N7')).toMatchObject({
        fields: {
          'asset.title': 'STORM WARNING (3 parts)',
          'asset.parts': 3,
          'asset.slot': '2024-12-24 18:30:00',
          'asset.aired': '2024-12-24T17:30:00Z',
          'asset.category': 'category/1',
        },
        media: [],
      });
      await drop('storm.mxf', 'essence');
      await handled('storm.mxf', 'done');
      expect((await record('N7')).media).toEqual(['storm.mxf']);
      run.child.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
    });
  });
});
