import { spawn } from 'node:child_process';
import { ROOT, watch, type FlowdProcess } from './cli.js';

/**
 * Spawns a TypeScript script (`node --import tsx <file> ...args`) from the
 * repository's root, with its output collected and awaitable as `flowd()`'s:
 * a service that embeds the runtime, say. Killed after the test if it still runs.
 */
export function script(file: string, args: string[] = [], options: { env?: NodeJS.ProcessEnv } = {}): FlowdProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child, file);
}
