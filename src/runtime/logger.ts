import pino, { type Logger } from 'pino';
import type pretty from 'pino-pretty';
import { lazy } from '../kernel/lazy.js';
import type { LogSettings } from '../config/flow-settings.js';

/** Keys whose values never reach a log line, nor the inspector journal's previews. */
export const SECRET_KEYS = [
  'password',
  'passcode',
  'passwd',
  'secret',
  'token',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'apikey',
];

/**
 * Paths whose values never reach a log line: the secret keys at the top
 * and up to three levels down (a failed HTTP event logs its payload's
 * headers at payload.headers.authorization).
 */
export const REDACTED_KEYS = SECRET_KEYS.flatMap((key) => {
  const k = /^[a-z]+$/.test(key) ? key : `["${key}"]`;
  const join = (prefix: string) => (k.startsWith('[') ? `${prefix}${k}` : `${prefix}.${k}`);
  return [k.startsWith('[') ? `${k}` : k, join('*'), join('*.*'), join('*.*.*')];
});

/**
 * The app's logger: pino JSON lines on stderr (pretty when stderr is a
 * terminal), or appended to `[Log] file`. Stdout belongs to the app.
 */
const SECRET = new Set(SECRET_KEYS);

/**
 * Copies a logged payload with every secret key's value replaced, at any
 * depth (pino's redact paths have a fixed depth; an event's payload does not).
 */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 12) return '[too deep]';
  if (Array.isArray(value)) return value.slice(0, 1000).map((item) => redactDeep(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = SECRET.has(key.toLowerCase()) ? '[redacted]' : redactDeep(item, depth + 1);
  return copy;
}

// `"password": "x"`, `password=x`, `token: x` inside text (a JSON or XML payload read as text, a query string).
const SECRET_IN_TEXT = new RegExp(
  `((?:["']?)\\b(?:${SECRET_KEYS.join('|')})(?:["']?)\\s*[:=]\\s*)("(?:[^"\\\\]|\\\\.)*"|'[^']*'|(?:(?:Bearer|Basic|Digest)\\s+)?[^\\s"',;&<}]+)`,
  'gi',
);
// `<password>x</password>` and `<setting name="password">x</setting>`.
const SECRET_ELEMENT = new RegExp(`(<(${SECRET_KEYS.join('|')})\\b[^>]*>)[^<]*(</\\2\\s*>)`, 'gi');
const SECRET_NAMED_ELEMENT = new RegExp(
  `(<([\\w:-]+)\\b[^>]*\\bname\\s*=\\s*["'](?:${SECRET_KEYS.join('|')})["'][^>]*>)[^<]*(</\\2\\s*>)`,
  'gi',
);

/** A cheap first look: text naming none of the secret keys has nothing to mask. */
const SECRET_HINT = new RegExp(SECRET_KEYS.join('|'), 'i');

/** Text with the values of secret-looking `key: value` pairs and `<password>` elements replaced. */
export function redactText(text: string): string {
  if (!SECRET_HINT.test(text)) return text;
  return text
    .replace(SECRET_IN_TEXT, (_, head: string, secret: string) => `${head}${secret.startsWith('"') ? '"[redacted]"' : '[redacted]'}`)
    .replace(SECRET_ELEMENT, '$1[redacted]$3')
    .replace(SECRET_NAMED_ELEMENT, '$1[redacted]$3');
}

export function createLogger(settings: LogSettings, name: string): Logger {
  const options = {
    level: settings.level,
    name,
    redact: { paths: REDACTED_KEYS, censor: '[redacted]' },
    // Events' payloads and meta are logged when they fail: redact them at any depth.
    serializers: { payload: redactDeep, meta: redactDeep },
  };
  if (settings.file) return pino(options, pino.destination({ dest: settings.file, mkdir: true, sync: true, append: true }));
  if (process.stderr.isTTY) return pino(options, lazy<typeof pretty>('pino-pretty')()({ destination: 2, sync: true, colorize: true }));
  return pino(options, pino.destination({ fd: 2, sync: true }));
}
