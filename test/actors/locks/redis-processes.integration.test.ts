import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/cli.js';
import { REDIS_URL } from '../../helpers/services.js';

const FIXTURE = 'test/fixtures/locks/contend.ts';
const ROUNDS = 15;

/** A contending daemon: a child process running the fixture, with its stdout awaitable. */
function daemon(name: string, prefix: string): { child: ChildProcess; printed(line: string): Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, name], {
    cwd: ROOT,
    env: { ...process.env, LOCK_URL: REDIS_URL, LOCK_PREFIX: prefix, LOCK_ROUNDS: String(ROUNDS) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const listeners: Array<() => void> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const listener of [...listeners]) listener();
  });
  const printed = (line: string) =>
    new Promise<void>((resolve) => {
      const check = () => out.split('\n').includes(line) && (listeners.splice(listeners.indexOf(check), 1), resolve());
      listeners.push(check);
      check();
    });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, printed, exit };
}

describe('redis locks across processes', () => {
  const children: ChildProcess[] = [];
  const redis = new Redis(REDIS_URL);
  let prefix = '';
  afterEach(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('lets only one of two daemons hold a lock at a time, with fences growing across both', async () => {
    prefix = `flowd-test:${randomUUID().slice(0, 8)}:`;
    const daemons = [daemon('one', prefix), daemon('two', prefix)];
    children.push(...daemons.map((d) => d.child));
    await Promise.all(daemons.map((d) => d.printed('ready')));
    for (const d of daemons) d.child.stdin!.end('go\n');
    expect(await Promise.all(daemons.map((d) => d.exit))).toEqual([0, 0]);

    const log = (await redis.lrange(`${prefix}log`, 0, -1)).map(
      (line) => JSON.parse(line) as { who: string; fence: number; inside: number },
    );
    expect(log).toHaveLength(2 * ROUNDS);
    expect(log.filter((entry) => entry.inside !== 1)).toEqual([]);
    const fences = log.map((entry) => entry.fence);
    expect(fences).toEqual([...fences].sort((a, b) => a - b));
    expect(new Set(fences).size).toBe(fences.length);
    expect(log.filter((entry) => entry.who === 'one')).toHaveLength(ROUNDS);
    // Both really contended: the holder changed hands more than once.
    const handovers = log.filter((entry, i) => i > 0 && entry.who !== log[i - 1]!.who).length;
    expect(handovers).toBeGreaterThan(1);
  });
});
