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
    notifier.pluginDeactivated(change.name, error, Array.isArray(info?.emails) ? info.emails : undefined);
  });
  const done = runtime.done.then(
    async (summary) => {
      if (summary.reason === 'source failed')
        notifier.appFailed(summary.sourceError ?? { message: 'its source failed' }, 'stopped: its source failed');
      await notifier.close();
      return summary;
    },
    async (error: unknown) => {
      notifier.appFailed(toErrorInfo(error), 'failed');
      await notifier.close();
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
          await notifier.close();
          throw error;
        }
      },
    },
    stop: { value: () => runtime.stop().then(() => done) },
    done: { value: done },
  }) as R;
}
