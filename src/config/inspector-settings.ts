import { isIP } from 'node:net';
import { toIniKeys } from './flow-settings.js';
import { SectionReader } from '../kernel/section-reader.js';

/** The port the inspector listens on when none is given (Prometheus exporters' customary port). */
export const DEFAULT_INSPECTOR_PORT = 9464;

/** `[Inspector]` (or `runtime.inspect({...})`), compiled. */
export interface InspectorSettings {
  /** TCP port; 0 picks a free one. @default 9464 */
  port: number;
  /** The address to bind. @default '127.0.0.1' */
  interface: string;
  /** Required unless `interface` is a loopback address; requests then need `Authorization: Bearer <token>` or `?token=<token>`. @default undefined */
  token: string | undefined;
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
 * - `token` (required when `interface` is not a loopback address)
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
  const stately = reader.boolean('stately', false);
  const journalSize = reader.integer('journal size', DEFAULT_JOURNAL_SIZE, { min: 0, max: 100_000 });
  const redact = (reader.string('redact') ?? '')
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  if (address !== 'localhost' && isIP(address.replace(/^\[|\]$/g, '')) === 0) {
    reader.fail('interface', `found "${address}"; expected an IP address to bind, such as 127.0.0.1 or 0.0.0.0`);
  }
  if (token === undefined && !isLoopback(address)) {
    reader.fail(
      'token',
      `is required when interface is not a loopback address (found interface = ${address}): the inspector shows every event's id and the metrics; set token = <a long random secret>`,
    );
  }
  if (token !== undefined && token.length < 8) reader.fail('token', 'is too short; expected at least 8 characters');
  return { port, interface: address, token, stately, journalSize, redact };
}

/** `runtime.inspect()`'s options: the `[Inspector]` keys in camelCase. */
export interface InspectorOptions {
  /** 0 picks a free port. @default 9464 */
  port?: number;
  /** @default '127.0.0.1' */
  interface?: string;
  /** Required for an interface other than loopback. */
  token?: string;
  /** Also serve Stately's WebSocket inspector on port + 1. @default false */
  stately?: boolean;
  /** Finished events the journal keeps; 0 turns it off. @default 1000 */
  journalSize?: number;
  /** Keys masked in the journal's payload previews. @example ['card', 'ssn'] */
  redact?: string[];
}

/** Compiles `runtime.inspect()`'s options like an `[Inspector]` section (errors name `[Inspector]`). */
export function compileInspectorOptions(options: InspectorOptions | InspectorSettings): InspectorSettings {
  const { redact, ...rest } = options as InspectorOptions;
  const values = toIniKeys({ ...rest, ...(redact !== undefined ? { redact: [redact].flat().join(',') } : {}) } as Record<string, unknown>);
  const reader = new SectionReader(values, { section: 'Inspector' });
  const settings = compileInspectorSettings(reader);
  reader.finish();
  return settings;
}
