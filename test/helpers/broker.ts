import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Client, type IMessage, type StompHeaders } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';

/**
 * The machine's RabbitMQ, for integration tests (and bench/stomp.ts): its STOMP port, a
 * producer, a consumer that drains a queue, and the queue counts from
 * rabbitmqctl. Every test makes its own queue names with `uniqueQueue`.
 */

const run = promisify(execFile);

export const STOMP_HOST = '127.0.0.1';
export const STOMP_PORT = 61613;
export const stompUrl = (destination: string, credentials = 'guest:guest'): string =>
  `stomp://${credentials}@${STOMP_HOST}:${STOMP_PORT}${destination}`;

/** A queue name no other test (or run) uses. */
export const uniqueQueue = (label: string): string => `flowd-test.${label}.${randomBytes(4).toString('hex')}`;

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}

/** A fresh RabbitMQ virtual host that guest may use; call `remove` after. */
export async function virtualHost(): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `flowd-test-${randomBytes(4).toString('hex')}`;
  await rabbitmqctl('add_vhost', name);
  await rabbitmqctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*');
  return { name, remove: async () => void (await rabbitmqctl('delete_vhost', name).catch(() => '')) };
}

/** The number of messages in a queue of a virtual host, or undefined when the queue does not exist there. */
export async function vhostQueueMessages(vhost: string, queue: string): Promise<number | undefined> {
  const out = await rabbitmqctl('list_queues', '-p', vhost, '-q', '--formatter', 'json', 'name', 'messages');
  return (JSON.parse(out || '[]') as Array<{ name: string; messages: number }>).find((row) => row.name === queue)?.messages;
}

export interface QueueCounts {
  messages: number;
  ready: number;
  unacked: number;
  consumers: number;
}

/** The broker's counts for a queue, or undefined when it does not exist. */
export async function findQueue(name: string): Promise<QueueCounts | undefined> {
  const out = await rabbitmqctl(
    'list_queues',
    '-q',
    '--formatter',
    'json',
    'name',
    'messages',
    'messages_ready',
    'messages_unacknowledged',
    'consumers',
  );
  const rows = JSON.parse(out || '[]') as Array<{
    name: string;
    messages: number;
    messages_ready: number;
    messages_unacknowledged: number;
    consumers: number;
  }>;
  const row = rows.find((r) => r.name === name);
  return row && { messages: row.messages, ready: row.messages_ready, unacked: row.messages_unacknowledged, consumers: row.consumers };
}

/** The broker's counts for a queue; a queue that does not exist counts as empty. */
export async function queueCounts(name: string): Promise<QueueCounts> {
  return (await findQueue(name)) ?? { messages: 0, ready: 0, unacked: 0, consumers: 0 };
}

export async function deleteQueues(...names: string[]): Promise<void> {
  for (const name of names) await rabbitmqctl('delete_queue', name).catch(() => {});
}

/** A connected stompjs client (plain, as a user's producer would be). */
export async function connectClient(vhost?: string): Promise<Client> {
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(STOMP_HOST, STOMP_PORT),
    connectHeaders: { login: 'guest', passcode: 'guest', ...(vhost === undefined ? {} : { host: vhost }) },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  });
  await new Promise<void>((resolve, reject) => {
    client.onConnect = () => resolve();
    client.onStompError = (frame) => reject(new Error(frame.headers.message));
    client.onWebSocketClose = () => reject(new Error('the test client could not connect to RabbitMQ on 127.0.0.1:61613'));
    client.activate();
  });
  return client;
}

export interface Outgoing {
  body: string;
  headers?: StompHeaders;
}

/** Publishes persistent messages (into `vhost`, else the default one) and resolves once the broker has receipted every one. */
export async function produce(destination: string, messages: Outgoing[], vhost?: string): Promise<void> {
  const client = await connectClient(vhost);
  try {
    const receipts: Array<Promise<void>> = [];
    messages.forEach((message, i) => {
      const receipt = `p-${i}`;
      receipts.push(new Promise((resolve) => client.watchForReceipt(receipt, () => resolve())));
      client.publish({ destination, body: message.body, headers: { ...message.headers, persistent: 'true', receipt } });
    });
    await Promise.all(receipts);
  } finally {
    await client.deactivate();
  }
}

/** `count` JSON messages `{ n }`, each with a producer-assigned `x-id` header. */
export const numbered = (count: number, from = 0): Outgoing[] =>
  Array.from({ length: count }, (_, i) => ({
    body: JSON.stringify({ n: from + i }),
    headers: { 'x-id': String(from + i), 'content-type': 'application/json' },
  }));

/** Consumes and ACKs exactly `count` messages from a destination. */
export async function take(destination: string, count: number): Promise<IMessage[]> {
  const client = await connectClient();
  const got: IMessage[] = [];
  try {
    await new Promise<void>((resolve) => {
      client.subscribe(
        destination,
        (message) => {
          if (got.length >= count) return;
          got.push(message);
          message.ack();
          if (got.length === count) resolve();
        },
        { ack: 'client-individual', 'prefetch-count': '100' },
      );
    });
  } finally {
    await client.deactivate();
  }
  return got;
}
