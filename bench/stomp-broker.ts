import { randomBytes } from 'node:crypto';
import { connectClient, findQueue, rabbitmqctl } from '../test/helpers/broker.js';

/**
 * The machine's RabbitMQ for bench/stomp.ts, on top of the tests' broker
 * helpers: bench queue names, a fast pre-fill, and waiting for the queue
 * counts. Every queue the bench makes is named `flowd-bench.*`, and only
 * those are ever deleted.
 */

export { connectClient, stompUrl } from '../test/helpers/broker.js';

const PREFIX = 'flowd-bench.';

/** A fresh queue name (`flowd-bench.<label>.<hex>`). */
export const benchQueue = (label: string): string => `${PREFIX}${label}.${randomBytes(4).toString('hex')}`;

/** Messages in a queue (ready + unacknowledged), from rabbitmqctl; undefined when it does not exist. */
export const queueMessages = async (name: string): Promise<number | undefined> => (await findQueue(name))?.messages;

/** Polls rabbitmqctl until the queue holds `count` messages (its stats lag a moment behind the confirms). */
export async function awaitQueueMessages(name: string, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen: number | undefined;
  for (;;) {
    seen = await queueMessages(name);
    if (seen === count) return;
    if (Date.now() > deadline) throw new Error(`queue ${name} holds ${seen ?? 'no'} messages; expected ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Deletes bench queues (and only those). */
export async function deleteBenchQueue(name: string): Promise<void> {
  if (!name.startsWith(PREFIX)) throw new Error(`refusing to delete ${name}: not a ${PREFIX}* queue`);
  await rabbitmqctl('delete_queue', name);
}

/**
 * Fills `/queue/<name>` with `count` persistent messages over one producer
 * connection. Every `receiptEvery`-th message and the last ask for a
 * receipt; RabbitMQ confirms in order per connection, so at most `window`
 * receipts are outstanding and the last receipt means all are stored.
 */
export async function fill(
  name: string,
  count: number,
  body: string,
  options: { receiptEvery?: number; window?: number } = {},
): Promise<void> {
  const every = options.receiptEvery ?? 1000;
  const window = options.window ?? 8;
  const client = await connectClient();
  const destination = `/queue/${name}`;
  let failure: Error | undefined;
  client.onStompError = (frame) =>
    (failure = new Error(`the broker sent an error while filling ${name}: ${frame.headers.message ?? ''} ${frame.body}`));
  const outstanding: Array<Promise<void>> = [];
  try {
    for (let i = 1; i <= count; i++) {
      if (i % every === 0 || i === count) {
        const receipt = `fill-${i}`;
        outstanding.push(new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve())));
        client.publish({ destination, body, headers: { persistent: 'true', receipt } });
        if (outstanding.length > window) await outstanding.shift();
        if (failure) throw failure;
      } else {
        client.publish({ destination, body, headers: { persistent: 'true' } });
      }
    }
    // In-order confirms: the last receipt covers everything before it.
    await outstanding.pop();
    if (failure) throw failure;
  } finally {
    await client.deactivate();
  }
}
