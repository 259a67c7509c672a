import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { flowd, tempDir } from '../helpers/cli.js';
import { cleanupsAfterEach } from '../helpers/once.js';
import { createEventsTable, dropTable, insertEvents, testPool, uniqueTable } from '../helpers/postgres.js';
import { POSTGRES_URL } from '../helpers/services.js';
import { startSmtpSink, type SinkTls, type SmtpSink } from '../helpers/smtp-sink.js';
import { until } from '../helpers/wait.js';

// `[Email]` as a user meets it: the real daemon, an event log in PostgreSQL, and a real SMTP server on loopback.

const PASSWORD = 'smtp-pa55-for-the-test';
const cleanups = cleanupsAfterEach();
let db: pg.Pool;
let sink: SmtpSink;
beforeAll(() => {
  db = testPool();
});
afterAll(async () => {
  await db.end();
});
beforeEach(async () => {
  sink = await startSmtpSink({ user: 'flowd', password: PASSWORD });
  cleanups.push(() => sink.stop());
});

/** Fails on task 3; `version` makes a new file text, which the daemon reloads. */
const fragile = (version: number) => `// version ${version}
export function registerCallbacks(reg) {
  reg.registerCallback('every', (event) => {
    if (event.entity.id === 3) throw new Error('task 3 has no shot');
  });
}
`;

const emailSection = (keys = '') => `[Email]
host = 127.0.0.1
port = ${sink.port}
user = flowd
password = \${SMTP_PASSWORD}
from = Flowd <flowd@example.com>
to = ops@example.com, dev@example.com
${keys}
`;

/** A temp app: an event-log source on `table`, `[Email]` on the sink, the plugin `fragile`. */
async function emailApp(table: string, email = emailSection()) {
  const tmp = await tempDir();
  cleanups.push(() => tmp.cleanup());
  await mkdir(path.join(tmp.dir, 'plugins'));
  await tmp.write('plugins/fragile.mjs', fragile(1));
  const ini = await tmp.write(
    'app.ini',
    `[Flow]
app name = events
retries = 0

[Source]
type = event-log
url = ${POSTGRES_URL}
table = ${table}
start from = earliest
fetch interval = 200ms

${email}
[Plugins]
paths = ./plugins
`,
  );
  return { ini, dir: tmp.dir, write: tmp.write };
}

const ENV = { SMTP_PASSWORD: PASSWORD };

describe('flowd run with [Email]', () => {
  it('mails one message when a plugin is deactivated, none for its second deactivation within the interval, and never logs the password', async () => {
    const table = uniqueTable();
    await createEventsTable(db, table);
    cleanups.push(() => dropTable(db, table));
    const ids = await insertEvents(
      db,
      table,
      [1, 2, 3, 4].map((n) => ({ type: 'Shotgun_Task_Change', entity: { type: 'Task', id: n }, attributes: ['sg_status_list'] })),
    );
    const app = await emailApp(table);
    const run = flowd(['run', app.ini, '--log-level', 'debug'], { env: ENV });
    await run.waitFor('stderr', /event-log: plugin \\"fragile\\" is deactivated/);
    await until(() => sink.messages.length === 1, { what: 'the message', abortOn: run.exit.then(() => new Error(run.stderr())) });
    const [message] = sink.messages;
    expect(message).toMatchObject({
      from: 'flowd@example.com',
      to: ['ops@example.com', 'dev@example.com'],
      subject: '[flowd] events: plugin "fragile" deactivated',
      user: 'flowd',
    });
    expect(message!.text).toContain(`App: events\nPlugin: fragile\nCallback: every\nEvent: ${ids[2]}\n`);
    expect(message!.text).toContain('then restart the daemon or run flowd plugins <app.ini> --reactivate fragile.');
    expect(message!.text).toMatch(/Error: ERR_PLUGIN: plugin "fragile" callback "every" failed on event \d+: task 3 has no shot\n/);
    expect(message!.text).toMatch(/\nHost: \S+\nTime: \d{4}-\d\d-\d\dT[\d:.]+Z\n/);

    // A new version that still fails: reloaded, active, deactivated again on the same event.
    await app.write('plugins/fragile.mjs', fragile(2));
    await run.waitFor('stderr', /e-mail about plugin \\"fragile\\" held back/);
    run.child.kill('SIGTERM');
    await run.exit;
    expect(sink.messages).toHaveLength(1);
    expect(run.stderr() + run.stdout()).not.toContain(PASSWORD);
  });

  it("follows each plugin's reg.setEmails: a list of addresses instead of [Email] to, false for none", async () => {
    const table = uniqueTable();
    await createEventsTable(db, table);
    cleanups.push(() => dropTable(db, table));
    await insertEvents(
      db,
      table,
      [1, 2, 3].map((n) => ({ type: 'Shotgun_Task_Change', entity: { type: 'Task', id: n }, attributes: ['sg_status_list'] })),
    );
    const app = await emailApp(table);
    await app.write('plugins/routed.mjs', fragile(1).replace('{\n', "{\n  reg.setEmails(['Pipeline <pipe@example.com>']);\n"));
    await app.write('plugins/quiet.mjs', fragile(1).replace('{\n', '{\n  reg.setEmails(false);\n'));
    const run = flowd(['run', app.ini, '--log-level', 'debug'], { env: ENV });
    await run.waitFor('stderr', /no e-mail about plugin \\"quiet\\": it called setEmails\(false\)/);
    await until(() => sink.messages.length === 2, { what: 'two messages', abortOn: run.exit.then(() => new Error(run.stderr())) });
    run.child.kill('SIGTERM');
    await run.exit;
    const bySubject = Object.fromEntries(sink.messages.map((m) => [m.subject, m.to]));
    expect(bySubject).toEqual({
      '[flowd] events: plugin "fragile" deactivated': ['ops@example.com', 'dev@example.com'],
      '[flowd] events: plugin "routed" deactivated': ['pipe@example.com'],
    });
  });

  it('mails a source that fails before the daemon exits 1', async () => {
    const table = uniqueTable();
    const app = await emailApp(table);
    const run = flowd(['run', app.ini], { env: ENV });
    expect((await run.exit).code).toBe(1);
    expect(sink.messages.map((m) => m.subject)).toEqual(['[flowd] events: app stopped: its source failed']);
    expect(sink.messages[0]!.text).toContain(`table ${table} does not exist`);
  });
});

describe('nodemailer', () => {
  it('is loaded only to send a message: flowd check of an app with [Email] never loads it, a run that mails does', async () => {
    // NODE_DEBUG=module prints each module require() looks for; lazy() loads with require.
    const debug = { ...ENV, NODE_DEBUG: 'module' };
    const app = await emailApp(uniqueTable());
    const check = flowd(['check', app.ini], { env: debug });
    expect((await check.exit).code).toBe(0);
    expect(check.stderr()).toMatch(/looking for "pino/);
    expect(check.stderr()).not.toMatch(/nodemailer/);

    const failing = flowd(['run', app.ini], { env: debug });
    expect((await failing.exit).code).toBe(1);
    expect(sink.messages).toHaveLength(1);
    expect(failing.stderr()).toMatch(/looking for "nodemailer"/);
  });
});

describe('flowd run with [Email] over TLS', () => {
  // A self-signed certificate for 127.0.0.1, which the daemon trusts only when NODE_EXTRA_CA_CERTS names it.
  let certFile: string;
  let pem: { key: string; cert: string };
  let certDir: Awaited<ReturnType<typeof tempDir>>;
  afterAll(() => certDir.cleanup());
  beforeAll(async () => {
    const tmp = (certDir = await tempDir());
    certFile = path.join(tmp.dir, 'cert.pem');
    const keyFile = path.join(tmp.dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: 'pipe' },
    );
    pem = { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  });

  /** A sink with TLS, and a daemon whose source fails at once (its table does not exist): one message, about the app. */
  async function failOver(mode: SinkTls['mode'], tls: string, env: NodeJS.ProcessEnv) {
    const secureSink = await startSmtpSink({ user: 'flowd', password: PASSWORD }, { mode, ...pem });
    cleanups.push(() => secureSink.stop());
    const section = emailSection(`tls = ${tls}`).replace(`port = ${sink.port}`, `port = ${secureSink.port}`);
    const app = await emailApp(uniqueTable(), section);
    const run = flowd(['run', app.ini], { env: { ...ENV, ...env } });
    expect((await run.exit).code).toBe(1);
    return { secureSink, run };
  }

  it.each([
    ['starttls', 'starttls'],
    ['implicit', 'yes'],
  ] as const)('sends over %s TLS (tls = %s), logging in only once the connection is secure', async (mode, tls) => {
    const { secureSink, run } = await failOver(mode, tls, { NODE_EXTRA_CA_CERTS: certFile });
    expect(secureSink.messages, run.stderr()).toHaveLength(1);
    expect(secureSink.messages[0]).toMatchObject({
      subject: '[flowd] events: app stopped: its source failed',
      secure: true,
      user: 'flowd',
    });
    expect(run.stderr()).not.toContain(PASSWORD);
  });

  it('checks the certificate: one it does not trust is one warning line and no message', async () => {
    const { secureSink, run } = await failOver('starttls', 'starttls', {});
    expect(secureSink.messages).toEqual([]);
    expect(run.stderr()).toMatch(
      new RegExp(`e-mail about app \\\\"events\\\\" could not be sent via 127\\.0\\.0\\.1:${secureSink.port}: .*certificate`),
    );
    expect(run.stderr()).not.toContain(PASSWORD);
  });
});

describe('flowd check with a bad [Email]', () => {
  it.each([
    ['a port out of range', 'port = 70000', 'port', /"port": found "70000"; expected a whole number from 1 to 65535/],
    ['no recipients', 'to =', 'to', /"to": is missing; expected one or more e-mail addresses/],
    ['an unknown tls', 'tls = ssl', 'tls', /"tls": found "ssl"; expected one of no, starttls, yes/],
    ['a misspelt key', 'emial interval = 1h', 'emial interval', /is not a setting of \[Email\] \(did you mean "email interval"\?\)/],
  ])('exits 2 for %s, naming the file, line, section and key', async (_, line, key, says) => {
    // The section with the key replaced (or added), and its line in the file.
    const name = line.split(' =')[0]!;
    const kept = emailSection()
      .split('\n')
      .filter((text) => !text.startsWith(`${name} =`));
    const email = [...kept.slice(0, 3), line, ...kept.slice(3)].join('\n');
    const app = await emailApp('flowd_events', email);
    const check = flowd(['check', app.ini], { env: ENV });
    expect((await check.exit).code).toBe(2);
    const lineNo = readFileSync(app.ini, 'utf8').split('\n').indexOf(line) + 1;
    expect(check.stderr()).toContain(`${app.ini}:${lineNo}`);
    expect(check.stderr()).toContain(`[Email] "${key}"`);
    expect(check.stderr()).toMatch(says);
    expect(check.stderr()).not.toContain('    at ');
  });

  it('exits 0 for a good [Email], saying where alerts go and never the password', async () => {
    const app = await emailApp('flowd_events', emailSection('email interval = 30m'));
    const check = flowd(['check', app.ini], { env: ENV });
    expect((await check.exit).code).toBe(0);
    expect(check.stdout()).toContain(
      `, e-mail to ops@example.com, dev@example.com via 127.0.0.1:${sink.port} (at most one per plugin every 30m)`,
    );
    expect(check.stdout() + check.stderr()).not.toContain(PASSWORD);
  });

  it('exits 2 naming the variable when ${SMTP_PASSWORD} is not set', async () => {
    const app = await emailApp('flowd_events');
    const check = flowd(['check', app.ini], { env: { SMTP_PASSWORD: undefined } });
    expect((await check.exit).code).toBe(2);
    expect(check.stderr()).toMatch(/\[Email\] "password".*uses \$\{SMTP_PASSWORD\}, but the environment variable SMTP_PASSWORD is not set/);
  });
});

describe('flowd plugins with [Email]', () => {
  it('needs no ${SMTP_PASSWORD}: it sends no mail, so listing and --reactivate work without it', async () => {
    const table = uniqueTable();
    await createEventsTable(db, table);
    cleanups.push(() => dropTable(db, table));
    const app = await emailApp(table);
    const list = flowd(['plugins', app.ini], { env: { SMTP_PASSWORD: undefined } });
    expect((await list.exit).code, list.stderr()).toBe(0);
    expect(list.stdout()).toMatch(/fragile/);
    const reactivate = flowd(['plugins', app.ini, '--reactivate', 'fragile'], { env: { SMTP_PASSWORD: undefined } });
    expect((await reactivate.exit).code, reactivate.stderr()).toBe(0);
    expect(reactivate.stdout()).toContain('plugin "fragile" is not deactivated');
  });
});
