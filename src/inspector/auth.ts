import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The token a request carries: `Authorization: Bearer <token>`, else `?token=<token>`. */
export function requestToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  const bearer = header && /^Bearer\s+(.+)$/i.exec(header.trim());
  if (bearer) return bearer[1];
  const query = new URL(request.url ?? '/', 'http://inspector').searchParams.get('token');
  return query ?? undefined;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Which of `secrets` a request carries (its index), each compared in constant time; -1 for none. */
export function tokenIndex(request: IncomingMessage, secrets: readonly string[]): number {
  const given = requestToken(request);
  if (given === undefined) return -1;
  // Hashed first, so the comparison takes the same time whatever the lengths; every secret is compared.
  const hash = digest(given);
  let found = -1;
  secrets.forEach((secret, index) => {
    if (timingSafeEqual(hash, digest(secret)) && found < 0) found = index;
  });
  return found;
}

/** Whether a request may see the inspector: always without a token configured; else only with one of them. */
export function isAuthorized(request: IncomingMessage, secrets: readonly string[]): boolean {
  return secrets.length === 0 || tokenIndex(request, secrets) >= 0;
}

/** The names a local browser uses for this machine, plus the bound interface(s) themselves, as `Host` shows them (IPv6 bracketed, lower case). */
export function localHostNames(...bound: Array<string | undefined>): Set<string> {
  const names = new Set(['127.0.0.1', 'localhost', '[::1]']);
  for (const address of bound) {
    if (!address) continue;
    const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
    // A wildcard bind is not a name anyone may claim in `Host`.
    if (bare === '0.0.0.0' || bare === '::') continue;
    names.add(bare.includes(':') ? `[${bare}]` : bare);
  }
  return names;
}

/**
 * Whether a `Host` header names this server: one of `names` with `port` (or
 * no port). A DNS-rebinding page's requests carry its own name, so they fail.
 */
export function isAllowedHost(host: string | undefined, names: ReadonlySet<string>, port: number): boolean {
  const match = host === undefined ? null : /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(host.trim());
  if (!match) return false;
  return names.has(match[1]!.toLowerCase()) && (match[2] === undefined || Number(match[2]) === port);
}

/**
 * Whether a WebSocket upgrade's `Origin` may read the stream: absent (not a
 * browser), or `http://<one of names>:<one of ports>`. Browsers do not apply
 * the same-origin policy to WebSockets, so any website could connect otherwise.
 */
export function isAllowedOrigin(origin: string | undefined, names: ReadonlySet<string>, ports: readonly number[]): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  // `new URL` drops a default port (80), which never is one of ours.
  return (
    url.protocol === 'http:' &&
    url.origin === origin.toLowerCase() &&
    names.has(url.hostname) &&
    url.port !== '' &&
    ports.includes(Number(url.port))
  );
}

/**
 * Whether `origin` is the page the request's `Host` names (http or https,
 * the same host and port): a page served under another name, through a
 * proxy say, posting to itself. Only for a server with a token, which a
 * foreign page cannot know.
 */
export function isSameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined || host === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host.trim().toLowerCase();
  } catch {
    return false;
  }
}

/** A request's path for a log line: never its query, which may carry `?token=`. */
export function loggedPath(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://inspector').pathname;
  } catch {
    return '(unreadable path)';
  }
}
