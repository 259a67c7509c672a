import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';

/**
 * Makes sure the services the integration tests talk to are up, so that
 * `npm test` passes on a fresh machine: RabbitMQ with its STOMP plugins
 * (61613, and Web STOMP on 15674), and Redis (6379). Starts what is down
 * and enables the plugins on the running node.
 */

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

async function waitForPorts(ports: number[], what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await Promise.all(ports.map(portOpen));
    if (open.every(Boolean)) return;
    if (Date.now() > deadline)
      throw new Error(`${what} did not open port(s) ${ports.filter((_, i) => !open[i]).join(', ')} within ${timeoutMs / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const quiet = { stdio: 'pipe' as const, timeout: 120_000 };

/** Whether the RabbitMQ node is running (its app may still be stopped). */
function pings(): boolean {
  try {
    execFileSync('rabbitmq-diagnostics', ['-q', 'ping'], quiet);
    return true;
  } catch {
    return false;
  }
}

export async function ensureRabbitStomp(): Promise<void> {
  if ((await portOpen(61613)) && (await portOpen(15674))) return;
  if (!pings()) {
    try {
      execFileSync('rabbitmq-server', ['-detached'], quiet);
    } catch (error) {
      throw new Error(`RabbitMQ is not running and could not be started (rabbitmq-server -detached): ${(error as Error).message}`);
    }
    // The detached node takes a moment to register with epmd; await_startup fails until it has.
    const deadline = Date.now() + 90_000;
    while (!pings()) {
      if (Date.now() > deadline)
        throw new Error('RabbitMQ was started (rabbitmq-server -detached) but did not answer rabbitmq-diagnostics ping within 90s');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    execFileSync('rabbitmqctl', ['await_startup', '--timeout', '90'], quiet);
  }
  // A node left with its app stopped (an interrupted broker-restart test) comes back here.
  execFileSync('rabbitmqctl', ['start_app'], quiet);
  execFileSync('rabbitmq-plugins', ['enable', 'rabbitmq_stomp', 'rabbitmq_web_stomp'], quiet);
  await waitForPorts([61613, 15674], 'RabbitMQ (rabbitmq_stomp, rabbitmq_web_stomp)');
}

/** The Redis the tests use. */
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Starts the machine's Redis (loopback only, nothing kept on disk) when nothing answers on 6379. */
export async function ensureRedis(): Promise<void> {
  if (await portOpen(6379)) return;
  try {
    execFileSync(
      'redis-server',
      [
        '--daemonize',
        'yes',
        '--bind',
        '127.0.0.1',
        '-::1',
        '--port',
        '6379',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        '/var/lib/redis',
        '--logfile',
        '/var/log/redis/ci.log',
      ],
      quiet,
    );
  } catch (error) {
    throw new Error(
      `Redis is not running on 127.0.0.1:6379 and could not be started (redis-server --daemonize yes ...): ${(error as Error).message}`,
    );
  }
  await waitForPorts([6379], 'Redis');
}

/** The PostgreSQL the tests use: the machine's, trust auth on loopback, database `test`. */
export const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Starts the machine's PostgreSQL cluster when nothing answers on 5432. */
export async function ensurePostgres(): Promise<void> {
  if (await portOpen(5432)) return;
  let version: string;
  try {
    version = execFileSync('ls', ['/etc/postgresql'], quiet).toString().trim().split(/\s+/)[0]!;
  } catch (error) {
    throw new Error(`PostgreSQL is not installed (no /etc/postgresql): ${(error as Error).message}`);
  }
  try {
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], quiet);
  } catch (error) {
    throw new Error(
      `PostgreSQL is not running on 127.0.0.1:5432 and could not be started (pg_ctlcluster ${version} main start): ${(error as Error).message}`,
    );
  }
  await waitForPorts([5432], 'PostgreSQL');
}
