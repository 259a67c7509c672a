import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensurePostgres, ensureRabbitStomp, ensureRedis } from './services.js';

const kSetup = Symbol.for('flowd.test.global-setup');

/**
 * The integration projects' global setup (the unit project has none).
 * Builds dist/ once before the tests, so that example and fixture worker
 * modules that `import ... from 'flowd'` load the code under test, and
 * makes sure the services the integration tests use are up.
 */
export default function setup(): Promise<void> {
  // The integration and exclusive projects both name this file: build and check once per run.
  const once = globalThis as { [kSetup]?: Promise<void> };
  return (once[kSetup] ??= prepare());
}

async function prepare(): Promise<void> {
  await Promise.all([ensureRabbitStomp(), ensureRedis(), ensurePostgres()]);
  // FLOWD_SKIP_BUILD=1 skips the build, for integration tests that never load dist/ (while other files are half-written, say).
  if (process.env.FLOWD_SKIP_BUILD === '1') return;
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(
    process.execPath,
    [fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.json'],
    { cwd: root, stdio: 'inherit' },
  );
}
