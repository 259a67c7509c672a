import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { DateTime } from 'luxon';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, fixture, flowd, ROOT, tempDir } from '../helpers/cli.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

const app = (flow: string, source: string, extra = '', level = 'info') =>
  `[Flow]\n${flow}\n\n[Source]\n${source}\n\n${extra}\n[Log]\nlevel = ${level}\n`;

describe('flowd run with a stdin source', () => {
  it('runs one event per JSON line and exits 0 when all completed', async () => {
    const ini = await tmp.write(
      'lines.ini',
      app(`class = ${fixture('echo.ts')}:Echo\nworkers = 3`, 'type = stdin\nmode = lines\npayload class = json'),
    );
    const run = flowd(['run', ini], { input: '{"a":1}\n\n{"a":2}\n{"a":3}\n' });
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(run.stdout().trim().split('\n').sort()).toEqual(['line-1 {"a":1}', 'line-3 {"a":2}', 'line-4 {"a":3}']);
  });

  it("gives an app module that imports flowd the flowd the command runs: the runtime's errors are its classes", async () => {
    const ini = await tmp.write(
      'identity.ini',
      app(
        `class = ${fixture('identity.ts')}:Identity`,
        'type = stdin\nmode = lines\npayload class = json',
        `[Store]\nfolder = ${tmp.dir}/store`,
      ),
    );
    const run = flowd(['run', ini], { input: '{"a":1}\n' });
    expect(await run.exit).toEqual({ code: 0, signal: null });
    expect(run.stdout().trim()).toBe('line-1 true');
  });

  it('fails a line that is not JSON with an error naming the line, goes on with the rest, and exits 1', async () => {
    const ini = await tmp.write('lines.ini', app(`class = ${fixture('echo.ts')}:Echo`, 'type = stdin\nmode = lines\npayload class = json'));
    const run = flowd(['run', ini], { input: '{"a":1}\n{not json\n{"a":3}\n' });
    expect((await run.exit).code).toBe(1);
    expect(run.stdout()).toContain('line-1 {"a":1}');
    expect(run.stdout()).toContain('line-3 {"a":3}');
    expect(run.stderr()).toMatch(/line 2 is not JSON/);
  });

  it('exits 1 when a worker fails on a line', async () => {
    const ini = await tmp.write('lines.ini', app(`class = ${fixture('echo.ts')}:Echo`, 'type = stdin\nmode = lines\npayload class = json'));
    const run = flowd(['run', ini], { input: '{"fail":true}\n{"a":2}\n' });
    expect((await run.exit).code).toBe(1);
    expect(run.stderr()).toMatch(/event line-1 asked to fail/);
    expect(run.stdout()).toContain('line-2 {"a":2}');
  });

  it('reads all of stdin as one event in once mode, as Flow does', async () => {
    const ini = await tmp.write('once.ini', app(`class = ${fixture('echo.ts')}:Echo`, 'type = stdin'));
    const run = flowd(['run', ini], { input: 'first\nsecond\n' });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toBe('stdin "first\\nsecond\\n"\n');
  });
});

describe('flowd run with an interval source', () => {
  const window = (startOffsetH: number, endOffsetH: number) => {
    const now = DateTime.utc();
    const fmt = (d: DateTime) => d.toFormat('HH:mm');
    return `window start = ${fmt(now.plus({ hours: startOffsetH }))}\nwindow end = ${fmt(now.plus({ hours: endOffsetH }))}\ntimezone = UTC`;
  };

  it('fires inside its window until SIGTERM, then exits 0', async () => {
    const ini = await tmp.write(
      'tick.ini',
      app(`class = ${fixture('echo.ts')}:Echo`, `type = interval\ninterval = 100ms\n${window(-1, 1)}`),
    );
    const run = flowd(['run', ini]);
    await run.waitFor('stdout', /tick-2 null/);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toMatch(/^tick-1 null\ntick-2 null\n/);
  });

  it('fires nothing outside its window and says when the next event is due', async () => {
    const ini = await tmp.write(
      'tick.ini',
      app(`class = ${fixture('echo.ts')}:Echo`, `type = interval\ninterval = 100ms\n${window(2, 3)}`),
    );
    const run = flowd(['run', ini]);
    await run.waitFor('stderr', /outside its window; next event at/);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toMatch(/"received":0/);
  });
});

describe('stopping', () => {
  it('lets in-flight work finish on SIGTERM and reports it completed', async () => {
    const ini = await tmp.write(
      'slow.ini',
      app(`class = ${fixture('slow.ts')}:Slow`, 'type = interval\ninterval = 1h', '[Slow]\nms = 300\n'),
    );
    const run = flowd(['run', ini]);
    await run.waitFor('stdout', /working tick-1/);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toContain('done tick-1');
    expect(run.stderr()).toMatch(/"completed":1/);
  });

  it('aborts in-flight work after the shutdown timeout and returns it, exiting 0', async () => {
    const ini = await tmp.write(
      'slow.ini',
      app(`class = ${fixture('slow.ts')}:Slow\nshutdown timeout = 200ms`, 'type = interval\ninterval = 1h', '[Slow]\nms = 60000\n'),
    );
    const run = flowd(['run', ini]);
    await run.waitFor('stdout', /working tick-1/);
    run.child.kill('SIGINT');
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).not.toContain('done tick-1');
    expect(run.stderr()).toMatch(/"returned":1/);
  });
});

describe('choosing the source', () => {
  it("uses the worker class's static SOURCE when [Source] names no type", async () => {
    const ini = await tmp.write('shout.ini', `[Flow]\nclass = ${fixture('shout.ts')}:Shout\n`);
    const run = flowd(['run', ini], { input: 'a\nb\n' });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout().split('\n').filter(Boolean).sort()).toEqual(['A', 'B']);
  });

  it('puts [Source] keys on top of the static SOURCE', async () => {
    const ini = await tmp.write('shout.ini', `[Flow]\nclass = ${fixture('shout.ts')}:Shout\n\n[Source]\nmode = once\n`);
    const run = flowd(['run', ini], { input: 'a\nb' });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toBe('A\nB\n');
  });

  it("lets the INI file's [Source] type win over the static SOURCE", async () => {
    const ini = await tmp.write('shout.ini', app(`class = ${fixture('shout.ts')}:Shout`, 'type = interval\ninterval = 1h'));
    const run = flowd(['run', ini]);
    await run.waitFor('stdout', /NULL/);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
  });
});

describe('command-line options and logging', () => {
  it('takes -n and -w over the INI file', async () => {
    const ini = await tmp.write('opts.ini', app(`app name = original\nclass = ${fixture('echo.ts')}:Echo\nworkers = 1`, 'type = stdin'));
    const run = flowd(['check', '-n', 'renamed', '-w', '3', ini]);
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toMatch(/^renamed: ok: .*3 worker\(s\)/);
    const bad = flowd(['check', '-w', 'none', ini]);
    expect((await bad.exit).code).toBe(2);
    expect(bad.stderr()).toContain('--workers: found "none"');
  });

  it('exits 2 when [Log] file cannot be written, in check as in run', async () => {
    const ini = await tmp.write(
      'nolog.ini',
      `[Flow]\nclass = ${fixture('echo.ts')}:Echo\n\n[Source]\ntype = stdin\n\n[Log]\nfile = /dev/null/app.log\n`,
    );
    for (const command of ['check', 'run']) {
      const run = flowd([command, ini]);
      expect((await run.exit).code).toBe(2);
      expect(run.stderr()).toContain('[Log] "file": found "/dev/null/app.log", which cannot be written');
    }
  });

  it('keeps running when the reader of its stdout goes away (EPIPE)', async () => {
    await tmp.write('lines.mjs', 'export default { start(e) { process.stdout.write(e + "\\n"); } };\n');
    const ini = await tmp.write('pipe.ini', app('class = ./lines.mjs', 'type = stdin\nmode = lines'));
    const run = flowd(['run', ini], { input: Array.from({ length: 3000 }, (_, i) => `line ${i}`).join('\n') });
    await run.waitFor('stdout', /line 0/);
    run.child.stdout!.destroy();
    expect((await run.exit).code).toBe(0);
    expect(run.stderr()).toMatch(/"completed":3000/);
  });

  it('writes logs to [Log] file instead of stderr, keeping stdout for the app', async () => {
    const ini = await tmp.write(
      'logged.ini',
      `[Flow]\nclass = ${fixture('echo.ts')}:Echo\n\n[Source]\ntype = stdin\n\n[Log]\nfile = ./logs/app.log\n`,
    );
    const run = flowd(['run', ini], { input: 'hello' });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toBe('stdin "hello"\n');
    expect(run.stderr()).toBe('');
    const lines = (await readFile(path.join(tmp.dir, 'logs/app.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(['logged started: 1 worker(s), source stdin', 'logged stopped (ended)']);
  });
});

describe('bad configuration and workers', () => {
  it('exits 2 on a bad INI value, naming the file, section, key and value', async () => {
    const ini = await tmp.write('bad.ini', app(`class = ${fixture('echo.ts')}:Echo\nworkers = many`, 'type = stdin'));
    const run = flowd(['run', ini]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toContain('bad.ini:3 [Flow] "workers": found "many"; expected a whole number');
  });

  it('exits 2 on an unknown key with a did-you-mean hint', async () => {
    const ini = await tmp.write('typo.ini', app(`class = ${fixture('echo.ts')}:Echo\nexecution timout = 5s`, 'type = stdin'));
    const run = flowd(['check', ini]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(/"execution timout": is not a setting of \[Flow\] \(did you mean "execution timeout"\?\)/);
  });

  it('exits 2 when the class has no such export, naming the exports found', async () => {
    const ini = await tmp.write('missing.ini', app(`class = ${fixture('echo.ts')}:Missing`, 'type = stdin'));
    const run = flowd(['check', ini]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toContain('echo.ts has no export "Missing"; its exports are: Echo');
  });

  it('exits 2 when the class module does not exist, naming the paths tried', async () => {
    const ini = await tmp.write('nomodule.ini', app('class = ./nowhere:Thing', 'type = stdin'));
    const run = flowd(['check', ini]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(/no module found; tried .*nowhere\.ts/);
  });

  it('exits 1 with a message when configure() never finishes, or when stopped during it', async () => {
    await tmp.write('idle.mjs', 'export default { configure() { return new Promise(() => {}); }, start() {} };\n');
    const idle = flowd(['run', await tmp.write('idle.ini', app('class = ./idle.mjs', 'type = stdin'))]);
    expect((await idle.exit).code).toBe(1);
    expect(idle.stderr()).toContain('worker "idle" never finished configure()');

    await tmp.write(
      'busy.mjs',
      'export default { configure() { setInterval(() => {}, 1000); process.stdout.write("configuring\\n"); return new Promise(() => {}); }, start() {} };\n',
    );
    const busy = flowd(['run', await tmp.write('busy.ini', app('class = ./busy.mjs', 'type = interval'))]);
    await busy.waitFor('stdout', /configuring/);
    busy.child.kill('SIGTERM');
    expect((await busy.exit).code).toBe(1);
    expect(busy.stderr()).toContain('stopped by SIGTERM during start-up, before worker "busy" finished configure()');
  });

  it('exits 1 naming the worker and the error when configure() fails', async () => {
    const ini = await tmp.write('configure.ini', app(`class = ${fixture('bad-configure.ts')}`, 'type = stdin'));
    const run = flowd(['run', ini]);
    expect((await run.exit).code).toBe(1);
    expect(run.stderr()).toContain('worker "inventory" failed in configure(): database is down');
    // Its log line says what went wrong, not where: no stack without --log-level debug.
    expect(run.stderr()).not.toContain('"stack"');
    expect(run.stderr()).not.toMatch(/\n\s+at /);
  });

  it('loads .mjs, .js and .ts worker modules', async () => {
    for (const [spec, expected] of [
      [fixture('plain.mjs'), 'mjs {"n":1}'],
      [`${fixture('plain.js')}:Plain`, 'js {"n":1}'],
      [`${fixture('echo.ts')}:Echo`, 'stdin {"n":1}'],
    ] as const) {
      const ini = await tmp.write('forms.ini', app(`class = ${spec}`, 'type = stdin\npayload class = json'));
      const run = flowd(['run', ini], { input: '{"n":1}' });
      expect(await run.exit).toMatchObject({ code: 0 });
      expect(run.stdout()).toContain(expected);
    }
  });

  it('loads .ts (with types) and ESM .js workers from a folder that is not an ESM package', async () => {
    await tmp.write(
      'typed.ts',
      'interface Ev { n: number }\nexport class Doubler { start(e: Ev) { process.stdout.write(`ts ${e.n * 2}\\n`); } }\n',
    );
    await tmp.write('esm.js', 'export default { start(e) { process.stdout.write(`js ${e.n}\\n`); } };\n');
    for (const [spec, expected] of [
      ['./typed.ts:Doubler', 'ts 42\n'],
      ['typed.Doubler', 'ts 42\n'],
      ['./esm.js', 'js 21\n'],
    ] as const) {
      const ini = await tmp.write('outside.ini', app(`class = ${spec}`, 'type = stdin\npayload class = json'));
      const run = flowd(['run', ini], { input: '{"n":21}' });
      expect(await run.exit).toMatchObject({ code: 0 });
      expect(run.stdout()).toBe(expected);
    }
  });

  it('runs an xstate machine as a worker: its final state completes the event', async () => {
    const ini = await tmp.write(
      'machine.ini',
      app(`class = ${fixture('machine.ts')}:Doubler`, 'type = stdin\nmode = lines\npayload class = json', '', 'debug'),
    );
    const run = flowd(['run', ini], { input: '{"n":21}\n{"n":2}\n' });
    expect((await run.exit).code).toBe(0);
    expect(run.stderr()).toMatch(/event line-1 completed/);
    expect(run.stderr()).toMatch(/"completed":2/);
  });

  it("accepts Flow's dotted module.Export form for a module beside the INI file", async () => {
    await tmp.write('greeter.mjs', 'export class Greeter { start(e) { process.stdout.write(`hi ${e}\\n`); } }\n');
    const ini = await tmp.write('dotted.ini', app('class = greeter.Greeter', 'type = stdin'));
    const run = flowd(['run', ini], { input: 'there' });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toBe('hi there\n');
  });

  it('prints a one-line summary for check and exits 0', async () => {
    const ini = await tmp.write(
      'ok.ini',
      app(
        `app name = tidy\nclass = ${fixture('machine.ts')}:Doubler\nworkers = 4\norder by = headers.asset-id`,
        'type = interval\ninterval = 5m',
      ),
    );
    const run = flowd(['check', ini]);
    expect((await run.exit).code).toBe(0);
    expect(run.stdout().trim().split('\n')).toHaveLength(1);
    expect(run.stdout()).toMatch(/^tidy: ok: worker Doubler .*source interval every 5m, 4 worker\(s\).*order by headers\.asset-id/);
  });

  it("names the store, the locks and the API in check's summary, with the passwords hidden", async () => {
    const extra =
      '[Store]\nbackend = redis\nurl = redis://:${REDIS_PASS}@127.0.0.1:6379/2\n\n[Lock]\nlease = 90s\n\n[Viz One]\nhostname = vizone.example.com\nusername = admin\npassword = ${VIZ_PASS}\nuse https = yes\n';
    const ini = await tmp.write(
      'services.ini',
      app(`app name = stored\nclass = ${fixture('machine.ts')}:Doubler`, 'type = interval\ninterval = 5m', extra),
    );
    const run = flowd(['check', ini], { env: { REDIS_PASS: 'r-secret-1', VIZ_PASS: 'v-secret-2' } });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toContain(
      'store redis redis://:***@127.0.0.1:6379/2, locks redis redis://:***@127.0.0.1:6379/2 (lease 1.5m), api https://vizone.example.com:443',
    );
    expect(run.stdout() + run.stderr()).not.toMatch(/r-secret-1|v-secret-2/);
  });

  it("names a PostgreSQL store and its table (flowd_store_<app name> by default) in check's summary, with the password hidden", async () => {
    const extra = '[Store]\nbackend = postgres\nurl = postgres://flowd:${PG_PASS}@db.example:5432/flowd\n';
    const ini = await tmp.write(
      'pg.ini',
      app(`app name = stored\nclass = ${fixture('machine.ts')}:Doubler`, 'type = interval\ninterval = 5m', extra),
    );
    const run = flowd(['check', ini], { env: { PG_PASS: 'p-secret-3' } });
    expect((await run.exit).code).toBe(0);
    expect(run.stdout()).toContain('store postgres postgres://flowd:***@db.example:5432/flowd table flowd_store_stored, locks local');
    expect(run.stdout() + run.stderr()).not.toContain('p-secret-3');
  });

  it('exits 2 naming the file, section and key for a bad [Store], [Lock] or [Api] section', async () => {
    const cases: Array<[string, RegExp]> = [
      ['[Store]\nbackend = mongo\n', /\[Store\] "backend": found "mongo"; expected one of file, redis, postgres/],
      ['[Store]\nbackend = postgres\nurl = postgres://db/flowd\ntable = a-b\n', /\[Store\] "table": found "a-b"; expected a table name/],
      ['[Store]\nbakend = redis\n', /\[Store\] "bakend": is not a setting of \[Store\] \(did you mean "backend"\?\)/],
      ['[Lock]\nbackend = redis\n', /\[Lock\] "url": is required with backend = redis/],
      ['[Api]\nhostname = a.example\n\n[Viz One]\nhostname = b.example\n', /\[Viz One\]: is an alias of \[Api\], and both are present/],
    ];
    for (const [extra, message] of cases) {
      const ini = await tmp.write(
        'bad-services.ini',
        app(`class = ${fixture('machine.ts')}:Doubler`, 'type = interval\ninterval = 5m', extra),
      );
      const run = flowd(['check', ini]);
      expect((await run.exit).code).toBe(2);
      expect(run.stderr()).toMatch(message);
      expect(run.stderr()).toContain('bad-services.ini');
    }
  });

  it('exits 2 naming the file for a bad section of a built-in app, before anything starts', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        '[Flow]\nclass = xmlimport.XmlImport\n\n[Source]\nlocation = .\n\n[Target]\ntype = ftp\n',
        /\[Target\] "type": found "ftp"; expected one of folder, http/,
      ],
      [
        '[Flow]\nclass = metadatamapper.MetadataMapper\n\n[Source]\ntype = http\nport = 0\n\n[Mappings]\nasset.title = upper(title\n',
        /builtin\.ini:9 \[Mappings\] "asset.title": expression "upper\(title"/,
      ],
    ];
    for (const [text, message] of cases) {
      const ini = await tmp.write('builtin.ini', text);
      for (const command of ['check', 'run']) {
        const run = flowd([command, ini]);
        expect((await run.exit).code).toBe(2);
        expect(run.stderr()).toMatch(message);
        expect(run.stderr()).toContain('builtin.ini');
      }
    }
  });
});

describe('usage errors and help', () => {
  it('says what is wrong in one line and points to the usage in a second, exiting 2, for every kind of bad argument', async () => {
    const ini = await tmp.write('ok.ini', app(`class = ${fixture('echo.ts')}:Echo`, 'type = stdin'));
    const runUsage = 'Usage: flowd run <app.ini> [-n name] [-w workers] [--log-level level] [--inspect[=port]]  (flowd help run for more)';
    const graphUsage =
      'Usage: flowd graph <app.ini> [--format mermaid|dot|svg] [--out file] [--log-level level]  (flowd help graph for more)';
    const checkUsage = 'Usage: flowd check <app.ini> [-n name] [-w workers] [--log-level level]  (flowd help check for more)';
    const general = 'Run flowd --help for usage.';
    const cases: Array<[string[], string, string]> = [
      [['launch'], 'flowd: unknown command "launch"; expected one of run, check, graph, plugins, events, workflow, init, help', general],
      [
        ['rnu', ini],
        'flowd: unknown command "rnu" (did you mean "run"?); expected one of run, check, graph, plugins, events, workflow, init, help',
        general,
      ],
      [
        ['toString', ini],
        'flowd: unknown command "toString"; expected one of run, check, graph, plugins, events, workflow, init, help',
        general,
      ],
      [
        ['workflow start', ini, 'Name'],
        'flowd: unknown command "workflow start"; expected one of run, check, graph, plugins, events, workflow, init, help',
        general,
      ],
      [[], 'flowd: no command given; expected one of run, check, graph, plugins, events, workflow, init, help', general],
      [['--inpsect'], 'flowd: unknown option --inpsect (did you mean "--inspect"?)', general],
      [['run', ini, '--inpsect'], 'flowd: unknown option --inpsect (did you mean "--inspect"?)', runUsage],
      [['run', ini, '-x'], 'flowd: unknown option -x', runUsage],
      [['run', ini, '--inspect', '9000'], 'flowd: unexpected argument "9000"; to give --inspect a port, write --inspect=9000', runUsage],
      [['check', ini, '--inspect'], 'flowd: --inspect is an option of run, not of check', checkUsage],
      [
        ['run', ini, '--log-level', 'loud'],
        'flowd: --log-level: found "loud"; expected one of trace, debug, info, warn, error, fatal, silent',
        runUsage,
      ],
      [
        ['run', ini, '--log-level', 'wran'],
        'flowd: --log-level: found "wran"; expected one of trace, debug, info, warn, error, fatal, silent (did you mean "warn"?)',
        runUsage,
      ],
      [['run', ini, '-w', '0'], 'flowd: --workers: found "0"; expected a whole number from 1 to 4096', runUsage],
      [['run', ini, '--format', 'dot'], 'flowd: --format and --out are options of graph, not of run', runUsage],
      [['graph', ini, '--out'], 'flowd: --out needs a value: --out <file>', graphUsage],
      [['graph', ini, '--out', '--format'], 'flowd: --out needs a value: --out <file>', graphUsage],
      [['graph', ini, '--format', 'svgg'], 'flowd: --format: found "svgg"; expected mermaid, dot, svg (did you mean "svg"?)', graphUsage],
      [
        ['plugins', ini, '--json=yes'],
        'flowd: --json takes no value; found --json=yes',
        'Usage: flowd plugins <app.ini> [--json | --reset-cursor name [--to latest|earliest|id] | --reactivate name] [--log-level level]  (flowd help plugins for more)',
      ],
      [['check'], "flowd: check needs an app's INI file: flowd check app.ini", checkUsage],
      [['check', ini, 'extra.ini'], 'flowd: unexpected argument "extra.ini"; check takes one INI file', checkUsage],
      [
        ['help', 'rnu'],
        'flowd: help: unknown command "rnu" (did you mean "run"?); expected one of run, check, graph, plugins, events, workflow, init, help',
        general,
      ],
      [
        ['init', 'a', 'b'],
        'flowd: unexpected argument "b"; init takes one folder',
        'Usage: flowd init [folder]  (flowd help init for more)',
      ],
    ];
    const runs = cases.map(([args]) => flowd(args));
    for (const [i, [args, first, second]] of cases.entries()) {
      const run = runs[i]!;
      expect((await run.exit).code, `flowd ${args.join(' ')}`).toBe(2);
      expect(run.stderr(), `flowd ${args.join(' ')}`).toBe(`${first}\n${second}\n`);
      expect(run.stdout()).toBe('');
    }
  });

  it('blames the flag, not an INI key, for a bad --log-level, and takes a good one over [Log] level', async () => {
    const ini = await tmp.write('levels.ini', app(`class = ${fixture('echo.ts')}:Echo`, 'type = stdin', '', 'info'));
    const bad = flowd(['run', ini, '--log-level', 'loud']);
    expect((await bad.exit).code).toBe(2);
    expect(bad.stderr()).not.toContain('[Log]');
    const quiet = flowd(['run', ini, '--log-level', 'ERROR'], { input: 'hi' });
    expect((await quiet.exit).code).toBe(0);
    expect(quiet.stdout()).toBe('stdin "hi"\n');
    expect(quiet.stderr()).toBe('');
  });

  it("prints the whole help for --help and flowd help, and one command's for flowd help <command> and <command> --help", async () => {
    const [help, helpCommand, graphHelp, graphFlag, workflowHelp] = [
      flowd(['--help']),
      flowd(['help']),
      flowd(['help', 'graph']),
      flowd(['graph', '--help']),
      flowd(['help', 'workflow']),
    ];
    for (const run of [help, helpCommand, graphHelp, graphFlag, workflowHelp]) {
      expect((await run.exit).code).toBe(0);
      expect(run.stderr()).toBe('');
    }
    expect(help.stdout()).toContain('flowd run <app.ini>');
    expect(help.stdout()).toContain('flowd init [folder]');
    expect(help.stdout()).toContain('flowd help [command]');
    expect(helpCommand.stdout()).toBe(help.stdout());
    expect(graphHelp.stdout()).toMatch(
      /^Usage:\n {2}flowd graph <app\.ini> \[--format mermaid\|dot\|svg\] \[--out file\] \[--log-level level\]\n/,
    );
    expect(graphHelp.stdout()).toContain('--out <file>');
    expect(graphHelp.stdout()).not.toContain('--input');
    expect(graphFlag.stdout()).toBe(graphHelp.stdout());
    expect(workflowHelp.stdout()).toContain('flowd workflow start <app.ini> <name>');
    expect(workflowHelp.stdout()).toContain('flowd workflow status <app.ini> <run id>');
  });

  it('prints the version of its package.json', async () => {
    const run = flowd(['--version']);
    expect((await run.exit).code).toBe(0);
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(run.stdout()).toBe(`${pkg.version}\n`);
  });

  it('says in one line, without a stack trace, that graph --out cannot write its file', async () => {
    const ini = await tmp.write('graph.ini', app(`class = ${fixture('echo.ts')}:Echo`, 'type = stdin'));
    const run = flowd(['graph', ini, '--out', path.join(tmp.dir, 'missing/dir/x.md')]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toBe(
      `flowd: --out: cannot write ${path.join(tmp.dir, 'missing/dir/x.md')}: the folder ${path.join(tmp.dir, 'missing/dir')} does not exist; expected a file in a folder that exists\n`,
    );
    expect(run.stdout()).toBe('');
  });
});

describe('an output that cannot be written', () => {
  /** `flowd ...args` with its stdout on /dev/full, where every write fails with ENOSPC. */
  const toFullDisk = (args: string[], input = '') =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const full = openSync('/dev/full', 'w');
      const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['pipe', full, 'pipe'] });
      closeSync(full);
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.stdin!.end(input);
      child.on('close', (code) => resolve({ code, stderr }));
    });

  it("exits 1 saying stdout cannot be written, for a command's output and for what the app writes", async () => {
    const help = await toFullDisk(['--help']);
    expect(help).toEqual({ code: 1, stderr: 'flowd: cannot write to stdout: ENOSPC: no space left on device, write\n' });
    const ini = await tmp.write('full.ini', app(`class = ${fixture('echo.ts')}:Echo`, 'type = stdin'));
    const run = await toFullDisk(['run', ini], 'hello');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('stdout cannot be written (ENOSPC: no space left on device, write); what the app writes there is dropped');
    expect(run.stderr).toMatch(/flowd: cannot write to stdout: ENOSPC: no space left on device, write\n$/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('flowd init', () => {
  it('creates an app that checks, runs at once, and whose worker test passes', async () => {
    const folder = path.join(tmp.dir, 'my-app');
    const init = flowd(['init', folder]);
    expect((await init.exit).code).toBe(0);
    expect(init.stdout()).toContain(
      `Created app my-app in ${folder}:\n  package.json\n  app.ini\n  worker.ts\n  worker.test.ts\n  .gitignore\n`,
    );
    expect(init.stdout()).toContain('Next:\n');
    expect(init.stdout()).toContain('  npm install\n  npx flowd run app.ini');
    const pkg = JSON.parse(await readFile(path.join(folder, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const own = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(pkg.dependencies).toEqual({ flowd: `^${own.version}` });

    const check = flowd(['check', 'app.ini'], { cwd: folder });
    expect((await check.exit).code, check.stderr()).toBe(0);
    expect(check.stdout()).toMatch(/^my-app: ok: worker greeter \(\.\/worker\.ts\), source interval every 5s/);

    const run = flowd(['run', 'app.ini'], { cwd: folder });
    await run.waitFor('stderr', /Hello from my-app \(event tick-1\)/);
    run.child.kill('SIGINT');
    expect((await run.exit).code).toBe(0);

    // As after npm install: flowd and tsx in the app's node_modules.
    await mkdir(path.join(folder, 'node_modules'));
    await symlink(ROOT, path.join(folder, 'node_modules/flowd'), 'dir');
    await symlink(path.join(ROOT, 'node_modules/tsx'), path.join(folder, 'node_modules/tsx'), 'dir');
    const test = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', '--test', 'worker.test.ts'], { cwd: folder }, (error, stdout, stderr) =>
        resolve({ code: error ? (error.code as number) : 0, output: stdout + stderr }),
      );
    });
    expect(test.code, test.output).toBe(0);
    expect(test.output).toContain('# pass 1');
  });

  it('refuses a folder that has its files, naming them, exiting 2', async () => {
    await tmp.write('app.ini', '[Flow]\n');
    const init = flowd(['init'], { cwd: tmp.dir });
    expect((await init.exit).code).toBe(2);
    expect(init.stderr()).toBe(
      `flowd: ${tmp.dir}: already has app.ini; flowd init never overwrites a file: move it away, or give another folder (flowd init my-app)\n`,
    );
    expect(await readFile(path.join(tmp.dir, 'app.ini'), 'utf8')).toBe('[Flow]\n');
  });
});
