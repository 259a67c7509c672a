import { isIPv6 } from 'node:net';
import { ConfigError } from '../kernel/errors.js';
import type { SectionReader } from '../kernel/section-reader.js';

/** The section that configures the API client (`ctx.client`). */
export const API_SECTION = 'Api';

/** The seed's name for the same section, accepted as an alias of `[Api]`. */
export const API_SECTION_ALIAS = 'Viz One';

/**
 * `[Api]` (or `[Viz One]`), compiled and fully defaulted: where the API
 * client connects and how it retries.
 */
export interface ApiSettings {
  /** `http://host:port` or `https://host:port`, built from `hostname`, `use https` and the default port. */
  origin: string;
  /** The host name or address, without the port (an IPv6 address keeps its brackets). */
  host: string;
  /** `hostname`'s port. @default 443 with `use https = yes`, else 80 */
  port: number;
  /** `username`: sent with the password as HTTP basic authentication. @default undefined (no Authorization header) */
  username: string | undefined;
  /** `password`, usually given as `${NAME}` from the environment. Never logged nor put in an error. @default '' */
  password: string;
  /** `use https`. @default false */
  useHttps: boolean;
  /** `check certificates`: verify the server's TLS certificate. @default true */
  checkCertificates: boolean;
  /** `time out`: the longest wait for a connection, for the response headers, and between body chunks. @default 30_000 (30s) */
  timeOutMs: number;
  /** `retries`: retries after the first attempt for 5xx and connection errors (idempotent requests only) and for 429 (any request). @default 3 */
  retries: number;
  /** `retry delay`: base of the jittered exponential pause between retries. @default 200 (200ms) */
  retryDelayMs: number;
  /** `retry max delay`: cap of that pause, and the longest `Retry-After` waited out (a longer one fails the request). @default 10_000 (10s) */
  retryMaxDelayMs: number;
}

/**
 * Which section of an INI file configures the API client: `Api`, or the
 * seed's `Viz One`; undefined when neither is there. Both at once is a
 * ConfigError, since it is unclear which one counts.
 * @example
 * const name = findApiSection(document.sections.keys(), file);
 * const api = name === undefined ? undefined : compileApiSettings(readerFor(name));
 */
export function findApiSection(sectionNames: Iterable<string>, file?: string): typeof API_SECTION | typeof API_SECTION_ALIAS | undefined {
  const names = new Set(sectionNames);
  const hasApi = names.has(API_SECTION);
  const hasAlias = names.has(API_SECTION_ALIAS);
  if (hasApi && hasAlias) {
    throw new ConfigError(
      { file, section: API_SECTION_ALIAS },
      `is an alias of [${API_SECTION}], and both are present; expected only one of them`,
    );
  }
  return hasApi ? API_SECTION : hasAlias ? API_SECTION_ALIAS : undefined;
}

/**
 * Compiles `[Api]` / `[Viz One]`: `hostname` (host or host:port, required),
 * `username`, `password`, `use https`, `check certificates`, `time out`,
 * `retries`, `retry delay`, `retry max delay`. Throws a ConfigError naming
 * the key for a bad value. The caller runs `reader.finish()` afterwards to
 * reject unknown keys, as for `[Flow]`.
 * @example
 * // [Viz One]
 * // hostname = vizone.example.com:8080
 * // username = flow
 * // password = ${VIZONE_PASSWORD}
 * const settings = compileApiSettings(reader);
 * // settings.origin === 'http://vizone.example.com:8080'
 */
export function compileApiSettings(reader: SectionReader): ApiSettings {
  const compiled = compileApiSection(reader);
  if ('missing' in compiled) throw compiled.missing;
  return compiled;
}

/** `[Viz One]` (or `[Api]`) without a `hostname`: the error to throw when the API is first needed. */
export interface IncompleteApiSettings {
  /** Names the file, section and the missing key. */
  missing: ConfigError;
}

/**
 * Compiles `[Api]` / `[Viz One]` as compileApiSettings does, except that a
 * section without `hostname` is accepted, as the seed's transfer plugin INI
 * (`[Viz One] use https = no`) is: it comes back as `{ missing }`, the
 * ConfigError to throw when something first needs the API. Every key that
 * is there is still checked.
 */
export function compileApiSection(reader: SectionReader): ApiSettings | IncompleteApiSettings {
  const hostname = reader.string('hostname');
  const username = reader.string('username');
  const password = reader.string('password', '');
  const useHttps = reader.boolean('use https', false);
  const checkCertificates = reader.boolean('check certificates', true);
  const timeOutMs = reader.duration('time out', 30_000, { minMs: 1 });
  const retries = reader.integer('retries', 3, { min: 0, max: 100 });
  const retryDelayMs = reader.duration('retry delay', 200);
  const retryMaxDelayMs = reader.duration('retry max delay', Math.max(10_000, retryDelayMs));
  if (retryMaxDelayMs < retryDelayMs)
    reader.fail('retry max delay', `found ${retryMaxDelayMs}ms; expected at least the retry delay (${retryDelayMs}ms)`);
  if (password !== '' && username === undefined)
    reader.fail('password', 'is set but username is not; expected both for basic authentication');
  if (hostname === undefined) {
    try {
      reader.fail('hostname', 'is missing; expected the API server as host or host:port, such as vizone or vizone:8080');
    } catch (error) {
      return { missing: error as ConfigError };
    }
  }
  const { host, port } = parseHostname(hostname, useHttps ? 443 : 80, (problem) => reader.fail('hostname', problem));
  return {
    origin: `${useHttps ? 'https' : 'http'}://${host}:${port}`,
    host,
    port,
    username,
    password,
    useHttps,
    checkCertificates,
    timeOutMs,
    retries,
    retryDelayMs,
    retryMaxDelayMs,
  };
}

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/**
 * Splits `host`, `host:port` or `[v6]:port` and checks both parts; calls
 * `fail` with what was found and what was expected otherwise.
 */
export function parseHostname(text: string, defaultPort: number, fail: (problem: string) => never): { host: string; port: number } {
  const value = text.trim();
  const expected = 'expected a host name or address with an optional port, such as vizone, 10.0.0.5 or vizone:8080';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) fail(`found "${text}", a URL; ${expected} (use https chooses the scheme)`);
  if (/[/?#@\s]/.test(value)) fail(`found "${text}"; ${expected}, without a path, query, user or spaces`);
  let host: string;
  let portText: string | undefined;
  const bracketed = /^(\[[^\]]*\])(?::(.*))?$/.exec(value);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (!isIPv6(host.slice(1, -1))) fail(`found "${text}"; ${host} is not an IPv6 address`);
  } else if (isIPv6(value)) {
    host = `[${value}]`;
  } else {
    const colon = value.lastIndexOf(':');
    host = colon === -1 ? value : value.slice(0, colon);
    portText = colon === -1 ? undefined : value.slice(colon + 1);
    if (host === '') fail(`found "${text}", which has no host; ${expected}`);
    if (host.length > 253 || !host.split('.').every((label) => label.length <= 63 && LABEL.test(label)))
      fail(`found "${text}"; "${host}" is not a valid host name; ${expected}`);
  }
  if (portText === undefined) return { host, port: defaultPort };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) fail(`found "${text}"; the port "${portText}" is not a number from 1 to 65535`);
  return { host, port };
}
