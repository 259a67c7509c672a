import { afterEach, describe, expect, it, vi } from 'vitest';
import { stompDriver, type StompOptions } from '../../actors/sources/stomp.js';
import type { Settlement } from '../../machines/events.js';
import { recordingFeed } from '../contracts/source-driver.js';
import { logSink } from '../helpers/log-sink.js';
import { ScriptedBroker } from '../helpers/scripted-stomp.js';

// What the source-driver contract does not cover: refusals, dead letters, publishing and void outcomes.

const OPTIONS: StompOptions = {
  transport: 'tcp',
  host: 'localhost',
  port: 61613,
  webSocketUrl: undefined,
  destination: '/queue/in',
  login: 'flowd',
  passcode: 'secret',
  displayUrl: 'stomp://flowd@localhost:61613/queue/in',
  virtualHost: undefined,
  heartbeatMs: 0,
  prefetch: undefined,
  payloadClass: 'text',
  deadLetter: '/queue/in.dlq',
  connectTimeoutMs: 1000,
  receiptTimeoutMs: 1000,
};

/** One turn of the event loop: the broker's answers already queued are played. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const drivers: Array<ReturnType<typeof stompDriver>> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const driver of drivers.splice(0)) await driver.disconnect!();
});

function connected(options: Partial<StompOptions> = {}, workers = 4) {
  const broker = new ScriptedBroker();
  const driver = stompDriver({ ...OPTIONS, ...options }, { socket: broker.socket, workers });
  drivers.push(driver);
  const feed = recordingFeed();
  return {
    broker,
    driver,
    feed,
    async start() {
      await driver.connect!();
      driver.start(feed.feed);
      await broker.until('SUBSCRIBE');
    },
  };
}

const failed = (id: string, deadLetter: boolean): Settlement => ({
  id,
  outcome: 'failed',
  ack: false,
  attempts: 3,
  deadLetter,
  error: { code: 'ERR_WORKER_FAILED', message: 'the asset\nwas broken' },
});

describe('the stomp source driver', () => {
  it('logs in with the credentials and subscribes client-individual with a prefetch that follows the workers', async () => {
    const { broker, start } = connected({}, 8);
    await start();
    expect(broker.frames('CONNECT')[0]!.headers).toMatchObject({ login: 'flowd', passcode: 'secret' });
    expect(broker.frames('SUBSCRIBE')[0]!.headers).toMatchObject({
      destination: '/queue/in',
      ack: 'client-individual',
      'prefetch-count': '16',
    });
  });

  it('fails to connect, not to be retried, when the broker answers CONNECT with an ERROR', async () => {
    const { broker, driver } = connected();
    broker.refuse = 'Bad CONNECT: access refused for user flowd';
    await expect(driver.connect!()).rejects.toMatchObject({
      code: 'ERR_STOMP_REFUSED',
      retryable: false,
      message: expect.stringContaining('access refused for user flowd') as string,
    });
  });

  it('stops, not to be retried, when the broker refuses the subscription before its receipt', async () => {
    const { broker, driver, feed } = connected();
    broker.withholdReceipts = true;
    await driver.connect!();
    driver.start(feed.feed);
    await broker.until('SUBSCRIBE');
    broker.error('NOT_FOUND - no queue in');
    await feed.connectionLost();
    expect(feed.lost[0]).toMatchObject({ code: 'ERR_STOMP_REFUSED', retryable: false });
  });

  it('reconnects after an ERROR once subscribed, and revokes what was waiting', async () => {
    const { broker, feed, start } = connected();
    await start();
    await turn(); // the subscription's RECEIPT arrives
    broker.message('one');
    const [waiting] = await feed.delivered(1);
    broker.error('PRECONDITION_FAILED - unknown delivery tag');
    await feed.connectionLost();
    expect(feed.lost[0]).toMatchObject({ code: 'ERR_STOMP_ERROR', retryable: true });
    expect(feed.revoked).toEqual([{ ids: [waiting!.id], error: expect.objectContaining({ code: 'ERR_CONNECTION_LOST' }) as object }]);
  });

  it('dead-letters a message that failed its last attempt, and ACKs the original only after the RECEIPT', async () => {
    const { broker, driver, feed, start } = connected();
    await start();
    broker.message('<asset/>', { 'message-id': 'm-7', 'x-trace': 'abc' });
    const [delivered] = await feed.delivered(1);
    broker.withholdReceipts = true;
    driver.settle!(failed(delivered!.id, true));
    await broker.until('SEND');
    const send = broker.frames('SEND')[0]!;
    expect(send.body).toBe('<asset/>');
    expect(send.headers).toMatchObject({
      destination: '/queue/in.dlq',
      persistent: 'true',
      'x-trace': 'abc',
      'x-flowd-error-code': 'ERR_WORKER_FAILED',
      'x-flowd-error-message': 'the asset was broken',
      'x-flowd-attempts': '3',
      'x-flowd-original-destination': '/queue/in',
    });
    expect(send.headers['message-id']).toBeUndefined();
    expect(broker.frames('ACK')).toEqual([]);
    broker.sockets.at(-1)!.play({ command: 'RECEIPT', headers: { 'receipt-id': send.headers.receipt! }, body: '' });
    await broker.until('ACK');
    expect(broker.frames('ACK')[0]!.headers.id).toBe('m-7');
    expect(driver.stats()).toMatchObject({ deadLettered: 1, acked: 0 });
    broker.withholdReceipts = false;
  });

  it('NACKs a failed message, with requeue, when no RECEIPT for its dead letter comes in time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { broker, driver, feed, start } = connected({ receiptTimeoutMs: 500 });
    await start();
    broker.message('lost');
    const [delivered] = await feed.delivered(1);
    broker.withholdReceipts = true;
    driver.settle!(failed(delivered!.id, true));
    await broker.until('SEND');
    await vi.advanceTimersByTimeAsync(500);
    await broker.until('NACK');
    expect(broker.frames('NACK')[0]!.headers).toMatchObject({ id: 'm-1', requeue: 'true' });
    expect(broker.frames('ACK')).toEqual([]);
    broker.withholdReceipts = false;
  });

  it('publishes for workers with a RECEIPT, JSON for objects, and refuses a destination it cannot send to', async () => {
    const { broker, driver, start } = connected();
    await start();
    await driver.publish('/queue/out', { asset: 42 }, { priority: 4 });
    expect(broker.frames('SEND')[0]).toMatchObject({
      body: '{"asset":42}',
      headers: { destination: '/queue/out', 'content-type': 'application/json', priority: '4', persistent: 'true' },
    });
    await expect(driver.publish('out', 'text')).rejects.toMatchObject({ code: 'ERR_INVALID_DESTINATION' });
  });

  it('hands the feed each message with the bytes of its body, parsed or not, for a retry to write back as they came', async () => {
    const { broker, feed, start } = connected({ payloadClass: 'xml' });
    await start();
    const xml = '<asset id="a1">caf\u00e9 &amp; co</asset>';
    broker.message(xml);
    broker.message('<asset>');
    const [parsed, unreadable] = await feed.delivered(2);
    expect(parsed!.payload).toMatchObject({ body: { asset: { '@_id': 'a1', '#text': 'caf\u00e9 &amp; co' } } });
    expect(Buffer.from(parsed!.raw!).toString('utf8')).toBe(xml);
    expect(unreadable!.error).toMatchObject({ code: 'ERR_PAYLOAD' });
    expect(Buffer.from(unreadable!.raw!).toString('utf8')).toBe('<asset>');
  });

  it('refuses to publish while not connected', async () => {
    const { driver } = connected();
    await expect(driver.publish('/queue/out', 'text')).rejects.toMatchObject({ code: 'ERR_NOT_CONNECTED' });
  });

  it('drops the outcome of a message whose connection closed: no ACK on the next connection, counted as revoked', async () => {
    const { broker, driver, feed, start } = connected();
    await start();
    broker.message('one');
    const [old] = await feed.delivered(1);
    broker.drop();
    await feed.connectionLost();
    driver.stop!();
    await start();
    driver.settle!({
      id: old!.id,
      outcome: 'returned',
      ack: false,
      attempts: 1,
      deadLetter: false,
      error: { code: 'ERR_CONNECTION_LOST', message: 'lost' },
    });
    driver.settle!({ ...failed(old!.id, false), outcome: 'completed', ack: true });
    expect(broker.frames('ACK')).toEqual([]);
    expect(broker.frames('NACK')).toEqual([]);
    expect(driver.stats()).toMatchObject({ revoked: 1, connections: 2 });
  });

  it('warns when a message that ran completes after its connection was lost: it is redelivered and runs again', async () => {
    const broker = new ScriptedBroker();
    const sink = logSink('warn');
    const driver = stompDriver(OPTIONS, { socket: broker.socket, workers: 4, log: sink.logger });
    drivers.push(driver);
    const feed = recordingFeed();
    await driver.connect!();
    driver.start(feed.feed);
    await broker.until('SUBSCRIBE');
    broker.message('running');
    const [running] = await feed.delivered(1);
    broker.drop();
    await feed.connectionLost();
    driver.settle!({ ...failed(running!.id, false), outcome: 'completed', ack: true });
    expect(driver.stats()).toMatchObject({ voided: 1, acked: 0 });
    expect(sink.messages()).toEqual([
      `event ${running!.id} ended (completed) after its connection was lost; it cannot be acknowledged, so the broker redelivers it and it runs again`,
    ]);
  });

  it('hands over a body that is not JSON (payload class json) as a failed event naming the message', async () => {
    const { broker, feed, start } = connected({ payloadClass: 'json' });
    await start();
    broker.message('{not json', { 'message-id': 'm-bad' });
    const [delivered] = await feed.delivered(1);
    expect(delivered!.error).toMatchObject({ message: expect.stringContaining('m-bad') as string });
  });
});
