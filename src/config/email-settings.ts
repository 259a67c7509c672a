import { isLoopback } from './inspector-settings.js';
import type { SectionReader } from '../kernel/section-reader.js';

/** How the SMTP connection is secured: `no` (plain), `starttls` (upgraded, required), `yes` (TLS from the first byte). */
export type EmailTls = 'no' | 'starttls' | 'yes';

/** `[Email]`, compiled. */
export interface EmailSettings {
  /** With no, the section is kept but nothing is sent. @default true */
  enabled: boolean;
  /** The SMTP server's host name or address (required). */
  host: string;
  /** @default 25; 587 with tls = starttls; 465 with tls = yes */
  port: number;
  /** @default 'no' */
  tls: EmailTls;
  /** The SMTP login, with `password`. @default undefined: no login */
  user: string | undefined;
  /** The SMTP password (write it as `${VARIABLE}`); never logged. @default undefined */
  password: string | undefined;
  /** The sender, `alerts@example.com` or `Flowd <alerts@example.com>` (required). */
  from: string;
  /** The recipients (required; `to` is a comma-separated list). */
  to: string[];
  /** The subject, with `{app}`, `{plugin}` and `{what}` replaced; a subject without any is a prefix. @default '[flowd] {app}: {what}' */
  subject: string;
  /** At most one message per plugin (and one for the app) per this interval; 0 sends every one. @default 3600000 (1 h) */
  intervalMs: number;
}

/** `createRuntime({ email })`: the `[Email]` keys in camelCase. */
export interface EmailOptions {
  /** @default true */
  enabled?: boolean;
  host: string;
  /** @default 25; 587 with tls 'starttls'; 465 with tls 'yes' */
  port?: number;
  /** @default 'no' */
  tls?: EmailTls;
  user?: string;
  password?: string;
  from: string;
  /** One address, or several. */
  to: string | readonly string[];
  /** @default '[flowd] {app}: {what}' */
  subject?: string;
  /** `'1h'`, or milliseconds. @default '1h' */
  emailInterval?: string | number;
}

/** The subject when none is given. */
export const DEFAULT_EMAIL_SUBJECT = '[flowd] {app}: {what}';

const PLACEHOLDERS = ['{app}', '{plugin}', '{what}'];
// A bare address or `Display Name <address>`: what nodemailer takes, without a parser of our own.
const ADDRESS = /^[^\s@<>,]+@[^\s@<>,]+$/;
const NAMED = /^[^<>]*<([^\s@<>,]+@[^\s@<>,]+)>$/;

/** Whether the text is one e-mail address, bare or with a display name. */
export function isEmailAddress(text: string): boolean {
  const trimmed = text.trim();
  return ADDRESS.test(trimmed) || NAMED.test(trimmed);
}

/**
 * Compiles `[Email]` (shotgunEvents' `[emails]`):
 * - `enabled` (yes / no; @default yes)
 * - `host` (required), `port` (@default 25, 587 with tls = starttls, 465 with tls = yes)
 * - `tls` (no / starttls / yes; @default no)
 * - `user` and `password` (both or neither; a password needs TLS unless the host is loopback)
 * - `from`, `to` (a comma-separated list) (both required)
 * - `subject` (@default `[flowd] {app}: {what}`)
 * - `email interval` (@default 1h)
 * @example
 * compileEmailSettings(reader) // { host: 'smtp.example.com', port: 25, tls: 'no', to: ['ops@example.com'], ... }
 */
export function compileEmailSettings(reader: SectionReader): EmailSettings {
  const enabled = reader.boolean('enabled', true);
  const host = reader.string('host')?.trim();
  if (!host) reader.fail('host', 'is missing; expected the SMTP server, e.g. host = smtp.example.com');
  if (/[\s/]/.test(host)) reader.fail('host', `found "${host}"; expected a host name or address, without a scheme, path or spaces`);
  const tls = reader.choice('tls', ['no', 'starttls', 'yes'] as const, 'no');
  const port = reader.integer('port', tls === 'yes' ? 465 : tls === 'starttls' ? 587 : 25, { min: 1, max: 65535 });
  const user = reader.string('user');
  const password = reader.string('password');
  if (user !== undefined && password === undefined)
    reader.fail(
      'password',
      `is missing, and user is set; expected both, with the password from the environment: password = \${SMTP_PASSWORD}`,
    );
  if (password !== undefined && user === undefined) reader.fail('user', 'is missing, and password is set; expected both, or neither');
  if (password !== undefined && tls === 'no' && !isLoopback(host))
    reader.fail(
      'tls',
      `is no, and a password is set for ${host}: it would cross the network in clear; expected tls = starttls or tls = yes (plain SMTP with a login only to a loopback host)`,
    );
  const from = reader.string('from')?.trim();
  if (!from) reader.fail('from', 'is missing; expected the sender, e.g. from = flowd@example.com');
  if (!isEmailAddress(from))
    reader.fail('from', `found "${from}"; expected one e-mail address, e.g. flowd@example.com or Flowd <flowd@example.com>`);
  const toText = reader.string('to');
  const to = (toText ?? '')
    .split(',')
    .map((address) => address.trim())
    .filter(Boolean);
  if (to.length === 0)
    reader.fail('to', 'is missing; expected one or more e-mail addresses, comma-separated, e.g. to = ops@example.com, dev@example.com');
  const bad = to.find((address) => !isEmailAddress(address));
  if (bad !== undefined)
    reader.fail('to', `found "${bad}"; expected e-mail addresses, comma-separated, e.g. to = ops@example.com, dev@example.com`);
  const subject = reader.string('subject', DEFAULT_EMAIL_SUBJECT).trim();
  const unknown = /\{[^}]*\}/.exec(subject.replaceAll(/\{(app|plugin|what)\}/g, ''));
  if (unknown) reader.fail('subject', `found the placeholder ${unknown[0]}; expected only ${PLACEHOLDERS.join(', ')}`);
  if (/[\r\n]/.test(subject)) reader.fail('subject', 'holds a line break; expected one line');
  const intervalMs = reader.duration('email interval', 3_600_000);
  return { enabled, host, port, tls, user, password, from, to, subject, intervalMs };
}
