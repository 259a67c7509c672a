import { spawn, type ChildProcess } from 'node:child_process';
import { onTestFinished } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin/flowd.js');
export const fixture = (name: string): string => path.join(ROOT, 'test/fixtures/workers', name);

/** A running `flowd` process with its output collected and awaitable. */
export interface FlowdProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) matches. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the real CLI as a user runs it. */
export function flowd(args: string[], options: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): FlowdProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  else child.stdin!.end();
  return watch(child, 'flowd');
}

/** Runs a CLI command that ends (check, plugins, workflow status, ...): its exit code and what it printed. */
export async function flowdEnded(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = flowd(args, options);
  const { code } = await command.exit;
  return { code, stdout: command.stdout(), stderr: command.stderr() };
}

/**
 * A spawned process's output collected and awaitable; the process is killed
 * after the test if it still runs (holding ports, queues, consumers).
 * `name` is how its failures name it.
 */
export function watch(child: ChildProcess, name: string): FlowdProcess {
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
    child[stream]!.setEncoding('utf8');
    child[stream]!.on('data', (chunk: string) => {
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
            reject(new Error(`${name} exited before ${stream} matched ${pattern}\nstdout: ${text.stdout}\nstderr: ${text.stderr}`)),
          ),
        );
      }),
    exit,
  };
}

/** Resolves once `done()` holds, checking every 10ms; rejects at once if the daemon exits first, with what it printed. */
export function untilRunning(proc: FlowdProcess, what: string, done: () => boolean, timeout = 30_000): Promise<void> {
  const exited = proc.exit.then(
    ({ code, signal }) => new Error(`flowd exited (${code ?? signal}) before ${what}\nstderr: ${proc.stderr().slice(-3000)}`),
  );
  return until(done, { what, timeout, interval: 10, abortOn: exited });
}

/** A temporary folder for INI files; remove it with the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; write(name: string, text: string): Promise<string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-test-'));
  return {
    dir,
    write: async (name, text) => {
      const file = path.join(dir, name);
      await writeFile(file, text);
      return file;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
