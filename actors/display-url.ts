/**
 * A URL safe to print (Redis, PostgreSQL, an HTTP feed): the password replaced by `***`.
 * @example displayUrl('redis://app:s3cret@db:6379/0') // 'redis://app:***@db:6379/0'
 */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // Not a URL: keep only what cannot hold a password.
    const at = url.lastIndexOf('@');
    return at < 0 ? url : `***${url.slice(at)}`;
  }
}
