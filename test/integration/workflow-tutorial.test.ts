import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deleteQueues, findQueue, stompUrl, uniqueQueue } from '../helpers/broker.js';
import { flowd, flowdEnded, ROOT } from '../helpers/cli.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { dropStoreTable, testPool } from '../helpers/postgres.js';
import { ensurePostgres, ensureRabbitStomp, POSTGRES_URL } from '../helpers/services.js';
import type { HistoryEvent, RunRecord } from '../../src/index.js';

// The tutorial's full example (examples/tutorial, walked through in docs/workflows.md) end to end:
// `flowd run` with its store in PostgreSQL and its task lists over RabbitMQ, runs started with
// `flowd workflow start --wait`, and what `flowd workflow status` then says of them.

const cleanups = cleanupsAfterEach();

beforeAll(async () => {
  await ensureRabbitStomp();
  await ensurePostgres();
}, 120_000);

/** examples/tutorial/tutorial.ini in a folder of its own, with a table and a queue base no other test uses. */
async function tutorialApp() {
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-tutorial-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  const table = `flowd_tutorial_${randomBytes(5).toString('hex')}`;
  const base = uniqueQueue('tutorial');
  const original = await readFile(path.join(ROOT, 'examples/tutorial/tutorial.ini'), 'utf8');
  const text = original
    .replace(/^module = \.\/workflows\.ts$/m, `module = ${path.join(ROOT, 'examples/tutorial/workflows.ts')}`)
    .replace(
      /^broker = stomp:\/\/guest:guest@127\.0\.0\.1:61613\/queue\/flowd-example\.tutorial$/m,
      `broker = ${stompUrl(`/queue/${base}`)}`,
    )
    .replace(/^url = postgres:\/\/postgres@127\.0\.0\.1:5432\/test$/m, `url = ${POSTGRES_URL}`)
    .replace(/^table = flowd_example_tutorial$/m, `table = ${table}`);
  for (const line of [/^module = \//m, /^broker = stomp:\/\/guest:guest@127\.0\.0\.1:61613\/queue\/flowd-test\./m, /^backend = postgres$/m])
    expect(text, 'examples/tutorial/tutorial.ini has its module, broker and store lines').toMatch(line);
  expect(text).toContain(`table = ${table}\n`);
  const ini = path.join(dir, 'tutorial.ini');
  await writeFile(ini, text);
  const db = testPool(1);
  cleanups.push(async () => {
    await dropStoreTable(db, table);
    await db.end();
  });
  cleanups.push(() => deleteQueues(`${base}.video`, `${base}.default`, `${base}.reports`));
  return { ini, table, base, db };
}

const eventsOf = (record: RunRecord, callId: string): HistoryEvent[] =>
  record.history.filter((event) => 'callId' in event && event.callId === callId);
const indexOf = (record: RunRecord, type: string, callId?: string): number =>
  record.history.findIndex((event) => event.type === type && (callId === undefined || ('callId' in event && event.callId === callId)));

describe('the tutorial (examples/tutorial) with PostgreSQL as the store and RabbitMQ task lists', () => {
  it('runs end to end through flowd run and flowd workflow start --wait: a timed-out Transcoding retried, AddSubtitles waited for, a failure caught, the option layers in effect', async () => {
    const app = await tutorialApp();
    const daemon = flowd(['run', app.ini]);
    cleanups.push(async () => {
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL');
      await daemon.exit;
    });
    await daemon.waitFor(
      'stderr',
      /workflows: serving 4 activities over stomp:\/\/guest:\*\*\*@127\.0\.0\.1:61613\/queue\/flowd-test\.tutorial\./,
    );
    await daemon.waitFor('stderr', /workflows: deciding for app tutorial/);

    // An audio file (ThumbnailGenerator fails, and the workflow catches it) and a video (it does not), at once.
    const start = (input: string) =>
      flowdEnded(['workflow', 'start', app.ini, 'UploadWorkflow', '--input', JSON.stringify(input), '--wait']);
    const [audio, video] = await Promise.all([start('talk.mp3'), start('cat.mov')]);
    for (const run of [audio, video]) expect(run.code, `${run.stdout}\n${run.stderr}\nthe daemon: ${daemon.stderr()}`).toBe(0);
    const [runId = '', heading] = audio.stdout.split('\n');
    expect(runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(heading).toBe(`run ${runId}: workflow UploadWorkflow 1, completed`);
    expect(audio.stdout).toContain('result: {"video":"talk.mp3","file":"talk.mp4","thumbnails":["default.jpg"],"warnings"...');
    // --wait told each call as it ended; the last of the four ends the run.
    const progress = audio.stderr.split('\n').filter((line) => /^flowd: \w+#1 /.test(line));
    expect(progress.at(-1)).toMatch(/^flowd: (AddSubtitles|MetadataProcessing)#1 completed \(4 done, 4 scheduled so far\)$/);
    expect(progress).toContain(
      'flowd: ThumbnailGenerator#1 failed: talk.mp3 is audio only: no frame to make a thumbnail of (1 done, 3 scheduled so far)',
    );

    // Both runs as flowd workflow status gives them, the audio file's also as it prints it.
    const [json, status, videoJson] = await Promise.all([
      flowdEnded(['workflow', 'status', app.ini, runId, '--json']),
      flowdEnded(['workflow', 'status', app.ini, runId]),
      flowdEnded(['workflow', 'status', app.ini, video.stdout.split('\n')[0]!, '--json']),
    ]);
    expect(json.code, json.stderr).toBe(0);
    const record = JSON.parse(json.stdout) as RunRecord;
    expect(record).toMatchObject({ runId, state: 'completed' });
    // The caught failure: the run completed with the default thumbnail and the error's message.
    expect(record.result).toEqual({
      video: 'talk.mp3',
      file: 'talk.mp4',
      thumbnails: ['default.jpg'],
      warnings: ['talk.mp3 is audio only: no frame to make a thumbnail of'],
      status: 'published',
    });
    expect(eventsOf(record, 'ThumbnailGenerator#1').at(-1)).toMatchObject({
      type: 'activity.failed',
      attempt: 1,
      final: true,
      error: { code: 'ERR_WORKER_FAILED', message: 'talk.mp3 is audio only: no frame to make a thumbnail of' },
    });
    // Transcoding: attempt 1 timed out on the proxy's startToClose, the context's retry ran attempt 2, which completed.
    expect(
      eventsOf(record, 'Transcoding#1').map((event) =>
        event.type === 'activity.timedOut'
          ? `${event.type} ${event.attempt} ${event.kind} final ${event.final}`
          : 'attempt' in event
            ? `${event.type} ${event.attempt}`
            : event.type,
      ),
    ).toEqual([
      'activity.scheduled',
      'activity.started 1',
      'activity.timedOut 1 startToClose final false',
      'activity.started 2',
      'activity.completed',
    ]);
    // The layers: the definition's startToClose 30m and retry 0, the proxy's startToClose 300ms, the context's retry 1.
    const options = (callId: string) => (eventsOf(record, callId)[0] as Extract<HistoryEvent, { type: 'activity.scheduled' }>).options;
    expect(options('Transcoding#1')).toEqual({ startToClose: 300, retries: 1 });
    expect(options('ThumbnailGenerator#1')).toEqual({ retries: 3 });
    expect(record.history.every((event) => event.type !== 'activity.scheduled' || event.taskList === 'video')).toBe(true);
    // AddSubtitles: its result is never read, yet it completed before the run did.
    expect(eventsOf(record, 'AddSubtitles#1').at(-1)).toMatchObject({ type: 'activity.completed', result: 'talk.en.vtt' });
    expect(indexOf(record, 'activity.completed', 'AddSubtitles#1')).toBeLessThan(indexOf(record, 'workflow.completed'));
    expect(indexOf(record, 'workflow.completed')).toBe(record.history.length - 1);

    // The same, as flowd workflow status prints it.
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`run ${runId}: workflow UploadWorkflow 1, completed\n`);
    expect(status.stdout).toMatch(/^Transcoding#1 +Transcoding 1 +completed +2 +\S+ +\S+ +\{"file":"talk\.mp4"\}$/m);
    expect(status.stdout).toMatch(/^AddSubtitles#1 +AddSubtitles 1 +completed +1 .*"talk\.en\.vtt"$/m);
    expect(status.stdout).toMatch(/^ThumbnailGenerator#1 +ThumbnailGenerator 1 +failed +1 .*ERR_WORKER_FAILED: talk\.mp3 is audio only/m);
    expect(status.stdout).toMatch(
      / {2}activity\.scheduled {2}Transcoding#1 {2}input "talk\.mp3" {2}task list video, startToClose 300ms, retry 1$/m,
    );
    expect(status.stdout).toMatch(/ {2}activity\.timedOut {2}Transcoding#1 {2}attempt 1 {2}startToClose {2}\(retried\)$/m);

    // The video: its thumbnails were made, nothing to catch.
    const videoRun = JSON.parse(videoJson.stdout) as RunRecord;
    expect(videoRun.result).toEqual({ video: 'cat.mov', file: 'cat.mp4', thumbnails: ['cat-1.jpg'], warnings: [], status: 'published' });

    // The histories are in the PostgreSQL table, and the task list's queue on RabbitMQ is drained.
    const { rows } = await app.db.query<{ key: string }>(
      `SELECT convert_from(key, 'UTF8') AS key FROM ${app.table} WHERE value IS NOT NULL`,
    );
    expect(rows.map((row) => row.key)).toEqual(expect.arrayContaining([`workflow/run/${runId}`, `workflow/run/${videoRun.runId}`]));
    expect(await findQueue(`${app.base}.video`)).toMatchObject({ messages: 0, consumers: 1 });
    expect(await findQueue(`${app.base}.reports`)).toMatchObject({ messages: 0 });

    daemon.child.kill('SIGINT');
    expect((await daemon.exit).code, daemon.stderr()).toBe(0);
    expect(daemon.stderr()).toContain(`workflow UploadWorkflow run ${runId} completed`);
    expect(daemon.stderr()).not.toContain('guest:guest');
  }, 60_000);
});
