import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { EmailSettings } from '../../../src/config/email-settings.js';
import { admit, createEmailNotifier, formatSubject, type MailMessage } from '../../../src/runtime/email-notifier.js';
import { logSink } from '../../helpers/log-sink.js';
import { until } from '../../helpers/wait.js';

const HOUR = 3_600_000;
const SETTINGS: EmailSettings = {
  enabled: true,
  host: 'smtp.example.com',
  port: 587,
  tls: 'starttls',
  user: 'flowd',
  password: 'hunter2-secret',
  from: 'flowd@example.com',
  to: ['ops@example.com', 'dev@example.com'],
  subject: '[flowd] {app}: {what}',
  intervalMs: HOUR,
};

/** A notifier on a clock the test moves, with a transport that keeps messages (or fails with `fail`). */
function harness(settings: Partial<EmailSettings> = {}, failing?: Error) {
  let fail = failing;
  let now = Date.UTC(2026, 11, 7, 8, 0, 0);
  const sent: MailMessage[] = [];
  let closed = 0;
  const sink = logSink('debug');
  const notifier = createEmailNotifier({
    settings: { ...SETTINGS, ...settings },
    app: 'events',
    log: sink.logger,
    host: 'render-01',
    now: () => now,
    transport: {
      sendMail: async (message) => {
        if (fail) throw fail;
        sent.push(message);
      },
      close: () => void closed++,
    },
  });
  return { notifier, sent, sink, advance: (ms: number) => void (now += ms), closed: () => closed, heal: () => void (fail = undefined) };
}

const FAILURE = { code: 'ERR_PLUGIN', message: 'plugin "notify" callback "post" failed on event 42: 503', eventId: 42, callback: 'post' };

describe('admit (the rate limit)', () => {
  it('lets the first message of a key go, holds back the next within the interval, and lets one go once it has passed', () => {
    const first = admit(new Map(), 'plugin:a', 1000, HOUR);
    expect(first).toMatchObject({ send: true, held: 0 });
    const second = admit(first.state, 'plugin:a', 1000 + HOUR - 1, HOUR);
    expect(second).toMatchObject({ send: false, held: 1, sentAt: 1000 });
    const third = admit(second.state, 'plugin:a', 1000 + HOUR, HOUR);
    expect(third).toMatchObject({ send: true, held: 1 });
    expect(third.state.get('plugin:a')).toEqual({ sentAt: 1000 + HOUR, held: 0 });
  });

  it('keeps each key apart, and with an interval of 0 lets every message go', () => {
    const a = admit(new Map(), 'plugin:a', 0, HOUR);
    expect(admit(a.state, 'plugin:b', 0, HOUR).send).toBe(true);
    expect(admit(a.state, 'plugin:a', 0, 0).send).toBe(true);
  });

  it('never changes the state it is given', () => {
    const state = new Map([['plugin:a', { sentAt: 0, held: 0 }]]);
    admit(state, 'plugin:a', 1, HOUR);
    expect(state.get('plugin:a')).toEqual({ sentAt: 0, held: 0 });
  });
});

describe('formatSubject', () => {
  it('replaces the placeholders, and makes a subject without any a prefix (shotgunEvents)', () => {
    const values = { app: 'events', plugin: 'notify', what: 'plugin "notify" deactivated' };
    expect(formatSubject('[flowd] {app}: {what}', values)).toBe('[flowd] events: plugin "notify" deactivated');
    expect(formatSubject('{plugin} in {app}', values)).toBe('notify in events');
    expect(formatSubject('[SG]', values)).toBe('[SG] events: plugin "notify" deactivated');
  });
});

describe('createEmailNotifier', () => {
  it('mails a deactivation with the app, plugin, callback, event, error, host and time', async () => {
    const { notifier, sent } = harness();
    notifier.pluginDeactivated('notify', FAILURE);
    await notifier.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      from: 'flowd@example.com',
      to: ['ops@example.com', 'dev@example.com'],
      subject: '[flowd] events: plugin "notify" deactivated',
    });
    expect(sent[0]!.text).toContain('App: events\nPlugin: notify\nCallback: post\nEvent: 42\n');
    expect(sent[0]!.text).toContain(`Error: ERR_PLUGIN: ${FAILURE.message}\n`);
    expect(sent[0]!.text).toContain('Host: render-01\nTime: 2026-12-07T08:00:00.000Z\n');
  });

  it('sends at most one message per plugin per email interval, and names those held back in the next', async () => {
    const { notifier, sent, sink, advance } = harness();
    notifier.pluginDeactivated('notify', FAILURE);
    advance(HOUR - 1);
    notifier.pluginDeactivated('notify', FAILURE);
    notifier.pluginDeactivated('notify', FAILURE);
    notifier.pluginDeactivated('other', FAILURE);
    await notifier.flush();
    expect(sent.map((m) => m.subject)).toEqual([
      '[flowd] events: plugin "notify" deactivated',
      '[flowd] events: plugin "other" deactivated',
    ]);
    expect(sink.messages().filter((m) => m.includes('held back'))).toHaveLength(2);

    advance(1);
    notifier.pluginDeactivated('notify', FAILURE);
    await notifier.flush();
    expect(sent).toHaveLength(3);
    expect(sent[2]!.text).toContain('2 more message(s) about plugin "notify" were held back');
  });

  it('mails an app failure once per interval, apart from the plugins', async () => {
    const { notifier, sent } = harness();
    notifier.pluginDeactivated('notify', FAILURE);
    notifier.appFailed({ code: 'ERR_EVENT_LOG', message: 'relation "events" does not exist' }, 'stopped: its source failed');
    notifier.appFailed({ code: 'ERR_EVENT_LOG', message: 'again' });
    await notifier.flush();
    expect(sent.map((m) => m.subject)).toEqual([
      '[flowd] events: plugin "notify" deactivated',
      '[flowd] events: app stopped: its source failed',
    ]);
    expect(sent[1]!.text).toContain('Error: ERR_EVENT_LOG: relation "events" does not exist\n');
  });

  it('does not count a message that could not be sent: the next one for that plugin goes at once', async () => {
    const { notifier, sent, heal, advance } = harness({}, new Error('connect ECONNREFUSED'));
    notifier.pluginDeactivated('notify', FAILURE);
    await notifier.flush();
    heal();
    advance(60_000);
    notifier.pluginDeactivated('notify', FAILURE);
    await notifier.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.text).not.toContain('held back');
  });

  it('sends nothing with enabled = no', async () => {
    const { notifier, sent } = harness({ enabled: false });
    notifier.pluginDeactivated('notify', FAILURE);
    notifier.appFailed({ message: 'x' });
    await notifier.flush();
    expect(sent).toEqual([]);
  });

  it('turns a failed send into one warning line that never shows the password, and closes its transport', async () => {
    const { notifier, sink, closed } = harness({}, Object.assign(new Error('Invalid login for flowd:hunter2-secret'), { code: 'EAUTH' }));
    expect(() => notifier.pluginDeactivated('notify', FAILURE)).not.toThrow();
    await notifier.close();
    const warnings = sink.lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toBe('e-mail about plugin "notify" could not be sent via smtp.example.com:587: Invalid login for flowd:***');
    expect(warnings[0]!.error).toEqual({ code: 'EAUTH', message: 'Invalid login for flowd:***' });
    expect(JSON.stringify(sink.lines)).not.toContain('hunter2-secret');
    expect(closed()).toBe(1);
  });

  it('gives up, with one warning, on a message a mail server that never answers holds when it closes with a timeout', async () => {
    // Accepts the connection and never says a word: nodemailer would wait 10 s for the greeting.
    const sockets: Socket[] = [];
    let closedByPeer = 0;
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.on('close', () => void closedByPeer++);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const sink = logSink('debug');
      const port = (server.address() as AddressInfo).port;
      const notifier = createEmailNotifier({
        settings: { ...SETTINGS, host: '127.0.0.1', port, tls: 'no', user: undefined, password: undefined },
        app: 'events',
        log: sink.logger,
      });
      notifier.pluginDeactivated('notify', FAILURE);
      await until(() => sockets.length === 1, { what: 'the connection' });
      const started = performance.now();
      await notifier.close(300);
      expect(performance.now() - started).toBeLessThan(3_000);
      const warnings = sink.lines.filter((line) => line.level === 40);
      expect(warnings.map((line) => line.msg)).toEqual([
        `gave up on 1 e-mail(s) still being sent via 127.0.0.1:${port} after 300ms at shutdown: the mail server does not answer`,
      ]);
      // The connection is closed, so it holds neither the process nor the server.
      await until(() => closedByPeer === 1, { what: 'the connection closed' });
      await notifier.flush();
      expect(sink.lines.filter((line) => line.level === 40)).toHaveLength(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
