import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixture, flowd, tempDir } from '../helpers/cli.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

const app = (extra = '') =>
  `[Flow]\nclass = ${fixture('echo.ts')}:Echo\n\n[Source]\ntype = interval\ninterval = 1h\n\n${extra}\n[Log]\nlevel = info\n`;
const URL_LINE = /inspector at (http:\/\/127\.0\.0\.1:\d+\/)/;

describe('flowd run --inspect', () => {
  it('serves the inspector on 127.0.0.1, logs its URL at start, and stops with the run', async () => {
    const ini = await tmp.write('tick.ini', app());
    const run = flowd(['run', ini, '--inspect=0']);
    const url = URL_LINE.exec(await run.waitFor('stderr', URL_LINE))![1]!;
    expect((await fetch(new URL('/healthz', url))).status).toBe(200);
    const state = (await (await fetch(new URL('/api/state', url))).json()) as { app: string; actors: Array<{ id: string }> };
    expect(state.app).toBe('tick');
    expect(state.actors.map((a) => a.id)).toEqual(expect.arrayContaining(['supervisor', 'slot-0', 'source']));
    expect(await (await fetch(new URL('/metrics', url))).text()).toContain('flowd_events_received_total{app="tick",source="interval"}');
    run.child.kill('SIGTERM');
    expect(await run.exit).toEqual({ code: 0, signal: null });
  });

  it('reads [Inspector], requires its token on every request, and never logs the token', async () => {
    const ini = await tmp.write('tick.ini', app('[Inspector]\nport = 0\ntoken = cli-secret-token\n'));
    const run = flowd(['run', ini]);
    const url = URL_LINE.exec(await run.waitFor('stderr', URL_LINE))![1]!;
    expect((await fetch(new URL('/healthz', url))).status).toBe(401);
    expect((await fetch(new URL('/healthz?token=cli-secret-token', url))).status).toBe(200);
    run.child.kill('SIGTERM');
    await run.exit;
    expect(run.stderr()).not.toContain('cli-secret-token');
  });

  it('refuses a non-loopback interface without a token, naming [Inspector] token, and exits 2', async () => {
    const ini = await tmp.write('open.ini', app('[Inspector]\ninterface = 0.0.0.0\n'));
    const run = flowd(['run', ini]);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toMatch(/open\.ini \[Inspector\] "token": is required when interface is not a loopback address/);
  });

  it('rejects --inspect with something other than a port', async () => {
    const ini = await tmp.write('tick.ini', app());
    const run = flowd(['run', ini, '--inspect=http']);
    expect((await run.exit).code).toBe(2);
    expect(run.stderr()).toContain('--inspect: found "http"; expected --inspect or --inspect=<port from 0 to 65535>');
  });
});
