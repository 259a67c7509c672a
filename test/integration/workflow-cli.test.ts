import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/workflows/engine.js';
import type { HistoryEvent } from '../../src/workflows/history.js';
import { flowd, ROOT, untilRunning as until, type FlowdProcess } from '../helpers/cli.js';
import { cleanupsAfterEach } from '../helpers/once.js';

// Workflows through the CLI as a user runs them: `flowd run` decides, `flowd workflow start|status`
// work on the app's store. Each test has its own temp folder, so no two tests share a store.

const cleanups = cleanupsAfterEach();

const VIDEO_INI = path.join(ROOT, 'examples/video/video.ini');
const VIDEO_MODULE = path.join(ROOT, 'examples/video/workflows.ts');
const FIXTURE_INI = path.join(ROOT, 'test/fixtures/workflow-cli/app.ini');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** One line of $VIDEO_LOG: an activity's execution (an attempt) as the activity noted it. */
interface Execution {
  activity: string;
  video: string;
  pid: number;
  at: number;
  attempt?: number;
}

/** An app in a temp folder: its INI file, the environment its commands get, and the executions its activities noted. */
interface App {
  dir: string;
  ini: string;
  env: NodeJS.ProcessEnv;
  executions(video?: string): Execution[];
}

async function tempFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-workflow-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  return dir;
}

function appIn(dir: string, ini: string, env: NodeJS.ProcessEnv = {}): App {
  const log = path.join(dir, 'video.log');
  return {
    dir,
    ini,
    env: { ...env, VIDEO_LOG: log },
    executions(video) {
      let text = '';
      try {
        text = readFileSync(log, 'utf8');
      } catch {
        // No activity has run yet.
      }
      const all = text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Execution);
      return video === undefined ? all : all.filter((execution) => execution.video === video);
    },
  };
}

/** The tutorial's INI file (examples/video/video.ini) in a temp folder, its module named by absolute path: the store lives there, not in examples/. */
async function videoApp(): Promise<App> {
  const dir = await tempFolder();
  const text = await readFile(VIDEO_INI, 'utf8');
  const moved = text.replace(/^module = \.\/workflows\.ts$/m, `module = ${VIDEO_MODULE}`);
  expect(moved, 'examples/video/video.ini names module = ./workflows.ts').not.toBe(text);
  const ini = path.join(dir, 'video.ini');
  await writeFile(ini, moved);
  return appIn(dir, ini);
}

/** test/fixtures/workflow-cli/app.ini (a workflow that fails, one that continues as new once), its state folder in a temp folder. */
async function fixtureApp(): Promise<App> {
  const dir = await tempFolder();
  return appIn(dir, FIXTURE_INI, { WORKFLOW_CLI_STATE: path.join(dir, 'state') });
}

/** A `flowd` command that ends: its exit code and what it printed. */
async function cli(app: App, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = flowd(args, { env: app.env });
  const { code } = await command.exit;
  return { code, stdout: command.stdout(), stderr: command.stderr() };
}

/** `flowd run app.ini`, killed after the test if it still runs (before its folder is removed). */
function daemon(app: App): FlowdProcess {
  const proc = flowd(['run', app.ini], { env: app.env });
  cleanups.push(async () => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await proc.exit;
  });
  return proc;
}

/** A daemon that has become the app's decider. */
async function decider(app: App): Promise<FlowdProcess> {
  const proc = daemon(app);
  await proc.waitFor('stderr', /workflows: deciding for app /);
  return proc;
}

const kill = async (proc: FlowdProcess) => {
  proc.child.kill('SIGKILL');
  expect((await proc.exit).signal).toBe('SIGKILL');
};

const stop = async (proc: FlowdProcess) => {
  proc.child.kill('SIGTERM');
  expect((await proc.exit).code, proc.stderr().slice(-2000)).toBe(0);
};

/** `flowd workflow start app.ini NAME --input JSON` (without --wait): the run's id. */
async function startRun(app: App, name: string, input: unknown): Promise<string> {
  const started = await cli(app, ['workflow', 'start', app.ini, name, '--input', JSON.stringify(input)]);
  expect(started.code, started.stderr).toBe(0);
  const runId = started.stdout.trim();
  expect(runId).toMatch(UUID);
  return runId;
}

/** `flowd workflow status app.ini ID --json`, parsed. */
async function status(app: App, runId: string): Promise<RunRecord> {
  const shown = await cli(app, ['workflow', 'status', app.ini, runId, '--json']);
  expect(shown.code, shown.stderr).toBe(0);
  return JSON.parse(shown.stdout) as RunRecord;
}

type Of<T extends HistoryEvent['type']> = Extract<HistoryEvent, { type: T }>;
const eventsOf = <T extends HistoryEvent['type']>(record: RunRecord, type: T, callId?: string): Array<Of<T>> =>
  record.history.filter(
    (event): event is Of<T> => event.type === type && (callId === undefined || (event as { callId?: string }).callId === callId),
  );

/** The calls whose activity.completed is in the history. */
const completedCalls = (record: RunRecord) =>
  eventsOf(record, 'activity.completed')
    .map((event) => event.callId)
    .sort();

/** When a call was scheduled, when its last attempt started, and when it completed. */
function span(record: RunRecord, callId: string): { scheduled: number; started: number; completed: number; ms: number } {
  const scheduled = eventsOf(record, 'activity.scheduled', callId);
  const started = eventsOf(record, 'activity.started', callId);
  const completed = eventsOf(record, 'activity.completed', callId);
  expect(scheduled, `${callId} is scheduled once`).toHaveLength(1);
  expect(completed, `${callId} completes once`).toHaveLength(1);
  expect(started.length, `${callId} has started`).toBeGreaterThan(0);
  const [s, c] = [started.at(-1)!.at, completed[0]!.at];
  return { scheduled: scheduled[0]!.at, started: s, completed: c, ms: c - s };
}

/** What UploadWorkflow completes with for `video`. */
const published = (video: string) => ({
  video,
  file: video.replace(/\.[^.]+$/, '.mp4'),
  codec: 'h264',
  thumbnails: 3,
  status: 'published',
});

/** The pids of the executions of `activity`, in order. */
const pidsOf = (executions: Execution[], activity: string) =>
  executions.filter((execution) => execution.activity === activity).map((execution) => execution.pid);

describe('flowd workflow with the video tutorial', () => {
  it('runs transcoding and thumbnails together in one decision, then the metadata from both, and --wait prints the run', async () => {
    const app = await videoApp();
    const run = await decider(app);
    const started = await cli(app, [
      'workflow',
      'start',
      app.ini,
      'UploadWorkflow',
      '--input',
      '{"video":"cat.mov","seconds":1}',
      '--wait',
    ]);
    expect(started.code, started.stderr).toBe(0);
    const [runId = '', heading] = started.stdout.split('\n');
    expect(runId).toMatch(UUID);
    expect(heading).toBe(`run ${runId}: workflow UploadWorkflow 1, completed`);
    expect(started.stdout).toContain('input: {"video":"cat.mov","seconds":1}');
    expect(started.stdout).toContain('result: {"video":"cat.mov","file":"cat.mp4","codec":"h264","thumbnails":3,');
    // Progress while it waits: each call as it is scheduled and as it ends, the third after the first two.
    const progress = started.stderr.split('\n').filter((line) => /^flowd: \w+#1 /.test(line));
    expect(progress.at(-1)).toBe('flowd: MetadataProcessing#1 completed (3 done, 3 scheduled so far)');
    // The decider took the run up at once: no note about a missing daemon.
    expect(started.stderr).not.toContain('no daemon has taken up');
    expect(progress.indexOf('flowd: MetadataProcessing#1 scheduled')).toBeGreaterThan(
      progress.findIndex((line) => line.startsWith('flowd: Transcoding#1 completed')),
    );
    expect(started.stdout).toMatch(/^ {2}\S+ {2}workflow\.completed /m);

    const record = await status(app, runId);
    expect(record).toMatchObject({
      runId,
      workflow: { name: 'UploadWorkflow', version: 1 },
      state: 'completed',
      result: published('cat.mov'),
    });
    const transcoding = span(record, 'Transcoding#1');
    const thumbnails = span(record, 'ThumbnailGenerator#1');
    const metadata = span(record, 'MetadataProcessing#1');
    expect(thumbnails.scheduled, 'Transcoding and ThumbnailGenerator are scheduled in one decision').toBe(transcoding.scheduled);
    expect(transcoding.started, 'Transcoding starts before ThumbnailGenerator completes').toBeLessThan(thumbnails.completed);
    expect(thumbnails.started, 'ThumbnailGenerator starts before Transcoding completes').toBeLessThan(transcoding.completed);
    expect(metadata.scheduled).toBeGreaterThanOrEqual(Math.max(transcoding.completed, thumbnails.completed));
    expect(metadata.started).toBeGreaterThanOrEqual(metadata.scheduled);
    // Each activity works for `seconds` (MetadataProcessing half of it); together they took less than one after the other.
    expect(transcoding.ms).toBeGreaterThanOrEqual(1000);
    expect(thumbnails.ms).toBeGreaterThanOrEqual(1000);
    expect(metadata.ms).toBeGreaterThanOrEqual(500);
    const [end] = eventsOf(record, 'workflow.completed');
    expect(end!.at - transcoding.scheduled).toBeLessThan(transcoding.ms + thumbnails.ms + metadata.ms);

    const pid = run.child.pid;
    expect(
      app
        .executions()
        .map((e) => [e.activity, e.video, e.pid])
        .sort(),
    ).toEqual([
      ['MetadataProcessing', 'cat.mov', pid],
      ['ThumbnailGenerator', 'cat.mov', pid],
      ['Transcoding', 'cat.mov', pid],
    ]);

    const table = await cli(app, ['workflow', 'status', app.ini, runId]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^CALL\s+ACTIVITY\s+STATE\s+ATTEMPTS\s+SCHEDULED\s+ENDED\s+RESULT$/m);
    expect(table.stdout).toMatch(/^Transcoding#1\s+Transcoding 1\s+completed\s+1\s+\S+Z\s+\S+Z\s+\{"file":"cat\.mp4","codec":"h264"\}$/m);
    expect(table.stdout).toMatch(
      /^ThumbnailGenerator#1\s+ThumbnailGenerator 1\s+completed\s+1\s+.*\["cat-1\.jpg","cat-2\.jpg","cat-3\.jpg"\]$/m,
    );
    expect(table.stdout).toMatch(/^MetadataProcessing#1\s+MetadataProcessing 1\s+completed\s+1\s/m);
    await stop(run);
  });

  it('resumes a run after a SIGKILL once Transcoding and ThumbnailGenerator completed, without running them again', async () => {
    const app = await videoApp();
    const first = await decider(app);
    const runId = await startRun(app, 'UploadWorkflow', { video: 'dog.mov', seconds: 2 });
    await until(first, 'MetadataProcessing has started', () => pidsOf(app.executions(), 'MetadataProcessing').length > 0);
    await kill(first);
    const killedAt = Date.now();

    const atKill = await status(app, runId);
    expect(atKill.state).toBe('running');
    expect(completedCalls(atKill)).toEqual(['ThumbnailGenerator#1', 'Transcoding#1']);

    const second = daemon(app);
    await second.waitFor('stderr', new RegExp(`workflow UploadWorkflow run ${runId} completed`));
    console.info(
      `workflow SIGKILL test (after the first two): the run completed ${Date.now() - killedAt}ms after the kill (a store lock left by the kill goes stale after 10s)`,
    );

    const record = await status(app, runId);
    expect(record.state).toBe('completed');
    expect(record.result).toEqual(published('dog.mov'));
    const executions = app.executions('dog.mov');
    const [a, b] = [first.child.pid, second.child.pid];
    expect(pidsOf(executions, 'Transcoding'), 'Transcoding ran once: its result was kept').toEqual([a]);
    expect(pidsOf(executions, 'ThumbnailGenerator'), 'ThumbnailGenerator ran once: its result was kept').toEqual([a]);
    expect(pidsOf(executions, 'MetadataProcessing'), 'MetadataProcessing, killed while running, ran again').toEqual([a, b]);
    await stop(second);
  }, 60_000);

  it('runs Transcoding and ThumbnailGenerator again when the SIGKILL lands while they run, and completes the run', async () => {
    const app = await videoApp();
    const first = await decider(app);
    const runId = await startRun(app, 'UploadWorkflow', { video: 'owl.mov', seconds: 2 });
    await until(
      first,
      'Transcoding and ThumbnailGenerator have started',
      () => pidsOf(app.executions(), 'Transcoding').length > 0 && pidsOf(app.executions(), 'ThumbnailGenerator').length > 0,
    );
    await kill(first);
    const killedAt = Date.now();

    const atKill = await status(app, runId);
    expect(atKill.state).toBe('running');
    expect(completedCalls(atKill)).toEqual([]);

    const second = daemon(app);
    await second.waitFor('stderr', new RegExp(`workflow UploadWorkflow run ${runId} completed`));
    console.info(`workflow SIGKILL test (while the first two ran): the run completed ${Date.now() - killedAt}ms after the kill`);

    const record = await status(app, runId);
    expect(record.state).toBe('completed');
    expect(record.result).toEqual(published('owl.mov'));
    const executions = app.executions('owl.mov');
    const [a, b] = [first.child.pid, second.child.pid];
    expect(pidsOf(executions, 'Transcoding'), 'Transcoding ran again after the kill (at least once)').toEqual([a, b]);
    expect(pidsOf(executions, 'ThumbnailGenerator'), 'ThumbnailGenerator ran again after the kill (at least once)').toEqual([a, b]);
    expect(pidsOf(executions, 'MetadataProcessing')).toEqual([b]);
    expect(eventsOf(record, 'activity.completed', 'Transcoding#1')).toHaveLength(1);
    await stop(second);
  }, 60_000);

  it('has one decider of two daemons on one INI file: the other waits, and takes over within seconds of a SIGTERM', async () => {
    const app = await videoApp();
    const a = await decider(app);
    const b = daemon(app);
    await b.waitFor('stderr', /workflows: another daemon decides for app video; waiting to take over \(lock \\"workflow\/decider\\"\)/);

    const one = await cli(app, ['workflow', 'start', app.ini, 'UploadWorkflow', '--input', '{"video":"one.mov","seconds":0.2}', '--wait']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^run \S+: workflow UploadWorkflow 1, completed$/m);
    expect(
      app
        .executions('one.mov')
        .map((e) => [e.activity, e.pid])
        .sort(),
    ).toEqual([
      ['MetadataProcessing', a.child.pid],
      ['ThumbnailGenerator', a.child.pid],
      ['Transcoding', a.child.pid],
    ]);
    expect(b.stderr()).not.toMatch(/deciding for app/);
    expect((b.stderr().match(/workflow UploadWorkflow run \S+ completed/g) ?? []).length).toBe(0);
    expect((a.stderr().match(/workflow UploadWorkflow run \S+ completed/g) ?? []).length).toBe(1);

    await stop(a);
    const stoppedAt = Date.now();
    await b.waitFor('stderr', /workflows: deciding for app video/);
    const takeOverMs = Date.now() - stoppedAt;
    expect(takeOverMs).toBeLessThan(5000);

    const two = await cli(app, ['workflow', 'start', app.ini, 'UploadWorkflow', '--input', '{"video":"two.mov","seconds":0.2}', '--wait']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/^run \S+: workflow UploadWorkflow 1, completed$/m);
    expect(two.stdout).toContain('result: {"video":"two.mov","file":"two.mp4"');
    expect(
      app
        .executions('two.mov')
        .map((e) => [e.activity, e.pid])
        .sort(),
    ).toEqual([
      ['MetadataProcessing', b.child.pid],
      ['ThumbnailGenerator', b.child.pid],
      ['Transcoding', b.child.pid],
    ]);
    console.info(`workflow two-daemon test: the second daemon decided ${takeOverMs}ms after the first stopped`);
    await stop(b);
  }, 60_000);

  it('prints the workflows, activities and concurrency in flowd check', async () => {
    const app = await videoApp();
    const checked = await cli(app, ['check', app.ini]);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toContain('video: ok: workflows UploadWorkflow 1 and 3 activities (task lists in this process, concurrency 4)');
  });

  it('shows a run no daemon has taken up as running with no calls, in a table and as JSON', async () => {
    const app = await videoApp();
    const runId = await startRun(app, 'UploadWorkflow', { video: 'cat.mov' });
    const table = await cli(app, ['workflow', 'status', app.ini, runId]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      `run ${runId}: workflow UploadWorkflow 1, running`,
      'input: {"video":"cat.mov"}',
      'no activity calls yet',
      'history (1 events):',
    ]);
    expect(lines.slice(4)).toEqual([
      expect.stringMatching(/^ {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}workflow\.started {2}input \{"video":"cat\.mov"\}$/),
    ]);
    const record = await status(app, runId);
    expect(record).toMatchObject({ runId, state: 'running', history: [{ type: 'workflow.started', input: { video: 'cat.mov' } }] });
    expect(record.history).toHaveLength(1);
  });

  it('prints the run id of start --wait at once, before the run ends, so a wait cut short by Ctrl-C still shows it, and says when no daemon takes the run up', async () => {
    const app = await videoApp();
    // No daemon: the run stays open, and the wait would never end.
    const waiting = flowd(['workflow', 'start', app.ini, 'UploadWorkflow', '--input', '{"video":"cat.mov"}', '--wait'], { env: app.env });
    cleanups.push(async () => {
      if (waiting.child.exitCode === null && waiting.child.signalCode === null) waiting.child.kill('SIGKILL');
      await waiting.exit;
    });
    const [printed] = await Promise.all([
      waiting.waitFor('stdout', /^[0-9a-f-]{36}\n/),
      waiting.waitFor('stderr', /flowd: waiting for the run to end/),
    ]);
    const runId = printed.trim();
    expect(runId).toMatch(UUID);
    // Nothing decides: it says so within seconds (after twice the poll interval, at least 3s), and goes on waiting.
    const note = await waiting.waitFor('stderr', /flowd: no daemon has taken up run .*\n/);
    expect(note).toBe(
      `flowd: no daemon has taken up run ${runId} after 3s: is one deciding for app video? Start one with: flowd run ${app.ini} (still waiting; Ctrl-C stops waiting, the run stays recorded)\n`,
    );
    expect(waiting.child.exitCode, 'start --wait still waits').toBeNull();
    waiting.child.kill('SIGINT');
    await waiting.exit;
    expect(waiting.stdout()).toBe(`${runId}\n`);
    expect((await status(app, runId)).state).toBe('running');
  });

  it('stops a start --wait after --timeout: exits 1 naming the run and how to see it, and the run goes on', async () => {
    const app = await videoApp();
    // No daemon: the run stays open past the timeout.
    const waited = await cli(app, [
      'workflow',
      'start',
      app.ini,
      'UploadWorkflow',
      '--input',
      '{"video":"cat.mov"}',
      '--wait',
      '--timeout',
      '300ms',
    ]);
    expect(waited.code, waited.stderr).toBe(1);
    const runId = waited.stdout.trim();
    expect(runId).toMatch(UUID);
    expect(waited.stderr).toContain(
      `flowd: run ${runId} is still running after 300ms (--timeout); it goes on. See it with: flowd workflow status ${app.ini} ${runId}`,
    );
    expect((await status(app, runId)).state).toBe('running');
  });

  it('exits 2 for a --timeout without --wait, one that is not a duration above zero, and one on another command', async () => {
    const app = await videoApp();
    const [noWait, notDuration, zero, onStatus, onRun] = await Promise.all([
      cli(app, ['workflow', 'start', app.ini, 'UploadWorkflow', '--timeout', '5m']),
      cli(app, ['workflow', 'start', app.ini, 'UploadWorkflow', '--wait', '--timeout', 'soon']),
      cli(app, ['workflow', 'start', app.ini, 'UploadWorkflow', '--wait', '--timeout', '0s']),
      cli(app, ['workflow', 'status', app.ini, 'some-run', '--timeout', '1s']),
      cli(app, ['run', app.ini, '--timeout', '1s']),
    ]);
    expect(noWait.stderr).toContain('--timeout is how long --wait waits; give both');
    expect(notDuration.stderr).toContain('--timeout: found "soon"; expected a duration above zero such as 30s, 5m or 1h');
    expect(zero.stderr).toContain('--timeout: found "0s"; expected a duration above zero');
    expect(onStatus.stderr).toContain('--input, --wait and --timeout are options of workflow start, not of workflow status');
    expect(onRun.stderr).toContain('--input, --wait and --timeout are options of workflow start, not of run');
    for (const result of [noWait, notDuration, zero, onStatus, onRun]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    }
  });

  it('exits 2 naming what is wrong: an unknown run id or workflow, --input that is not JSON, a bad or missing action', async () => {
    const app = await videoApp();
    const [unknownRun, unknownWorkflow, badInput, badAction, noAction] = await Promise.all([
      cli(app, ['workflow', 'status', app.ini, 'no-such-run']),
      cli(app, ['workflow', 'start', app.ini, 'DownloadWorkflow']),
      cli(app, ['workflow', 'start', app.ini, 'UploadWorkflow', '--input', '{video: cat.mov}']),
      cli(app, ['workflow', 'frob', app.ini, 'UploadWorkflow']),
      cli(app, ['workflow']),
    ]);
    expect(unknownRun.code).toBe(2);
    expect(unknownRun.stderr).toContain('no workflow run "no-such-run" in the store of app video');
    expect(unknownWorkflow.code).toBe(2);
    expect(unknownWorkflow.stderr).toContain('no workflow named "DownloadWorkflow"; known: UploadWorkflow');
    expect(badInput.code).toBe(2);
    expect(badInput.stderr).toMatch(/--input: .*; expected JSON/);
    expect(badAction.code).toBe(2);
    expect(badAction.stderr).toContain('workflow "frob" is not an action; expected workflow start');
    expect(noAction.code).toBe(2);
    expect(noAction.stderr).toContain('workflow needs an action; expected workflow start');
    for (const result of [unknownRun, unknownWorkflow, badInput, badAction, noAction]) expect(result.stdout).toBe('');
  });

  it('exits 2 for an app without [Workflow], and for a [Workflow] module that does not exist, naming the file, section and key', async () => {
    const dir = await tempFolder();
    const worker = path.join(dir, 'worker.ini');
    await writeFile(
      worker,
      `[Flow]\napp name = plain\nclass = ${path.join(ROOT, 'test/fixtures/workers/echo.ts')}:Echo\n\n[Source]\ntype = stdin\n`,
    );
    const missing = path.join(dir, 'missing.ini');
    await writeFile(missing, '[Flow]\napp name = missing\n\n[Workflow]\nmodule = ./nowhere.ts\n');
    const app = appIn(dir, worker);
    const [noSection, noModule, noModuleInRun] = await Promise.all([
      cli(app, ['workflow', 'start', worker, 'UploadWorkflow']),
      cli(app, ['workflow', 'start', missing, 'UploadWorkflow']),
      cli(app, ['run', missing]),
    ]);
    expect(noSection.code).toBe(2);
    expect(noSection.stderr).toContain(
      `${worker} [Workflow]: is missing; flowd workflow start works on an app with [Workflow] module = ./workflows.ts`,
    );
    for (const result of [noModule, noModuleInRun]) {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `${missing}:5 [Workflow] "module": found "./nowhere.ts", but ${path.join(dir, 'nowhere.ts')} does not exist`,
      );
    }
  });
});

describe('flowd workflow with a failing activity', () => {
  it('fails the run after the retries: start --wait exits 1 printing the error, and status shows it failed', async () => {
    const app = await fixtureApp();
    const run = await decider(app);
    const started = await cli(app, ['workflow', 'start', app.ini, 'BrokenUpload', '--input', '{"video":"cat.mov"}', '--wait']);
    expect(started.code, started.stderr).toBe(1);
    const [runId = ''] = started.stdout.split('\n');
    expect(runId).toMatch(UUID);
    expect(started.stdout).toContain(`run ${runId}: workflow BrokenUpload 1, failed`);
    expect(started.stdout).toContain('error: ERR_TASK: Activity "Encode" (call Encode#1) failed: the encoder is on fire (cat.mov)');
    expect(started.stdout).toMatch(/^Encode#1\s+Encode 1\s+failed\s+2\s+.*the encoder is on fire \(cat\.mov\)$/m);

    const record = await status(app, runId);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('ERR_TASK');
    expect(record.error?.message).toContain('the encoder is on fire (cat.mov)');
    expect(record).not.toHaveProperty('result');
    expect(eventsOf(record, 'activity.failed').map((event) => [event.attempt, event.final])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(app.executions('cat.mov').map((e) => [e.activity, e.attempt, e.pid])).toEqual([
      ['Encode', 1, run.child.pid],
      ['Encode', 2, run.child.pid],
    ]);
    expect(run.stderr()).toContain(`workflow BrokenUpload run ${runId} failed`);
    await stop(run);
  });
});

describe('flowd workflow with a run that continues as new', () => {
  it('follows the run to the one that continues it: start --wait prints both ids, says so on stderr, and prints the last run', async () => {
    const app = await fixtureApp();
    const run = await decider(app);
    const started = await cli(app, ['workflow', 'start', app.ini, 'TwoRounds', '--input', '0', '--wait']);
    expect(started.code, started.stderr).toBe(0);
    const [first = '', second = '', heading, continues] = started.stdout.split('\n');
    expect(first).toMatch(UUID);
    expect(second).toMatch(UUID);
    expect(second).not.toBe(first);
    expect(heading).toBe(`run ${second}: workflow TwoRounds 1, completed`);
    expect(continues).toBe(`continues run ${first}`);
    expect(started.stdout).toContain('input: 1');
    expect(started.stdout).toContain('result: 2');
    expect(started.stderr).toContain(`flowd: run ${first} continues as new in run ${second}\n`);
    // Each run's calls are told as they end: the first run's Count#1, then the second run's.
    const progress = started.stderr
      .split('\n')
      .filter((line) => line.startsWith('flowd: Count#1 completed') || line.includes('continues as new'));
    expect(progress).toEqual([
      'flowd: Count#1 completed (1 done, 1 scheduled so far)',
      `flowd: run ${first} continues as new in run ${second}`,
      'flowd: Count#1 completed (1 done, 1 scheduled so far)',
    ]);

    const [restarted, completed] = [await status(app, first), await status(app, second)];
    expect(restarted).toMatchObject({ runId: first, state: 'restarted', next: second });
    expect(eventsOf(restarted, 'workflow.restarted').map((event) => event.input)).toEqual([1]);
    expect(completed).toMatchObject({ runId: second, state: 'completed', previous: first, result: 2 });
    expect(app.executions().map((e) => e.video)).toEqual(['round 0', 'round 1']);
    expect(run.stderr()).toContain(`workflow TwoRounds run ${first} continues as new in run ${second}`);
    await stop(run);
  });
});
