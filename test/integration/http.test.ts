import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import pino from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { httpDriver, type HttpEvent, type HttpOptions } from '../../actors/sources/http.js';
import { defineWorker, type WorkerContext } from '../../actors/workers/worker.js';
import { ConfigError } from '../../src/kernel/errors.js';
import { createRuntime, type Runtime } from '../../src/runtime/runtime.js';
import { compileSource } from '../../src/runtime/sources.js';
import { flowd, tempDir } from '../helpers/cli.js';
import { recordingFeed } from '../contracts/source-driver.js';

let runtime: Runtime | undefined;
afterEach(async () => {
  if (runtime && runtime.snapshot().state !== 'stopped') await runtime.stop();
  runtime = undefined;
});

const options = (overrides: Partial<HttpOptions> = {}): HttpOptions => ({
  interface: '127.0.0.1',
  port: 0,
  path: '/api',
  reply: 'sync',
  maxBodySize: 1024,
  retryAfterS: 2,
  keepResults: 100,
  maxConnections: 100,
  ...overrides,
});

/** Serves `worker` on a free loopback port; returns its base URL. */
async function serve(
  start: (event: HttpEvent, ctx: WorkerContext) => unknown,
  overrides: Partial<HttpOptions> = {},
  flow: { workers?: number; queueSize?: number; highWatermark?: number; lowWatermark?: number; executionTimeout?: string } = {},
) {
  const driver = httpDriver(options(overrides));
  runtime = createRuntime({ worker: defineWorker({ start }), source: driver, ...flow });
  await runtime.start();
  await vi.waitFor(() => expect(driver.address()).toBeDefined());
  return driver.address()!.replace(/\/$/, '');
}

const json = async (res: Awaited<ReturnType<typeof request>>) => ({
  status: res.statusCode,
  headers: res.headers,
  body: (await res.body.json()) as Record<string, unknown>,
});

describe('http source, reply = sync', () => {
  it("turns a request into an event and the worker's result into the response", async () => {
    const base = await serve((event) => ({ method: event.method, path: event.path, query: event.query, body: event.body }));
    const res = await json(
      await request(`${base}/orders/7?tag=a&tag=b`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":2}' }),
    );
    expect(res).toMatchObject({ status: 200, body: { method: 'POST', path: '/orders/7', query: { tag: ['a', 'b'] }, body: { qty: 2 } } });
  });

  it('answers a string as text and { status, headers, body } as given', async () => {
    const base = await serve((event) =>
      event.path === '/text' ? 'plain words' : { status: 201, headers: { location: '/api/x/1' }, body: { id: 1 } },
    );
    const text = await request(`${base}/text`);
    expect([text.statusCode, text.headers['content-type'], await text.body.text()]).toEqual([
      200,
      'text/plain; charset=utf-8',
      'plain words',
    ]);
    const made = await request(`${base}/x`, { method: 'POST' });
    expect([made.statusCode, made.headers.location, await made.body.json()]).toEqual([201, '/api/x/1', { id: 1 }]);
  });

  it('answers 500 with the error code and message when the worker fails, and 504 on the execution timeout', async () => {
    const base = await serve(
      (event, ctx) => {
        if (event.path === '/slow')
          return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
        throw Object.assign(new Error('out of stock'), { code: 'ERR_STOCK' });
      },
      {},
      { executionTimeout: '200ms' },
    );
    expect(await json(await request(`${base}/buy`))).toMatchObject({
      status: 500,
      body: { error: { code: 'ERR_STOCK', message: 'out of stock' } },
    });
    expect(await json(await request(`${base}/slow`))).toMatchObject({ status: 504, body: { error: { code: 'ERR_WORKER_TIMEOUT' } } });
  });

  it('answers 500 ERR_RESPONSE for a result that cannot be a response (a header with CR LF from the query), logs it with the event id, and serves every other request', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
    // As the runtime makes it from [Source]: the driver logs on the app's logger.
    const driver = httpDriver(options(), logger);
    runtime = createRuntime({
      worker: defineWorker({ start: (event: HttpEvent) => ({ status: 302, headers: { location: event.query.next } }) }),
      source: driver,
      logger,
    });
    await runtime.start();
    await vi.waitFor(() => expect(driver.address()).toBeDefined());
    const base = driver.address()!.replace(/\/$/, '');
    const split = await request(`${base}/go?next=%2Fx%0D%0ASet-Cookie:%20a=1`);
    expect(split.statusCode).toBe(500);
    expect(split.headers['set-cookie']).toBeUndefined();
    expect(((await split.body.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'ERR_RESPONSE',
      message: expect.stringMatching(/^the worker's result cannot be sent as the response: header "location" cannot be sent/),
    });
    const fine = await request(`${base}/go?next=%2Fhome`);
    expect([fine.statusCode, fine.headers.location]).toEqual([302, '/home']);
    await fine.body.dump();
    expect(runtime.snapshot().source.state).toBe('running');
    expect(warnings).toContainEqual(
      expect.objectContaining({ event: expect.any(String), error: expect.objectContaining({ code: 'ERR_RESPONSE' }) }),
    );
  });

  it('answers every request whatever its worker returns, and stays up (property)', async () => {
    const driver = httpDriver(options());
    const feed = recordingFeed();
    await driver.connect!();
    driver.start(feed.feed);
    const base = driver.address()!.replace(/\/$/, '');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const results = fc.oneof(
      fc.anything({ withBigInt: true, withDate: true, withMap: true, withTypedArray: true }),
      fc.constantFrom(cyclic, 10n, () => 1),
      fc.record({
        status: fc.oneof(fc.integer({ min: -5, max: 2000 }), fc.double()),
        headers: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.anything())),
        body: fc.anything({ withBigInt: true }),
      }),
    );
    try {
      await fc.assert(
        fc.asyncProperty(results, async (result) => {
          const before = feed.deliveries.length;
          const answer = request(`${base}/p`);
          const delivered = (await feed.delivered(before + 1))[before]!;
          driver.settle!({ id: delivered.id, outcome: 'completed', ack: true, attempts: 1, deadLetter: false, result });
          const res = await answer;
          await res.body.dump();
          expect(res.statusCode).toBeGreaterThanOrEqual(100);
          expect(res.statusCode).toBeLessThanOrEqual(999);
        }),
        { numRuns: 60 },
      );
      const after = request(`${base}/p`);
      const last = (await feed.delivered(feed.deliveries.length + 1)).at(-1)!;
      driver.settle!({ id: last.id, outcome: 'completed', ack: true, attempts: 1, deadLetter: false, result: 'still here' });
      expect(await (await after).body.text()).toBe('still here');
    } finally {
      driver.stop!();
      await driver.disconnect!();
    }
  });

  it('answers 503 with Retry-After instead of queueing when the queue is past its high watermark', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const base = await serve(() => gate.then(() => 'done'), {}, { workers: 1, queueSize: 2, highWatermark: 1, lowWatermark: 0 });
    const first = request(`${base}/a`); // runs
    await vi.waitFor(() => expect(runtime!.snapshot().running).toBe(1));
    const second = request(`${base}/b`); // waits in the queue: past the high watermark, the source pauses
    await vi.waitFor(() => expect(runtime!.snapshot().source.state).toBe('paused'));
    const refused = await json(await request(`${base}/c`));
    expect(refused).toMatchObject({ status: 503, headers: { 'retry-after': '2' }, body: { error: { code: 'ERR_UNAVAILABLE' } } });
    release();
    expect((await first).statusCode).toBe(200);
    expect((await second).statusCode).toBe(200);
  });

  it('answers 413 for a body over the limit, 400 for invalid JSON and 404 outside its path, and keeps serving', async () => {
    const base = await serve(() => 'fine', { maxBodySize: 16 });
    expect(await json(await request(`${base}/x`, { method: 'POST', body: 'x'.repeat(100) }))).toMatchObject({
      status: 413,
      body: { error: { code: 'ERR_BODY_TOO_LARGE' } },
    });
    expect(
      await json(await request(`${base}/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })),
    ).toMatchObject({ status: 400, body: { error: { code: 'ERR_INVALID_JSON' } } });
    expect(await json(await request(base.replace('/api', '/elsewhere')))).toMatchObject({
      status: 404,
      body: { error: { code: 'ERR_NOT_FOUND' } },
    });
    expect(runtime!.snapshot().counters.received).toBe(0);
    const ok = await request(`${base}/x`);
    expect([ok.statusCode, await ok.body.text()]).toEqual([200, 'fine']);
  });

  it('finishes in-flight requests on stop and refuses new ones', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const base = await serve(() => gate.then(() => 'finished'));
    const inFlight = request(`${base}/work`);
    await vi.waitFor(() => expect(runtime!.snapshot().running).toBe(1));
    const stopped = runtime!.stop();
    expect((await request(`${base}/late`)).statusCode).toBe(503);
    release();
    const res = await inFlight;
    expect([res.statusCode, await res.body.text()]).toEqual([200, 'finished']);
    await stopped;
  });
});

describe('http source, reply = async', () => {
  it('answers 202 with an id at once, then GET <path>/events/<id> gives the state and outcome', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const base = await serve((event) => gate.then(() => ({ got: event.body })), { reply: 'async' });
    const accepted = await json(
      await request(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' }),
    );
    expect(accepted.status).toBe(202);
    const id = accepted.body.id as string;
    expect(await json(await request(`${base}/events/${id}`))).toMatchObject({ status: 200, body: { id, state: 'pending' } });
    release();
    await vi.waitFor(async () =>
      expect(await json(await request(`${base}/events/${id}`))).toMatchObject({
        body: { id, state: 'completed', result: { got: { n: 1 } } },
      }),
    );
    expect(await json(await request(`${base}/events/no-such-id`))).toMatchObject({
      status: 404,
      body: { error: { code: 'ERR_UNKNOWN_EVENT' } },
    });
  });
});

/** A raw TCP connection to `base`'s host and port, for request lines no HTTP client would send. */
async function rawSocket(base: string): Promise<Socket> {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** Writes `text` and reads one response: the status line and headers, then `content-length` bytes of body. */
function exchange(socket: Socket, text: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = received.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (received.length < end + 4 + length) return;
      socket.off('data', onData).off('close', onClose);
      resolve({ status: Number(head.split(' ')[1]), head, body: received.subarray(end + 4, end + 4 + length).toString('utf8') });
    };
    const onClose = () => reject(new Error(`the connection closed after ${received.length} bytes: ${received.toString('latin1')}`));
    socket.on('data', onData).on('close', onClose);
    socket.write(text);
  });
}

const closed = (socket: Socket) =>
  socket.closed ? Promise.resolve() : new Promise<void>((resolve) => socket.once('close', () => resolve()));

describe('http source, raw connections', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });
  const open = async (base: string) => {
    const socket = await rawSocket(base);
    sockets.push(socket);
    return socket;
  };

  it('answers 400 ERR_BAD_REQUEST, not 500, for a request target that is not a URL path, and keeps serving', async () => {
    const base = await serve(() => 'fine', { reply: 'async' });
    for (const target of ['http://[::1/api/x', '/api/events/%zz']) {
      const res = await exchange(await open(base), `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      expect([res.status, JSON.parse(res.body)]).toEqual([400, { error: { code: 'ERR_BAD_REQUEST', message: expect.any(String) } }]);
    }
    const ok = await exchange(await open(base), 'GET /api/x HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(ok.status).toBe(202);
  });

  it('serves max connections at once: the next one gets 503 with Retry-After and is closed, the first ones go on working', async () => {
    const base = await serve(() => 'fine', { maxConnections: 2 });
    const get = 'GET /api/x HTTP/1.1\r\nHost: localhost\r\n\r\n';
    const first = [await open(base), await open(base)];
    for (const socket of first) expect((await exchange(socket, get)).status).toBe(200);

    const extra = await open(base);
    const refused = await exchange(extra, get);
    expect(refused.status).toBe(503);
    expect(refused.head).toMatch(/\r\nretry-after: 2\r\n/i);
    expect(refused.head).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: { code: 'ERR_UNAVAILABLE', message: expect.stringContaining('max connections') },
    });
    await closed(extra);

    // The first two, kept alive, are still served; closing one makes room for a new connection.
    for (const socket of first) expect((await exchange(socket, get)).status).toBe(200);
    first[0]!.destroy();
    await closed(first[0]!);
    await vi.waitFor(async () => expect((await exchange(await open(base), get)).status).toBe(200));
  });

  it('reads `max connections` from [Source]: a whole number, at least 1', () => {
    const compile = (keys: Record<string, string>) =>
      compileSource('http', new Map(Object.entries(keys)), { file: 'flow.ini', section: 'Source' }).description;
    expect(compile({})).toMatch(/^http on /);
    expect(() => compile({ 'max connections': '0' })).toThrow(ConfigError);
    expect(() => compile({ 'max connections': '0' })).toThrow(/flow\.ini.*\[Source\].*max connections/);
  });

  it('closes at once, without a word, a connection past twice max connections', async () => {
    const base = await serve(() => 'fine', { maxConnections: 1 });
    const get = 'GET /api/x HTTP/1.1\r\nHost: localhost\r\n\r\n';
    expect((await exchange(await open(base), get)).status).toBe(200);
    await open(base); // refused: held (briefly) to answer its request with a 503
    const dropped = await open(base);
    let bytes = 0;
    dropped.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await closed(dropped);
    expect(bytes).toBe(0);
  });
});

describe('http source through the CLI', () => {
  it('binds 127.0.0.1 by default and says where it listens', async () => {
    const tmp = await tempDir();
    try {
      await tmp.write('w.mjs', 'export default { start(e) { return { hello: e.query.name }; } };\n');
      const ini = await tmp.write('web.ini', '[Flow]\nclass = ./w.mjs\n\n[Source]\ntype = http\nport = 0\n');
      const run = flowd(['run', ini]);
      const line = await run.waitFor('stderr', /listening on http:\/\/[^/]+\/[^"]*/);
      const url = /http:\/\/[^"]+/.exec(line)![0];
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const res = await request(`${url}greet?name=ada`);
      expect(await res.body.json()).toEqual({ hello: 'ada' });
      run.child.kill('SIGTERM');
      expect((await run.exit).code).toBe(0);
    } finally {
      await tmp.cleanup();
    }
  });

  it("never writes a request's secrets to the log, even when the failed event is logged with its payload", async () => {
    const tmp = await tempDir();
    try {
      await tmp.write('w.mjs', 'export default { start() { throw new Error("refused"); } };\n');
      const ini = await tmp.write('web.ini', '[Flow]\nclass = ./w.mjs\n\n[Source]\ntype = http\nport = 0\n');
      const run = flowd(['run', ini]);
      const url = /http:\/\/[^"]+/.exec(await run.waitFor('stderr', /listening on http:\/\/[^"]*/))![0];
      const res = await request(`${url}x`, { headers: { authorization: 'Bearer s3cr3t-token', cookie: 'session=s3cr3t-cookie' } });
      expect(res.statusCode).toBe(500);
      await res.body.dump();
      await run.waitFor('stderr', /dead-lettered: refused/);
      run.child.kill('SIGTERM');
      await run.exit;
      expect(run.stderr()).toContain('"authorization":"[redacted]"');
      expect(run.stderr()).not.toContain('s3cr3t');
    } finally {
      await tmp.cleanup();
    }
  });
});
