import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineWorker } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { launchChromium } from '../helpers/chromium.js';
import { manualSource } from '../helpers/manual-source.js';
import { deferred } from '../helpers/once.js';

// The inspector's page in real headless Chromium, watching a real runtime.

describe('the inspector page, in headless Chromium, on a running runtime', () => {
  let browser: Browser;
  let page: Page;
  let dir: string;
  const cleanups: Array<() => Promise<unknown>> = [];
  const problems: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await page?.close();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    rmSync(dir, { recursive: true, force: true });
    problems.length = 0;
    requests.length = 0;
  });

  /** A runtime on a manual source whose worker finishes `quick-*` events at once and holds the others until released. */
  async function startRuntime(inspect: { token?: string } = {}) {
    dir = mkdtempSync(path.join(tmpdir(), 'flowd-inspector-'));
    const source = manualSource();
    const held = new Map<string, { resolve: () => void }>();
    const running = deferred<string>();
    const worker = defineWorker({
      start: async (payload: string, ctx: { id: string }) => {
        if (payload.startsWith('quick')) return 'done';
        const gate = deferred();
        held.set(ctx.id, gate);
        running.resolve(ctx.id);
        await gate.promise;
        return 'done';
      },
    });
    const runtime: Runtime = createRuntime({ worker, source: source.driver, workers: 3, app: { name: 'inspector-demo', dir } });
    const inspector = await runtime.inspect({ port: 0, ...inspect });
    cleanups.push(() => inspector.close());
    await runtime.start();
    cleanups.push(async () => {
      for (const gate of held.values()) gate.resolve();
      await runtime.stop();
    });
    await source.ready;
    return { runtime, source, inspector, running: running.promise, release: (id: string) => held.get(id)!.resolve() };
  }

  async function open(url: string) {
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
  }

  it('lists the supervisor and the slots, shows a slot busy while its worker runs and idle after, and lights its state', async () => {
    const { source, inspector, running, release } = await startRuntime();
    await open(inspector.url);
    await page.locator('[data-actor="supervisor"]').waitFor();
    await page.locator('#conn[data-connection="live"]').waitFor();
    await page.waitForFunction(`document.querySelectorAll('[data-machine="worker-slot"][data-state="idle"]').length === 3`);
    expect(await page.locator('[data-actor="source"]').getAttribute('data-state')).toMatch(/running/);

    source.deliver('quick', 'quick-1');
    source.deliver('quick', 'quick-2');
    await page.locator('[data-actor="supervisor"] .kv tr:has(th:text-is("completed")) td:text-is("2")').waitFor();

    source.deliver('slow', 'evt-slow');
    const eventId = await running;
    expect(eventId).toBe('evt-slow');
    const busy = page.locator('[data-machine="worker-slot"][data-state="busy"]');
    await busy.waitFor();
    expect(await busy.count()).toBe(1);
    const slot = (await busy.getAttribute('data-actor'))!;
    expect(await busy.locator('.kv').innerText()).toMatch(/event\s+evt-slow\s+attempt\s+1/);
    expect(await page.locator('[data-group="worker-slot"] h2').textContent()).toBe('Slots · 1 busy of 3');
    expect(await page.locator('#transitions tr', { hasText: slot }).first().innerText()).toMatch(/event\.assigned\s+idle → busy/);

    await busy.click();
    await page.locator('#diagram g.lit[id="state:busy"]').waitFor();
    expect(await page.locator('#diagram g.lit').evaluateAll((gs) => gs.map((g) => g.id))).toEqual(['state:busy']);
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/inspector.png', fullPage: true });

    release(eventId);
    await page.locator(`[data-actor="${slot}"][data-state="idle"]`).waitFor();
    await page.locator('#diagram g.lit[id="state:idle"]').waitFor();
    expect(await page.locator(`[data-actor="${slot}"] .kv`).innerText()).toMatch(/event\s+–/);
    const origin = new URL(inspector.url).origin;
    expect(requests.filter((url) => !url.startsWith(origin + '/') && !url.startsWith('data:'))).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('works with a token when it is opened with ?token=', async () => {
    const token = 'inspector-s3cret';
    const { inspector } = await startRuntime({ token });
    expect((await fetch(new URL('api/state', inspector.url))).status).toBe(401);
    await open(`${inspector.url}?token=${token}`);
    await page.locator('#conn[data-connection="live"]').waitFor();
    await page.waitForFunction(`document.querySelectorAll('[data-machine="worker-slot"]').length === 3`);
    await page.locator('#diagram g.lit[id="state:flowing"]').waitFor();
    expect(await page.locator('#error').textContent()).toBe('');
    expect(requests.filter((url) => !url.startsWith('data:')).every((url) => new URL(url).searchParams.get('token') === token)).toBe(true);
    expect(problems).toEqual([]);
  });
});
