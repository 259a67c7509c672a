import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

const VSFTPD = '/usr/sbin/vsftpd';

/** A private vsftpd on loopback, for tests. */
export interface FtpServer {
  host: '127.0.0.1';
  port: number;
  /** The login: anonymous, with a password the server checks. */
  user: 'anonymous';
  password: string;
  /** The writable folder on disk that the server shows as `/upload`. */
  folder: string;
  /** `ftp://anonymous:<password>@127.0.0.1:<port>/upload/<sub>`, or without the password. */
  url(sub?: string, options?: { password?: string | false }): string;
  stop(): Promise<void>;
}

/** Installs Debian's vsftpd when it is missing (the test machine has apt). */
export function ensureVsftpd(): void {
  if (existsSync(VSFTPD)) return;
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'vsftpd'], {
      stdio: 'pipe',
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    throw new Error(`vsftpd is not installed at ${VSFTPD} and "apt-get install -y vsftpd" failed: ${(error as Error).message}`);
  }
}

const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** `count` consecutive free loopback ports (vsftpd takes a range for passive data connections). */
async function freeRange(count: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found on 127.0.0.1`);
}

const answers = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString().startsWith('220'));
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Starts a private vsftpd (Debian's, installed when missing) on a free
 * loopback port, in the foreground as a child process, with a temporary
 * config and root. Anonymous login only, with a password the server checks
 * (`secure_email_list_enable`), so a wrong password is refused with 530 as
 * it would be for a real account. vsftpd refuses a writable anonymous root,
 * so the root is read-only and `/upload` (owned by the `ftp` user) takes
 * uploads, folders and renames. Needs root (vsftpd chroots the session and
 * switches to the `ftp` user), as on the test machines. Stop it in afterAll.
 */
export async function startFtpServer(): Promise<FtpServer> {
  ensureVsftpd();
  if (process.getuid?.() !== 0)
    throw new Error('startFtpServer needs root: vsftpd chroots each anonymous session and switches to the ftp user');
  const dir = await mkdtemp(path.join(tmpdir(), 'flowd-ftp-'));
  const root = path.join(dir, 'root');
  const folder = path.join(root, 'upload');
  const empty = path.join(dir, 'empty');
  await mkdir(folder, { recursive: true });
  await mkdir(empty);
  await chmod(dir, 0o755);
  await chmod(root, 0o755);
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'ftp'], { encoding: 'utf8' }).trim()));
  await chown(folder, uid!, gid!);
  const password = `pw-${randomBytes(6).toString('hex')}`;
  await writeFile(path.join(dir, 'passwords'), `${password}\n`);
  const port = await freeRange(1);
  const passive = await freeRange(10);
  const config = [
    'listen=YES',
    'listen_ipv6=NO',
    'listen_address=127.0.0.1',
    `listen_port=${port}`,
    'background=NO',
    'anonymous_enable=YES',
    'local_enable=NO',
    `anon_root=${root}`,
    'ftp_username=ftp',
    'no_anon_password=NO',
    'secure_email_list_enable=YES',
    `email_password_file=${path.join(dir, 'passwords')}`,
    'write_enable=YES',
    'anon_upload_enable=YES',
    'anon_mkdir_write_enable=YES',
    'anon_other_write_enable=YES',
    'anon_umask=022',
    'pasv_enable=YES',
    `pasv_min_port=${passive}`,
    `pasv_max_port=${passive + 9}`,
    'pasv_address=127.0.0.1',
    `secure_chroot_dir=${empty}`,
    'delay_failed_login=0',
    // Containers often forbid the namespaces and seccomp filters vsftpd sets up by default.
    'seccomp_sandbox=NO',
    'isolate=NO',
    'isolate_network=NO',
    'xferlog_enable=NO',
    'dual_log_enable=NO',
    `vsftpd_log_file=${path.join(dir, 'vsftpd.log')}`,
  ];
  const configFile = path.join(dir, 'vsftpd.conf');
  await writeFile(configFile, `${config.join('\n')}\n`);
  const child = spawn(VSFTPD, [configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await answers(port))) {
    if (child.exitCode !== null) throw new Error(`vsftpd exited at start (code ${child.exitCode}): ${output.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`vsftpd did not answer on 127.0.0.1:${port} within 10s: ${output.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    host: '127.0.0.1',
    port,
    user: 'anonymous',
    password,
    folder,
    url: (sub = '', options = {}) => {
      const pw = options.password === false ? '' : `:${encodeURIComponent(options.password ?? password)}`;
      return `ftp://anonymous${pw}@127.0.0.1:${port}/upload/${sub}`;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
