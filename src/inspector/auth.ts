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

/** Whether a request may see the inspector: always without a token configured; else only with that token (compared in constant time). */
export function isAuthorized(request: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const given = requestToken(request);
  // Hashed first, so the comparison takes the same time whatever the lengths.
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}
