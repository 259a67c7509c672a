/**
 * The `stomp url` of a stomp source: parsed with the credentials cut off
 * first, so no error or log line can carry the password.
 */

import { ConfigError } from '../../src/kernel/errors.js';

/** Where a `stomp url` points, parsed. */
export interface StompEndpoint {
  transport: 'tcp' | 'ws';
  host: string;
  port: number;
  /** ws: the WebSocket URL without the destination (`ws://host:15674/ws`). */
  webSocketUrl: string | undefined;
  /** `/queue/name`, `/topic/name`, `/exchange/name[/key]` or `/amq/queue/name`. */
  destination: string;
  login: string | undefined;
  passcode: string | undefined;
  /** The URL as logs show it: never with its password. */
  displayUrl: string;
}

/**
 * The CONNECT frame's headers: the login and passcode, and `host` for a
 * virtual host (RabbitMQ's vhost) when one is named.
 * @example connectHeaders({ login: 'guest', passcode: 'guest', virtualHost: '/production' })
 */
export function connectHeaders(credentials: {
  login?: string | undefined;
  passcode?: string | undefined;
  virtualHost?: string | undefined;
}): Record<string, string> {
  const headers: Record<string, string> = {};
  if (credentials.login !== undefined) headers.login = credentials.login;
  if (credentials.passcode !== undefined) headers.passcode = credentials.passcode;
  if (credentials.virtualHost !== undefined) headers.host = credentials.virtualHost;
  return headers;
}

const DESTINATION = /^(.*?)(\/(?:amq\/queue|queue|topic|exchange)\/.+)$/;
const DEFAULT_PORTS = { 'stomp:': 61613, 'ws:': 15674 } as const;

/**
 * Parses `stomp://[user:pass@]host[:port]/queue/name` (or `/topic/...`,
 * `/exchange/...`, `/amq/queue/...`) and `ws://host:port/ws/queue/name`.
 * The credentials are cut off before anything else is parsed (up to the
 * last `@`), so a password with `/`, `#` or `?` in it is never mistaken
 * for part of the address and never appears in an error.
 */
export function parseStompUrl(text: string): StompEndpoint {
  const { scheme, user, password, rest } = splitCredentials(text.trim());
  const shownUser = user === undefined ? '' : `${user}@`;
  const where = (tail: string) => `"${scheme ? `${scheme}://` : ''}${shownUser}${tail}"`;
  if (!scheme) throw new ConfigError({}, `${where(rest)} is not a URL; expected stomp://host:61613/queue/name`);
  const protocol = `${scheme.toLowerCase()}:` as keyof typeof DEFAULT_PORTS;
  if (!(protocol in DEFAULT_PORTS))
    throw new ConfigError({}, `${where(rest)} uses ${scheme}; expected stomp:// (or ws:// for STOMP over WebSocket)`);
  let url: URL;
  try {
    url = new URL(`${protocol}//${rest}`);
  } catch {
    throw new ConfigError({}, `${where(rest)} is not a URL; expected stomp://host:61613/queue/name`);
  }
  if (!url.hostname) throw new ConfigError({}, `${where(rest)} names no host; expected stomp://host:61613/queue/name`);
  if (url.search || url.hash)
    throw new ConfigError({}, `${where(rest)} has a query or fragment; expected only a destination path such as /queue/name`);
  if (url.port === '0') throw new ConfigError({}, `${where(rest)} names port 0; expected the broker's port, such as 61613`);
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new ConfigError({}, `${where(rest)} has a malformed %-escape in its path`);
  }
  const match = DESTINATION.exec(path);
  if (!match || (protocol === 'stomp:' && match[1] !== '')) {
    throw new ConfigError(
      {},
      `${where(`${url.host}${url.pathname}`)} has no destination; expected a path such as /queue/name, /topic/name, /exchange/name or /amq/queue/name`,
    );
  }
  const port = url.port ? Number(url.port) : DEFAULT_PORTS[protocol];
  const decode = (part: string | undefined, what: string) => {
    if (part === undefined || part === '') return undefined;
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConfigError(
        {},
        `${where(`${url.host}${url.pathname}`)} has a malformed %-escape in its ${what}; percent-encode it, or give it as the ${what === 'user' ? 'login' : 'passcode'} key`,
      );
    }
  };
  return {
    transport: protocol === 'stomp:' ? 'tcp' : 'ws',
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    webSocketUrl: protocol === 'ws:' ? `ws://${url.hostname}:${port}${match[1]}` : undefined,
    destination: match[2]!,
    login: decode(user, 'user'),
    passcode: decode(password, 'password'),
    displayUrl: `${protocol}//${shownUser}${url.hostname}:${port}${url.pathname}`,
  };
}

/** `scheme://user:pass@rest` split at the scheme and the last `@`, before any URL parsing. */
function splitCredentials(text: string): {
  scheme: string | undefined;
  user: string | undefined;
  password: string | undefined;
  rest: string;
} {
  const schemed = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(text);
  if (!schemed) return { scheme: undefined, user: undefined, password: undefined, rest: redactUrl(text) };
  const [, scheme, body] = schemed as unknown as [string, string, string];
  const at = body.lastIndexOf('@');
  if (at < 0) return { scheme, user: undefined, password: undefined, rest: body };
  const userinfo = body.slice(0, at);
  const colon = userinfo.indexOf(':');
  return colon < 0
    ? { scheme, user: userinfo, password: undefined, rest: body.slice(at + 1) }
    : { scheme, user: userinfo.slice(0, colon), password: userinfo.slice(colon + 1), rest: body.slice(at + 1) };
}

/** Text with anything that looks like `user:password@` cut to `user:***@`. */
export function redactUrl(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const head = text.slice(0, at);
  const start = head.indexOf('://') + 3;
  const colon = head.indexOf(':', start);
  return colon < 0 ? text : `${head.slice(0, colon)}:***${text.slice(at)}`;
}

/** `/queue/assets` -> `/queue/assets.dlq`: always a plain queue, which the broker creates on first use. */
export function defaultDeadLetter(destination: string): string {
  const name = destination.split('/').filter(Boolean).pop()!;
  return `/queue/${name}.dlq`;
}

/**
 * Twice the workers (at least the workers plus two): a message for each worker to run and one waiting for it,
 * so a socket read brings several and their ACKs share a write. With the default timeouts (both 60s) a
 * message waits at most about one execution timeout, within the queue timeout (docs/sources.md: prefetch).
 */
export const defaultPrefetch = (workers: number): number => Math.max(2 * workers, workers + 2);
