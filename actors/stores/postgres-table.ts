import { createHash } from 'node:crypto';

/** PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1). */
const MAX_IDENTIFIER = 63;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The table of an app's store when `[Store] table` is not set:
 * `flowd_store_<namespace>` when the namespace is already a lower-case
 * identifier that fits; otherwise the namespace lower-cased with every
 * other character as `_`, cut to fit, and `_` plus 8 hex digits of its
 * SHA-256, so two namespaces never share a table (`My-App` and `my_app`).
 * @example storeTableFor('thumbnails') // 'flowd_store_thumbnails'
 * @example storeTableFor('Asset Sync') // 'flowd_store_asset_sync_ff303925'
 */
export function storeTableFor(namespace: string): string {
  const plain = `flowd_store_${namespace}`;
  if (/^[a-z0-9_]+$/.test(namespace) && plain.length <= MAX_IDENTIFIER) return plain;
  const hash = createHash('sha256').update(namespace, 'utf8').digest('hex').slice(0, 8);
  const slug = namespace
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, MAX_IDENTIFIER - 'flowd_store_'.length - 9);
  return `flowd_store_${slug}_${hash}`;
}

/**
 * Whether `table` is a name the store accepts: `identifier` or
 * `schema.identifier`, each part `[A-Za-z_][A-Za-z0-9_]*` of at most 63
 * characters. Case is kept (the name is quoted).
 */
export function isTableName(table: string): boolean {
  const parts = table.split('.');
  return parts.length <= 2 && parts.every((part) => IDENTIFIER.test(part) && part.length <= MAX_IDENTIFIER);
}

/**
 * The table name quoted for SQL; the caller checked it with isTableName.
 * @example quoteTableName('flowd.store_orders') // '"flowd"."store_orders"'
 */
export function quoteTableName(table: string): string {
  if (!isTableName(table)) throw new TypeError(`not a table name: ${JSON.stringify(table)}`);
  return table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
}

/**
 * The table of a store's logs, quoted: the store table's name with `$log`
 * (cut, with 8 hex digits of the SHA-256 of the whole name, when that would
 * pass PostgreSQL's 63 characters). No store table can have that name
 * (`$` is in no name flowd derives or accepts), so no app's store table is
 * another app's logs table.
 * @example quotedLogTableFor('flowd_store_thumbnails') // '"flowd_store_thumbnails$log"'
 */
export function quotedLogTableFor(table: string): string {
  if (!isTableName(table)) throw new TypeError(`not a table name: ${JSON.stringify(table)}`);
  const parts = table.split('.');
  const name = parts.pop()!;
  const plain = `${name}$log`;
  const fitted =
    plain.length <= MAX_IDENTIFIER
      ? plain
      : `${name.slice(0, MAX_IDENTIFIER - 13)}_${createHash('sha256').update(table, 'utf8').digest('hex').slice(0, 8)}$log`;
  return [...parts, fitted].map((part) => `"${part}"`).join('.');
}
