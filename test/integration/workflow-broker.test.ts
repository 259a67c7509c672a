import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { ConfigError } from '../../src/kernel/errors.js';
import { createBrokerTaskLists, type BrokerTaskListOptions, type BrokerTaskLists } from '../../src/workflows/broker.js';
import type { HistoryEvent, JsonValue, ScheduledCall } from '../../src/workflows/history.js';
import { defineActivity, type ActivityDefinition } from '../../src/workflows/workflow-api.js';
import {
  deleteQueues,
  findQueue,
  produce,
  queueCounts,
  STOMP_HOST,
  stompUrl,
  uniqueQueue,
  vhostQueueMessages,
  virtualHost,
} from '../helpers/broker.js';
import { ROOT } from '../helpers/cli.js';
import { logSink } from '../helpers/log-sink.js';
import { manualClock } from '../helpers/manual-clock.js';
import { cleanupsAfterEach, deferred } from '../helpers/once.js';
import { closedPort } from '../helpers/ports.js';
import { tcpProxy } from '../helpers/tcp-proxy.js';

// Every test here talks to the machine's RabbitMQ on 127.0.0.1:61613 (the global setup makes sure it is up).

const FIXTURE = path.join(ROOT, 'test/fixtures/workflow-broker/worker.ts');
const cleanups = cleanupsAfterEach();
const created: string[] = [];
afterAll(() => deleteQueues(...created));

/** A fresh queue base; its reports queue and the named task lists' queues are deleted after the file. */
function newBase(...taskLists: string[]): string {
  const base = uniqueQueue('wf');
  created.push(`${base}.reports`, ...taskLists.map((taskList) => `${base}.${taskList}`));
  return base;
}

/** Task lists on `base`, with a log kept for the test and closed after it. */
function taskLists(
  base: string,
  options: Partial<BrokerTaskListOptions> = {},
): { lists: BrokerTaskLists; log: ReturnType<typeof logSink> } {
  const log = logSink('debug');
  const lists = createBrokerTaskLists({
    url: stompUrl(`/queue/${base}`),
    log: log.logger,
    reconnectDelayMs: 100,
    executor: { retryDelayMs: 10 },
    ...options,
  });
  cleanups.push(() => lists.close(1000));
  return { lists, log };
}

/** A call as decide() schedules it. */
function callOf(activity: ActivityDefinition, n: number, taskList: string, retries = 0): ScheduledCall {
  return {
    callId: `${activity.name}#${n}`,
    activity: { name: activity.name, version: activity.version },
    taskList,
    input: { n },
    options: { retries },
  };
}

const isFinal = (event: HistoryEvent) =>
  event.type === 'activity.completed' || ((event.type === 'activity.failed' || event.type === 'activity.timedOut') && event.final);

/** Submits calls through a decider's executor (scheduled at `now()`) and keeps the events each call reports. */
function reportsOf(lists: BrokerTaskLists, now: () => number = Date.now) {
  const events = new Map<string, HistoryEvent[]>();
  const keyOf = (runId: string, callId: string) => `${runId} ${callId}`;
  return {
    submit(runId: string, call: ScheduledCall) {
      events.set(keyOf(runId, call.callId), []);
      lists.executor.submit(
        { runId, call, scheduledAt: now() },
        (event) => void events.get(keyOf(runId, (event as { callId: string }).callId))!.push(event),
      );
    },
    of: (runId: string, callId: string) => events.get(keyOf(runId, callId))!,
    types: (runId: string, callId: string) => events.get(keyOf(runId, callId))!.map((event) => event.type),
    /** The result of the call's first completion. */
    result: (runId: string, callId: string) =>
      (events.get(keyOf(runId, callId))!.find((event) => event.type === 'activity.completed') as { result: JsonValue } | undefined)?.result,
    /** Resolves once every call submitted has a final event. */
    allFinal: () =>
      vi.waitFor(() => expect([...events.values()].filter((list) => !list.some(isFinal))).toHaveLength(0), {
        timeout: 15_000,
        interval: 20,
      }),
  };
}

/** A worker process (test/fixtures/workflow-broker/worker.ts) serving activity Work on `taskList`; killed after the test. */
function workerProcess(base: string, taskList: string, concurrency: number, mode: 'quick' | 'hang') {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, stompUrl(`/queue/${base}`), taskList, String(concurrency), mode], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (text.stderr += chunk));
  const exit = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('close', (code, signal) => resolve(signal ?? code)));
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    pid: child.pid!,
    kill: () => child.kill('SIGKILL'),
    exit,
    /** The inputs `n` whose attempts began in this process. */
    started: () => [...text.stdout.matchAll(/^started (\d+)$/gm)].map((match) => Number(match[1])),
    serving: () =>
      vi.waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`the worker process exited (${child.exitCode}): ${text.stderr}`);
          expect(text.stdout).toMatch(/^serving \d+$/m);
        },
        { timeout: 20_000, interval: 20 },
      ),
  };
}

const Work = { name: 'Work', version: 1 } as ActivityDefinition;

describe('task lists over STOMP queues', () => {
  it('carries calls of two activities on two task lists from a decider to a worker and their reports back, in order, one final each', async () => {
    const base = newBase('alpha', 'beta');
    const Alpha = defineActivity({ name: 'Alpha', version: 1, taskList: 'alpha' }, (input: { n: number }) => ({ doubled: input.n * 2 }));
    const Beta = defineActivity({ name: 'Beta', version: 1, taskList: 'beta' }, (input: { n: number }, ctx) => {
      if (ctx.attempt === 1) throw new Error('the first attempt fails');
      return { n: input.n, attempt: ctx.attempt };
    });
    const { lists: worker } = taskLists(base, { activities: [Alpha, Beta], concurrency: { alpha: 2, beta: 1 } });
    const { lists: decider } = taskLists(base);
    await worker.serve();
    await decider.decide();
    const reports = reportsOf(decider);
    reports.submit('run-1', callOf(Alpha, 1, 'alpha'));
    // retryErrors travels with the call's options: the worker retries the attempt that threw.
    reports.submit('run-1', { ...callOf(Beta, 1, 'beta'), options: { retries: 1, retryErrors: true } });
    reports.submit('run-2', callOf(Alpha, 1, 'alpha'));
    expect(decider.executor.stats()).toEqual({
      alpha: { queued: 2, running: 0, retrying: 0, abandoned: 0 },
      beta: { queued: 1, running: 0, retrying: 0, abandoned: 0 },
    });
    await reports.allFinal();

    expect(reports.types('run-1', 'Alpha#1')).toEqual(['activity.started', 'activity.completed']);
    expect(reports.types('run-2', 'Alpha#1')).toEqual(['activity.started', 'activity.completed']);
    expect(reports.of('run-1', 'Beta#1')).toMatchObject([
      { type: 'activity.started', attempt: 1 },
      { type: 'activity.failed', attempt: 1, final: false, error: { message: 'the first attempt fails' } },
      { type: 'activity.started', attempt: 2 },
      { type: 'activity.completed', result: { n: 1, attempt: 2 } },
    ]);
    expect(reports.result('run-1', 'Alpha#1')).toEqual({ doubled: 2 });
    expect(decider.executor.stats()).toEqual({
      alpha: { queued: 0, running: 0, retrying: 0, abandoned: 0 },
      beta: { queued: 0, running: 0, retrying: 0, abandoned: 0 },
    });
    await Promise.all([decider.close(), worker.close()]);
    for (const queue of ['alpha', 'beta', 'reports'])
      expect(await queueCounts(`${base}.${queue}`)).toMatchObject({ messages: 0, consumers: 0 });
  });

  it('lets two worker processes share a task list', async () => {
    const base = newBase('shared');
    const workers = [workerProcess(base, 'shared', 2, 'quick'), workerProcess(base, 'shared', 2, 'quick')];
    await Promise.all(workers.map((worker) => worker.serving()));
    const { lists: decider } = taskLists(base);
    await decider.decide();
    const reports = reportsOf(decider);
    for (let n = 0; n < 20; n++) reports.submit('run-1', callOf(Work, n, 'shared'));
    await reports.allFinal();

    const results = Array.from({ length: 20 }, (_, n) => reports.result('run-1', `Work#${n}`) as { pid: number; n: number });
    expect(results.map((result) => result.n)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(new Set(results.map((result) => result.pid))).toEqual(new Set(workers.map((worker) => worker.pid)));
    for (let n = 0; n < 20; n++) expect(reports.of('run-1', `Work#${n}`).filter(isFinal)).toHaveLength(1);
  });

  it('runs the task of a worker killed mid-activity again on another worker', async () => {
    const base = newBase('shared');
    const doomed = workerProcess(base, 'shared', 2, 'hang');
    await doomed.serving();
    const { lists: decider } = taskLists(base);
    await decider.decide();
    const reports = reportsOf(decider);
    for (let n = 0; n < 4; n++) reports.submit('run-1', callOf(Work, n, 'shared'));
    // The doomed worker holds two calls (its concurrency), and the decider has heard they started.
    await vi.waitFor(() => expect(doomed.started()).toHaveLength(2), { timeout: 10_000, interval: 20 });
    const held = doomed.started();
    await vi.waitFor(
      () => expect(held.map((n) => reports.types('run-1', `Work#${n}`))).toEqual([['activity.started'], ['activity.started']]),
      { timeout: 10_000, interval: 20 },
    );

    const survivor = workerProcess(base, 'shared', 2, 'quick');
    await survivor.serving();
    doomed.kill();
    expect(await doomed.exit).toBe('SIGKILL');
    await reports.allFinal();

    for (let n = 0; n < 4; n++) {
      expect(reports.of('run-1', `Work#${n}`).filter(isFinal).length).toBeGreaterThanOrEqual(1);
      expect(reports.result('run-1', `Work#${n}`)).toEqual({ pid: survivor.pid, n });
    }
    for (const n of held) expect(reports.types('run-1', `Work#${n}`).filter((type) => type === 'activity.started')).toHaveLength(2);
  });

  it('drops malformed messages and reports of runs it does not know, and returns a task of an unknown activity to the queue for a worker that has it', async () => {
    const base = newBase('mixed');
    const Alpha = defineActivity({ name: 'Alpha', version: 1, taskList: 'mixed' }, () => 'alpha');
    const Beta = defineActivity({ name: 'Beta', version: 1, taskList: 'mixed' }, () => 'from the second worker');
    const { lists: decider, log: deciderLog } = taskLists(base);
    await decider.decide();
    await produce(`/queue/${base}.reports`, [
      { body: JSON.stringify({ runId: 'no-such-run', event: { type: 'activity.completed', at: 0, callId: 'Alpha#1', result: null } }) },
      { body: 'not json' },
    ]);
    await vi.waitFor(
      () => {
        expect(
          deciderLog.messages().filter((message) => message.includes('for run no-such-run, which this decider does not know')),
        ).toHaveLength(1);
        expect(
          deciderLog.lines.filter((line) => line.level === 50 && line.msg.includes(`a malformed report on /queue/${base}.reports`)),
        ).toHaveLength(1);
      },
      { timeout: 10_000, interval: 20 },
    );

    const { lists: first, log: firstLog } = taskLists(base, { activities: [Alpha] });
    await first.serve();
    await produce(`/queue/${base}.mixed`, [{ body: JSON.stringify({ runId: 'run-1', call: { callId: 'Alpha#9' } }) }]);
    await vi.waitFor(
      () =>
        expect(
          firstLog.lines.filter(
            (line) =>
              line.level === 50 && line.msg.startsWith(`a malformed task on /queue/${base}.mixed: call (of run run-1) is not a call`),
          ),
        ).toHaveLength(1),
      { timeout: 10_000, interval: 20 },
    );
    const reports = reportsOf(decider);
    reports.submit('run-1', callOf(Beta, 1, 'mixed'));
    reports.submit('run-1', callOf(Alpha, 1, 'mixed'));
    const declined = () => firstLog.lines.filter((line) => line.level === 40 && line.msg.includes('activity "Beta" version 1'));
    await vi.waitFor(() => expect(declined()).toHaveLength(1), { timeout: 10_000, interval: 20 });

    const { lists: second } = taskLists(base, { activities: [Alpha, Beta] });
    await second.serve();
    await reports.allFinal();
    expect(reports.of('run-1', 'Beta#1')).toMatchObject([
      { type: 'activity.started' },
      { type: 'activity.completed', result: 'from the second worker' },
    ]);
    expect(reports.result('run-1', 'Alpha#1')).toBe('alpha');
    expect(declined()).toHaveLength(1);
    await Promise.all([decider.close(), first.close(), second.close()]);
    for (const queue of ['mixed', 'reports']) expect(await queueCounts(`${base}.${queue}`)).toMatchObject({ messages: 0 });
  });

  it('runs a call delivered twice only once: a copy that comes while it runs, or after its final report, is acknowledged and dropped', async () => {
    const base = newBase('alpha');
    const gate = deferred();
    let runs = 0;
    const Alpha = defineActivity({ name: 'Alpha', version: 1, taskList: 'alpha' }, async () => {
      runs++;
      await gate.promise;
      return 'done';
    });
    const { lists: worker, log } = taskLists(base, { activities: [Alpha] });
    const { lists: decider } = taskLists(base);
    await Promise.all([worker.serve(), decider.decide()]);
    const reports = reportsOf(decider);
    const call = callOf(Alpha, 1, 'alpha');
    reports.submit('run-1', call);
    await vi.waitFor(() => expect(reports.types('run-1', 'Alpha#1')).toEqual(['activity.started']), { timeout: 10_000, interval: 20 });
    const copy = {
      body: JSON.stringify({ runId: 'run-1', call, scheduledAt: Date.now(), attemptsMade: 0 }),
      headers: { 'reply-to': `/queue/${base}.reports` },
    };
    await produce(`/queue/${base}.alpha`, [copy]);
    const dropped = (why: string) => log.messages().filter((message) => message.startsWith(`call Alpha#1 of run run-1 came again ${why}`));
    await vi.waitFor(() => expect(dropped('while it runs here')).toHaveLength(1), { timeout: 10_000, interval: 20 });
    gate.resolve();
    await reports.allFinal();
    await produce(`/queue/${base}.alpha`, [copy]);
    await vi.waitFor(() => expect(dropped('after its final report was published')).toHaveLength(1), { timeout: 10_000, interval: 20 });

    expect(runs).toBe(1);
    expect(reports.types('run-1', 'Alpha#1')).toEqual(['activity.started', 'activity.completed']);
    await Promise.all([decider.close(), worker.close()]);
    expect(await queueCounts(`${base}.alpha`)).toMatchObject({ messages: 0 });
  });

  it('hands the reports to the next decider once the first one stops deciding', async () => {
    const base = newBase('alpha');
    const gate = deferred();
    const Alpha = defineActivity({ name: 'Alpha', version: 1, taskList: 'alpha' }, async () => {
      await gate.promise;
      return 'done';
    });
    const { lists: worker } = taskLists(base, { activities: [Alpha] });
    const { lists: first } = taskLists(base);
    const { lists: next } = taskLists(base);
    await Promise.all([worker.serve(), first.decide()]);
    const before = reportsOf(first);
    const call = callOf(Alpha, 1, 'alpha');
    before.submit('run-1', call);
    await vi.waitFor(() => expect(before.types('run-1', 'Alpha#1')).toEqual(['activity.started']), { timeout: 10_000, interval: 20 });

    await first.stopDeciding();
    // The next decider takes the run up as an engine's resume() does: it submits the open call again (the worker drops that copy, the call runs there).
    const after = reportsOf(next);
    after.submit('run-1', call);
    await next.decide();
    expect(await queueCounts(`${base}.reports`)).toMatchObject({ consumers: 1 });
    gate.resolve();
    await after.allFinal();
    expect(after.types('run-1', 'Alpha#1')).toEqual(['activity.completed']);
    expect(before.types('run-1', 'Alpha#1')).toEqual(['activity.started']);
    expect(first.executor.stats()).toEqual({ alpha: { queued: 0, running: 1, retrying: 0, abandoned: 0 } });
  });

  it('rejects decide() and serve() with an error naming the URL without the password when the broker refuses the login', async () => {
    const base = newBase('default');
    const Alpha = defineActivity({ name: 'Alpha', version: 1 }, () => null);
    const { lists, log } = taskLists(base, { url: stompUrl(`/queue/${base}`, 'guest:not-the-password'), activities: [Alpha] });
    const refused = expect.objectContaining({
      code: 'ERR_STOMP_REFUSED',
      message: expect.stringContaining(`the broker at stomp://guest@${STOMP_HOST}:61613/queue/${base} refused the connection`),
    });
    await expect(lists.decide()).rejects.toEqual(refused);
    await expect(lists.serve()).rejects.toEqual(refused);
    expect(JSON.stringify(log.lines)).not.toContain('not-the-password');
    expect(log.lines.filter((line) => line.level === 40)).toHaveLength(0);

    const wrongKind = () => createBrokerTaskLists({ url: stompUrl(`/topic/${base}`, 'guest:s3cret'), log: log.logger });
    expect(wrongKind).toThrow(ConfigError);
    expect(wrongKind).toThrow(
      `the workflow broker URL stomp://guest@${STOMP_HOST}:61613/topic/${base} names the destination /topic/${base}; expected stomp://`,
    );
    expect(wrongKind).not.toThrow(/s3cret/);
  });

  it('publishes a call submitted as the connection is cut once it is back, and takes reports again', async () => {
    const base = newBase('alpha');
    const Alpha = defineActivity({ name: 'Alpha', version: 1, taskList: 'alpha' }, (input: { n: number }) => input.n);
    const proxy = await tcpProxy(61613);
    cleanups.push(() => proxy.close());
    const { lists: worker } = taskLists(base, { activities: [Alpha] });
    const { lists: decider, log } = taskLists(base, { url: `stomp://guest:guest@127.0.0.1:${proxy.port}/queue/${base}` });
    await Promise.all([worker.serve(), decider.decide()]);
    const reports = reportsOf(decider);
    reports.submit('run-1', callOf(Alpha, 1, 'alpha'));
    await reports.allFinal();

    // Two connections: the tasks' and the reports'.
    expect(proxy.cut()).toBe(2);
    reports.submit('run-1', callOf(Alpha, 2, 'alpha'));
    await reports.allFinal();
    expect(reports.result('run-1', 'Alpha#2')).toBe(2);
    const shown = `stomp://guest@127.0.0.1:${proxy.port}/queue/${base}`;
    expect(log.lines.filter((line) => line.level === 40 && line.msg.startsWith(`lost the connection to ${shown}`))).toHaveLength(2);
    expect(log.messages()).toEqual(
      expect.arrayContaining([`reconnected to ${shown} (workflow task lists)`, `reconnected to ${shown} (workflow reports)`]),
    );
  });

  it("ends calls no worker takes: at scheduleToStart when no retry could follow, past the last attempt's scheduleToClose; a late worker runs only what may still run", async () => {
    const base = newBase('nobody');
    // The decider's clock runs ten minutes behind and moves only when told, so the worker (on the real clock) finds every limit passed.
    const minute = 60_000;
    const clock = manualClock(Date.now() - 10 * minute);
    const { lists: decider, log } = taskLists(base, { executor: { retryDelayMs: 10, clock } });
    await decider.decide();
    const reports = reportsOf(decider, clock.now);
    const start = clock.now();
    const Work = { name: 'Work', version: 1 } as ActivityDefinition;
    reports.submit('run-1', { ...callOf(Work, 1, 'nobody'), options: { retries: 0, scheduleToStart: minute } });
    reports.submit('run-1', {
      ...callOf(Work, 2, 'nobody'),
      options: { retries: 2, scheduleToStart: minute / 2, scheduleToClose: 2 * minute },
    });
    reports.submit('run-1', { ...callOf(Work, 3, 'nobody'), options: { retries: 1, scheduleToStart: minute / 2 } });
    const unserved = () =>
      log.lines.filter((line) => line.level === 40 && /no worker has started it; is a worker serving task list "nobody"\?/.test(line.msg));

    // Each limit plus the backstop's grace of a second: nothing before, the timeout at it.
    await clock.advance(minute / 2 + 999);
    expect(unserved()).toHaveLength(0);
    await clock.advance(1);
    expect(unserved()).toHaveLength(1); // one warning for the task list, not one per call
    expect(unserved()[0]!.msg).toMatch(
      /^call Work#2 of run run-1 has waited 30s \(its scheduleToStart\) on \/queue\/\S+\.nobody and no worker has started it; .*each attempt times out 2m after it is queued \(scheduleToClose\)$/,
    );
    expect(reports.types('run-1', 'Work#1')).toEqual([]);
    // The decider's timeouts come back through the reports queue, as a worker's would.
    const arrived = (callId: string, events: HistoryEvent[]) =>
      vi.waitFor(() => expect(reports.of('run-1', callId)).toEqual(events), { timeout: 15_000, interval: 20 });
    await clock.advance(minute / 2);
    await arrived('Work#1', [
      { type: 'activity.timedOut', at: start + minute + 1000, callId: 'Work#1', attempt: 1, kind: 'scheduleToStart', final: true },
    ]);
    // Three attempts of 2m each and the retries' waits (10ms, 20ms) between them, plus the grace.
    const lastEnd = start + 3 * 2 * minute + 30 + 1000;
    await clock.advance(lastEnd - 1 - clock.now());
    expect(reports.types('run-1', 'Work#2')).toEqual([]);
    await clock.advance(1);
    await arrived('Work#2', [
      { type: 'activity.timedOut', at: lastEnd, callId: 'Work#2', attempt: 1, kind: 'scheduleToClose', final: true },
    ]);
    expect(reports.types('run-1', 'Work#3')).toEqual([]); // retries left and no scheduleToClose: it waits for a worker
    expect(decider.executor.stats()).toEqual({ nobody: { queued: 1, running: 0, retrying: 0, abandoned: 0 } });
    expect(unserved()).toHaveLength(1);

    // A worker comes: the two ended calls time out at once without running; the third is retried and runs.
    const ran: number[] = [];
    const Late = defineActivity({ name: 'Work', version: 1, taskList: 'nobody' }, (input: { n: number }) => void ran.push(input.n));
    const { lists: worker } = taskLists(base, { activities: [Late] });
    await worker.serve();
    await vi.waitFor(() => expect(reports.types('run-1', 'Work#3')).toContain('activity.completed'), { timeout: 15_000, interval: 20 });
    expect(ran).toEqual([3]);
    expect(reports.of('run-1', 'Work#3')).toMatchObject([
      { type: 'activity.timedOut', attempt: 1, kind: 'scheduleToStart', final: false },
      { type: 'activity.started', attempt: 2 },
      { type: 'activity.completed' },
    ]);
    // The worker's own final reports of the two ended calls reach the run too, which drops them.
    await vi.waitFor(() => expect(reports.of('run-1', 'Work#1')).toHaveLength(2), { timeout: 15_000, interval: 20 });
    expect(reports.of('run-1', 'Work#1')[1]).toMatchObject({ type: 'activity.timedOut', kind: 'scheduleToStart', final: true });
    await vi.waitFor(async () => expect(await queueCounts(`${base}.nobody`)).toMatchObject({ messages: 0 }), {
      timeout: 15_000,
      interval: 100,
    });
    expect(clock.pending()).toBe(0);
  });

  /**
   * A decider publishes a call of `activity` on `taskList` (run-1) and stops before it takes a report, once the worker
   * has sent `reported` reports; its successor resumes the call two minutes later on its clock (past the limits)
   * and has not decided yet.
   */
  async function handOver(activity: ActivityDefinition, taskList: string, options: ScheduledCall['options'], reported: number) {
    const base = newBase(taskList);
    const clock = manualClock(Date.now());
    const call: ScheduledCall = { ...callOf(activity, 1, taskList), options };
    const scheduledAt = clock.now();
    const { lists: first } = taskLists(base, { executor: { retryDelayMs: 10, clock } });
    const { lists: worker } = taskLists(base, { activities: [activity] });
    await worker.serve();
    first.executor.submit({ runId: 'run-1', call, scheduledAt }, () => {});
    await vi.waitFor(async () => expect(await queueCounts(`${base}.reports`)).toMatchObject({ messages: reported }), {
      timeout: 15_000,
      interval: 50,
    });
    await first.close(1000);
    await clock.advance(2 * 60_000);
    const { lists: next, log } = taskLists(base, { executor: { retryDelayMs: 10, clock } });
    const events: HistoryEvent[] = [];
    next.executor.submit({ runId: 'run-1', call, scheduledAt }, (event) => void events.push(event));
    await clock.advance(0);
    return { next, log, events };
  }

  it('puts its timeout behind a report already queued: a new decider past the limit still sees the completion first', async () => {
    // The worker finishes the call in time; both its reports wait, unread.
    const Quick = defineActivity({ name: 'Quick', version: 1, taskList: 'handover' }, () => 'done');
    const { next, log, events } = await handOver(Quick, 'handover', { retries: 0, scheduleToClose: 60_000 }, 2);
    expect(log.messages()).toContainEqual(
      expect.stringMatching(
        /^call Quick#1 of run run-1 passed its scheduleToClose with no final report from a worker; the decider reports it timed out/,
      ),
    );
    await next.decide();
    await vi.waitFor(() => expect(events).toHaveLength(3), { timeout: 15_000, interval: 20 });
    // The run records the completion and drops the timeout that follows it.
    expect(events.map((event) => event.type)).toEqual(['activity.started', 'activity.completed', 'activity.timedOut']);
    expect(next.executor.stats()).toEqual({ handover: { queued: 0, running: 0, retrying: 0, abandoned: 0 } });
  });

  it('drops its scheduleToStart timeout when a start queued ahead of it comes back first: the run keeps the call running', async () => {
    // The worker starts the call in time; its start waits, unread. The successor publishes a timeout behind it.
    const release = deferred();
    const Slow = defineActivity({ name: 'Slow', version: 1, taskList: 'slow' }, async () => {
      await release.promise;
      return 'done';
    });
    const { next, log, events } = await handOver(Slow, 'slow', { retries: 0, scheduleToStart: 60_000 }, 1);
    await next.decide();
    await vi.waitFor(
      () =>
        expect(log.messages()).toContain(`call Slow#1 of run run-1 started after all; the decider's scheduleToStart timeout is dropped`),
      { timeout: 15_000, interval: 20 },
    );
    expect(next.executor.stats()).toEqual({ slow: { queued: 0, running: 1, retrying: 0, abandoned: 0 } });
    release.resolve();
    await vi.waitFor(() => expect(events.map((event) => event.type)).toEqual(['activity.started', 'activity.completed']), {
      timeout: 15_000,
      interval: 20,
    });
  });

  it('names the attempt a worker would: after a retried failure the call waits for a retry, and a timeout names the next attempt', async () => {
    const base = newBase('flaky');
    const clock = manualClock(Date.now());
    const { lists: decider } = taskLists(base, { executor: { retryDelayMs: 10, clock } });
    await decider.decide();
    const reports = reportsOf(decider, clock.now);
    const Flaky = { name: 'Flaky', version: 1 } as ActivityDefinition;
    reports.submit('run-1', { ...callOf(Flaky, 1, 'flaky'), options: { retries: 3, scheduleToClose: 60_000 } });
    // A worker's reports, as a worker that then died would have sent them.
    await produce(`/queue/${base}.reports`, [
      { body: JSON.stringify({ runId: 'run-1', event: { type: 'activity.started', at: clock.now(), callId: 'Flaky#1', attempt: 1 } }) },
      {
        body: JSON.stringify({
          runId: 'run-1',
          event: {
            type: 'activity.failed',
            at: clock.now(),
            callId: 'Flaky#1',
            attempt: 1,
            error: { code: 'ERR_X', message: 'x' },
            final: false,
          },
        }),
      },
    ]);
    await vi.waitFor(() => expect(reports.of('run-1', 'Flaky#1')).toHaveLength(2), { timeout: 15_000, interval: 20 });
    expect(decider.executor.stats()).toEqual({ flaky: { queued: 0, running: 0, retrying: 1, abandoned: 0 } });
    // Four attempts of at most 60s each, and the three retries' waits (10, 20, 40 ms), plus the grace.
    await clock.advance(4 * 60_000 + 70 + 1000);
    await vi.waitFor(() => expect(reports.of('run-1', 'Flaky#1')).toHaveLength(3), { timeout: 15_000, interval: 20 });
    expect(reports.of('run-1', 'Flaky#1')[2]).toMatchObject({
      type: 'activity.timedOut',
      attempt: 2,
      kind: 'scheduleToClose',
      final: true,
    });
  });

  it('leaves a call a worker finishes alone: its backstop timers are cleared', async () => {
    const base = newBase('served');
    const clock = manualClock(Date.now());
    const Quick = defineActivity({ name: 'Quick', version: 1, taskList: 'served' }, () => 'done');
    const { lists: worker } = taskLists(base, { activities: [Quick] });
    const { lists: decider, log } = taskLists(base, { executor: { retryDelayMs: 10, clock } });
    await worker.serve();
    await decider.decide();
    const reports = reportsOf(decider, clock.now);
    reports.submit('run-1', { ...callOf(Quick, 1, 'served'), options: { retries: 0, scheduleToStart: 60_000, scheduleToClose: 120_000 } });
    reports.submit('run-1', { ...callOf(Quick, 2, 'served'), options: { retries: 3, scheduleToStart: 60_000 } });
    expect(clock.pending()).toBe(3);
    await reports.allFinal();
    expect(clock.pending()).toBe(0);
    await clock.advance(10 * 60_000);
    expect(reports.types('run-1', 'Quick#1')).toEqual(['activity.started', 'activity.completed']);
    expect(reports.types('run-1', 'Quick#2')).toEqual(['activity.started', 'activity.completed']);
    expect(log.lines.filter((line) => line.level >= 40)).toEqual([]);
  });

  it('works in a virtual host of its own, and refuses one that does not exist, naming the URL', async () => {
    const vhost = await virtualHost();
    cleanups.push(vhost.remove);
    const base = uniqueQueue('wf-vhost');
    const Alpha = defineActivity({ name: 'Alpha', version: 1, taskList: 'alpha' }, (input: { n: number }) => ({ doubled: input.n * 2 }));
    const { lists: worker } = taskLists(base, { activities: [Alpha], virtualHost: vhost.name });
    const { lists: decider } = taskLists(base, { virtualHost: vhost.name });
    await worker.serve();
    await decider.decide();
    const reports = reportsOf(decider);
    reports.submit('run-1', callOf(Alpha, 1, 'alpha'));
    await reports.allFinal();
    expect(reports.result('run-1', 'Alpha#1')).toEqual({ doubled: 2 });
    // The queues are the virtual host's, not the default one's.
    expect(await vhostQueueMessages(vhost.name, `${base}.alpha`)).toBe(0);
    expect(await findQueue(`${base}.alpha`)).toBeUndefined();

    const { lists: lost } = taskLists(base, { virtualHost: 'flowd-test-no-such-vhost' });
    await expect(lost.decide()).rejects.toThrow(`stomp://guest@${STOMP_HOST}:61613/queue/${base}`);
  });

  it('keeps trying a broker that is down, one warning per attempt with a jittered delay up to the cap, until closed', async () => {
    const base = newBase('alpha');
    const port = await closedPort();
    const { lists, log } = taskLists(base, {
      url: `stomp://guest:s3cret@127.0.0.1:${port}/queue/${base}`,
      reconnectDelayMs: 50,
      reconnectMaxDelayMs: 100,
    });
    const deciding = expect(lists.decide()).rejects.toMatchObject({ code: 'ERR_SHUTDOWN' });
    const Alpha = { name: 'Alpha', version: 1 } as ActivityDefinition;
    lists.executor.submit({ runId: 'run-1', call: callOf(Alpha, 1, 'alpha'), scheduledAt: Date.now() }, () => {});
    expect(lists.executor.stats()).toEqual({ alpha: { queued: 1, running: 0, retrying: 0, abandoned: 0 } });
    // The tasks' connection (for the submit) and the reports' (for decide()) each keep trying.
    const warnings = () =>
      log.lines.filter(
        (line) =>
          line.level === 40 &&
          line.msg.startsWith(`cannot connect to stomp://guest@127.0.0.1:${port}/queue/${base}:`) &&
          line.msg.includes('(workflow reports;'),
      );
    await vi.waitFor(() => expect(warnings().length).toBeGreaterThanOrEqual(3), { timeout: 5000, interval: 20 });
    // Jittered (issue 20, point 6): each wait is drawn between the delay and the cap, no longer a fixed 50, 100, 100.
    const attempts = warnings().slice(0, 3);
    expect(attempts.map((line) => line.attempt)).toEqual([1, 2, 3]);
    for (const line of attempts) {
      expect(line.retryInMs).toBeGreaterThanOrEqual(50);
      expect(line.retryInMs).toBeLessThanOrEqual(100);
    }

    await lists.close();
    await deciding;
    expect(() => lists.executor.submit({ runId: 'run-1', call: callOf(Alpha, 2, 'alpha'), scheduledAt: Date.now() }, () => {})).toThrow(
      expect.objectContaining({ code: 'ERR_SHUTDOWN' }),
    );
    expect(log.messages()).toContainEqual(expect.stringContaining(`call Alpha#1 of run run-1 was not published to /queue/${base}.alpha`));
    expect(JSON.stringify(log.lines)).not.toContain('s3cret');
  });
});
