import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogSettings } from './config/flow-settings.js';

/** Keys whose values never reach a log line. */
export const REDACTED_KEYS = ['password', 'passcode', 'secret', 'token', 'authorization', '*.password', '*.passcode', '*.secret', '*.token', '*.authorization'];

/**
 * The app's logger: pino JSON lines on stderr (pretty when stderr is a
 * terminal), or appended to `[Log] file`. Stdout belongs to the app.
 */
export function createLogger(settings: LogSettings, name: string): Logger {
  const options = { level: settings.level, name, redact: { paths: REDACTED_KEYS, censor: '[redacted]' } };
  if (settings.file) return pino(options, pino.destination({ dest: settings.file, mkdir: true, sync: true, append: true }));
  if (process.stderr.isTTY) return pino(options, pretty({ destination: 2, sync: true, colorize: true }));
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
