import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixture, flowd, tempDir } from '../helpers/cli.js';

// `[Flow] isolation = thread` through the real CLI and the built dist/: the worker module is TypeScript, loaded in each thread.
describe('flowd run with isolation = thread', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeEach(async () => (tmp = await tempDir()));
  afterEach(() => tmp.cleanup());

  const ini = (flow: string) =>
    tmp.write(
      'app.ini',
      `[Flow]\n${flow}\n\n[Source]\ntype = stdin\nmode = lines\npayload class = json\n\n[Store]\nfolder = ${tmp.dir}/store\n`,
    );

  it('terminates a busy-looping worker at the execution timeout, runs the other lines, and exits 1 for the timed-out one', async () => {
    const file = await ini(
      `class = ${fixture('threaded.ts')}:spinner\nisolation = thread\nworkers = 2\nexecution timeout = 1s\norder by = key`,
    );
    const run = flowd(['run', file], { input: '{"key":"k","n":0,"spin":true}\n{"key":"k","n":1}\n{"key":"o","n":2}\n' });
    expect(await run.exit).toEqual({ code: 1, signal: null });
    expect(run.stderr()).toMatch(/event line-1 failed after 1 attempt\(s\).*execution timeout of 1000ms/);
    expect(run.stderr()).toMatch(/its thread is being terminated/);
    expect(run.stderr()).toMatch(/"completed":2,"failed":1/);
    expect(run.stderr()).not.toMatch(/failed to start/);
  });

  it('refuses isolation = thread for a built-in app, whose class is no module file, with exit 2 naming the file and key', async () => {
    const file = await ini('class = xmlimport.XmlImport\nisolation = thread');
    const run = flowd(['check', file]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(/app\.ini \[Flow\] "isolation": is thread, but class = xmlimport\.XmlImport is not a module file/s);
  });

  it('refuses isolation = banana with exit 2 naming the key and the choices', async () => {
    const file = await ini(`class = ${fixture('threaded.ts')}:spinner\nisolation = banana`);
    const run = flowd(['check', file]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(/isolation/);
    expect(run.stderr()).toMatch(/banana/);
  });
});
