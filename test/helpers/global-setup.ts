import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureRabbitStomp } from './services.js';

/**
 * Builds dist/ once before the tests, so that example and fixture worker
 * modules that `import ... from 'flowd'` load the code under test, and
 * makes sure the services the integration tests use are up.
 */
export default async function setup(): Promise<void> {
  await ensureRabbitStomp();
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
}
