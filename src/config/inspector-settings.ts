import { isIP } from 'node:net';
import { toIniKeys } from './flow-settings.js';
import { SectionReader } from '../kernel/section-reader.js';

/** The port the inspector listens on when none is given (Prometheus exporters' customary port). */
export const DEFAULT_INSPECTOR_PORT = 9464;

/** A named token of `[Inspector] tokens`: who asked is logged by its name, never its secret. */
export interface InspectorToken {
  /** Letters, digits, `_`, `.`, `@` or `-`; unique. */
  name: string;
  /** At least 8 characters, no comma. */
  secret: string;
}

/** What a token name may be: it shows in log lines and on timelines as who asked. */
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/** `[Inspector]` (or `runtime.inspect({...})`), compiled. */
export interface InspectorSettings {
  /** TCP port; 0 picks a free one. @default 9464 */
  port: number;
  /** The address to bind. @default '127.0.0.1' */
  interface: string;
  /** Required unless `interface` is a loopback address; requests then need `Authorization: Bearer <token>` or `?token=<token>`. @default undefined */
  token: string | undefined;
  /**
   * Named tokens (`tokens = alice:<secret>, ci:<secret>`), taken besides `token`:
   * an action is logged and noted with the name of the token that asked. Any
   * of them satisfies the token `interface` requires. @default []
   */
  tokens: InspectorToken[];
  /** Also serve @statelyai/inspect's WebSocket relay for Stately's own UI, on `port + 1` (or a free port when `port` is 0). @default false */
  stately: boolean;
  /** Finished events the journal keeps (`journal size`); events in flight are kept besides. 0 turns the journal off. @default 1000 */
  journalSize: number;
  /** Keys whose values the journal masks in payload previews (`redact`, any depth, any case), besides passwords, tokens and the like. @default [] */
  redact: string[];
}

/** The journal's size when none is given. */
export const DEFAULT_JOURNAL_SIZE = 1000;

/** Whether an address only accepts connections from this machine. */
export function isLoopback(address: string): boolean {
  const host = address.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::ffff:127.0.0.1';
}

/**
 * Compiles `[Inspector]`:
 * - `port` (0 to 65535; @default 9464)
 * - `interface` (@default 127.0.0.1)
 * - `token` (required when `interface` is not a loopback address, unless `tokens` is set)
 * - `tokens` (comma-separated `name:secret` pairs, each secret at least 8 characters)
 * - `stately` (yes / no; @default no)
 * - `journal size` (0 to 100000 finished events; @default 1000)
 * - `redact` (comma-separated keys masked in the journal's previews)
 * @example
 * compileInspectorSettings(reader) // { port: 9464, interface: '127.0.0.1', token: undefined, stately: false }
 */
export function compileInspectorSettings(reader: SectionReader): InspectorSettings {
  const port = reader.integer('port', DEFAULT_INSPECTOR_PORT, { min: 0, max: 65535 });
  const address = reader.string('interface', '127.0.0.1').trim();
  const token = reader.string('token');
  const tokens = compileTokens(reader, token);
  const stately = reader.boolean('stately', false);
  const journalSize = reader.integer('journal size', DEFAULT_JOURNAL_SIZE, { min: 0, max: 100_000 });
  const redact = (reader.string('redact') ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  if (address !== 'localhost' && isIP(address.replace(/^\[|\]$/g, '')) === 0) {
    reader.fail('interface', `found "${address}"; expected an IP address to bind, such as 127.0.0.1 or 0.0.0.0`);
  }
  if (token === undefined && tokens.length === 0 && !isLoopback(address)) {
    reader.fail(
      'token',
      `is required when interface is not a loopback address (found interface = ${address}): the inspector shows every event's id and the metrics; set token = <a long random secret>, or tokens = <name>:<secret>, ...`,
    );
  }
  if (token !== undefined && token.length < 8) reader.fail('token', 'is too short; expected at least 8 characters');
  return { port, interface: address, token, tokens, stately, journalSize, redact };
}

/**
 * Reads `tokens = alice:<secret>, ci:<secret>`. Its errors name the entry by
 * its place or its name, never by its secret (the file may give it as
 * `${ALICE_TOKEN}`, and errors are printed and logged).
 */
function compileTokens(reader: SectionReader, token: string | undefined): InspectorToken[] {
  const text = reader.string('tokens');
  if (text === undefined) return [];
  const tokens: InspectorToken[] = [];
  const entries = text.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    if (entry === '') return;
    const colon = entry.indexOf(':');
    const name = colon < 0 ? '' : entry.slice(0, colon).trim();
    const secret = colon < 0 ? '' : entry.slice(colon + 1).trim();
    if (colon <= 0 || name === '')
      reader.fail('tokens', `entry ${index + 1} is not <name>:<secret>; expected such as alice:\${ALICE_TOKEN}, ci:\${CI_TOKEN}`);
    if (!TOKEN_NAME.test(name))
      // Not quoted: an entry with no name whose secret holds a colon would show the secret's start.
      reader.fail('tokens', `the name of entry ${index + 1} is not a name; expected letters, digits, _ . @ or - before its colon`);
    if (tokens.some((other) => other.name === name)) reader.fail('tokens', `token name "${name}" is given twice`);
    if (secret.length < 8) reader.fail('tokens', `the secret of token "${name}" is too short; expected at least 8 characters`);
    const same = tokens.find((other) => other.secret === secret);
    if (same)
      reader.fail('tokens', `tokens "${same.name}" and "${name}" have the same secret; each needs its own, or who asked cannot be told`);
    if (secret === token) reader.fail('tokens', `token "${name}" has the same secret as token; each needs its own`);
    tokens.push({ name, secret });
  });
  return tokens;
}

/** `runtime.inspect()`'s options: the `[Inspector]` keys in camelCase. */
export interface InspectorOptions {
  /** 0 picks a free port. @default 9464 */
  port?: number;
  /** @default '127.0.0.1' */
  interface?: string;
  /** Required for an interface other than loopback (or `tokens`). */
  token?: string;
  /** Named tokens, secrets by name (or as `[Inspector] tokens` compiles them): an action is logged with the name of the token that asked. @example { alice: process.env.ALICE_TOKEN! } */
  tokens?: Record<string, string> | readonly InspectorToken[];
  /** Also serve Stately's WebSocket inspector on port + 1. @default false */
  stately?: boolean;
  /** Finished events the journal keeps; 0 turns it off. @default 1000 */
  journalSize?: number;
  /** Keys masked in the journal's payload previews. @example ['card', 'ssn'] */
  redact?: string[];
}

const isTokenList = (tokens: InspectorOptions['tokens']): tokens is readonly InspectorToken[] => Array.isArray(tokens);

/** Compiles `runtime.inspect()`'s options like an `[Inspector]` section (errors name `[Inspector]`). */
export function compileInspectorOptions(options: InspectorOptions | InspectorSettings): InspectorSettings {
  const { redact, tokens, ...rest } = options as InspectorOptions | InspectorSettings;
  // As the INI file gives them (compiled settings carry them as a list).
  const pairs = isTokenList(tokens) ? tokens.map((t) => [t.name, t.secret] as const) : Object.entries(tokens ?? {});
  const values = toIniKeys({
    ...rest,
    ...(redact !== undefined ? { redact: [redact].flat().join(',') } : {}),
    ...(tokens !== undefined ? { tokens: pairs.map(([name, secret]) => `${name}:${secret}`).join(', ') } : {}),
  } as Record<string, unknown>);
  const reader = new SectionReader(values, { section: 'Inspector' });
  const settings = compileInspectorSettings(reader);
  reader.finish();
  return settings;
}
