import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensurePostgres, ensureRabbitStomp, ensureRedis } from './services.js';

/**
 * Builds dist/ once before the tests, so that example and fixture worker
 * modules that `import ... from 'flowd'` load the code under test, and
 * makes sure the services the integration tests use are up.
 */
export default async function setup(): Promise<void> {
  await Promise.all([ensureRabbitStomp(), ensureRedis(), ensurePostgres()]);
  // FLOWD_SKIP_BUILD=1 skips the build, for unit tests that never load dist/ (while other files are half-written, say).
  if (process.env.FLOWD_SKIP_BUILD === '1') return;
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.json'],
    { cwd: root, stdio: 'inherit' },
  );
}
