import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { defineWorker } from '../../actors/workers/worker.js';
import { createRuntime, type Runtime, type RuntimeClock } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { deleteQueues, produce, queueCounts, stompUrl, uniqueQueue } from '../helpers/broker.js';
import { launchChromium } from '../helpers/chromium.js';
import { manualClock } from '../helpers/manual-clock.js';

// The inspector's Events tab in Debian's Chromium, on a stuck daemon: three workers, every fifth
// run hanging (ignoring its signal), event n = 5k + 1 failing the first time, a 1.5 s execution
// timeout and a 2.5 s queue timeout on an injected clock that moves only when the test says, and a
// real STOMP queue on the machine's RabbitMQ. Everything is read through the page alone.

const SHOTS = 'test-output';
/** Copies of the screenshots docs/inspector.md shows (written when FLOWD_DOC_IMAGES=1). */
const DOC_IMAGES = 'docs/images';

describe('the Events tab of the inspector page, on a stuck daemon with a STOMP source', () => {
  let browser: Browser;
  let page: Page;
  let runtime: Runtime | undefined;
  let dir: string;
  const clock = manualClock(Date.UTC(2026, 11, 7, 9, 30, 0));
  const queue = uniqueQueue('events-page');
  const problems: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    dir = mkdtempSync(path.join(tmpdir(), 'flowd-events-page-'));
    mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await page?.close();
    if (runtime) {
      const stopping = runtime.stop();
      await clock.advance(2000);
      await stopping;
    }
    await browser?.close();
    await deleteQueues(queue, `${queue}.dlq`);
    rmSync(dir, { recursive: true, force: true });
  });

  const shot = async (name: string) => {
    await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
    if (process.env.FLOWD_DOC_IMAGES === '1' && name !== 'inspector-retried') {
      mkdirSync(DOC_IMAGES, { recursive: true });
      copyFileSync(`${SHOTS}/${name}.png`, `${DOC_IMAGES}/${name}.png`);
    }
  };
  const tab = (state: string) => page.locator(`#state-tabs button[data-state="${state}"]`);
  /** Shows a state's tab and waits for its list (fetched now, with the daemon's clock). */
  const show = async (state: string) => {
    await tab(state).click();
    await page.locator(`#event-rows[data-loaded="${state}"]`).waitFor();
  };
  const count = async (state: string) => Number(await tab(state).locator('.count').textContent());
  /** Seconds shown in a cell such as `age 1.2 s` or `running 1.0 min 3 s`. */
  const seconds = async (cell: Locator) => {
    const text = (await cell.textContent())!;
    const m = /(\d+(?:\.\d+)?) (ms|s)$/.exec(text) ?? /(\d+) min (\d+) s$/.exec(text);
    expect(m, `a time in ${JSON.stringify(text)}`).not.toBeNull();
    return text.includes(' min ') ? Number(m![1]) * 60 + Number(m![2]) : m![2] === 'ms' ? Number(m![1]) / 1000 : Number(m![1]);
  };
  const rowOf = (n: number) => page.locator('#event-rows tr', { hasText: `"n":${n},` });

  it('shows queued ages, hung runs, failures and expiries with their errors, a timeline, /readyz, and retries a dead letter', async () => {
    const failedOnce = new Set<number>();
    runtime = createRuntime({
      worker: defineWorker({
        start: (event: StompEvent<{ n: number; asset: string }>) => {
          const { n } = event.body;
          if (n % 5 === 0) return new Promise<never>(() => {});
          if (n % 5 === 1 && !failedOnce.has(n)) {
            failedOnce.add(n);
            throw Object.assign(new Error(`asset ${event.body.asset} is broken`), { code: 'ERR_BROKEN' });
          }
          return { ok: n };
        },
      }),
      source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`), payloadClass: 'json', prefetch: 40 }),
      workers: 3,
      executionTimeout: 1500,
      queueTimeout: 2500,
      shutdownTimeout: 1000,
      orderBy: 'body.asset',
      clock: clock as RuntimeClock,
      logger: false,
      app: { name: 'stuck', dir },
    });
    const { url } = await runtime.inspect({ port: 0 });
    await runtime.start();

    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => {
      // /readyz answering 503 is what the page shows, not a problem of the page's.
      if (m.type() === 'error' && !(/status of 503/.test(m.text()) && new URL(m.location().url).pathname === '/readyz'))
        problems.push(m.text());
    });
    await page.goto(url);
    await page.locator('#conn[data-connection="live"]').waitFor();
    await page.locator('nav.tabs button[data-tab="events"]').click();

    await produce(
      `/queue/${queue}`,
      Array.from({ length: 30 }, (_, i) => ({
        body: JSON.stringify({ n: i + 1, asset: `a${(i + 1) % 4}`, password: 'hunter2' }),
        headers: { 'content-type': 'application/json' },
      })),
    );
    // Three runs hang, the events behind them wait.
    await tab('all').locator('.count:text-is("30")').waitFor();
    await tab('running').locator('.count:text-is("3")').waitFor();
    expect(await count('queued')).toBeGreaterThan(0);

    // A second on the daemon's clock: the queued events show their ages.
    await clock.advance(1000);
    await show('queued');
    await page.locator('#event-rows tr[data-state="queued"]').first().waitFor();
    const queued = page.locator('#event-rows tr[data-state="queued"]');
    expect(await queued.count()).toBe(await count('queued'));
    expect(await queued.count()).toBeGreaterThan(0);
    for (const age of await queued.locator('td.age').all()) {
      expect(await age.textContent()).toMatch(/^age /);
      expect(await seconds(age)).toBeGreaterThanOrEqual(1);
    }
    expect(await page.locator('#event-rows').textContent()).not.toContain('hunter2');
    await shot('inspector-events-queued');

    // The hung runs: each shows how long it has run; one opened is on its slot, the slot busy.
    await show('running');
    await page.locator('#event-rows tr[data-state="running"]').nth(2).waitFor();
    for (const elapsed of await page.locator('#event-rows tr[data-state="running"] td.age').all()) {
      expect(await elapsed.textContent()).toMatch(/^running /);
      expect(await seconds(elapsed)).toBeGreaterThanOrEqual(1);
    }
    await rowOf(5).click();
    await page.locator('#detail-state:text-is("running")').waitFor();
    // Hung since its start 1.5 s of the clock ago, or longer on a loaded machine (the page counts in real time).
    const detail = /state\s+running (\d+(?:\.\d+)?) s/.exec(await page.locator('#event-detail .kv').innerText());
    expect(detail, 'the running time in the detail').not.toBeNull();
    expect(Number(detail![1])).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#sequence .seq-step').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-step')))).toEqual([
      'received',
      'queued',
      'started',
    ]);
    await page.locator('#step-diagram g.lit[id="state:busy"]').waitFor();
    await shot('inspector-events-running');

    // Past the execution timeout the three runs are abandoned (their slots replaced), past the queue timeout the waiting ones expire.
    await clock.advance(600);
    await clock.advance(1000);
    await tab('expired').locator('.count:not(:text-is("0"))').waitFor();
    await clock.advance(1000);
    await show('expired');
    const expired = page.locator('#event-rows tr[data-state="expired"]');
    await expired.first().waitFor();
    expect(await expired.first().locator('td.err').textContent()).toMatch(/^ERR_QUEUE_TIMEOUT: /);
    const expiredCount = await count('expired');
    expect(await expired.count()).toBe(expiredCount);
    await shot('inspector-events-expired');

    await show('failed');
    await page.locator('#event-rows tr td.err', { hasText: 'ERR_WORKER_TIMEOUT' }).first().waitFor();
    const errors = await page.locator('#event-rows tr td.err').allTextContents();
    expect(errors).toContain('ERR_BROKEN: asset a1 is broken');
    expect(errors.some((e) => e.startsWith('ERR_WORKER_TIMEOUT: '))).toBe(true);
    expect(await page.locator('#event-rows tr').count()).toBe(await count('failed'));
    await shot('inspector-events-failed');

    // The hung event's whole timeline: source → supervisor → slot-N → supervisor → source, the slot's diagram lit at each step.
    await rowOf(5).click();
    await page.locator('#detail-state:text-is("dead-lettered")').waitFor();
    const steps = page.locator('#sequence .seq-step');
    expect(
      await steps.evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-step'), g.getAttribute('data-from'), g.getAttribute('data-to')])),
    ).toEqual([
      ['received', 'source', 'supervisor'],
      ['queued', 'supervisor', 'supervisor'],
      ['started', 'supervisor', expect.stringMatching(/^slot-\d+$/)],
      ['timedOut', 'supervisor', expect.stringMatching(/^slot-\d+$/)],
      ['abandoned', 'supervisor', expect.stringMatching(/^slot-\d+$/)],
      ['dead-lettered', 'supervisor', 'supervisor'],
      ['settled', 'supervisor', 'source'],
    ]);
    expect(await page.locator('#detail-error').textContent()).toMatch(/^ERR_WORKER_TIMEOUT: /);
    const lit: Array<string | null> = [];
    for (let i = 0; i < 7; i++) {
      await steps.nth(i).click();
      await page.locator(`#sequence .seq-step.current[data-index="${i}"]`).waitFor();
      lit.push(await page.locator('#step-diagram g.lit').evaluateAll((gs) => (gs[0] ? gs[0].id : null)));
    }
    expect(lit).toEqual([null, null, 'state:busy', 'state:busy', 'state:abandoned', 'state:abandoned', 'state:abandoned']);
    await steps.nth(4).click();
    await shot('inspector-timeline');

    // The Actors tab: the abandoned slots say how long their runs have hung, the supervisor counts the expired, /readyz is not ready.
    await page.locator('nav.tabs button[data-tab="actors"]').click();
    await page.locator('#ready[data-ready="no"]').waitFor();
    expect(await page.locator('#readiness').innerText()).toMatch(
      /not ready \(503\)\n.*worker slot\(s\) are abandoned, more than half of 3/,
    );
    const abandoned = page.locator('[data-machine="worker-slot"][data-state="abandoned"]');
    expect(await abandoned.count()).toBeGreaterThanOrEqual(3);
    const hung = await abandoned.locator('.kv tr:has(th:text-is("hung")) td').all();
    expect(hung).toHaveLength(await abandoned.count());
    for (const time of hung) expect(await seconds(time)).toBeGreaterThanOrEqual(1.5);
    const supervisorExpired = page.locator('[data-actor="supervisor"] .kv tr:has(th:text-is("expired")) td');
    expect(Number(await supervisorExpired.textContent())).toBe(expiredCount);
    await shot('inspector-readyz');

    // A dead-lettered STOMP message retried from the page: republished, it runs again and completes.
    await page.locator('nav.tabs button[data-tab="events"]').click();
    await show('dead-lettered');
    await rowOf(1).click();
    await page.locator('#detail-state:text-is("dead-lettered")').waitFor();
    const failedId = (await page.locator('#detail-id').textContent())!;
    await page.locator('#event-retry').click();
    await page.locator('#event-action[data-status="202"]').waitFor();
    expect(await page.locator('#event-action').textContent()).toMatch(/^Retried \(republished\) by no token \(/);
    await page.locator('#sequence .seq-step[data-step="retryRequested"][data-from="inspector"]').waitFor();
    // Retried once: no second Retry to click.
    expect(await page.locator('#event-retry').count()).toBe(0);
    await show('completed');
    const again = page.locator('#event-rows tr', { hasText: `retry of ${failedId}` });
    await again.waitFor();
    await again.click();
    await page.locator('#detail-state:text-is("completed")').waitFor();
    expect(await steps.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-step')))).toEqual([
      'received',
      'queued',
      'started',
      'completed',
      'settled',
    ]);
    expect(await page.locator('#sequence .seq-step[data-step="settled"]').getAttribute('aria-label')).toBe('settled: settled: ack');
    await shot('inspector-retried');
    expect((await queueCounts(`${queue}.dlq`)).messages).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
