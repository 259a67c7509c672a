import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/cli.js';
import { compileAppConfig } from '../../../src/config/app-config.js';
import { ROOT, tempDir } from '../../helpers/cli.js';

// Issue 20, point 4 (and the app name of point 7): configuration that `flowd check` passed but that could not work.

const WORKER = path.join(ROOT, 'test/fixtures/workers/plain.mjs');

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

/** Writes `app.ini` and runs `flowd <command> app.ini` in this process. */
async function flowdOn(ini: string, command: 'check' | 'run' = 'check'): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = path.join(tmp.dir, 'app.ini');
  await writeFile(file, ini);
  const out = { stdout: '', stderr: '' };
  const code = await main([command, file], {
    stdout: (line) => (out.stdout += `${line}\n`),
    stderr: (line) => (out.stderr += `${line}\n`),
  });
  return { code, ...out };
}

const flowSection = `[Flow]\nclass = ${WORKER}\n`;

describe('flowd check refuses what could not work, naming file, line, section and key (exit 2)', () => {
  it('refuses [Source] move done to equal to location, which would report one file for ever', async () => {
    await mkdir(path.join(tmp.dir, 'in'));
    const result = await flowdOn(`${flowSection}[Source]\ntype = files\nlocation = in\nmove done to = ./in/\n`);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`app.ini:6 [Source] "move done to": found "./in/", which is the location itself`);
  });

  it('refuses [Source] move done to that is the location through a symlink, and a folder inside it through a symlinked parent', async () => {
    await mkdir(path.join(tmp.dir, 'in'));
    await symlink(path.join(tmp.dir, 'in'), path.join(tmp.dir, 'alias'));
    const same = await flowdOn(`${flowSection}[Source]\ntype = files\nlocation = in\nmove done to = alias\n`);
    expect(same.code).toBe(2);
    expect(same.stderr).toContain(`app.ini:6 [Source] "move done to": found "alias", which is the location itself`);
    // The folder does not exist yet: its parent's real path decides.
    const inside = await flowdOn(`${flowSection}[Source]\ntype = files\nlocation = in\nrecursive = yes\nmove done to = alias/done\n`);
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain(`app.ini:7 [Source] "move done to": found "alias/done", which is inside the location`);
  });

  it('refuses [Source] move failed to inside the location of a recursive files source', async () => {
    await mkdir(path.join(tmp.dir, 'in'));
    const result = await flowdOn(`${flowSection}[Source]\ntype = files\nlocation = in\nrecursive = yes\nmove failed to = in/failed\n`);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`app.ini:7 [Source] "move failed to": found "in/failed", which is inside the location`);
  });

  it('accepts a move done to folder beside the location, or inside it when the source is not recursive', async () => {
    await mkdir(path.join(tmp.dir, 'in'));
    expect((await flowdOn(`${flowSection}[Source]\ntype = files\nlocation = in\nmove done to = done\n`)).code).toBe(0);
    expect((await flowdOn(`${flowSection}[Source]\ntype = files\nlocation = in\nmove done to = in/done\n`)).code).toBe(0);
  });

  for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    it(`refuses [Source] type = ${type}, an Object.prototype name, as an unknown type`, async () => {
      for (const command of ['check', 'run'] as const) {
        const result = await flowdOn(`${flowSection}[Source]\ntype = ${type}\n`, command);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(`app.ini:4 [Source] "type": found "${type}"; expected one of interval, files`);
      }
    });
  }

  it('refuses a bad [Transfer] progress interval of XmlExport at check time', async () => {
    const result = await flowdOn(`[Flow]\nclass = xmlexport.XmlExport\n[Transfer]\nprogress interval = -5 parsecs\n`);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('app.ini:4 [Transfer] "progress interval": found "-5 parsecs"; expected a duration');
  });

  it('refuses a bad [Destination] timeout and unknown keys of XmlExport at check time, once', async () => {
    const timeout = await flowdOn(`[Flow]\nclass = xmlexport.XmlExport\n[Destination]\nusername = u\ntimeout = banana\n`);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('app.ini:5 [Destination] "timeout": found "banana"; expected a duration');
    expect(timeout.stderr.match(/banana/g)).toHaveLength(1);
    const unknown = await flowdOn(`[Flow]\nclass = xmlexport.XmlExport\n[Destination]\nusrname = u\n`);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('app.ini:4 [Destination] "usrname": is not a setting of [Destination] (did you mean "username"?)');
    const transfer = await flowdOn(`[Flow]\nclass = xmlexport.XmlExport\n[Transfer]\nprogress = 5s\n`);
    expect(transfer.code).toBe(2);
    expect(transfer.stderr).toContain('app.ini:4 [Transfer] "progress": is not a setting of [Transfer]');
  });

  it('names the INI file and line of [Flow] class when the worker cannot be loaded (ERR_WORKER_LOAD)', async () => {
    const missing = await flowdOn(`[Flow]\napp name = x\nclass = ./nowhere.ts:Worker\n`);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`app.ini:3 [Flow] "class": class "./nowhere.ts:Worker": no module found`);
    const noExport = await flowdOn(`[Flow]\nclass = ${WORKER}:Nothing\n`);
    expect(noExport.code).toBe(2);
    expect(noExport.stderr).toContain(`app.ini:2 [Flow] "class": class "${WORKER}:Nothing": plain.mjs has no export "Nothing"`);
  });

  it('reads a lone CR as a line break, as configparser reading a file does', async () => {
    const result = await flowdOn(`${flowSection}[Source]\ntype = interval\ninterval = 10s\n`.replace(/\n/g, '\r'));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('source interval every 10s');
  });

  it('names the line of a bad key in a file with lone CRs', async () => {
    const result = await flowdOn(`${flowSection}[Source]\ntype = interval\nintervall = 10s\n`.replace(/\n/g, '\r'));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('app.ini:5 [Source] "intervall"');
  });

  for (const name of ['../../x', 'a/b', 'a\\b', '..', '.']) {
    it(`refuses app name = ${name}, which would put the state folder outside .flowd/`, async () => {
      const result = await flowdOn(`[Flow]\napp name = ${name}\nclass = ${WORKER}\n[Source]\ntype = interval\n`);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`app.ini:2 [Flow] "app name": found "${name}"; expected a name without "/"`);
    });
  }

  it('refuses -n with a path separator as it refuses app name', async () => {
    const file = path.join(tmp.dir, 'app.ini');
    await writeFile(file, `${flowSection}[Source]\ntype = interval\n`);
    const out = { stderr: '' };
    const code = await main(['check', file, '-n', '../up'], { stdout: () => undefined, stderr: (line) => (out.stderr += line) });
    expect(code).toBe(2);
    expect(out.stderr).toContain('[Flow] "app name": found "../up"');
  });

  it("keeps a section called __proto__ or constructor as one of the app's own sections", async () => {
    const ini = `${flowSection}[Source]\ntype = interval\n[__proto__]\npolluted = yes\n[constructor]\nname = x\n`;
    expect((await flowdOn(ini)).code).toBe(0);
    const { sections } = compileAppConfig(ini, 'app.ini');
    expect(Object.hasOwn(sections, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(sections, '__proto__')?.value).toEqual({ polluted: 'yes' });
    expect(Object.hasOwn(sections, 'constructor')).toBe(true);
    expect((sections as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
