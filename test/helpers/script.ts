import { spawn } from 'node:child_process';
import { onTestFinished } from 'vitest';
import { ROOT, type FlowdProcess } from './cli.js';

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
  const text = { stdout: '', stderr: '' };
  const waiters: Array<{ stream: 'stdout' | 'stderr'; pattern: RegExp; resolve: (m: string) => void }> = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(text[waiter.stream]);
      if (!match) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(match[0]);
    }
  };
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => {
      text[stream] += chunk;
      check();
    });
  }
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    waitFor: (stream, pattern) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ stream, pattern, resolve });
        check();
        void exit.then(() =>
          setImmediate(() =>
            reject(new Error(`${file} exited before ${stream} matched ${pattern}\nstdout: ${text.stdout}\nstderr: ${text.stderr}`)),
          ),
        );
      }),
    exit,
  };
}
