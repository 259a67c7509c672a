import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian's chromium package puts the browser. */
export const chromiumPath = '/usr/bin/chromium';

/** Installs Debian's chromium when it is missing; throws saying how to install it by hand if that fails. */
export function ensureChromium(): string {
  if (existsSync(chromiumPath)) return chromiumPath;
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 300_000,
    });
  } catch (error) {
    const detail = (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
    throw new Error(
      `the browser tests need Debian's chromium at ${chromiumPath}; it is missing and "apt-get install -y chromium" failed: ${detail}. Install it (as root: apt-get install -y chromium) and run the tests again`,
      { cause: error },
    );
  }
  if (!existsSync(chromiumPath)) throw new Error(`apt-get installed chromium but ${chromiumPath} is still missing`);
  return chromiumPath;
}

/** Launches headless Chromium (Debian's, through playwright-core), with nothing in the background that reaches the network. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: ensureChromium(),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
