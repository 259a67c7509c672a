import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Feed } from '../../actors/sources/driver.js';
import { stdinDriver } from '../../actors/sources/stdin.js';
import { flush as turn } from '../helpers/wait.js';

type DeliverOptions = Parameters<Feed['deliver']>[1];
type Call =
  { kind: 'deliver'; payload: unknown; options: DeliverOptions } | { kind: 'end' } | { kind: 'lost'; error: Parameters<Feed['lost']>[0] };

/**
 * A Feed that records every call in order and lets a test await the
 * n-th delivery, the end or a loss.
 */
function recordingFeed() {
  const calls: Call[] = [];
  const waiters: Array<{ done: () => boolean; resolve: () => void }> = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      if (waiter.done()) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const until = (done: () => boolean) => new Promise<void>((resolve) => (done() ? resolve() : waiters.push({ done, resolve })));
  const deliveries = () => calls.filter((call): call is Extract<Call, { kind: 'deliver' }> => call.kind === 'deliver');
  const feed: Feed = {
    deliver(payload, options) {
      calls.push({ kind: 'deliver', payload, options });
      check();
    },
    end() {
      calls.push({ kind: 'end' });
      check();
    },
    lost(error) {
      calls.push({ kind: 'lost', error });
      check();
    },
    revoke() {
      throw new Error('stdin never revokes');
    },
  };
  return {
    feed,
    calls,
    deliveries,
    payloads: () => deliveries().map((call) => call.payload),
    ids: () => deliveries().map((call) => call.options?.id),
    deliveryCount: (n: number) => until(() => deliveries().length >= n),
    ended: () => until(() => calls.some((call) => call.kind === 'end' || call.kind === 'lost')),
  };
}

describe('stdinDriver', () => {
  it('is a stdin source that can pause and resume', () => {
    const driver = stdinDriver({ mode: 'lines', payloadClass: 'text' }, Readable.from([]));
    expect(driver.type).toBe('stdin');
    expect(typeof driver.pause).toBe('function');
    expect(typeof driver.resume).toBe('function');
  });

  describe('in lines mode', () => {
    it('delivers each line as text with id line-N and meta { line: N }', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, Readable.from(['alpha\nbe', 'ta\ngamma\n'])).start(rec.feed);
      await rec.ended();
      expect(rec.deliveries().map(({ payload, options }) => [payload, options])).toEqual([
        ['alpha', { id: 'line-1', meta: { line: 1 } }],
        ['beta', { id: 'line-2', meta: { line: 2 } }],
        ['gamma', { id: 'line-3', meta: { line: 3 } }],
      ]);
    });

    it('skips blank lines but keeps counting them in the line numbers', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, Readable.from(['one\n\n   \n\t\nfive\n'])).start(rec.feed);
      await rec.ended();
      expect(rec.payloads()).toEqual(['one', 'five']);
      expect(rec.ids()).toEqual(['line-1', 'line-5']);
      expect(rec.deliveries()[1]!.options?.meta).toEqual({ line: 5 });
    });

    it('delivers a last line that has no newline', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, Readable.from(['first\nlast'])).start(rec.feed);
      await rec.ended();
      expect(rec.payloads()).toEqual(['first', 'last']);
    });

    it('treats CRLF as one line break', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, Readable.from(['a\r\nb\r', '\nc\r\n'])).start(rec.feed);
      await rec.ended();
      expect(rec.payloads()).toEqual(['a', 'b', 'c']);
      expect(rec.ids()).toEqual(['line-1', 'line-2', 'line-3']);
    });

    it('keeps the spaces around a text line', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, Readable.from(['  indented \n'])).start(rec.feed);
      await rec.ended();
      expect(rec.payloads()).toEqual(['  indented ']);
    });

    it('parses each line as JSON with payload class json', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'json' }, Readable.from(['{"a":1}\n[1,2]\n"s"\n42\nnull\n'])).start(rec.feed);
      await rec.ended();
      expect(rec.payloads()).toEqual([{ a: 1 }, [1, 2], 's', 42, null]);
      expect(rec.deliveries().every(({ options }) => options?.error === undefined)).toBe(true);
    });

    it('delivers a line that is not JSON with an error naming the line number, and goes on', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'json' }, Readable.from(['{"ok":1}\n\n{oops\n{"ok":2}\n'])).start(rec.feed);
      await rec.ended();
      const [first, bad, last] = rec.deliveries();
      expect(first).toEqual({ kind: 'deliver', payload: { ok: 1 }, options: { id: 'line-1', meta: { line: 1 } } });
      expect(bad!.payload).toBe('{oops');
      expect(bad!.options).toMatchObject({ id: 'line-3', meta: { line: 3 }, error: { code: 'ERR_PAYLOAD' } });
      expect(bad!.options?.error?.message).toMatch(/^line 3 is not JSON: /);
      expect(last).toEqual({ kind: 'deliver', payload: { ok: 2 }, options: { id: 'line-4', meta: { line: 4 } } });
      expect(rec.calls.at(-1)).toEqual({ kind: 'end' });
    });

    it('calls end() once, after the last line', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, Readable.from(['a\nb\nc\n'])).start(rec.feed);
      await rec.ended();
      await turn();
      expect(rec.calls.map((call) => call.kind)).toEqual(['deliver', 'deliver', 'deliver', 'end']);
    });

    it('calls end() without deliveries for empty input', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'json' }, Readable.from([])).start(rec.feed);
      await rec.ended();
      expect(rec.calls).toEqual([{ kind: 'end' }]);
    });

    it('delivers lines as they are written to a live stream', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, input).start(rec.feed);
      input.write('one\n');
      await rec.deliveryCount(1);
      expect(rec.payloads()).toEqual(['one']);
      input.write('two\nthr');
      await rec.deliveryCount(2);
      input.end('ee\n');
      await rec.ended();
      expect(rec.payloads()).toEqual(['one', 'two', 'three']);
      expect(rec.calls.at(-1)).toEqual({ kind: 'end' });
    });

    it('delivers nothing while paused and the held lines after resume()', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      const driver = stdinDriver({ mode: 'lines', payloadClass: 'text' }, input);
      driver.start(rec.feed);
      input.write('before\n');
      await rec.deliveryCount(1);

      driver.pause!();
      const consumed = new Promise<void>((resolve) => input.once('data', () => resolve()));
      input.write('during-1\nduring-2\n');
      await consumed; // readline has read the chunk and emitted its lines
      await turn();
      await turn();
      expect(rec.payloads()).toEqual(['before']);

      driver.resume!();
      await rec.deliveryCount(3);
      expect(rec.payloads()).toEqual(['before', 'during-1', 'during-2']);
      expect(rec.ids()).toEqual(['line-1', 'line-2', 'line-3']);

      input.end('after\n');
      await rec.ended();
      expect(rec.payloads()).toEqual(['before', 'during-1', 'during-2', 'after']);
    });

    it('does not end the feed while paused, even when the input has ended', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      const driver = stdinDriver({ mode: 'lines', payloadClass: 'text' }, input);
      driver.start(rec.feed);
      driver.pause!();
      const finished = new Promise<void>((resolve) => input.once('end', () => resolve()));
      input.end('held\n');
      await finished;
      await turn();
      await turn();
      expect(rec.calls).toEqual([]);
      driver.resume!();
      await rec.ended();
      expect(rec.calls.map((call) => call.kind)).toEqual(['deliver', 'end']);
    });

    it('after stop() delivers no held line and never calls end()', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      const driver = stdinDriver({ mode: 'lines', payloadClass: 'text' }, input);
      driver.start(rec.feed);
      input.write('one\n');
      await rec.deliveryCount(1);
      driver.pause!();
      const consumed = new Promise<void>((resolve) => input.once('data', () => resolve()));
      input.write('two\n');
      await consumed;
      driver.stop!();
      driver.resume!();
      await turn();
      await turn();
      expect(rec.calls).toEqual([{ kind: 'deliver', payload: 'one', options: { id: 'line-1', meta: { line: 1 } } }]);
      expect(input.isPaused()).toBe(true);
    });

    it('reports a read error as a lost source', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      stdinDriver({ mode: 'lines', payloadClass: 'text' }, input).start(rec.feed);
      input.write('ok\n');
      await rec.deliveryCount(1);
      input.destroy(new Error('EIO: broken pipe'));
      await rec.ended();
      expect(rec.calls.at(-1)).toEqual({
        kind: 'lost',
        error: { code: 'ERR_SOURCE', message: 'standard input could not be read: EIO: broken pipe' },
      });
      expect(rec.calls.some((call) => call.kind === 'end')).toBe(false);
    });
  });

  describe('in once mode', () => {
    it('delivers all of the input as one text event with id stdin', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'once', payloadClass: 'text' }, Readable.from(['hello ', 'wor', 'ld\n', 'second line\n'])).start(rec.feed);
      await rec.ended();
      expect(rec.calls).toEqual([{ kind: 'deliver', payload: 'hello world\nsecond line\n', options: { id: 'stdin' } }, { kind: 'end' }]);
    });

    it('joins a multi-byte character split across chunks', async () => {
      const bytes = Buffer.from('blåbær', 'utf8');
      const rec = recordingFeed();
      stdinDriver(
        { mode: 'once', payloadClass: 'text' },
        Readable.from([bytes.subarray(0, 3), bytes.subarray(3, 6), bytes.subarray(6)]),
      ).start(rec.feed);
      await rec.ended();
      expect(rec.payloads()).toEqual(['blåbær']);
    });

    it('delivers an empty string for empty input in text mode', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'once', payloadClass: 'text' }, Readable.from([])).start(rec.feed);
      await rec.ended();
      expect(rec.calls).toEqual([{ kind: 'deliver', payload: '', options: { id: 'stdin' } }, { kind: 'end' }]);
    });

    it('parses the whole input as JSON with payload class json', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'once', payloadClass: 'json' }, Readable.from(['{\n  "items": [1,', ' 2]\n}\n'])).start(rec.feed);
      await rec.ended();
      expect(rec.calls).toEqual([{ kind: 'deliver', payload: { items: [1, 2] }, options: { id: 'stdin' } }, { kind: 'end' }]);
    });

    it('delivers input that is not JSON with an error, then ends', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'once', payloadClass: 'json' }, Readable.from(['{"a": 1,}'])).start(rec.feed);
      await rec.ended();
      const [delivery] = rec.deliveries();
      expect(delivery!.payload).toBe('{"a": 1,}');
      expect(delivery!.options).toMatchObject({ id: 'stdin', error: { code: 'ERR_PAYLOAD' } });
      expect(delivery!.options?.error?.message).toMatch(/^standard input is not JSON: /);
      expect(rec.calls.map((call) => call.kind)).toEqual(['deliver', 'end']);
    });

    it('treats empty input as bad JSON with payload class json', async () => {
      const rec = recordingFeed();
      stdinDriver({ mode: 'once', payloadClass: 'json' }, Readable.from([])).start(rec.feed);
      await rec.ended();
      expect(rec.deliveries()[0]!.options?.error?.code).toBe('ERR_PAYLOAD');
    });

    it('waits for the end of the input before delivering', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      stdinDriver({ mode: 'once', payloadClass: 'text' }, input).start(rec.feed);
      const consumed = new Promise<void>((resolve) => input.once('data', () => resolve()));
      input.write('part 1\n');
      await consumed;
      await turn();
      expect(rec.calls).toEqual([]);
      input.end('part 2\n');
      await rec.ended();
      expect(rec.payloads()).toEqual(['part 1\npart 2\n']);
    });

    it('delivers nothing and does not end after stop()', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      const driver = stdinDriver({ mode: 'once', payloadClass: 'text' }, input);
      driver.start(rec.feed);
      input.write('partial');
      driver.stop!();
      const finished = new Promise<void>((resolve) => input.once('end', () => resolve()));
      input.end(' rest');
      await finished;
      await turn();
      await turn();
      expect(rec.calls).toEqual([]);
    });

    it('reports a read error as a lost source', async () => {
      const input = new PassThrough();
      const rec = recordingFeed();
      stdinDriver({ mode: 'once', payloadClass: 'text' }, input).start(rec.feed);
      input.write('some');
      input.destroy(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }));
      await rec.ended();
      expect(rec.calls).toEqual([{ kind: 'lost', error: { code: 'ERR_SOURCE', message: 'standard input could not be read: EPIPE' } }]);
    });
  });
});
