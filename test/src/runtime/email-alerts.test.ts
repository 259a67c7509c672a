import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EmailSettings } from '../../../src/config/email-settings.js';
import { withEmailAlerts, type AlertedRuntime } from '../../../src/runtime/email-alerts.js';
import { defineWorker } from '../../../actors/workers/worker.js';
import { ConfigError, FlowdError } from '../../../src/kernel/errors.js';
import { createRuntime } from '../../../src/runtime/runtime.js';
import { manualSource } from '../../helpers/manual-source.js';
import { storeFolder, stubHost } from '../../helpers/event-log.js';
import { logSink } from '../../helpers/log-sink.js';
import { startSmtpSink, type SmtpSink } from '../../helpers/smtp-sink.js';
import { until } from '../../helpers/wait.js';

// withEmailAlerts with nodemailer against a real SMTP server on loopback (smtp-server, started per test).

const PASSWORD = 'pa55-w0rd-never-logged';
let sink: SmtpSink;
beforeEach(async () => {
  sink = await startSmtpSink({ user: 'flowd', password: PASSWORD });
});
afterEach(async () => {
  await sink.stop();
});

const settings = (changes: Partial<EmailSettings> = {}): EmailSettings => ({
  enabled: true,
  host: sink.host,
  port: sink.port,
  tls: 'no',
  user: 'flowd',
  password: PASSWORD,
  from: 'flowd@example.com',
  to: ['ops@example.com', 'dev@example.com'],
  subject: '[flowd] {app}: {what}',
  intervalMs: 3_600_000,
  ...changes,
});

type Summary = { reason: string; sourceError?: { code: string; message: string } | undefined };

/** A runtime as far as the alerts see it: start() fails with `startError`; `end(summary)` ends its run. */
function fakeRuntime(startError?: Error) {
  let end!: (summary: Summary) => void;
  const done = new Promise<Summary>((resolve) => (end = resolve));
  const runtime: AlertedRuntime & { end: typeof end; extra: string } = {
    extra: 'kept',
    start: async () => {
      if (startError) throw startError;
    },
    stop: () => done,
    done,
    end: (summary) => end(summary),
  };
  return runtime;
}

const deactivate = (host: ReturnType<typeof stubHost>, eventId: number, at?: number) =>
  host.deactivate('fragile', {
    code: 'ERR_PLUGIN',
    message: `plugin "fragile" callback "every" failed on event ${eventId}: task ${eventId} has no shot`,
    eventId,
    callback: 'every',
    ...(at !== undefined ? { at } : {}),
  });

describe('withEmailAlerts', () => {
  it('mails one message for a deactivated plugin, none for a second within the interval, and never logs the password', async () => {
    const log = logSink('debug');
    const host = stubHost({ fragile: { run: () => undefined } });
    const runtime = withEmailAlerts(fakeRuntime(), { settings: settings(), app: 'events', log: log.logger, plugins: host });
    expect(runtime.extra).toBe('kept');
    await runtime.start();

    deactivate(host, 3);
    await until(() => sink.messages.length === 1, { what: 'the first message' });
    const [message] = sink.messages;
    expect(message).toMatchObject({
      from: 'flowd@example.com',
      to: ['ops@example.com', 'dev@example.com'],
      subject: '[flowd] events: plugin "fragile" deactivated',
      user: 'flowd',
    });
    expect(message!.text).toMatch(
      /^App: events\nPlugin: fragile\nCallback: every\nEvent: 3\nError: ERR_PLUGIN: plugin "fragile" callback "every" failed on event 3: task 3 has no shot\nHost: \S+\nTime: \d{4}-\d\d-\d\dT[\d:.]+Z\n/,
    );

    host.activate('fragile');
    deactivate(host, 4);
    await until(() => log.messages().some((m) => m.includes('held back')), { what: 'the second message held back' });
    (runtime as unknown as ReturnType<typeof fakeRuntime>).end({ reason: 'requested' });
    await runtime.done;
    expect(sink.messages).toHaveLength(1);
    expect(JSON.stringify(log.lines)).not.toContain(PASSWORD);
  });

  it("follows the plugin's setEmails: a list replaces [Email] to, false mails nothing", async () => {
    const log = logSink('debug');
    const stub = stubHost({ fragile: { run: () => undefined } });
    let emails: boolean | string[] = ['pipe@example.com'];
    const host = { ...stub, get: (name: string) => ({ ...stub.get(name)!, emails }) };
    const runtime = withEmailAlerts(fakeRuntime(), {
      settings: settings({ intervalMs: 0 }),
      app: 'events',
      log: log.logger,
      plugins: host,
    });
    deactivate(stub, 3);
    await until(() => sink.messages.length === 1, { what: 'the message to pipe@' });
    expect(sink.messages[0]!.to).toEqual(['pipe@example.com']);

    emails = false;
    stub.activate('fragile');
    deactivate(stub, 4);
    (runtime as unknown as ReturnType<typeof fakeRuntime>).end({ reason: 'requested' });
    await runtime.done;
    expect(sink.messages).toHaveLength(1);
    expect(log.messages()).toContain('no e-mail about plugin "fragile": it called setEmails(false)');
  });

  it('mails nothing for a deactivation made before the run (a plugin that stays deactivated after a restart)', async () => {
    const log = logSink('debug');
    const host = stubHost({ fragile: { run: () => undefined } });
    const runtime = withEmailAlerts(fakeRuntime(), { settings: settings(), app: 'events', log: log.logger, plugins: host });
    deactivate(host, 3, Date.now() - 60_000);
    (runtime as unknown as ReturnType<typeof fakeRuntime>).end({ reason: 'requested' });
    await runtime.done;
    expect(sink.messages).toEqual([]);
    expect(log.messages()).toContain('no e-mail about plugin "fragile": it was deactivated before this run');
  });

  it('mails an ERR_CURSOR deactivation found again at each restart once, and one with other cursor values again', async () => {
    const recordFile = path.join(storeFolder(), 'state', 'email-sent.json');
    const cursorFailure = (latest: number) => ({
      code: 'ERR_CURSOR',
      message: `the cursor "event-log/plugin/fragile" of plugin "fragile" is at event 90, but the newest event in events is ${latest}`,
      at: Date.now(),
    });
    /** One run of the daemon: the event-log source finds the cursor unfit at start and deactivates the plugin anew. */
    const run = async (latest: number) => {
      const log = logSink('debug');
      const host = stubHost({ fragile: { run: () => undefined } });
      const runtime = withEmailAlerts(fakeRuntime(), { settings: settings(), app: 'events', log: log.logger, plugins: host, recordFile });
      host.deactivate('fragile', cursorFailure(latest));
      (runtime as unknown as ReturnType<typeof fakeRuntime>).end({ reason: 'requested' });
      await runtime.done;
      return log;
    };
    await run(12);
    expect(sink.messages).toHaveLength(1);
    const again = await run(12);
    expect(sink.messages).toHaveLength(1);
    expect(again.messages()).toContain('no e-mail about plugin "fragile": the same deactivation (ERR_CURSOR) was mailed before this run');
    await run(15);
    expect(sink.messages).toHaveLength(2);
    expect(sink.messages[1]!.text).toContain('newest event in events is 15');
  });

  it('mails a start that fails before start() rejects with its error', async () => {
    const failure = new FlowdError('ERR_WORKER_CONFIGURE', 'worker "plugins" failed in configure(): no database');
    const runtime = withEmailAlerts(fakeRuntime(failure), { settings: settings(), app: 'events', log: logSink().logger });
    await expect(runtime.start()).rejects.toBe(failure);
    expect(sink.messages).toHaveLength(1);
    expect(sink.messages[0]!.subject).toBe('[flowd] events: app failed to start');
    expect(sink.messages[0]!.text).toContain('Error: ERR_WORKER_CONFIGURE: worker "plugins" failed in configure(): no database\n');
  });

  it('mails a source that failed before done resolves, and nothing for a run stopped on request', async () => {
    const failing = fakeRuntime();
    const runtime = withEmailAlerts(failing, { settings: settings(), app: 'events', log: logSink().logger });
    failing.end({ reason: 'source failed', sourceError: { code: 'ERR_EVENT_LOG', message: 'relation "events" does not exist' } });
    expect(await runtime.done).toMatchObject({ reason: 'source failed' });
    expect(sink.messages.map((m) => m.subject)).toEqual(['[flowd] events: app stopped: its source failed']);

    const stopped = fakeRuntime();
    const quiet = withEmailAlerts(stopped, { settings: settings(), app: 'quiet', log: logSink().logger });
    stopped.end({ reason: 'requested' });
    await quiet.stop();
    expect(sink.messages).toHaveLength(1);
  });

  it('logs one warning without the password when the server refuses the login, and goes on', async () => {
    const log = logSink('debug');
    const host = stubHost({ fragile: { run: () => undefined } });
    const wrong = `${PASSWORD}-wrong`;
    const runtime = withEmailAlerts(fakeRuntime(), {
      settings: settings({ password: wrong }),
      app: 'events',
      log: log.logger,
      plugins: host,
    });
    deactivate(host, 3);
    (runtime as unknown as ReturnType<typeof fakeRuntime>).end({ reason: 'requested' });
    await runtime.done;
    expect(sink.refused).toBe(1);
    expect(sink.messages).toEqual([]);
    const warnings = log.lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(
      new RegExp(`^e-mail about plugin "fragile" could not be sent via 127\\.0\\.0\\.1:${sink.port}: Invalid login`),
    );
    expect(JSON.stringify(log.lines)).not.toContain(PASSWORD);
  });
});

describe('createRuntime({ email })', () => {
  it('mails a configure() that fails, as [Email] does for flowd run', async () => {
    const runtime = createRuntime({
      worker: defineWorker({
        configure() {
          throw new Error('no database');
        },
        start() {},
      }),
      source: manualSource().driver,
      app: { name: 'embedded' },
      logger: false,
      email: { host: sink.host, port: sink.port, user: 'flowd', password: PASSWORD, from: 'flowd@example.com', to: 'ops@example.com' },
    });
    await expect(runtime.start()).rejects.toMatchObject({ code: 'ERR_WORKER_CONFIGURE' });
    expect(sink.messages).toHaveLength(1);
    expect(sink.messages[0]).toMatchObject({ subject: '[flowd] embedded: app failed to start', to: ['ops@example.com'] });
    expect(sink.messages[0]!.text).toContain('worker "worker" failed in configure(): no database');
  });

  it('names a bad option as the code wrote it', () => {
    const make = (email: object) => () =>
      createRuntime({ worker: defineWorker({ start() {} }), source: manualSource().driver, logger: false, email: email as never });
    const base = { host: '127.0.0.1', from: 'flowd@example.com', to: ['ops@example.com'] };
    expect(make({ ...base, emailInterval: 'soon' })).toThrow(ConfigError);
    expect(make({ ...base, emailInterval: 'soon' })).toThrow(/\[createRuntime options\.email\] "emailInterval": found "soon"/);
    expect(make({ ...base, to: [] })).toThrow(/"to": is missing/);
    expect(make({ ...base, sever: 'x' })).toThrow(/"sever": is not a setting/);
  });
});
