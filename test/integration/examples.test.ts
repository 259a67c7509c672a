import { request } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import { flowd } from '../helpers/cli.js';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from '../helpers/cli.js';
import { spawnSync } from 'node:child_process';
import { deleteQueues, take } from '../helpers/broker.js';
import { dropTable, testPool } from '../helpers/postgres.js';

describe('the examples, run as the README says', () => {
  it('are started in the README with the command these tests run (node bin/flowd.js, which needs no link)', async () => {
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('npm ci && node bin/flowd.js run examples/hello/hello.ini');
    for (const example of [
      'lines/lines.ini < examples/lines/orders.jsonl', 'inbox/inbox.ini', 'web/web.ini', 'queue/queue.ini',
      'xmlimport/xmlimport.ini', 'metadatamapper/metadatamapper.ini', 'transfer/transfer.ini < examples/transfer/transfer.json', 'xmlexport/xmlexport.ini < examples/xmlexport/export.json',
      'events/events.ini', 'video/video.ini',
    ]) {
      expect(readme).toContain(`node bin/flowd.js run examples/${example}`);
    }
    expect(readme).toContain('node bin/flowd.js workflow start examples/video/video.ini UploadWorkflow');
    expect(readme).not.toMatch(/^npx flowd run examples/m);
  });

  it('examples/lines sums the orders of each account in order and exits 0', async () => {
    const input = await readFile(path.join(ROOT, 'examples/lines/orders.jsonl'), 'utf8');
    const run = flowd(['run', 'examples/lines/lines.ini'], { input });
    expect((await run.exit).code).toBe(0);
    const lines = run.stdout().trim().split('\n');
    expect(lines.filter((l) => l.startsWith('alice'))).toEqual(['alice: +120 EUR -> 120 EUR', 'alice: -20 EUR -> 100 EUR', 'alice: +7 EUR -> 107 EUR']);
    expect(lines.filter((l) => l.startsWith('bob'))).toEqual(['bob: +40 EUR -> 40 EUR', 'bob: +2.5 EUR -> 42.5 EUR']);
    expect(lines).toHaveLength(6);
  });

  it('examples/hello greets on every tick until stopped, then exits 0', async () => {
    const run = flowd(['run', 'examples/hello/hello.ini']);
    await run.waitFor('stdout', /Hello from flowd \(tick-1 at /);
    run.child.kill('SIGINT');
    expect((await run.exit).code).toBe(0);
    expect(run.stderr()).toMatch(/hello stopped \(requested\)/);
  });

  it('examples/web answers requests on its port', async () => {
    const run = flowd(['run', 'examples/web/web.ini', '--log-level', 'info']);
    await run.waitFor('stderr', /listening on http:\/\/127\.0\.0\.1:8080\/api\//);
    const res = await request('http://127.0.0.1:8080/api/greet?name=Ada');
    expect(await res.body.json()).toEqual({ greeting: 'Hello, Ada!' });
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
  });

  it('examples/queue registers the assets sent to its queue and announces each one', async () => {
    await deleteQueues('flowd-example.assets', 'flowd-example.registered');
    const run = flowd(['run', 'examples/queue/queue.ini']);
    await run.waitFor('stderr', /connected to stomp:\/\/guest@127\.0\.0\.1:61613\/queue\/flowd-example\.assets/);
    const send = spawnSync(process.execPath, ['--import', 'tsx', 'examples/queue/send.ts', '3'], { cwd: ROOT, encoding: 'utf8' });
    expect(send.stdout).toContain('sent 3 asset(s)');
    await run.waitFor('stdout', /asset A-3: Evening news, part 3/);
    const announced = await take('/queue/flowd-example.registered', 3);
    expect(announced.map((m) => JSON.parse(m.body) as { id: string }).map((b) => b.id).sort()).toEqual(['A-1', 'A-2', 'A-3']);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
    await deleteQueues('flowd-example.assets', 'flowd-example.registered');
  });

  it('examples/inbox counts the words of a file dropped into it and moves it to done/', async () => {
    const inbox = path.join(ROOT, 'examples/inbox');
    const dropped = path.join(inbox, 'in', `test-${process.pid}.txt`);
    try {
      const run = flowd(['run', 'examples/inbox/inbox.ini']);
      await run.waitFor('stderr', /inbox started/);
      await writeFile(dropped, 'three little words');
      await run.waitFor('stdout', new RegExp(`test-${process.pid}\\.txt: 3 word\\(s\\)`));
      await vi.waitFor(async () => expect(await readFile(path.join(inbox, 'done', `test-${process.pid}.txt`), 'utf8')).toBe('three little words'));
      run.child.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
    } finally {
      await rm(dropped, { force: true });
      await rm(path.join(inbox, 'done'), { recursive: true, force: true });
      await rm(path.join(inbox, 'failed'), { recursive: true, force: true });
      await rm(path.join(inbox, '.flowd'), { recursive: true, force: true });
    }
  });

  it('examples/xmlimport imports the sample media and XML into records/, in either order', async () => {
    const example = path.join(ROOT, 'examples/xmlimport');
    try {
      const run = flowd(['run', 'examples/xmlimport/xmlimport.ini']);
      await run.waitFor('stderr', /xmlimport started/);
      await copyFile(path.join(example, 'samples/clip.mxf'), path.join(example, 'in/clip.mxf'));
      await vi.waitFor(async () => expect(await readdir(path.join(example, 'done'))).toContain('clip.mxf'), { timeout: 10_000 });
      await copyFile(path.join(example, 'samples/A1.xml'), path.join(example, 'in/A1.xml'));
      await vi.waitFor(async () => expect(JSON.parse(await readFile(path.join(example, 'records/A1.json'), 'utf8'))).toMatchObject({ fields: { 'asset.title': 'Evening news' }, media: ['clip.mxf'] }), { timeout: 10_000 });
      run.child.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
    } finally {
      for (const made of ['records', 'done', 'failed', '.flowd', 'in/clip.mxf', 'in/A1.xml']) await rm(path.join(example, made), { recursive: true, force: true });
    }
  });

  it('examples/metadatamapper maps the record an update event names, once', async () => {
    const file = path.join(ROOT, 'examples/metadatamapper/records/A1.json');
    const original = await readFile(file, 'utf8');
    try {
      const run = flowd(['run', 'examples/metadatamapper/metadatamapper.ini', '--log-level', 'info']);
      await run.waitFor('stderr', /listening on http:\/\/127\.0\.0\.1:8081\/updates\//);
      const post = async () => (await request('http://127.0.0.1:8081/updates', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id":"A1"}' })).body.json();
      expect(await post()).toEqual({ id: 'A1', changed: { 'asset.subtitle': 'Evening news alternative', 'asset.slug': 'evening-news' }, attempts: 1 });
      expect(await post()).toEqual({ id: 'A1', changed: {}, attempts: 1 });
      expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ version: 2, fields: { 'asset.title': 'Evening news', 'asset.subtitle': 'Evening news alternative' } });
      run.child.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
    } finally {
      await writeFile(file, original);
      await rm(path.join(ROOT, 'examples/metadatamapper/.flowd'), { recursive: true, force: true });
    }
  });

  it('examples/xmlexport writes the media and then the record XML to its destination, reporting 0, 99, 100, and exits 0', async () => {
    const data = JSON.parse(await readFile(path.join(ROOT, 'examples/xmlexport/export.json'), 'utf8')) as { destination: string };
    const destination = new URL(data.destination).pathname;
    await rm(destination, { recursive: true, force: true });
    try {
      const run = flowd(['run', 'examples/xmlexport/xmlexport.ini'], { input: JSON.stringify(data) });
      expect((await run.exit).code).toBe(0);
      expect(run.stdout().trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([{ progress: 0 }, { progress: 99 }, { progress: 100 }, { status: 'completed' }]);
      expect((await readdir(destination)).sort()).toEqual(['A1.xml', 'clip.mxf']);
      expect(await readFile(path.join(destination, 'clip.mxf'))).toEqual(await readFile(path.join(ROOT, 'examples/xmlexport/clip.mxf')));
      expect(await readFile(path.join(destination, 'A1.xml'), 'utf8')).toContain('<field name="asset.title">Evening news</field>');
    } finally {
      await rm(destination, { recursive: true, force: true });
    }
  });

  it('examples/events hands the events emit.ts adds to its two plugins, and flowd plugins shows both at cursor 4', async () => {
    const db = testPool(1);
    const state = path.join(ROOT, 'examples/events/.flowd');
    await rm(state, { recursive: true, force: true });
    // A fresh table: emit.ts creates it, and its ids start at 1 again.
    await dropTable(db, 'flowd_example_events');
    try {
      const emit = spawnSync(process.execPath, ['--import', 'tsx', 'examples/events/emit.ts', '4'], { cwd: ROOT, encoding: 'utf8' });
      expect(emit.stdout).toContain('emitted 4 event(s) into flowd_example_events');
      const run = flowd(['run', 'examples/events/events.ini']);
      await run.waitFor('stdout', /task 13: status is now rev \(event 3\)/);
      await run.waitFor('stdout', /version 104 is new \(2 so far, event 4\)/);
      run.child.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
      const lines = run.stdout().trim().split('\n');
      expect(lines.filter((l) => l.startsWith('task'))).toEqual(['task 11: status is now rdy (event 1)', 'task 13: status is now rev (event 3)']);
      expect(lines.filter((l) => l.startsWith('version'))).toEqual(['version 102 is new (1 so far, event 2)', 'version 104 is new (2 so far, event 4)']);
      const list = flowd(['plugins', 'examples/events/events.ini']);
      expect((await list.exit).code).toBe(0);
      expect(list.stdout()).toMatch(/^new-versions\s+active\s+4\s+0\s+countVersion \(Shotgun_Version_New: \*\)$/m);
      expect(list.stdout()).toMatch(/^task-status\s+active\s+4\s+0\s+onStatusChange \(Shotgun_Task_Change: sg_status_list\)$/m);
    } finally {
      await rm(state, { recursive: true, force: true });
      await dropTable(db, 'flowd_example_events');
      await db.end();
    }
  });

  it('flowd check accepts every example', async () => {
    for (const ini of ['examples/hello/hello.ini', 'examples/lines/lines.ini', 'examples/inbox/inbox.ini', 'examples/web/web.ini', 'examples/xmlimport/xmlimport.ini', 'examples/metadatamapper/metadatamapper.ini', 'examples/transfer/transfer.ini', 'examples/xmlexport/xmlexport.ini', 'examples/events/events.ini', 'examples/video/video.ini']) {
      const run = flowd(['check', ini]);
      expect((await run.exit).code).toBe(0);
      expect(run.stdout()).toMatch(/: ok: /);
    }
  });
});
