import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { defineActivity, defineWorkflow } from '../../src/workflows/workflow-api.js';
import { launchChromium } from '../helpers/chromium.js';
import { deferred } from '../helpers/once.js';

// A workflow run's activity calls on the inspector page, in Debian's Chromium, from a real runtime.

describe("the inspector page shows a workflow run's activity calls", () => {
  let browser: Browser;
  let page: Page | undefined;
  let runtime: Runtime | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'flowd-calls-page-'));
  const gate = deferred();

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    gate.resolve();
    await page?.close();
    if (runtime?.actor) await runtime.stop();
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists each call with its activity, attempt, state, last heartbeat and details, read again while the run is shown', async () => {
    const Transcoding = defineActivity({ name: 'Transcoding', version: 2 }, async (video: string, ctx) => {
      ctx.heartbeat({ percent: 40, video });
      await gate.promise;
      return `${video}.mp4`;
    });
    const Publish = defineActivity({ name: 'Publish', version: 1 }, (file: string) => `published ${file}`);
    const Upload = defineWorkflow({ name: 'UploadWorkflow', version: 1 }, (wf) => {
      const transcode = wf.activity(Transcoding);
      const publish = wf.activity(Publish);
      return (video: string) => publish(transcode(video).result()).result();
    });
    runtime = createRuntime({
      app: { name: 'videos', dir },
      workflows: { definitions: [Upload, Transcoding, Publish], pollInterval: '20ms' },
      logger: pino({ level: 'silent' }),
      shutdownTimeout: '1s',
    });
    const { url } = await runtime.inspect({ port: 0 });
    await runtime.start();
    const runId = await runtime.startWorkflow('UploadWorkflow', 'cat');

    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(url);
    await page.locator('[data-machine="workflow-run"]').click();
    // The card can be drawn before its summary names the run: wait for the panel to name it.
    await page.locator(`#calls-title:text-is("${runId}")`).waitFor();
    expect(await page.locator('#calls-title').textContent()).toBe(runId);
    // The heartbeat does not change the run: the page reads the calls again while the run is shown.
    const transcoding = page.locator('#calls-table tr[data-call]', { hasText: 'Transcoding@2' });
    await transcoding.locator('td:nth-child(5):text-is(\'{"percent":40,"video":"cat"}\')').waitFor();
    const cells = await transcoding.locator('td').allTextContents();
    expect(cells[1]).toBe('1');
    expect(cells[2]).toBe('running');
    expect(cells[3]).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    await page.locator('#ready[data-ready="yes"]').waitFor();
    mkdirSync('test-output', { recursive: true });
    await page.screenshot({ path: 'test-output/inspector-workflow-calls.png', fullPage: true });
    // FLOWD_DOC_IMAGES=1: docs/inspector.md shows it.
    if (process.env.FLOWD_DOC_IMAGES === '1')
      copyFileSync('test-output/inspector-workflow-calls.png', 'docs/images/inspector-workflow-calls.png');

    gate.resolve();
    expect((await runtime.workflowEnded(runId)).state).toBe('completed');
    expect(problems).toEqual([]);
  });
});
