import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, vi } from 'vitest';
import type { SourceDriver } from '../../actors/sources/driver.js';
import { cursorKey } from '../../actors/sources/event-log-cursors.js';
import { eventLogDriver } from '../../actors/sources/event-log.js';
import { filesDriver } from '../../actors/sources/files.js';
import { httpDriver } from '../../actors/sources/http.js';
import { intervalDriver } from '../../actors/sources/interval.js';
import { stdinDriver } from '../../actors/sources/stdin.js';
import { stompDriver } from '../../actors/sources/stomp.js';
import { createAppServices } from '../../src/runtime/app-services.js';
import { compileSource } from '../../src/runtime/sources.js';
import type { RawValue } from '../../src/kernel/section-reader.js';
import { sourceDriverContract, type RecordingFeed } from '../contracts/source-driver.js';
import { EVENT_LOG_OPTIONS, logEvent, memoryLog, stubHost } from '../helpers/event-log.js';
import { ScriptedBroker } from '../helpers/scripted-stomp.js';

const folders: string[] = [];
const folder = (prefix: string) => {
  const made = mkdtempSync(path.join(tmpdir(), `flowd-${prefix}-`));
  folders.push(made);
  return made;
};
afterEach(() => {
  for (const made of folders.splice(0)) rmSync(made, { recursive: true, force: true });
});

/** Whether `[Source]` with these keys compiles to a source that reconnects. */
const compilesWithReconnect = (type: string, keys: Record<string, RawValue>) =>
  compileSource(type, new Map(Object.entries(keys)), { section: 'Source' }, { dir: folder('app'), stateDir: folder('state') }).reconnect !==
  undefined;

/** Resolves `rejected` once the same event is delivered again after `before` deliveries (what a source does with an event not accepted). */
const offeredAgain = (feed: RecordingFeed, before: number, same: (payload: unknown) => boolean) =>
  vi
    .waitFor(() => expect(feed.deliveries.slice(before).some((delivered) => same(delivered.payload))).toBe(true), { timeout: 5000 })
    .then(() => 'rejected' as const);

/** Lets the I/O callbacks already due run (a stream's data, a socket's frames): one turn of the event loop, not a timed wait. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

sourceDriverContract({
  type: 'stomp',
  capabilities: { backpressure: 'holds', settles: true, reconnects: true },
  compiledReconnect: () => compilesWithReconnect('stomp', { 'stomp url': 'stomp://localhost/queue/in' }),
  async make() {
    const broker = new ScriptedBroker();
    const driver = stompDriver(
      {
        transport: 'tcp',
        host: 'localhost',
        port: 61613,
        webSocketUrl: undefined,
        destination: '/queue/in',
        login: undefined,
        passcode: undefined,
        displayUrl: 'stomp://localhost:61613/queue/in',
        virtualHost: undefined,
        heartbeatMs: 0,
        prefetch: 4,
        payloadClass: 'text',
        deadLetter: '/queue/in.dlq',
        connectTimeoutMs: 1000,
        receiptTimeoutMs: 1000,
      },
      { socket: broker.socket },
    );
    let sent = 0;
    const ackOf = (messageId: string) => (frame: { headers: Record<string, string> }) => frame.headers.id === messageId;
    return {
      driver,
      async offer() {
        broker.message(`body ${++sent}`);
        return 'taken';
      },
      async outcome(delivered) {
        const messageId = (delivered.payload as { messageId: string }).messageId;
        await vi.waitFor(() => expect([...broker.frames('ACK'), ...broker.frames('NACK')].some(ackOf(messageId))).toBe(true));
        return broker.frames('ACK').some(ackOf(messageId)) ? 'accepted' : 'rejected';
      },
      async breakConnection() {
        broker.drop();
      },
      async reachable() {
        const socket = broker.sockets.at(-1);
        return socket !== undefined && socket.readyState === 1;
      },
      async dispose() {},
    };
  },
});

sourceDriverContract({
  type: 'http',
  capabilities: { backpressure: 'refuses', settles: true, reconnects: false },
  compiledReconnect: () => compilesWithReconnect('http', { port: 0 }),
  async make() {
    const driver = httpDriver({
      interface: '127.0.0.1',
      port: 0,
      path: '/in',
      reply: 'async',
      maxBodySize: 1024,
      retryAfterS: 1,
      keepResults: 10,
      maxConnections: 100,
    });
    const url = () => driver.address()!;
    return {
      driver,
      async offer() {
        const response = await fetch(url(), { method: 'POST', body: 'hello' }).catch(() => undefined);
        if (!response) return 'refused';
        await response.arrayBuffer();
        return response.status === 202 ? 'taken' : 'refused';
      },
      async outcome(delivered) {
        const response = await fetch(new URL(`events/${delivered.id}`, url()));
        const { state } = (await response.json()) as { state: string };
        return state === 'completed' ? 'accepted' : 'rejected';
      },
      async reachable() {
        const address = driver.address();
        if (!address) return false;
        return fetch(new URL('events/none', address)).then(
          () => true,
          () => false,
        );
      },
      async dispose() {},
    };
  },
});

sourceDriverContract({
  type: 'files',
  capabilities: { backpressure: 'holds', settles: true, reconnects: false },
  compiledReconnect: () => compilesWithReconnect('files', { location: folder('watched') }),
  async make() {
    const location = folder('files');
    const done = folder('done');
    const driver = filesDriver({
      location,
      recursive: false,
      pattern: undefined,
      skipEmptyFiles: false,
      settleTimeMs: 20,
      rescanIntervalMs: 100,
      ignoreSuffixes: [],
      moveDoneTo: done,
      moveFailedTo: undefined,
      ledgerFile: path.join(folder('state'), 'files-ledger.json'),
    });
    let written = 0;
    return {
      driver,
      async offer() {
        await writeFile(path.join(location, `file-${++written}.txt`), `content ${written}`);
        return 'taken';
      },
      async outcome(delivered, feed) {
        const name = (delivered.payload as { relativePath: string }).relativePath;
        const before = feed.deliveries.length;
        // Accepted: moved to the done folder. Not accepted: the next scan finds it in place and offers it again.
        const answer = await Promise.race([
          vi.waitFor(async () => expect(await readdir(done)).toContain(name), { timeout: 5000 }).then(() => 'accepted' as const),
          offeredAgain(feed, before, (payload) => (payload as { relativePath: string }).relativePath === name),
        ]);
        return answer;
      },
      async dispose() {},
    };
  },
});

sourceDriverContract({
  type: 'event-log',
  capabilities: { backpressure: 'holds', settles: true, reconnects: true },
  compiledReconnect: () => compilesWithReconnect('event-log', { url: 'http://localhost/events?after={id}' }),
  async make() {
    const log = memoryLog([]);
    const services = createAppServices(
      { store: { backend: 'file', folder: folder('store') }, lock: { backend: 'local', leaseMs: 60_000 }, api: undefined },
      'events',
      pino({ level: 'silent' }),
    );
    const reading = eventLogDriver(
      { ...EVENT_LOG_OPTIONS, startFrom: 'earliest' },
      {
        log: pino({ level: 'silent' }),
        store: services.store,
        locks: services.locks,
        leaseMs: 60_000,
        plugins: stubHost({ p: { run: () => {} } }),
        reader: log,
      },
    );
    // Whether the driver is started, so an offer waits for the read that takes the event in hand.
    let started = false;
    const driver: SourceDriver = {
      ...reading,
      start(feed) {
        started = true;
        reading.start(feed);
      },
      stop() {
        started = false;
        reading.stop!();
      },
    };
    let id = 0;
    return {
      driver,
      async offer() {
        const reads = log.reads;
        log.events.push(logEvent(++id));
        if (started) await vi.waitFor(() => expect(log.reads).toBeGreaterThan(reads), { timeout: 5000 });
        return 'taken';
      },
      async outcome(delivered, feed) {
        const eventId = (delivered.payload as { id: number }).id;
        const before = feed.deliveries.length;
        // Accepted: the plugin's cursor moves past it. Not accepted: the same event comes again after a fetch interval.
        return Promise.race([
          vi
            .waitFor(async () => expect(await services.store.get(cursorKey('p'))).toMatchObject({ last: eventId }), { timeout: 5000 })
            .then(() => 'accepted' as const),
          offeredAgain(feed, before, (payload) => (payload as { id: number }).id === eventId),
        ]);
      },
      async breakConnection() {
        log.fail = Object.assign(new Error('the database went away'), { code: 'ERR_EVENT_LOG_UNAVAILABLE' });
      },
      restore() {
        log.fail = undefined;
      },
      async dispose() {
        await services.close();
      },
    };
  },
});

sourceDriverContract({
  type: 'stdin',
  capabilities: { backpressure: 'holds', settles: false, reconnects: false },
  compiledReconnect: () => compilesWithReconnect('stdin', { mode: 'lines' }),
  async make() {
    const input = new PassThrough();
    const driver = stdinDriver({ mode: 'lines', payloadClass: 'text' }, input);
    let line = 0;
    return {
      driver,
      async offer() {
        input.write(`line ${++line}\n`);
        await turn();
        return 'taken';
      },
      async dispose() {
        input.destroy();
      },
    };
  },
});

describe('on fake timers', () => {
  const intervalMs = 1000;
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());
  sourceDriverContract({
    type: 'interval',
    capabilities: { backpressure: 'skips', settles: false, reconnects: false },
    compiledReconnect: () => compilesWithReconnect('interval', { interval: '1s' }),
    async make() {
      const driver = intervalDriver({ intervalMs, window: undefined }, { now: () => Date.now() });
      return {
        driver,
        async offer() {
          vi.advanceTimersByTime(intervalMs);
          return 'taken';
        },
        async dispose() {},
      };
    },
  });
});
