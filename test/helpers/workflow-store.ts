import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { createAppServices } from '../../src/runtime/app-services.js';

/**
 * A file store for workflow engine tests, in `folder` (a new temporary one
 * by default), closed by the test's cleanups.
 * @example const { store } = workflowStoreIn(cleanups, log);
 */
export function workflowStoreIn(
  cleanups: Array<() => unknown>,
  log: Logger,
  folder = mkdtempSync(path.join(tmpdir(), 'flowd-workflows-')),
) {
  const services = createAppServices(
    { store: { backend: 'file', folder }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
    'workflows',
    log,
  );
  cleanups.push(() => services.close());
  return { store: services.store, folder };
}
