import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { flowd, ROOT } from '../helpers/cli.js';

// Issue 21, point 3: every INI file the Flow manual shows passes `flowd check` unchanged, with its
// worker module beside it (test/fixtures/manual/). The manual's complete files are copied as written;
// the blocks it shows as templates are completed with one value per placeholder, and the reason is here.

const MANUAL = path.join(ROOT, 'test/fixtures/manual');

/** Each fixture, and how it stands to the manual. */
const FIXTURES: Record<string, string> = {
  'xmlimport.ini': 'as written (XML Import: "Example ini file for using this importer")',
  'xmlimport-custom.ini':
    'a fragment: the custom-XML blocks are templates (format = default|custom, type = string|integer|..., NAME = EXPR, FORM, FIELD1); assembled with one value each',
  'metadatamapper.ini': 'as written (Metadata Mapper: "Example ini file"), its [Source] only a comment',
  'stomp.ini': 'a fragment: [Source] stomp url = <full stomp url> is a placeholder; given a URL and the [Flow] of its MyFlow',
  'asset.ini': 'a fragment: the Asset Entry Listener [Source] (# None), with the [Flow] of its MyFlow',
  'files.ini': 'a fragment: location = <handle of an import storage> and skip empty files = <yes/no> are placeholders',
  'stdin.ini': 'a fragment: payload class = None|vizone.payload.transfer.PluginData|... lists choices; the second here',
  'stdin-none.ini': 'a fragment: the same STDIN block with payload class = None',
  'interval.ini':
    'broken as written: "interval = 60 (seconds)" and "01:00 [HH[:MM[:SS]]]" carry annotations Flow could not read either (int() fails); left out',
  'xmlserver.ini': 'as written (Building a Web Interface: "the corresponding INI file")',
  'myplugin.ini': 'as written (Building a Transfer Plugin: "And for the myplugin.ini file")',
};

describe("the Flow manual's INI files", () => {
  it('are all here: every .ini in test/fixtures/manual is checked below', async () => {
    const files = (await readdir(MANUAL)).filter((name) => name.endsWith('.ini')).sort();
    expect(files).toEqual(Object.keys(FIXTURES).sort());
  });

  for (const [file, how] of Object.entries(FIXTURES)) {
    it(`${file} passes flowd check (${how})`, async () => {
      const check = flowd(['check', file], { cwd: MANUAL });
      const { code } = await check.exit;
      expect(check.stderr(), file).toBe('');
      expect(code, file).toBe(0);
      expect(check.stdout()).toMatch(new RegExp(`^${path.basename(file, '.ini')}: ok: `));
    });
  }

  it('myplugin.ini runs the plugin with its [Viz One] lacking a hostname while nothing needs the API', async () => {
    const data = { source: 'file:///in/', destination: 'file:///out/', asset: { id: 'A1', title: 'News' } };
    const run = flowd(['run', 'myplugin.ini'], { cwd: MANUAL, input: JSON.stringify(data) });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout().trim().split('\n')).toEqual(['{"progress":0}', '{"progress":100}', '{"status":"completed"}']);
    expect(run.stderr()).toContain('Asset is News');
  });

  it('myplugin.ini fails naming [Viz One] "hostname" when the plugin first needs the API (a transfer step URL to report to)', async () => {
    const data = {
      source: 'file:///in/',
      destination: 'file:///out/',
      step: 'http://127.0.0.1:9/step/1',
      asset: { id: 'A1', title: 'News' },
    };
    const run = flowd(['run', 'myplugin.ini'], { cwd: MANUAL, input: JSON.stringify(data) });
    expect((await run.exit).code).toBe(1);
    expect(run.stderr()).toContain('myplugin.ini [Viz One] \\"hostname\\": is missing; expected the API server as host or host:port');
    expect(run.stdout()).toBe('');
  });
});
