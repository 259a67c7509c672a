import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { PluginHost } from '../../actors/plugins/plugin-api.js';
import type { EmailSettings } from '../config/email-settings.js';
import { toErrorInfo } from '../kernel/error-info.js';
import { createEmailNotifier, type EmailNotifier, type MailTransport } from './email-notifier.js';

/** What the alerts need of a runtime: how its start went and how its run ended. */
export interface AlertedRuntime {
  start(): Promise<void>;
  stop(): Promise<unknown>;
  readonly done: Promise<{ reason: string; sourceError?: { code: string; message: string } | undefined }>;
}

/** Options of withEmailAlerts. */
export interface EmailAlertOptions {
  settings: EmailSettings;
  app: string;
  log: Logger;
  /** The app's plugins: each deactivation is mailed. */
  plugins?: Pick<PluginHost, 'onChange' | 'get'> | undefined;
  /** For tests. */
  now?: () => number;
  /** For tests. @default nodemailer's SMTP transport */
  transport?: MailTransport;
  /** How long the end of the run waits for a message still under way before giving it up (one warning). @default 5000 */
  closeTimeoutMs?: number;
  /**
   * A JSON file that keeps, per plugin, the last deactivation mailed (code,
   * event and message), so a restart that ends in the same one (an
   * ERR_CURSOR is found again at every start) does not mail it again.
   * @default none: every run mails what it sees
   */
  recordFile?: string | undefined;
}

/** The default of closeTimeoutMs: a few seconds, well within the usual shutdown timeout. */
export const EMAIL_CLOSE_TIMEOUT_MS = 5_000;

/** What makes two deactivations the same one: code, event (or cursor values, in the message) and message, not when. Hashed: the file keeps no error text. */
const sameness = (error: { code: string; message: string; eventId?: number | undefined }) =>
  createHash('sha256')
    .update(JSON.stringify([error.code, error.eventId ?? null, error.message]))
    .digest('hex');

/** The record of an earlier run: unreadable or absent is empty (at worst, one message more). */
function readRecord(file: string | undefined): Record<string, string> {
  if (file === undefined) return {};
  try {
    const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/**
 * `[Email]`: the runtime, whose plugin deactivations and failures (a start
 * that fails, a source that fails) are mailed. Its `done` (and `stop()`)
 * resolve once the last message has been sent or has failed, so the process
 * does not exit under it.
 * @example const runtime = withEmailAlerts(buildRuntime(parts), { settings, app: 'events', log, plugins });
 */
export function withEmailAlerts<R extends AlertedRuntime>(runtime: R, options: EmailAlertOptions): R {
  const notifier: EmailNotifier = createEmailNotifier({
    settings: options.settings,
    app: options.app,
    log: options.log,
    ...(options.now ? { now: options.now } : {}),
    ...(options.transport ? { transport: options.transport } : {}),
  });
  // The plugin host stamps a deactivation with the wall clock; one from before this run was mailed by the run that made it.
  const since = Date.now();
  const closeTimeoutMs = options.closeTimeoutMs ?? EMAIL_CLOSE_TIMEOUT_MS;
  const close = () => notifier.close(closeTimeoutMs);
  const record = readRecord(options.recordFile);
  // Only what earlier runs mailed: within this run, the email interval decides.
  const earlier = new Map(Object.entries(record));
  const recordFile = options.recordFile;
  const remember = (plugin: string, key: string) => {
    if (recordFile === undefined) return;
    record[plugin] = key;
    try {
      mkdirSync(path.dirname(recordFile), { recursive: true });
      writeFileSync(recordFile, `${JSON.stringify(record)}\n`);
    } catch (error) {
      options.log.warn(
        { file: recordFile, error: (error as Error).message },
        `cannot write ${recordFile} (${(error as Error).message}): a restart may mail the same deactivation again`,
      );
    }
  };
  options.plugins?.onChange((change) => {
    if (change.type !== 'plugin.deactivated') return;
    const info = options.plugins?.get(change.name);
    // The plugin's reg.setEmails (shotgunEvents' setEmails): false, none; a list, those addresses.
    if (info?.emails === false) {
      options.log.debug({ plugin: change.name }, `no e-mail about plugin "${change.name}": it called setEmails(false)`);
      return;
    }
    const error = (info?.error ?? change.error) as Parameters<EmailNotifier['pluginDeactivated']>[1] & {
      at?: unknown;
    };
    if (typeof error.at === 'number' && error.at < since) {
      options.log.debug({ plugin: change.name }, `no e-mail about plugin "${change.name}": it was deactivated before this run`);
      return;
    }
    const key = sameness(error);
    if (earlier.get(change.name) === key) {
      options.log.info(
        { plugin: change.name, error: { code: error.code } },
        `no e-mail about plugin "${change.name}": the same deactivation (${error.code}) was mailed before this run`,
      );
      return;
    }
    notifier.pluginDeactivated(change.name, error, Array.isArray(info?.emails) ? info.emails : undefined, () => remember(change.name, key));
  });
  const done = runtime.done.then(
    async (summary) => {
      if (summary.reason === 'source failed')
        notifier.appFailed(summary.sourceError ?? { message: 'its source failed' }, 'stopped: its source failed');
      await close();
      return summary;
    },
    async (error: unknown) => {
      notifier.appFailed(toErrorInfo(error), 'failed');
      await close();
      throw error;
    },
  );
  return Object.create(runtime, {
    start: {
      value: async () => {
        try {
          await runtime.start();
        } catch (error) {
          notifier.appFailed(toErrorInfo(error), 'failed to start');
          await close();
          throw error;
        }
      },
    },
    stop: { value: () => runtime.stop().then(() => done) },
    done: { value: done },
  }) as R;
}
