import { afterAll, afterEach, describe, expect, it, onTestFinished } from 'vitest';
import type { StompEvent } from '../../actors/sources/stomp.js';
import { defineWorker } from '../../actors/workers/worker.js';
import type { JournalDetail, JournalSummary } from '../../src/inspector/journal.js';
import type { RetryView } from '../../src/inspector/journal-api.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { sources } from '../../src/runtime/sources.js';
import { deleteQueues, produce, queueCounts, stompUrl, take, uniqueQueue } from '../helpers/broker.js';
import { tempDir } from '../helpers/cli.js';
import { until } from '../helpers/wait.js';

// Talks to the machine's RabbitMQ on 127.0.0.1:61613.

const created: string[] = [];
afterAll(() => deleteQueues(...created));
let runtime: Runtime | undefined;
let tmp: Awaited<ReturnType<typeof tempDir>> | undefined;
afterEach(async () => {
  if (runtime && runtime.snapshot().state !== 'stopped') await runtime.stop();
  runtime = undefined;
  await tmp?.cleanup();
});

const getJson = async <T>(url: URL, init?: RequestInit): Promise<{ status: number; body: T }> => {
  const response = await fetch(url, init);
  return { status: response.status, body: (await response.json()) as T };
};

/** The summaries in the `journal` events of an SSE stream's text so far. */
const journalUpdates = (text: string): JournalSummary[] =>
  [...text.matchAll(/^event: journal\ndata: (.*)$/gm)].flatMap((match) => JSON.parse(match[1]!) as JournalSummary[]);

/**
 * Starts a runtime on `queue` with `worker` (two slots, retries 0: a failure is dead-lettered at once) and the
 * inspector on a free port; resolves with the inspector's URL.
 */
async function startInspected(
  queue: string,
  worker: ReturnType<typeof defineWorker>,
  payloadClass: 'json' | 'xml',
  name: string,
): Promise<string> {
  runtime = createRuntime({
    worker,
    source: sources.stomp({ stompUrl: stompUrl(`/queue/${queue}`), payloadClass }),
    workers: 2,
    logger: false,
    app: { name, dir: tmp!.dir },
  });
  const { url } = await runtime.inspect({ port: 0 });
  await runtime.start();
  return url;
}

describe('the event journal with a STOMP source', () => {
  it('retries a dead-lettered message through the API once, a second retry refused: republished to its queue, it runs again and completes', async () => {
    const queue = uniqueQueue('journal-retry');
    created.push(queue, `${queue}.dlq`);
    tmp = await tempDir();
    // The worker fails an asset the first time it sees it (retries = 0: dead-lettered at once).
    const seen = new Set<string>();
    const worker = defineWorker({
      start: (event: StompEvent<{ asset: string }>) => {
        if (seen.has(event.body.asset)) return 'done';
        seen.add(event.body.asset);
        throw Object.assign(new Error(`asset ${event.body.asset} is not there yet`), { code: 'ERR_NOT_YET' });
      },
    });
    const url = await startInspected(queue, worker, 'json', 'journal-stomp');
    // The live stream: journal changes arrive as `event: journal` with the changed events' summaries.
    const stream = new AbortController();
    onTestFinished(() => stream.abort());
    let live = '';
    void fetch(new URL('/events', url), { signal: stream.signal })
      .then(async (response) => {
        const reader = response.body!.getReader();
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) live += Buffer.from(chunk.value).toString('utf8');
      })
      .catch(() => {});
    await produce(`/queue/${queue}`, [
      { body: JSON.stringify({ asset: 'a1' }), headers: { 'x-id': 'm1', 'content-type': 'application/json' } },
    ]);

    let failed: JournalSummary | undefined;
    await until(
      async () => {
        failed = (await getJson<{ events: JournalSummary[] }>(new URL('/api/events?state=dead-lettered', url))).body.events[0];
        return failed !== undefined && (await queueCounts(`${queue}.dlq`)).messages === 1;
      },
      { what: 'the message to be dead-lettered' },
    );
    const original = (await getJson<JournalDetail>(new URL(`/api/events/${encodeURIComponent(failed!.id)}`, url))).body;
    expect(original).toMatchObject({ source: 'stomp', state: 'dead-lettered', error: { code: 'ERR_NOT_YET' } });
    expect(original.steps.at(-1)).toMatchObject({ step: 'settled', how: 'dead-letter' });

    // A double click: two retries at once. One republishes the message, the other is refused.
    const retry = () =>
      getJson<{ how?: string; by?: string; code?: string; error?: string }>(
        new URL(`/api/events/${encodeURIComponent(failed!.id)}/retry`, url),
        {
          method: 'POST',
        },
      );
    const clicks = await Promise.all([retry(), retry()]);
    expect(clicks.map((click) => click.status).sort()).toEqual([202, 409]);
    expect(clicks.find((click) => click.status === 202)!.body).toMatchObject({ how: 'republished' });
    expect(clicks.find((click) => click.status === 409)!.body).toEqual({
      code: 'ERR_INVALID_STATE',
      // Refused while the first was publishing, or after it.
      error: expect.stringMatching(new RegExp(`^event ${failed!.id} (is being retried already|was already retried by no token)`)),
    });

    let again: JournalSummary | undefined;
    await until(
      async () => {
        const completed = (await getJson<{ events: JournalSummary[] }>(new URL('/api/events?state=completed', url))).body.events;
        again = completed.find((e) => e.retryOf === failed!.id);
        return again !== undefined;
      },
      { what: 'the republished message to complete' },
    );
    await until(() => journalUpdates(live).some((e) => e.id === again!.id && e.state === 'completed'), { what: 'the SSE journal event' });
    expect(journalUpdates(live).some((e) => e.id === failed!.id && e.state === 'dead-lettered')).toBe(true);
    const detail = (await getJson<JournalDetail>(new URL(`/api/events/${encodeURIComponent(again!.id)}`, url))).body;
    expect(JSON.parse(detail.payload)).toMatchObject({ body: { asset: 'a1' }, headers: { 'x-id': 'm1', 'x-flowd-retry-of': failed!.id } });
    expect(detail.steps.map((s) => s.step)).toEqual(['received', 'queued', 'started', 'completed', 'settled']);
    expect(detail.steps.at(-1)).toMatchObject({ how: 'ack' });
    expect((await getJson<JournalDetail>(new URL(`/api/events/${encodeURIComponent(failed!.id)}`, url))).body.steps.at(-1)).toMatchObject({
      step: 'retryRequested',
    });
    // Retried once more, it is refused, naming the event its retry became.
    expect(await retry()).toEqual({
      status: 409,
      body: {
        code: 'ERR_INVALID_STATE',
        error: `event ${failed!.id} was already retried by ${clicks.find((click) => click.status === 202)!.body.by} (republished as event ${again!.id}, now completed); a second retry would offer it twice: retry event ${again!.id} if it fails`,
      },
    });
    // Acknowledged: nothing is left in the queue; the dead letter stays as the record of the failure.
    await until(async () => (await queueCounts(queue)).messages === 0, { what: 'the queue to be empty' });
    // Republished once: one event is its retry.
    const all = (await getJson<{ events: JournalSummary[] }>(new URL('/api/events', url))).body.events;
    expect(all.filter((e) => e.retryOf === failed!.id).map((e) => e.id)).toEqual([again!.id]);
    const [dead] = await take(`/queue/${queue}.dlq`, 1);
    expect(dead!.headers).toMatchObject({ 'x-flowd-error-code': 'ERR_NOT_YET', 'x-id': 'm1' });
  });

  it('retries a dead-lettered XML message (payload class = xml): republished as it came, byte for byte, with its headers; retried again, it completes', async () => {
    const queue = uniqueQueue('journal-retry-xml');
    created.push(queue, `${queue}.dlq`);
    tmp = await tempDir();
    // What a re-serialisation would change: the declaration, a comment, the quotes and spacing, an entity, an empty element.
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n<!-- from the MAM -->\n<asset id="a1"  kind='clip'>caf\u00e9 &amp; co<empty/></asset>\n`;
    // The worker fails the asset its first two times: the retry is dead-lettered too, and the retry of the retry completes.
    const runs = new Map<string, number>();
    const worker = defineWorker({
      start: (event: StompEvent<{ asset: { '@_id': string } }>) => {
        const id = event.body.asset['@_id'];
        const n = (runs.get(id) ?? 0) + 1;
        runs.set(id, n);
        if (n < 3) throw Object.assign(new Error(`asset ${id} is not there yet (run ${n})`), { code: 'ERR_NOT_YET' });
        return 'done';
      },
    });
    const url = await startInspected(queue, worker, 'xml', 'journal-stomp-xml');
    await produce(`/queue/${queue}`, [{ body: text, headers: { 'x-id': 'm1', 'content-type': 'application/xml' } }]);

    const detailOf = async (id: string) =>
      (await getJson<JournalDetail & RetryView>(new URL(`/api/events/${encodeURIComponent(id)}`, url))).body;
    const retry = (id: string) =>
      getJson<{ how?: string; code?: string; error?: string }>(new URL(`/api/events/${encodeURIComponent(id)}/retry`, url), {
        method: 'POST',
      });
    /** The event that retried `id`, once it is in `state`. */
    const retriedAs = async (id: string, state: string) => {
      let found: JournalSummary | undefined;
      await until(
        async () => {
          const events = (await getJson<{ events: JournalSummary[] }>(new URL(`/api/events?state=${state}`, url))).body.events;
          found = events.find((e) => e.retryOf === id);
          return found !== undefined;
        },
        { what: `the retry of ${id} to be ${state}` },
      );
      return found!;
    };

    let failed: JournalSummary | undefined;
    await until(
      async () => {
        failed = (await getJson<{ events: JournalSummary[] }>(new URL('/api/events?state=dead-lettered', url))).body.events[0];
        return failed !== undefined && (await queueCounts(`${queue}.dlq`)).messages === 1;
      },
      { what: 'the message to be dead-lettered' },
    );
    // Said up front: it can be retried.
    expect(await detailOf(failed!.id)).toMatchObject({ state: 'dead-lettered', retryable: true, retryRefusal: null });
    expect(await retry(failed!.id)).toMatchObject({ status: 202, body: { how: 'republished' } });

    // Republished, it ran and failed again: its dead letter is the message as it came.
    const again = await retriedAs(failed!.id, 'dead-lettered');
    await until(async () => (await queueCounts(`${queue}.dlq`)).messages === 2, { what: 'the retry to be dead-lettered' });
    const detail = await detailOf(again.id);
    expect(JSON.parse(detail.payload)).toMatchObject({
      body: { asset: { '@_id': 'a1', '@_kind': 'clip' } },
      headers: { 'x-id': 'm1', 'content-type': 'application/xml', 'x-flowd-retry-of': failed!.id },
    });
    expect(detail).toMatchObject({ error: { code: 'ERR_NOT_YET', message: 'asset a1 is not there yet (run 2)' }, retryable: true });
    const dead = await take(`/queue/${queue}.dlq`, 2);
    for (const message of dead) expect(Buffer.from(message.binaryBody).equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(dead[1]!.headers).toMatchObject({ 'x-id': 'm1', 'content-type': 'application/xml', 'x-flowd-retry-of': failed!.id });

    // The retry is an event of its own: retried in its turn, it completes and is acknowledged.
    expect(await retry(again.id)).toMatchObject({ status: 202, body: { how: 'republished' } });
    const third = await retriedAs(again.id, 'completed');
    expect((await detailOf(third.id)).steps.at(-1)).toMatchObject({ step: 'settled', how: 'ack' });
    expect(runs.get('a1')).toBe(3);
    await until(async () => (await queueCounts(queue)).messages === 0, { what: 'the queue to be empty' });
  });
});
