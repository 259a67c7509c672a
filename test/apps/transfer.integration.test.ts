import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TransferPlugin } from '../../src/apps/transfer.js';
import { ApiClient } from '../../src/toolkit/client.js';
import { flowd, ROOT, tempDir } from '../helpers/cli.js';
import { runTransfer } from '../helpers/transfer.js';

const data = { source: 'file:///in/clip.mxf', destination: 'file:///out/', asset: { id: 'A1', fields: { title: 'News' } } };

class Steps extends TransferPlugin<string> {
  start(event: unknown) {
    this.use(event);
    void this.updateProgress(0);
    void this.updateProgress(42);
    if (this.asset!.fields.title === 'broken') this.fail('There were errors!');
    if (this.asset!.fields.title === 'crash') throw new Error('disk on fire');
    void this.updateProgress(100);
    return `${this.asset!.title} from ${this.source} to ${this.destination}`;
  }
}

const noLimit = { Transfer: { 'progress interval': '0' } };

describe('TransferPlugin', () => {
  it('reads its data once from standard input', () => {
    expect(TransferPlugin.SOURCE).toEqual({ type: 'stdin', mode: 'once' });
  });

  it('sets asset, source and destination from use(), and reports progress then completion as JSON lines', async () => {
    const run = await runTransfer(Steps, JSON.stringify(data), { config: noLimit });
    expect(run.result).toBe('News from file:///in/clip.mxf to file:///out/');
    expect(run.reports).toEqual([{ progress: 0 }, { progress: 42 }, { progress: 100 }, { status: 'completed' }]);
  });

  it('rate-limits progress with [Transfer] progress interval, keeping 100, and refuses an unknown [Transfer] key at start-up', async () => {
    const run = await runTransfer(Steps, JSON.stringify(data), { config: { Transfer: { 'progress interval': '1h' } } });
    // 42 came too soon after 0 and was waiting; 100 sends it first.
    expect(run.reports).toEqual([{ progress: 0 }, { progress: 42 }, { progress: 100 }, { status: 'completed' }]);
    await expect(runTransfer(Steps, JSON.stringify(data), { config: { Transfer: { 'progress intervall': '1s' } } })).rejects.toThrow(
      /\[Transfer\] "progress intervall": is not a setting of \[Transfer\] \(did you mean "progress interval"\?\)/,
    );
  });

  it('fail(message) ends start(), reports the failure, and completes the event with status failed', async () => {
    const run = await runTransfer(Steps, JSON.stringify({ ...data, asset: { id: 'A1', fields: { title: 'broken' } } }), {
      config: noLimit,
    });
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual({ status: 'failed', message: 'There were errors!' });
    expect(run.reports).toEqual([{ progress: 0 }, { progress: 42 }, { status: 'failed', message: 'There were errors!' }]);
  });

  it('reports any other error as failed too, then fails the event with it', async () => {
    const run = await runTransfer(Steps, JSON.stringify({ ...data, asset: { id: 'A1', fields: { title: 'crash' } } }), { config: noLimit });
    expect(run.error?.message).toBe('disk on fire');
    expect(run.reports.at(-1)).toEqual({ status: 'failed', message: 'disk on fire' });
  });

  it('fails the event with ERR_TRANSFER when use() finds the data incomplete', async () => {
    const run = await runTransfer(Steps, '{"asset": {"id": "A1"}}', { config: noLimit });
    expect(run.error).toMatchObject({
      code: 'ERR_TRANSFER',
      message: expect.stringMatching(/missing a "source" URL, a "destination" URL/) as string,
    });
  });

  describe('with a transfer step URL in the data', () => {
    let server: ReturnType<typeof createServer> | undefined;
    afterEach(async () => {
      await new Promise((resolve) => server?.close(resolve));
    });

    it('PUTs each report as JSON to the step through the [Api] client, and writes nothing on stdout', async () => {
      const received: Array<{ method: string; url: string; type: string; body: unknown }> = [];
      server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          received.push({ method: req.method!, url: req.url!, type: req.headers['content-type']!, body: JSON.parse(body) });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const client = new ApiClient({
        origin,
        host: '127.0.0.1',
        port: 0,
        username: 'flow',
        password: 'pw',
        useHttps: false,
        checkCertificates: true,
        timeOutMs: 5000,
        retries: 0,
        retryDelayMs: 1,
        retryMaxDelayMs: 1,
      });
      const run = await runTransfer(Steps, JSON.stringify({ ...data, step: `${origin}/api/transfer/step/7` }), { config: noLimit, client });
      await client.close();
      expect(run.reports).toEqual([]);
      expect(received.map((r) => r.body)).toEqual([{ progress: 0 }, { progress: 42 }, { progress: 100 }, { status: 'completed' }]);
      expect(received.every((r) => r.method === 'PUT' && r.url === '/api/transfer/step/7' && r.type === 'application/json')).toBe(true);
    });
  });
});

describe('a TransferPlugin run by the CLI with its data on standard input', () => {
  const plugin = (body: string) => `import { TransferPlugin } from ${JSON.stringify(path.join(ROOT, 'src/apps/transfer.ts'))};
export class Plugin extends TransferPlugin {
  async start(data) { ${body} }
}
`;

  it('exits 0 after fail(), with the failure as the last line on stdout', async () => {
    const dir = await tempDir();
    try {
      await dir.write('plugin.ts', plugin(`this.use(data); await this.updateProgress(0); this.fail('There were errors!');`));
      const ini = await dir.write('app.ini', '[Flow]\nclass = ./plugin.ts:Plugin\n');
      const run = flowd(['run', ini], { input: JSON.stringify(data) });
      expect((await run.exit).code).toBe(0);
      expect(
        run
          .stdout()
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as unknown),
      ).toEqual([{ progress: 0 }, { status: 'failed', message: 'There were errors!' }]);
    } finally {
      await dir.cleanup();
    }
  });

  it('reads XML data as well as JSON, and exits 1 when the data is incomplete', async () => {
    const dir = await tempDir();
    try {
      await dir.write(
        'plugin.ts',
        plugin(`const d = this.use(data); process.stdout.write(JSON.stringify({ format: d.format, title: this.asset.title }) + '\\n');`),
      );
      const ini = await dir.write('app.ini', '[Flow]\nclass = ./plugin.ts:Plugin\n');
      const xml =
        '<transfer><source>file:///in/a</source><destination>file:///out/</destination><asset id="7" title="Tom &amp; Jerry"/></transfer>';
      const ok = flowd(['run', ini], { input: xml });
      expect((await ok.exit).code).toBe(0);
      expect(ok.stdout()).toBe('{"format":"xml","title":"Tom & Jerry"}\n{"status":"completed"}\n');
      const incomplete = flowd(['run', ini], { input: '<transfer><source>file:///in/a</source></transfer>' });
      expect((await incomplete.exit).code).toBe(1);
      expect(incomplete.stderr()).toMatch(/the transfer data is missing an \\"asset\\" with an id, a \\"destination\\" URL/);
    } finally {
      await dir.cleanup();
    }
  });

  it('examples/transfer copies a file:// source to a file:// destination with progress by bytes', async () => {
    const dir = await tempDir();
    try {
      const content = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
      const from = path.join(dir.dir, 'clip.bin');
      await writeFile(from, content);
      const input = JSON.stringify({ source: `file://${from}`, destination: `file://${dir.dir}/out/` });
      const run = flowd(['run', path.join(ROOT, 'examples/transfer/transfer.ini')], { input });
      expect((await run.exit).code).toBe(0);
      expect((await readFile(path.join(dir.dir, 'out/clip.bin'))).equals(content)).toBe(true);
      const reports = run
        .stdout()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { progress?: number; status?: string });
      expect(reports[0]).toEqual({ progress: 0 });
      expect(reports.at(-2)).toEqual({ progress: 100 });
      expect(reports.at(-1)).toEqual({ status: 'completed' });
      const values = reports.flatMap((r) => (r.progress === undefined ? [] : [r.progress]));
      expect(values).toEqual([...values].sort((a, b) => a - b));
    } finally {
      await dir.cleanup();
    }
  });

  it('documents the example input, which names file:// URLs', async () => {
    const sample = JSON.parse(await readFile(path.join(ROOT, 'examples/transfer/transfer.json'), 'utf8')) as {
      source: string;
      destination: string;
    };
    expect(sample.source).toMatch(/^file:\/\/\//);
    expect(sample.destination).toMatch(/^file:\/\/\/.*\/$/);
  });
});
