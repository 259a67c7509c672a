import { ConflictError } from '../../src/kernel/errors.js';
import type { Store, StoreLogs } from './store-api.js';

/** The record that holds an emulated log: a name no record flowd or a worker writes starts with. */
const recordKeyOf = (key: string) => `\u0000log/${key}`;

/**
 * Logs emulated by one record per log, for a backend without logs of its
 * own (a custom one): each append rewrites the whole list under
 * compare-and-set, so its cost grows with the log. The backends flowd
 * ships append in place.
 */
export function recordLogs(store: Store, namespace: string): StoreLogs {
  return {
    async append(key, values, options = {}) {
      const recordKey = recordKeyOf(key);
      const { value, version } = await store.getVersioned<unknown[]>(recordKey);
      const entries = value ?? [];
      if (options.ifLength !== undefined && options.ifLength !== entries.length)
        throw new ConflictError(
          `Store "${namespace}": expected log ${JSON.stringify(key)} to hold ${options.ifLength} entries, but it holds ${entries.length}; another writer came first`,
        );
      const next = [...entries, ...values];
      await store.put(recordKey, next, { ifVersion: version, ...(options.fence === undefined ? {} : { fence: options.fence }) });
      return next.length;
    },
    async read<T>(key: string, from = 0): Promise<T[]> {
      const entries = (await store.get<T[]>(recordKeyOf(key))) ?? [];
      return entries.slice(from);
    },
  };
}
