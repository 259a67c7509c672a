import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type * as NodemailerModule from 'nodemailer';
import type { EmailSettings } from '../config/email-settings.js';
import { formatDuration } from '../kernel/duration.js';
import { lazy } from '../kernel/lazy.js';

// Loaded on the first message: an app without [Email], or one that never fails, never loads it.
const nodemailer = lazy<typeof NodemailerModule>('nodemailer');

/** One message, as the notifier hands it to its transport. */
export interface MailMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  /** Aborted when close() gives up on a message still under way. */
  signal?: AbortSignal;
}

/** What the notifier needs of a mail transport (nodemailer's SMTP transport fits). */
export interface MailTransport {
  sendMail(message: MailMessage): Promise<unknown>;
  close(): void;
}

/** Why a plugin was deactivated, as the plugin host says it. */
export interface DeactivationInfo {
  code: string;
  message: string;
  eventId?: number | undefined;
  callback?: string | undefined;
}

/** Options of createEmailNotifier. */
export interface EmailNotifierOptions {
  settings: EmailSettings;
  /** The app's name, for the subject and the body. */
  app: string;
  log: Logger;
  /** The clock of the rate limit and of the messages' times. @default Date.now */
  now?: () => number;
  /** The machine's name in the body. @default os.hostname() */
  host?: string;
  /** @default an SMTP transport (nodemailer) made from the settings on the first message */
  transport?: MailTransport;
}

/** Sends one e-mail per plugin deactivation and app failure, at most one per plugin (and one for the app) per `email interval`. */
export interface EmailNotifier {
  /** A plugin was deactivated; `to` replaces `[Email] to` (the plugin's `reg.setEmails([...])`). `sent` is called once its message has gone (not when held back or failed). */
  pluginDeactivated(plugin: string, error: DeactivationInfo, to?: readonly string[], sent?: () => void): void;
  /** The app failed: it could not start, or its source failed. */
  appFailed(error: { code?: string | undefined; message: string }, what?: string): void;
  /** Resolves once every message under way has been sent or has failed (never rejects). */
  flush(): Promise<void>;
  /**
   * Flushes, then closes the transport. With `timeoutMs`, a message still
   * under way after it (a mail server that does not answer) is given up,
   * with one warning, so that it cannot hold the daemon's exit.
   * @default timeoutMs Infinity: waits for every message
   */
  close(timeoutMs?: number): Promise<void>;
}

/** Per key (a plugin, or the app): when a message was last sent, and how many were held back since. */
export type RateState = ReadonlyMap<string, { sentAt: number; held: number }>;

/** The rate limit's decision for one message. */
export interface RateDecision {
  send: boolean;
  /** With send: how many were held back since the last message for this key. */
  held: number;
  /** With !send: when the last message for this key went. */
  sentAt: number | undefined;
  state: RateState;
}

/**
 * The rate limit, a plain function: a message for `key` goes when none went
 * in the last `intervalMs`; otherwise it is held back (counted, and named in
 * the next message that goes).
 * @example admit(new Map(), 'plugin:notify', 0, 3_600_000) // { send: true, held: 0, ... }
 */
export function admit(state: RateState, key: string, now: number, intervalMs: number): RateDecision {
  const last = state.get(key);
  const next = new Map(state);
  if (last && now - last.sentAt < intervalMs) {
    next.set(key, { sentAt: last.sentAt, held: last.held + 1 });
    return { send: false, held: last.held + 1, sentAt: last.sentAt, state: next };
  }
  next.set(key, { sentAt: now, held: 0 });
  return { send: true, held: last?.held ?? 0, sentAt: undefined, state: next };
}

/** The subject: placeholders replaced; one without any is a prefix, as shotgunEvents' `subject`. */
export function formatSubject(template: string, values: { app: string; plugin: string; what: string }): string {
  const full = /\{(app|plugin|what)\}/.test(template) ? template : `${template} {app}: {what}`;
  return full.replaceAll(/\{(app|plugin|what)\}/g, (_, name: 'app' | 'plugin' | 'what') => values[name]);
}

/**
 * Makes the notifier. It never throws into its caller: a message that
 * cannot be sent is one warning line (with the error's code and message,
 * never the password).
 * @example
 * const notifier = createEmailNotifier({ settings, app: 'events', log });
 * notifier.pluginDeactivated('notify', { code: 'ERR_PLUGIN', message: '...', eventId: 42 });
 * await notifier.close();
 */
export function createEmailNotifier(options: EmailNotifierOptions): EmailNotifier {
  const { settings, app, log } = options;
  const now = options.now ?? Date.now;
  const host = options.host ?? hostname();
  const server = `${settings.host}:${settings.port}`;
  let transport = options.transport;
  let rates: RateState = new Map();
  const pending = new Set<Promise<unknown>>();
  // Aborts what is under way when close() gives up on it.
  const giveUp = new AbortController();

  const redact = (text: string) => (settings.password ? text.replaceAll(settings.password, '***') : text);
  const open = (): MailTransport =>
    (transport ??= nodemailer().createTransport({
      host: settings.host,
      port: settings.port,
      secure: settings.tls === 'yes',
      requireTLS: settings.tls === 'starttls',
      ignoreTLS: settings.tls === 'no',
      ...(settings.user !== undefined ? { auth: { user: settings.user, pass: settings.password ?? '' } } : {}),
      // A mail server that does not answer must not hold the daemon's exit for minutes.
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
      logger: false,
      debug: false,
    }) as unknown as MailTransport);

  const send = (
    key: string,
    about: string,
    subject: string,
    lines: Array<[string, string | number | undefined]>,
    note: string,
    to: readonly string[] = settings.to,
    sent?: () => void,
  ): void => {
    if (!settings.enabled) return;
    const at = now();
    const decision = admit(rates, key, at, settings.intervalMs);
    rates = decision.state;
    if (!decision.send) {
      log.info(
        { email: { about, held: decision.held } },
        `e-mail about ${about} held back: one went ${formatDuration(at - decision.sentAt!)} ago (email interval ${formatDuration(settings.intervalMs)})`,
      );
      return;
    }
    const body = [
      ...lines.filter(([, value]) => value !== undefined).map(([label, value]) => `${label}: ${value}`),
      `Host: ${host}`,
      `Time: ${new Date(at).toISOString()}`,
      '',
      note,
      ...(decision.held > 0
        ? ['', `${decision.held} more message(s) about ${about} were held back by the email interval since the last one.`]
        : []),
    ].join('\n');
    const message: MailMessage = { from: settings.from, to: [...to], subject, text: `${body}\n`, signal: giveUp.signal };
    const sending = (async () => {
      try {
        await open().sendMail(message);
        log.info({ email: { about, to } }, `e-mail about ${about} sent to ${to.join(', ')}`);
        sent?.();
      } catch (error) {
        // Given up by close(): its one warning said so.
        if (giveUp.signal.aborted) return;
        // Not sent, so it does not count: the next message for this key goes at once.
        const entry = rates.get(key);
        if (entry?.sentAt === at) rates = new Map(rates).set(key, { sentAt: Number.NEGATIVE_INFINITY, held: entry.held });
        const code = (error as { code?: unknown } | null)?.code;
        const reason = redact(error instanceof Error ? error.message : String(error));
        log.warn(
          // nodemailer's own code (EAUTH, ECONNECTION, ETIMEDOUT, ...), when it gives one.
          { email: { about, server }, error: { ...(typeof code === 'string' ? { code } : {}), message: reason } },
          `e-mail about ${about} could not be sent via ${server}: ${reason}`,
        );
      }
    })();
    pending.add(sending);
    void sending.then(() => pending.delete(sending));
  };

  const notifier: EmailNotifier = {
    pluginDeactivated(plugin, error, to, sent) {
      const what = `plugin "${plugin}" deactivated`;
      send(
        `plugin:${plugin}`,
        `plugin "${plugin}"`,
        formatSubject(settings.subject, { app, plugin, what }),
        [
          ['App', app],
          ['Plugin', plugin],
          ['Callback', error.callback],
          ['Event', error.eventId],
          ['Error', `${error.code}: ${redact(error.message)}`],
        ],
        error.code === 'ERR_CURSOR'
          ? 'The plugin is deactivated: no event reaches it until its cursor is reset (flowd plugins <app.ini> --reset-cursor, as the error says).'
          : `The plugin is deactivated: its cursor stays on the event and no event reaches it until it is retried: fix the cause (the data, a service, or the plugin's file: a changed file is loaded again at once), then restart the daemon or run flowd plugins <app.ini> --reactivate ${plugin}.`,
        to,
        sent,
      );
    },
    appFailed(error, what = 'failed') {
      send(
        'app',
        `app "${app}"`,
        formatSubject(settings.subject, { app, plugin: '', what: `app ${what}` }),
        [
          ['App', app],
          ['Error', `${error.code ? `${error.code}: ` : ''}${redact(error.message)}`],
        ],
        `The app ${what}.`,
      );
    },
    async flush() {
      while (pending.size > 0) await Promise.all(pending);
    },
    async close(timeoutMs = Number.POSITIVE_INFINITY) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<true>((resolve) => {
        if (Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve(true), timeoutMs);
      });
      const late = await Promise.race([notifier.flush().then(() => false), expired]);
      clearTimeout(timer);
      if (late) {
        log.warn(
          { email: { server, unsent: pending.size } },
          `gave up on ${pending.size} e-mail(s) still being sent via ${server} after ${formatDuration(timeoutMs)} at shutdown: the mail server does not answer`,
        );
        // nodemailer closes the connection of an aborted message.
        giveUp.abort();
      }
      transport?.close();
    },
  };
  return notifier;
}
