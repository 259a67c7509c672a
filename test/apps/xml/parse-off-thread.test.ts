import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compileCustomMapping } from '../../../src/apps/xml/custom-mapping.js';
import { DEFAULT_XML_MAX_BYTES } from '../../../src/apps/xml/document.js';
import { readXmlOffThread, xmlHeapLimitMb } from '../../../src/apps/xml/parse-off-thread.js';
import type { RecordData } from '../../../src/apps/xml/record-data.js';
import { runXmlJob } from '../../../src/apps/xml/xml-job.js';
import { FlowdError } from '../../../src/kernel/errors.js';

const defaultFixture = new URL('../../fixtures/xml/default-record.xml', import.meta.url);
const customFixture = new URL('../../fixtures/xml/custom-item.xml', import.meta.url);

/** A default-format record of `count` sibling <field> elements. */
function siblings(count: number): string {
  const parts = ['<record id="big">\n'];
  for (let i = 0; i < count; i++) parts.push(`<field name="f${i}">value ${i} &amp; &#x263A;</field>\n`);
  parts.push('</record>\n');
  return parts.join('');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

describe('readXmlOffThread', () => {
  afterEach(() => vi.restoreAllMocks());

  it('reads the default format in a thread exactly as in the calling thread', async () => {
    const text = await readFile(defaultFixture, 'utf8');
    const inline = runXmlJob(text, 'in/a.xml', { kind: 'default' });
    const spawn = vi.spyOn(Worker.prototype, 'once');
    expect(await readXmlOffThread(text, 'in/a.xml', { kind: 'default' }, { inlineBytes: 0 })).toEqual(inline);
    expect(spawn).toHaveBeenCalled(); // it did go through a thread
    expect(await readXmlOffThread(text, 'in/a.xml', { kind: 'default' })).toEqual(inline); // small: in this thread
  });

  it('reads a custom mapping (namespaces, id, media, typed fields) in a thread exactly as in the calling thread', async () => {
    const sections = {
      Xml: { format: 'custom', id: '/i:item/@ref', media: '//media:content/@url' },
      Namespaces: { i: 'http://example.com/ns/item', dc: 'http://purl.org/dc/elements/1.1/', media: 'http://search.yahoo.com/mrss/' },
      'Field:title': { xpath: '/i:item/dc:title' },
      'Field:episode': { xpath: '/i:item/i:episode', type: 'integer' },
      'Field:count': { xpath: 'count(//media:content)', type: 'integer' },
      'Field:missing': { xpath: '/i:item/i:nothing' },
      Transform: { label: 'upper(title)' },
      Mapping: {
        'asset.title': 'title',
        'asset.label': 'label',
        'asset.episode': 'episode',
        'asset.count': 'count',
        'asset.missing': 'missing',
      },
    };
    const text = await readFile(customFixture, 'utf8');
    const inline = await compileCustomMapping(sections, 'import.ini', undefined, { inlineBytes: Infinity }).read(text, 'in/item.xml');
    const threaded = await compileCustomMapping(sections, 'import.ini').read(text, 'in/item.xml'); // a custom mapping always uses a thread
    expect(threaded).toEqual(inline);
    expect(threaded).toEqual({
      id: 'NEWS-17',
      fields: { 'asset.title': '  Evening news ', 'asset.label': '  EVENING NEWS ', 'asset.episode': 17, 'asset.count': 3 },
      media: ['clip.mxf', 'clip.wav'],
    });
  });

  it('passes the parser errors of the thread on unchanged: ERR_XML naming the file and line', async () => {
    for (const text of [
      '<record>\n<field name="a">x</record>',
      '<record>\n<field name="a">&#0;</field></record>',
      '<!DOCTYPE x><record/>',
    ]) {
      const inline = await rejection(readXmlOffThread(text, 'in/bad.xml', { kind: 'default' }));
      const threaded = await rejection(readXmlOffThread(text, 'in/bad.xml', { kind: 'default' }, { inlineBytes: 0 }));
      expect(threaded).toBeInstanceOf(FlowdError);
      expect((threaded as FlowdError).code).toBe('ERR_XML');
      expect((threaded as FlowdError).message).toBe((inline as FlowdError).message);
      expect((threaded as FlowdError).message).toMatch(/^in\/bad\.xml: /);
    }
  });

  it('keeps the event loop turning while a large document is parsed; parsed inline, the same document blocks it', async () => {
    const text = siblings(30_000); // ~1.4 MB; parsed in the calling thread it blocks for a second or more
    /** How many turns the event loop made while `read` ran (no clock: turns, so a loaded machine cannot fail it). */
    const turnsDuring = async <T>(read: () => Promise<T>): Promise<[number, T]> => {
      let turns = 0;
      let running = true;
      const spin = (): void => {
        if (!running) return;
        turns++;
        setImmediate(spin);
      };
      setImmediate(spin);
      const turnsBefore = turns; // 0: the first turn comes only after this synchronous part
      const result = await read();
      running = false;
      return [turns - turnsBefore, result];
    };
    const [threaded, record] = await turnsDuring(() => readXmlOffThread(text, 'in/big.xml', { kind: 'default' }));
    // A thread parses while this loop turns: many turns, not the handful of an inline parse's awaits.
    expect(threaded).toBeGreaterThan(20);
    expect(Object.keys(record.fields)).toHaveLength(30_000);
    expect(record).toEqual(runXmlJob(text, 'in/big.xml', { kind: 'default' }));
    // The control: inline, the parse holds the loop, which turns not at all before it is done.
    const [inline] = await turnsDuring(() => readXmlOffThread(text, 'in/big.xml', { kind: 'default' }, { inlineBytes: Infinity }));
    expect(inline).toBe(0);
  }, 60_000);

  it('reads a 10 MB default-format record of 280,000 sibling fields into a record with all of them, within the heap cap of 20 times the file', async () => {
    // An xmldom tree of it needed some 50 times the file: the thread was stopped at its cap and the file refused.
    const limit = DEFAULT_XML_MAX_BYTES;
    const parts = ['<record id="big">\n'];
    let size = parts[0]!.length + '</record>\n'.length;
    let count = 0;
    for (;;) {
      const line = `<field name="f${count}">v${count}</field>\n`;
      if (size + line.length > limit) break;
      parts.push(line);
      size += line.length;
      count++;
    }
    parts.push('</record>\n');
    const text = parts.join('');
    expect(Buffer.byteLength(text)).toBeGreaterThan(limit - 64);
    expect(count).toBeGreaterThan(280_000);
    const record = await readXmlOffThread(text, 'in/big.xml', { kind: 'default' });
    expect(record.id).toBe('big');
    expect(Object.keys(record.fields)).toHaveLength(count);
    expect(record.fields['f0']).toBe('v0');
    expect(record.fields[`f${count - 1}`]).toBe(`v${count - 1}`);
  }, 60_000);

  it('terminates the thread when the signal aborts, and rejects with its reason', async () => {
    // 4,000 siblings under a positional predicate: xpath takes tens of seconds over them.
    const text = `<a>${'<b>x</b>'.repeat(4000)}</a>`;
    // The thread, caught as readXmlOffThread subscribes to it.
    let worker: Worker | undefined;
    const onceOriginal = Worker.prototype.once;
    vi.spyOn(Worker.prototype, 'once').mockImplementation(function (
      this: Worker,
      event: string | symbol,
      listener: (...args: unknown[]) => void,
    ) {
      worker ??= this;
      return onceOriginal.call(this, event, listener);
    });
    const terminate = vi.spyOn(Worker.prototype, 'terminate');
    const controller = new AbortController();
    const reason = new FlowdError('ERR_WORKER_TIMEOUT', 'execution timeout');
    const job = { kind: 'xpath' as const, namespaces: {}, queries: [{ source: '/a/b[3999]', label: '[Field:x] "xpath"' }] };
    const read = readXmlOffThread(text, 'in/slow.xml', job, { inlineBytes: 0, signal: controller.signal });
    expect(worker).toBeDefined();
    const exited = once(worker!, 'exit');
    let answered = false;
    worker!.on('message', () => (answered = true));
    await once(worker!, 'online');
    controller.abort(reason);
    expect(await rejection(read)).toBe(reason);
    expect(terminate).toHaveBeenCalledTimes(1);
    await exited; // the thread is gone
    expect(answered).toBe(false); // it was stopped mid-parse, not after it
  }, 30_000);

  it('refuses, with ERR_XML naming the file, a document whose tree needs more memory than its cap', async () => {
    // 3 MB of empty siblings: xmldom's tree of them (a custom mapping's XPath needs one) would take some 700 MB; the cap is 64 MiB.
    const text = `<a>${'<b/>'.repeat(750_000)}</a>`;
    const job = { kind: 'xpath' as const, namespaces: {}, queries: [{ source: 'count(/a/b)', label: '[Field:n] "xpath"' }] };
    const error = await rejection(readXmlOffThread(text, 'in/huge.xml', job));
    expect(error).toBeInstanceOf(FlowdError);
    expect((error as FlowdError).code).toBe('ERR_XML');
    expect((error as FlowdError).message).toMatch(/^in\/huge\.xml: the document's tree needs more memory than the parse limit of 64 MiB/);
  }, 60_000);

  it('caps the thread heap at 20 times the text, 64 MiB at least', () => {
    expect(xmlHeapLimitMb(1000)).toBe(64);
    expect(xmlHeapLimitMb(10 * 1024 * 1024)).toBe(200);
  });
});
