import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JournalDetail, JournalSummary } from '../../src/inspector/journal.js';
import { BIN, ROOT, flowdEnded, tempDir, untilRunning, watch, type FlowdProcess } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

// Three workers; every fifth run hangs (ignoring its signal), and event n = 5k + 1 fails the first time it runs.
const WORKER = `
const failedOnce = new Set();
export class Stuck {
  start(event) {
    if (event.n % 5 === 0) return new Promise(() => {});
    if (event.n % 5 === 1 && !failedOnce.has(event.n)) {
      failedOnce.add(event.n);
      throw Object.assign(new Error('asset ' + event.asset + ' is broken'), { code: 'ERR_BROKEN' });
    }
    return { ok: event.n };
  }
}
`;

const INI = (extra = '') => `[Flow]
class = ./stuck.mjs:Stuck
workers = 3
execution timeout = 1500ms
queue timeout = 400ms
order by = asset

[Source]
type = stdin
mode = lines
payload class = json

[Inspector]
port = 0
redact = card
${extra}
[Log]
level = info
`;
const URL_LINE = /inspector at (http:\/\/127\.0\.0\.1:\d+\/)/;

/** A stuck daemon: `flowd run` on stdin (kept open), fed `count` events. */
async function stuckDaemon(count: number, extra = ''): Promise<{ run: FlowdProcess; url: string; ini: string }> {
  await tmp.write('stuck.mjs', WORKER);
  const ini = await tmp.write('stuck.ini', INI(extra));
  const child = spawn(process.execPath, [BIN, 'run', ini], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const run = watch(child, 'flowd run');
  const url = URL_LINE.exec(await run.waitFor('stderr', URL_LINE))![1]!;
  for (let n = 1; n <= count; n++)
    child.stdin!.write(`${JSON.stringify({ n, asset: `a${n % 4}`, card: '4111-1111', password: 'hunter2' })}\n`);
  return { run, url, ini };
}

const getJson = async <T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> => {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T };
};
const events = async (url: string, query = '') =>
  (await getJson<{ events: JournalSummary[] }>(new URL(`/api/events${query}`, url).href)).body.events;
const eventOf = (list: JournalSummary[], n: number) => list.find((e) => JSON.parse(e.payload).n === n);

describe('the event journal of a stuck daemon', () => {
  it('tells hung, timed-out, expired and failed events through the API and flowd events, and /readyz says why it is not ready', async () => {
    const { run, url, ini } = await stuckDaemon(30);
    // Three hung runs pass the execution timeout: their slots are abandoned, replaced, and the events dead-lettered.
    await untilRunning(run, 'three runs to time out', () => (run.stderr().match(/timed out and was replaced/g) ?? []).length >= 3);
    await until(async () => (await events(url, '?state=expired')).length > 0, { what: 'an expired event' });

    const all = await events(url, '?limit=1000');
    expect(all).toHaveLength(30);
    const broken = eventOf(all, 1)!;
    expect(broken).toMatchObject({
      state: 'dead-lettered',
      source: 'stdin',
      key: 'a1',
      error: { code: 'ERR_BROKEN', message: 'asset a1 is broken' },
    });
    // Secrets and the [Inspector] redact keys are masked.
    expect(JSON.parse(broken.payload)).toEqual({ n: 1, asset: 'a1', card: '[redacted]', password: '[redacted]' });
    expect(JSON.stringify(all)).not.toContain('hunter2');

    const hung = (await getJson<JournalDetail>(new URL(`/api/events/${eventOf(all, 5)!.id}`, url).href)).body;
    expect(hung).toMatchObject({ state: 'dead-lettered', error: { code: 'ERR_WORKER_TIMEOUT' } });
    expect(hung.steps.map((s) => s.step)).toEqual(['received', 'queued', 'started', 'timedOut', 'abandoned', 'dead-lettered']);
    const failure = (await getJson<JournalDetail>(new URL(`/api/events/${broken.id}`, url).href)).body;
    expect(failure.error!.stack).toMatch(/^Error: asset a1 is broken\n\s+at .*stuck\.mjs/);

    const byState = await events(url, '?state=failed');
    expect(new Set(byState.map((e) => e.error!.code))).toEqual(new Set(['ERR_BROKEN', 'ERR_WORKER_TIMEOUT']));
    expect((await events(url, '?key=a2')).every((e) => e.key === 'a2')).toBe(true);
    expect((await getJson<{ error: string }>(new URL('/api/events?state=stuck', url).href)).status).toBe(400);
    expect((await getJson<{ code: string }>(new URL('/api/events/nope', url).href)).body.code).toBe('ERR_UNKNOWN_EVENT');

    const ready = await getJson<{ status: string; reasons: string[] }>(new URL('/readyz', url).href);
    expect(ready.status).toBe(503);
    expect(ready.body.reasons).toEqual([expect.stringMatching(/^3 worker slot\(s\) are abandoned, more than half of 3/)]);
    expect((await fetch(new URL('/healthz', url))).status).toBe(200);

    // flowd events reads the same, from the daemon found through the state folder.
    const listed = await flowdEnded(['events', ini, '--state', 'failed', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as JournalSummary[]).map((e) => e.id).sort()).toEqual(byState.map((e) => e.id).sort());
    const table = await flowdEnded(['events', ini, '--state', 'expired']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^RECEIVED\s+ID\s+STATE\s+ATTEMPT\s+KEY\s+ERROR$/);
    expect(table.stdout).toMatch(/expired\s+1\s+a\d\s+ERR_QUEUE_TIMEOUT: the event waited longer/);
    const one = await flowdEnded(['events', ini, '--id', broken.id]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`event ${broken.id} (seq 0, source stdin, key a1): dead-lettered, attempt 1`);
    expect(one.stdout).toMatch(/started on slot-\d \(attempt 1\)\n.*dead-lettered after 1 attempt\(s\): ERR_BROKEN: asset a1 is broken/);
    expect(one.stdout).toMatch(/error: ERR_BROKEN: asset a1 is broken\n {2}Error: asset a1 is broken\n {6}at Stuck.start /);
    const missing = await flowdEnded(['events', ini, '--id', 'nope']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('flowd: no event nope in the journal of app stuck (unknown, or no longer kept)\n');

    // A failed event retried through the API runs again (the stdin source has no broker: it is offered to the supervisor anew).
    const retried = await getJson<{ how: string; by: string }>(new URL(`/api/events/${broken.id}/retry`, url).href, { method: 'POST' });
    expect(retried).toMatchObject({ status: 202, body: { how: 'offered', by: expect.stringMatching(/^no token \(/) } });
    await until(async () => (await getJson<JournalDetail>(new URL(`/api/events/${broken.id}`, url).href)).body.state === 'completed', {
      what: 'the retried event to complete',
    });
    expect(run.stderr()).toMatch(new RegExp(`inspector: event ${broken.id} retried \\(offered\\) by no token`));
    const again = await getJson<{ code: string }>(new URL(`/api/events/${broken.id}/retry`, url).href, { method: 'POST' });
    expect(again).toMatchObject({ status: 409, body: { code: 'ERR_INVALID_STATE' } });
    // A page of another site cannot act.
    const forged = await fetch(new URL(`/api/events/${broken.id}/retry`, url), {
      method: 'POST',
      headers: { origin: 'http://evil.example' },
    });
    expect(forged.status).toBe(403);

    run.child.kill('SIGTERM');
    await run.exit;
    expect(existsSync(path.join(tmp.dir, '.flowd', 'stuck', 'inspector.json'))).toBe(false);
    const gone = await flowdEnded(['events', ini]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(
      /^flowd: no daemon of app stuck serves an inspector \(.*inspector\.json is missing\); start it with: flowd run /,
    );
  }, 120_000);

  it('cancels a running event: its run is aborted and it fails with ERR_CANCELLED, without a retry; the token guards it', async () => {
    const { run, url, ini } = await stuckDaemon(5, 'token = journal-test-token\n');
    const auth = { authorization: 'Bearer journal-test-token' };
    let hung: JournalSummary | undefined;
    await until(
      async () => {
        hung = eventOf(
          (await getJson<{ events: JournalSummary[] }>(new URL('/api/events?state=running', url).href, { headers: auth })).body.events,
          5,
        );
        return hung !== undefined;
      },
      { what: 'the hanging event to run' },
    );
    expect((await fetch(new URL(`/api/events/${hung!.id}/cancel`, url), { method: 'POST' })).status).toBe(401);
    const cancelled = await getJson<{ by: string }>(new URL(`/api/events/${hung!.id}/cancel`, url).href, { method: 'POST', headers: auth });
    expect(cancelled).toMatchObject({ status: 202, body: { by: 'the inspector token' } });
    const detail = (await getJson<JournalDetail>(new URL(`/api/events/${hung!.id}`, url).href, { headers: auth })).body;
    expect(detail).toMatchObject({
      state: 'dead-lettered',
      error: { code: 'ERR_CANCELLED', message: 'cancelled through the inspector by the inspector token' },
    });
    expect(detail.steps.map((s) => s.step)).toEqual(['received', 'queued', 'started', 'cancelRequested', 'abandoned', 'dead-lettered']);
    expect(run.stderr()).toContain(`inspector: event ${hung!.id} cancelled by the inspector token`);
    // flowd events takes the token from the INI file.
    const listed = await flowdEnded(['events', ini, '--state', 'dead-lettered']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('ERR_CANCELLED: cancelled through the inspector by the inspector token');
    expect(listed.stdout).not.toContain('journal-test-token');
    run.child.kill('SIGTERM');
    await run.exit;
  }, 60_000);

  it('refuses a bad --state with exit 2, naming the states', async () => {
    const ini = await tmp.write('stuck.ini', INI());
    const result = await flowdEnded(['events', ini, '--state', 'faild']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      '--state: found "faild"; expected one of queued, running, retrying, completed, failed, dead-lettered, expired, rejected, returned (did you mean "failed"?)',
    );
  });
});
