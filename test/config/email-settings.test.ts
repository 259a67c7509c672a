import { describe, expect, it } from 'vitest';
import { compileEmailSettings, isEmailAddress } from '../../src/config/email-settings.js';
import { SectionReader, type RawValue } from '../../src/kernel/section-reader.js';
import { expectConfigError } from '../helpers/config-error.js';

const FILE = 'apps/events.ini';
const BASE = { host: 'smtp.example.com', from: 'flowd@example.com', to: 'ops@example.com' };

function compile(values: Record<string, RawValue>) {
  const map = new Map(Object.entries(values));
  const reader = new SectionReader(map, { file: FILE, section: 'Email', lines: new Map([...map.keys()].map((key, i) => [key, i + 2])) });
  const settings = compileEmailSettings(reader);
  reader.finish();
  return settings;
}

describe('compileEmailSettings', () => {
  it('defaults to plain SMTP on port 25, no login, the default subject and an interval of 1 h', () => {
    expect(compile(BASE)).toEqual({
      enabled: true,
      host: 'smtp.example.com',
      port: 25,
      tls: 'no',
      user: undefined,
      password: undefined,
      from: 'flowd@example.com',
      to: ['ops@example.com'],
      subject: '[flowd] {app}: {what}',
      intervalMs: 3_600_000,
    });
  });

  it('defaults the port to 465 with tls = yes and 587 with tls = starttls, and takes a port given', () => {
    expect(compile({ ...BASE, tls: 'yes' }).port).toBe(465);
    expect(compile({ ...BASE, tls: 'STARTTLS' })).toMatchObject({ tls: 'starttls', port: 587 });
    expect(compile({ ...BASE, tls: 'yes', port: '2465' }).port).toBe(2465);
  });

  it('takes a login, a list of recipients, a subject, an interval and enabled = no', () => {
    expect(
      compile({
        ...BASE,
        tls: 'starttls',
        user: 'flowd',
        password: 's3cret',
        to: ' ops@example.com,Dev Team <dev@example.com> ',
        subject: '[SG]',
        'email interval': '10m',
        enabled: 'no',
      }),
    ).toMatchObject({
      user: 'flowd',
      password: 's3cret',
      to: ['ops@example.com', 'Dev Team <dev@example.com>'],
      subject: '[SG]',
      intervalMs: 600_000,
      enabled: false,
    });
  });

  it('allows a login over plain SMTP to a loopback host only', () => {
    expect(compile({ ...BASE, host: '127.0.0.1', user: 'u', password: 'p' }).tls).toBe('no');
    expectConfigError(() => compile({ ...BASE, user: 'u', password: 'p' }), {
      file: FILE,
      section: 'Email',
      key: 'tls',
      says: ['smtp.example.com', 'in clear', 'starttls'],
    });
  });

  it('names file, line, section and key for a missing host, from or to, a bad port, tls or address', () => {
    expectConfigError(() => compile({ from: BASE.from, to: BASE.to }), { file: FILE, section: 'Email', key: 'host', says: ['missing'] });
    expectConfigError(() => compile({ host: BASE.host, to: BASE.to }), { section: 'Email', key: 'from', says: ['missing'] });
    expectConfigError(() => compile({ host: BASE.host, from: BASE.from }), { section: 'Email', key: 'to', says: ['missing'] });
    expectConfigError(() => compile({ ...BASE, port: '70000' }), {
      file: FILE,
      section: 'Email',
      key: 'port',
      line: 5,
      says: ['from 1 to 65535'],
    });
    expectConfigError(() => compile({ ...BASE, tls: 'ssl' }), { section: 'Email', key: 'tls', line: 5, says: ['no, starttls, yes'] });
    expectConfigError(() => compile({ ...BASE, to: 'ops@example.com, nobody' }), { section: 'Email', key: 'to', says: ['"nobody"'] });
    expectConfigError(() => compile({ ...BASE, from: 'flowd' }), { section: 'Email', key: 'from', says: ['"flowd"'] });
    expectConfigError(() => compile({ ...BASE, host: 'smtp://mail' }), { section: 'Email', key: 'host' });
    expectConfigError(() => compile({ ...BASE, 'email interval': 'soon' }), {
      section: 'Email',
      key: 'email interval',
      says: ['duration'],
    });
  });

  it('wants user and password together, and never shows the password in an error', () => {
    expectConfigError(() => compile({ ...BASE, tls: 'yes', user: 'flowd' }), {
      section: 'Email',
      key: 'password',
      says: ['${SMTP_PASSWORD}'],
    });
    let message = '';
    try {
      compile({ ...BASE, tls: 'yes', password: 'hunter2-secret' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/\[Email\] "user"/);
    expect(message).not.toContain('hunter2-secret');
  });

  it('refuses a placeholder it does not know, and a key that is not a setting', () => {
    expectConfigError(() => compile({ ...BASE, subject: '{app} {event}' }), { section: 'Email', key: 'subject', says: ['{event}'] });
    expectConfigError(() => compile({ ...BASE, server: 'smtp.example.com' }), { section: 'Email', key: 'server', says: ['not a setting'] });
  });
});

describe('isEmailAddress', () => {
  it('takes a bare address and one with a display name, not a name alone or two addresses', () => {
    expect(isEmailAddress('a@b.example')).toBe(true);
    expect(isEmailAddress('Ops <a@b.example>')).toBe(true);
    expect(isEmailAddress('ops')).toBe(false);
    expect(isEmailAddress('a@b.example b@c.example')).toBe(false);
  });
});
