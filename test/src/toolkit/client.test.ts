import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClient, type ApiClient, type ClientOptions } from '../../../src/toolkit/client.js';
import { decodeBody } from '../../../src/toolkit/client/body.js';
import { compileApiSettings, type ApiSettings } from '../../../src/config/api-settings.js';
import { SectionReader, type RawValue } from '../../../src/kernel/section-reader.js';
import { ConflictError, HttpError } from '../../../src/kernel/errors.js';
import { pause } from '../../../src/kernel/retry-on-conflict.js';
import { logSink } from '../../helpers/log-sink.js';

const USER = 'flow';
const PASSWORD = 's3cret-Pa55word';
const TOKEN = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

interface StoredRecord {
  text: string;
  type: string;
  version: number;
}

/**
 * A small REST server on loopback: checks basic auth, keeps an ETag per
 * record, answers a stale If-Match with 409 (or 412), fails the next N
 * requests with 503 on demand, and counts requests and writes.
 */
class RecordServer {
  readonly records = new Map<string, StoredRecord>();
  readonly seen: Array<{ method: string; url: string; ifMatch?: string; ifNoneMatch?: string }> = [];
  writes = 0;
  /** The next N requests get a 503 (echoing the request headers, to prove they are scrubbed), with `retryAfter` when set. */
  failNext = 0;
  /** The next N requests get a 429, with `retryAfter` as their Retry-After when set. */
  throttleNext = 0;
  retryAfter: string | undefined;
  /** The next N requests get no answer at all. */
  hangNext = 0;
  /** Called when a request is left hanging. */
  onHang: (() => void) | undefined;
  /** Status for a stale If-Match. */
  conflictStatus: 409 | 412 = 409;
  /** Runs before a conditional write is checked: another writer sneaking in. */
  beforeWrite: ((path: string) => void) | undefined;
  private readonly server: Server;
  port = 0;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  count(method: string, url?: string): number {
    return this.seen.filter((r) => r.method === method && (url === undefined || r.url === url)).length;
  }

  /** Stores a record as another writer would. */
  store(path: string, value: unknown, type = 'application/json'): void {
    const previous = this.records.get(path);
    this.records.set(path, {
      text: typeof value === 'string' ? value : JSON.stringify(value),
      type,
      version: (previous?.version ?? 0) + 1,
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const method = req.method!;
    const path = req.url!;
    this.seen.push({
      method,
      url: path,
      ifMatch: req.headers['if-match'],
      ifNoneMatch: req.headers['if-none-match'] as string | undefined,
    });
    const reply = (status: number, text = '', headers: Record<string, string> = {}): void => {
      res.writeHead(status, headers).end(text);
    };
    if (this.hangNext > 0) {
      this.hangNext--;
      this.onHang?.();
      return;
    }
    if (this.throttleNext > 0) {
      this.throttleNext--;
      return reply(429, 'slow down', {
        'content-type': 'text/plain',
        ...(this.retryAfter === undefined ? {} : { 'retry-after': this.retryAfter }),
      });
    }
    if (this.failNext > 0) {
      this.failNext--;
      return reply(503, `busy; you sent ${JSON.stringify(req.headers)}`, {
        'content-type': 'text/plain',
        ...(this.retryAfter === undefined ? {} : { 'retry-after': this.retryAfter }),
      });
    }
    if (req.headers.authorization !== `Basic ${TOKEN}`)
      return reply(401, `who are you? you sent ${JSON.stringify(req.headers)}`, { 'content-type': 'text/plain' });
    if (path === '/echo-headers')
      return reply(400, JSON.stringify({ error: 'bad request', headers: req.headers }), { 'content-type': 'application/json' });
    if (path === '/doctype')
      return reply(200, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', { 'content-type': 'application/xml' });
    if (path === '/bytes') return reply(200, '\u0001\u0002\u0003', { 'content-type': 'application/octet-stream' });
    if (path === '/empty') return reply(204);
    const record = this.records.get(path);
    const etag = (r: StoredRecord) => `"v${r.version}"`;
    const send = (status: number, r: StoredRecord) => reply(status, r.text, { 'content-type': r.type, etag: etag(r) });
    if (method === 'GET') return record ? send(200, record) : reply(404, 'no such record', { 'content-type': 'text/plain' });
    if (method === 'POST') {
      // POST to a collection creates <collection>/<id>.
      const id = (JSON.parse(body) as { id: string }).id;
      const target = `${path}/${id}`;
      if (this.records.has(target)) return reply(409, `${target} exists`);
      this.store(target, body, req.headers['content-type']!);
      this.writes++;
      return send(201, this.records.get(target)!);
    }
    if (method === 'PUT' || method === 'DELETE') {
      this.beforeWrite?.(path);
      const current = this.records.get(path);
      const ifMatch = req.headers['if-match'];
      if (req.headers['if-none-match'] === '*' && current) return reply(412, 'already exists');
      if (ifMatch !== undefined && (!current || ifMatch !== etag(current)))
        return reply(this.conflictStatus, `stale: ${ifMatch} is not ${current ? etag(current) : 'missing'}`);
      if (method === 'DELETE') {
        if (!current) return reply(404, 'no such record');
        this.records.delete(path);
        this.writes++;
        return reply(204);
      }
      this.store(path, body, req.headers['content-type']!);
      this.writes++;
      return send(current ? 200 : 201, this.records.get(path)!);
    }
    return reply(405, 'method not allowed');
  }
}

function settings(port: number, values: Record<string, RawValue> = {}): ApiSettings {
  const all: Record<string, RawValue> = {
    hostname: `127.0.0.1:${port}`,
    username: USER,
    password: PASSWORD,
    'retry delay': '100ms',
    ...values,
  };
  return compileApiSettings(new SectionReader(new Map(Object.entries(all)), { section: 'Api' }));
}

let server: RecordServer;
let client: ApiClient;
let sink: ReturnType<typeof logSink>;
let delays: number[];

/** A client with recorded, instant pauses between retries and a jitter of one half. */
function connect(values: Record<string, RawValue> = {}, options: ClientOptions = {}): ApiClient {
  client = createClient(settings(server.port, values), {
    log: sink.logger,
    random: () => 0.5,
    sleep: async (ms) => void delays.push(ms),
    ...options,
  });
  return client;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail('expected the request to fail'),
    (error: unknown) => error as Error,
  );
}

beforeEach(async () => {
  server = await new RecordServer().start();
  sink = logSink('debug');
  delays = [];
});

afterEach(async () => {
  await client?.close();
  await server.stop();
});

describe('the API client', () => {
  it('sends basic auth that the server accepts, and a wrong password gets an HttpError naming the URL', async () => {
    server.store('/api/asset/1', { title: 'one' });
    await expect(connect().get('/api/asset/1')).resolves.toMatchObject({ status: 200, body: { title: 'one' }, etag: '"v1"' });
    const wrong = createClient(settings(server.port, { password: 'not-it' }));
    const error = await failure(wrong.get('/api/asset/1'));
    await wrong.close();
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ code: 'ERR_HTTP', status: 401, method: 'GET', url: `http://127.0.0.1:${server.port}/api/asset/1` });
    expect(error.message).toContain(`GET http://127.0.0.1:${server.port}/api/asset/1 answered 401: who are you?`);
  });

  it('round-trips JSON: an object goes out as application/json and comes back parsed with its ETag', async () => {
    connect();
    const written = await client.put('/api/asset/7', { title: 'seven', tags: ['a', 'b'] });
    expect(written).toMatchObject({ status: 201, etag: '"v1"', body: { title: 'seven', tags: ['a', 'b'] } });
    expect(server.records.get('/api/asset/7')?.type).toBe('application/json');
    const read = await client.get('/api/asset/7');
    expect(read.body).toEqual({ title: 'seven', tags: ['a', 'b'] });
    expect(read.headers['content-type']).toBe('application/json');
  });

  it('round-trips XML: a string with its content type goes out as is, and comes back parsed with the raw text, entities unexpanded', async () => {
    connect();
    const entry = '<entry xmlns="http://www.w3.org/2005/Atom"><title type="text">Tom &amp; Jerry</title></entry>';
    await client.put('/api/asset/8', entry, { contentType: 'application/atom+xml' });
    expect(server.records.get('/api/asset/8')).toMatchObject({ text: entry, type: 'application/atom+xml' });
    const read = await client.get('/api/asset/8');
    expect(read.text).toBe(entry);
    expect(read.body).toEqual({
      entry: { '@_xmlns': 'http://www.w3.org/2005/Atom', title: { '#text': 'Tom &amp; Jerry', '@_type': 'text' } },
    });
  });

  it('refuses an XML response with a DOCTYPE', async () => {
    const error = await failure(connect().get('/doctype'));
    expect(error).toBeInstanceOf(HttpError);
    expect(error.message).toMatch(/answered 200, but the application\/xml body has a DOCTYPE; XML with a DOCTYPE is refused/);
  });

  it('returns other content as bytes, and an empty body as undefined', async () => {
    connect();
    const bytes = await client.get('/bytes');
    expect(Buffer.isBuffer(bytes.body)).toBe(true);
    expect([...(bytes.body as Buffer)]).toEqual([1, 2, 3]);
    await expect(client.get('/empty')).resolves.toMatchObject({ status: 204, body: undefined, text: undefined });
  });

  it('sends If-Match with an etag, and a stale one raises ConflictError with the status (409 or 412)', async () => {
    connect();
    const { etag } = await client.put('/api/asset/9', { v: 1 });
    await client.put('/api/asset/9', { v: 2 }, { etag });
    expect(server.seen.at(-1)?.ifMatch).toBe('"v1"');
    for (const status of [409, 412] as const) {
      server.conflictStatus = status;
      const error = await failure(client.put('/api/asset/9', { v: 3 }, { etag }));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({ code: 'ERR_CONFLICT', status });
      expect(error.message).toContain(`PUT http://127.0.0.1:${server.port}/api/asset/9 (If-Match "v1") answered ${status}: stale`);
    }
    expect(server.records.get('/api/asset/9')?.text).toBe('{"v":2}');
    await expect(failure(client.delete('/api/asset/9', { etag }))).resolves.toBeInstanceOf(ConflictError);
    await expect(client.delete('/api/asset/9', { etag: '"v2"' })).resolves.toMatchObject({ status: 204 });
    expect(server.records.has('/api/asset/9')).toBe(false);
  });

  it('retries a 503 with jittered, doubling pauses, logging each retry, until an answer comes', async () => {
    server.store('/api/asset/1', { title: 'one' });
    server.failNext = 2;
    await expect(connect().get('/api/asset/1')).resolves.toMatchObject({ status: 200 });
    expect(server.count('GET')).toBe(3);
    expect(delays).toEqual([50, 100]);
    const retries = sink.lines.filter((line) => line.level === 40);
    expect(retries.map((line) => line.attempt)).toEqual([1, 2]);
    expect(retries[0]?.msg).toContain(`GET http://127.0.0.1:${server.port}/api/asset/1 answered 503: busy`);
  });

  it('gives up after its retries with an HttpError carrying the last status', async () => {
    server.failNext = 10;
    const error = await failure(connect({ retries: 2 }).put('/api/asset/1', { v: 1 }));
    expect(error).toMatchObject({ code: 'ERR_HTTP', status: 503, method: 'PUT' });
    expect(error.message).toMatch(/answered 503: busy.* after 3 attempts$/);
    expect(server.count('PUT')).toBe(3);
    expect(delays).toEqual([50, 100]);
  });

  it('does not retry a POST unless told it is idempotent', async () => {
    server.failNext = 1;
    connect();
    await expect(failure(client.post('/api/assets', { id: 'a' }))).resolves.toMatchObject({ status: 503 });
    expect(server.count('POST')).toBe(1);
    server.failNext = 1;
    await expect(client.post('/api/assets', { id: 'b' }, { idempotent: true })).resolves.toMatchObject({ status: 201 });
    expect(server.count('POST')).toBe(3);
  });

  it('retries a 429 for any method, POST too, since the server refused it unread', async () => {
    server.throttleNext = 2;
    await expect(connect().post('/api/assets', { id: 'a' })).resolves.toMatchObject({ status: 201 });
    expect(server.count('POST')).toBe(3);
    expect(server.writes).toBe(1);
    expect(delays).toEqual([50, 100]);
    expect(sink.lines.find((line) => line.level === 40)?.msg).toContain(
      `POST http://127.0.0.1:${server.port}/api/assets answered 429: slow down; retrying in 50ms (attempt 1 of 4)`,
    );
    server.throttleNext = 10;
    const error = await failure(client.post('/api/assets', { id: 'b' }));
    expect(error).toMatchObject({ code: 'ERR_HTTP', status: 429, method: 'POST' });
    expect(error.message).toMatch(/answered 429: slow down after 4 attempts$/);

    // A 429 then a 503: the POST stops at the 503, and says how many attempts it made.
    server.throttleNext = 1;
    server.failNext = 1;
    const mixed = await failure(client.post('/api/assets', { id: 'c' }));
    expect(mixed).toMatchObject({ status: 503 });
    expect(mixed.message).toMatch(/answered 503: busy.* after 2 attempts$/);

    // idempotent: false, said outright, is never sent twice.
    const before = server.count('POST');
    server.throttleNext = 1;
    await expect(failure(client.post('/api/assets', { id: 'd' }, { idempotent: false }))).resolves.toMatchObject({ status: 429 });
    expect(server.count('POST')).toBe(before + 1);
  });

  it('waits out a Retry-After in seconds or as an HTTP date, plus jitter, within the retry max delay', async () => {
    server.store('/api/asset/1', { title: 'one' });
    server.throttleNext = 1;
    server.retryAfter = '3';
    await expect(connect().get('/api/asset/1')).resolves.toMatchObject({ status: 200 });
    // 3s, plus half (random 0.5) of the first backoff cap (100ms).
    expect(delays).toEqual([3_050]);
    expect(sink.lines.find((line) => line.level === 40)?.msg).toContain(
      'answered 429: slow down; retrying in 3050ms (Retry-After) (attempt 1 of 4)',
    );

    // A 503 with a date a few seconds ahead (HTTP dates have whole seconds), and one already past.
    delays = [];
    server.failNext = 2;
    const ahead = new Date(Date.now() + 4_000);
    ahead.setUTCMilliseconds(0);
    server.retryAfter = ahead.toUTCString();
    let answers = 0;
    const dated = createClient(settings(server.port), {
      log: sink.logger,
      random: () => 0,
      sleep: async (ms) => {
        delays.push(ms);
        // The second 503 names a date in the past: no wait beyond the backoff.
        if (++answers === 1) server.retryAfter = new Date(Date.now() - 60_000).toUTCString();
      },
    });
    await expect(dated.get('/api/asset/1')).resolves.toMatchObject({ status: 200 });
    await dated.close();
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThan(2_000);
    expect(delays[0]).toBeLessThanOrEqual(4_000);
    expect(delays[1]).toBe(0);
    expect(
      sink.lines
        .filter((line) => line.level === 40)
        .slice(-2)
        .map((line) => line.msg.includes('(Retry-After)')),
    ).toEqual([true, true]);
  });

  it('stops waiting out a Retry-After when the client is closed', async () => {
    server.throttleNext = 1;
    server.retryAfter = '100'; // longer than the test's time limit: only close() ends the wait in time
    let waiting!: () => void;
    const paused = new Promise<void>((resolve) => (waiting = resolve));
    client = createClient(settings(server.port, { 'retry max delay': '2m' }), { log: { debug: () => {}, warn: () => waiting() } });
    const outcome = failure(client.get('/api/asset/1'));
    await paused;
    await client.close();
    const error = await outcome;
    expect(error).toBeInstanceOf(HttpError);
    expect(error.message).toBe(`GET http://127.0.0.1:${server.port}/api/asset/1 was not sent: the client is closed`);
    expect(server.count('GET')).toBe(1);
  });

  it('fails at once when Retry-After asks for longer than the retry max delay, and ignores one it cannot read', async () => {
    server.throttleNext = 1;
    server.retryAfter = '120';
    const error = await failure(connect({ 'retry max delay': '30s' }).get('/api/asset/1'));
    expect(error).toMatchObject({ code: 'ERR_HTTP', status: 429 });
    expect(error.message).toBe(
      `GET http://127.0.0.1:${server.port}/api/asset/1 answered 429: slow down; it asks for a wait of 2m (Retry-After), longer than the retry max delay of 30s`,
    );
    expect(server.count('GET')).toBe(1);
    expect(delays).toEqual([]);

    server.store('/api/asset/1', { title: 'one' });
    server.throttleNext = 1;
    server.retryAfter = 'soon';
    await expect(client.get('/api/asset/1')).resolves.toMatchObject({ status: 200 });
    expect(delays).toEqual([50]);
  });

  it('fails a 400 at once, without retrying, with an excerpt of the body', async () => {
    server.store('/api/asset/1', { title: 'one' });
    const error = await failure(connect().request({ method: 'GET', path: '/echo-headers' }));
    expect(error).toMatchObject({ code: 'ERR_HTTP', status: 400 });
    expect(error.message).toContain('answered 400: {"error":"bad request"');
    expect(server.seen).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('retries a refused connection, then fails with an HttpError naming the URL', async () => {
    const port = server.port;
    await server.stop();
    server = await new RecordServer().start(); // the afterEach stops this one; the old port is now closed
    client = createClient(settings(port), { log: sink.logger, random: () => 0.5, sleep: async (ms) => void delays.push(ms) });
    const error = await failure(client.get('/api/asset/1'));
    expect(error).toBeInstanceOf(HttpError);
    expect(error).toMatchObject({ status: undefined, url: `http://127.0.0.1:${port}/api/asset/1` });
    expect(error.message).toMatch(new RegExp(`^GET http://127\\.0\\.0\\.1:${port}/api/asset/1 failed: .*ECONNREFUSED.* after 4 attempts$`));
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect(delays).toEqual([50, 100, 200]);
  });

  it('retries a request that got no answer within the time out', async () => {
    server.store('/api/asset/1', { title: 'one' });
    server.hangNext = 1;
    await expect(connect({ 'time out': '150ms' }).get('/api/asset/1')).resolves.toMatchObject({ body: { title: 'one' } });
    expect(server.count('GET')).toBe(2);
    expect(sink.lines.find((line) => line.level === 40)?.msg).toMatch(/failed: Headers Timeout/);
  });

  it("rejects with the signal's reason when aborted in flight or while waiting to retry", async () => {
    server.hangNext = 1;
    const controller = new AbortController();
    const arrived = new Promise<void>((resolve) => (server.onHang = resolve));
    const inFlight = connect().get('/api/asset/1', { signal: controller.signal });
    await arrived;
    controller.abort(new Error('shutdown'));
    await expect(inFlight).rejects.toThrow('shutdown');

    server.failNext = 1;
    const waiting = new AbortController();
    const sleeper = createClient(settings(server.port, { 'retry delay': '1m' }), {
      sleep: (ms, signal) => {
        waiting.abort(new Error('stopping'));
        return pause(ms, signal);
      },
    });
    await expect(sleeper.get('/api/asset/1', { signal: waiting.signal })).rejects.toThrow('stopping');
    await sleeper.close();
    expect(server.count('GET')).toBe(2);
  });

  it('never puts the password or the Authorization header in an error or a log line', async () => {
    connect();
    const errors: Error[] = [];
    errors.push(await failure(client.get('/echo-headers'))); // a 400 echoing the request headers
    server.failNext = 10;
    errors.push(await failure(client.get('/api/asset/1'))); // 503s echoing them, logged on each retry
    server.failNext = 0;
    const wrong = createClient(settings(server.port, { password: 'xyz' }), { log: sink.logger });
    errors.push(await failure(wrong.get('/api/asset/1'))); // a 401 echoing a wrong password
    expect(errors.map((e) => (e as HttpError).status)).toEqual([400, 503, 401]);
    await wrong.close();
    const refused = createClient(settings(1), { log: sink.logger, sleep: async () => {} });
    errors.push(await failure(refused.get('/api/asset/1')));
    await refused.close();

    const everything = [...errors.map((e) => `${e.message} ${String(e.cause)}`), ...sink.lines.map((line) => JSON.stringify(line))].join(
      '\n',
    );
    expect(everything).toContain('[redacted]'); // the echoes were there, and were scrubbed
    for (const secret of [PASSWORD, TOKEN, 'xyz', Buffer.from(`${USER}:xyz`).toString('base64')]) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/Basic [A-Za-z0-9+/=]{4,}/);
    expect(sink.lines.length).toBeGreaterThan(3);
  });

  it('follows an absolute link on its own server but refuses to send its credentials to another', async () => {
    server.store('/api/asset/1', { title: 'one' });
    connect();
    await expect(client.get(`http://127.0.0.1:${server.port}/api/asset/1`)).resolves.toMatchObject({ body: { title: 'one' } });
    const error = await failure(client.get('http://example.com/api/asset/1'));
    expect(error).toMatchObject({ code: 'ERR_HTTP', url: 'http://example.com/api/asset/1' });
    expect(error.message).toContain(`is not on http://127.0.0.1:${server.port}`);
    expect(server.seen).toHaveLength(1);
  });

  it('refuses requests once closed', async () => {
    connect();
    await client.close();
    const error = await failure(client.get('/api/asset/1'));
    expect(error).toMatchObject({ code: 'ERR_HTTP' });
    expect(error.message).toContain('the client is closed');
    expect(server.seen).toHaveLength(0);
  });
});

describe('createOrUpdate', () => {
  const url = '/api/asset/42';

  it('creates a missing record with a PUT that will not overwrite a concurrent creation', async () => {
    const result = await connect().createOrUpdate(url, { title: 'answer' });
    expect(result).toEqual({ created: true, updated: false, unchanged: false, status: 201, body: { title: 'answer' }, etag: '"v1"' });
    expect(server.seen.map((r) => `${r.method} ${r.ifNoneMatch ?? ''}`)).toEqual(['GET ', 'PUT *']);
    expect(server.writes).toBe(1);
  });

  it('writes nothing when the record already holds the payload, whatever its key order', async () => {
    server.store(url, { title: 'answer', tags: { a: 1, b: 2 } });
    const result = await connect().createOrUpdate(url, { tags: { b: 2, a: 1 }, title: 'answer' });
    expect(result).toMatchObject({ created: false, updated: false, unchanged: true, status: 200, etag: '"v1"' });
    expect(server.writes).toBe(0);
  });

  it("compares an XML payload by its text, or by the caller's compare", async () => {
    server.store(url, '<a>1</a>', 'application/xml');
    connect();
    await expect(client.createOrUpdate(url, '<a>1</a>', { contentType: 'application/xml' })).resolves.toMatchObject({ unchanged: true });
    const sameNumber = (current: { body: unknown }, next: unknown) =>
      String((current.body as { a: string }).a) === String(next).replace(/\D/g, '');
    await expect(client.createOrUpdate(url, '<a> 1 </a>', { contentType: 'application/xml', compare: sameNumber })).resolves.toMatchObject({
      unchanged: true,
    });
    await expect(client.createOrUpdate(url, '<a>2</a>', { contentType: 'application/xml' })).resolves.toMatchObject({
      updated: true,
      etag: '"v2"',
    });
    expect(server.writes).toBe(1);
  });

  it('updates a record that differs, with If-Match of the version it read', async () => {
    server.store(url, { title: 'old' });
    const result = await connect().createOrUpdate(url, { title: 'new' });
    expect(result).toEqual({ created: false, updated: true, unchanged: false, status: 200, body: { title: 'new' }, etag: '"v2"' });
    expect(server.seen.at(-1)).toMatchObject({ method: 'PUT', ifMatch: '"v1"' });
  });

  it('resolves a conflict by refetching the record and applying the change again', async () => {
    server.store(url, { title: 'old', tags: [] });
    let sneaks = 1;
    server.beforeWrite = (path) => {
      if (sneaks-- > 0) server.store(path, { title: 'old', tags: ['theirs'] });
    };
    const result = await connect().createOrUpdate(url, (current) => ({ ...(current?.body as object), title: 'mine' }));
    expect(result).toMatchObject({ updated: true, etag: '"v3"' });
    expect(JSON.parse(server.records.get(url)!.text)).toEqual({ title: 'mine', tags: ['theirs'] });
    expect(server.seen.map((r) => `${r.method} ${r.ifMatch ?? ''}`)).toEqual(['GET ', 'PUT "v1"', 'GET ', 'PUT "v2"']);
  });

  it('turns a concurrent creation into an update', async () => {
    server.beforeWrite = (path) => {
      if (!server.records.has(path)) server.store(path, { title: 'theirs' });
    };
    const result = await connect().createOrUpdate(url, { title: 'mine' });
    expect(result).toMatchObject({ created: false, updated: true });
    expect(server.seen.map((r) => r.method)).toEqual(['GET', 'PUT', 'GET', 'PUT']);
  });

  it('creates with a POST to a collection when told to', async () => {
    const result = await connect().createOrUpdate(
      '/api/assets/x1',
      { id: 'x1', title: 'posted' },
      { create: 'POST', createPath: '/api/assets' },
    );
    expect(result).toMatchObject({ created: true, status: 201, body: { id: 'x1', title: 'posted' } });
    expect(server.seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /api/assets/x1', 'POST /api/assets']);
  });

  it("uses the caller's etag on the first write, so a change since then is a conflict", async () => {
    server.store(url, { title: 'base' });
    server.store(url, { title: 'changed meanwhile' });
    const result = await connect().createOrUpdate(url, { title: 'mine' }, { etag: '"v1"' });
    expect(result).toMatchObject({ updated: true, etag: '"v3"' });
    expect(server.seen.filter((r) => r.method === 'PUT').map((r) => r.ifMatch)).toEqual(['"v1"', '"v2"']);
  });

  it('gives up with a ConflictError when every attempt conflicts', async () => {
    server.store(url, { title: 'old' });
    server.beforeWrite = (path) => server.store(path, { title: `theirs ${server.seen.length}` });
    const error = await failure(connect().createOrUpdate(url, { title: 'mine' }, { maxRetries: 3 }));
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ status: 409 });
    expect(error.message).toMatch(/^gave up after 3 attempt\(s\)/);
    expect(server.count('PUT')).toBe(3);
    expect(server.writes).toBe(0);
  });
});

describe('decodeBody', () => {
  it('refuses an XML body with a character XML does not allow, raw or as a reference, naming the line', () => {
    for (const text of ['<a>\n&#x1;</a>', '<a>\n\u0001</a>']) {
      const decoded = decodeBody(Buffer.from(text), 'application/xml');
      expect(decoded.body).toBe(text);
      expect(decoded.problem).toMatch(/^the application\/xml body is not well-formed XML \(line 2, column 1\): the character/);
    }
    expect(decodeBody(Buffer.from('<a>&#x41;</a>'), 'application/xml')).toEqual({ body: { a: '&#x41;' }, text: '<a>&#x41;</a>' });
  });
});
