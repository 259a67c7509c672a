// The value of a query parameter that may carry a secret: pg reads `?password=`, feeds take `?token=` or `?api_secret=`.
const SECRET_PARAM = /([?&][^=&#]*(?:pass|secret|token)[^=&#]*=)[^&#]*/gi;

/**
 * A URL safe to print (Redis, PostgreSQL, an HTTP feed): the password, and
 * any query parameter whose name speaks of a password, secret or token,
 * replaced by `***`.
 * @example displayUrl('redis://app:s3cret@db:6379/0') // 'redis://app:***@db:6379/0'
 * @example displayUrl('postgres://app@db/flowd?password=s3cret') // 'postgres://app@db/flowd?password=***'
 */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    // Replaced in the text, so the rest of the query stays as written (searchParams would re-encode it).
    parsed.search = parsed.search.replace(SECRET_PARAM, '$1***');
    return parsed.toString();
  } catch {
    // Not a URL: keep only what cannot hold a password.
    const at = url.lastIndexOf('@');
    return at < 0 ? url : `***${url.slice(at)}`;
  }
}
