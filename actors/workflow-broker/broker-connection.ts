/**
 * The workflow broker's one STOMP connection: made on first use and made
 * again, with backoff, whenever it is lost; publishes that wait for the
 * broker's RECEIPT and are sent again on the next connection until they
 * have one; subscriptions that are made again on every new connection.
 */
import type { Client, IMessage, StompSubscription } from '@stomp/stompjs';
import type { Logger } from 'pino';
import { backoffDelay } from '../../machines/backoff.js';
import type { StompEndpoint } from '../sources/stomp-url.js';
import { FlowdError } from '../../src/kernel/errors.js';
import { attemptConnection } from './broker-client.js';

/** What a BrokerConnection needs. */
export interface ConnectionOptions {
  endpoint: StompEndpoint;
  /** The STOMP `host` header (RabbitMQ's vhost). */
  virtualHost?: string | undefined;
  heartbeatMs: number;
  reconnectDelayMs: number;
  reconnectMaxDelayMs: number;
  log: Logger;
  /** What the connection is for, in its log lines: `workflow task lists`, `workflow reports`. */
  purpose: string;
  /** How long the TCP connect and the CONNECTED frame may take. @default 10_000 */
  connectTimeoutMs?: number;
}

/** A message as a subscription hands it over. */
export interface Delivery {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Whether it came on the current connection: only then can it still be answered. */
  readonly live: boolean;
  /** ACKs it; false when its connection is gone (the broker redelivers it). */
  ack(): boolean;
  /** NACKs it with requeue; false when its connection is gone. */
  nack(): boolean;
}

interface Outgoing {
  destination: string;
  body: string;
  headers: Record<string, string>;
  resolve(): void;
  reject(error: Error): void;
}

interface Subscription {
  destination: string;
  prefetch: number;
  onMessage(delivery: Delivery): void;
  handle: StompSubscription | undefined;
  /** subscribe()'s promise, settled at the first RECEIPT (or a refusal, or close). */
  waiters: Array<{ resolve(): void; reject(error: Error): void }>;
}

/** How long close() waits for the broker's answer to DISCONNECT before it closes the socket. */
const DISCONNECT_TIMEOUT_MS = 5000;

/**
 * One STOMP connection, with at-least-once publishing: a message waits in
 * the outbox until the broker's RECEIPT, and goes out again on each new
 * connection until then (so the broker may get it twice). Messages a
 * subscription delivered on a connection since lost can no longer be
 * answered: the broker redelivers them.
 */
export class BrokerConnection {
  readonly url: string;
  readonly #options: ConnectionOptions & { connectTimeoutMs: number };
  readonly #log: Logger;
  #client: Client | undefined;
  /** The current connection's number: deliveries and receipts of an older one are void. */
  #session = 0;
  #connected = false;
  #started = false;
  #stopped = false;
  #everConnected = false;
  /** Failed attempts since the last connection. */
  #failures = 0;
  #fatal: FlowdError | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #receiptSeq = 0;
  /** Not yet receipted, in publish order. */
  readonly #outbox = new Set<Outgoing>();
  readonly #subscriptions: Subscription[] = [];
  #whenDrained: Array<() => void> = [];
  #closing: Promise<void> | undefined;

  constructor(options: ConnectionOptions) {
    this.#options = { connectTimeoutMs: 10_000, ...options };
    this.#log = options.log;
    this.url = options.endpoint.displayUrl;
  }

  /** Publishes `body` as JSON (persistent); resolves at the broker's RECEIPT, however many connections that takes. Rejects only on a refused connection or close(). */
  publish(destination: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    return new Promise<void>((resolve, reject) => {
      const entry: Outgoing = { destination, body: JSON.stringify(body), headers, resolve, reject };
      this.#outbox.add(entry);
      if (this.#connected) this.#send(entry);
      else this.#start();
    });
  }

  /**
   * Subscribes (ack client-individual, `prefetch` messages at most) on this
   * connection and every later one; resolves at the broker's first RECEIPT.
   */
  subscribe(destination: string, prefetch: number, onMessage: (delivery: Delivery) => void): Promise<void> {
    const refusal = this.#refusal();
    if (refusal) return Promise.reject(refusal);
    return new Promise<void>((resolve, reject) => {
      const subscription: Subscription = { destination, prefetch, onMessage, handle: undefined, waiters: [{ resolve, reject }] };
      this.#subscriptions.push(subscription);
      if (this.#connected) this.#subscribe(subscription);
      else this.#start();
    });
  }

  /** Resolves once every publish so far has its RECEIPT, or after `timeoutMs`, or at once (or when the connection is lost) while not connected. */
  drain(timeoutMs: number): Promise<void> {
    if (this.#outbox.size === 0 || !this.#connected) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#whenDrained = this.#whenDrained.filter((fn) => fn !== done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#whenDrained.push(done);
    });
  }

  /** Stops reconnecting, rejects what is unpublished (ERR_SHUTDOWN), unsubscribes and disconnects; unanswered messages go back to their queues. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#abandon(new FlowdError('ERR_SHUTDOWN', `the workflow broker connection to ${this.url} is closed`));
    const client = this.#client;
    const wasConnected = this.#connected;
    this.#client = undefined;
    this.#connected = false;
    if (!client) return;
    if (wasConnected) {
      for (const subscription of this.#subscriptions) {
        try {
          subscription.handle?.unsubscribe();
        } catch {
          // the socket is closing anyway
        }
      }
      let timer: NodeJS.Timeout | undefined;
      const answered = await Promise.race([
        client.deactivate().then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DISCONNECT_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      if (answered) return;
    }
    await client.deactivate({ force: true }).catch(() => {});
  }

  #refusal(): Error | undefined {
    if (this.#fatal) return this.#fatal;
    if (this.#stopped) return new FlowdError('ERR_SHUTDOWN', `the workflow broker connection to ${this.url} is closed`);
    return undefined;
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#attempt();
  }

  /** One attempt to connect, on a fresh client. */
  #attempt(): void {
    if (this.#stopped) return;
    const mine = ++this.#session;
    const { endpoint, heartbeatMs, connectTimeoutMs, virtualHost } = this.#options;
    const client = attemptConnection(
      endpoint,
      { heartbeatMs, connectTimeoutMs, virtualHost },
      {
        connected: () => {
          if (this.#stopped) return void client.deactivate({ force: true }).catch(() => {});
          this.#onConnected();
        },
        refused: (text) => {
          if (this.#client === client) this.#client = undefined;
          this.#refused(text);
        },
        failed: (why) => {
          if (this.#client === client) this.#client = undefined;
          this.#retry(`cannot connect to ${this.url}: ${why}`);
        },
        lost: (why) => this.#lost(mine, why),
      },
    );
    this.#client = client;
  }

  #onConnected(): void {
    this.#connected = true;
    this.#failures = 0;
    this.#log.info({ url: this.url }, `${this.#everConnected ? 'reconnected' : 'connected'} to ${this.url} (${this.#options.purpose})`);
    this.#everConnected = true;
    for (const subscription of this.#subscriptions) this.#subscribe(subscription);
    for (const entry of this.#outbox) this.#send(entry);
  }

  /** An ERROR frame before CONNECTED: wrong credentials or virtual host. Fatal on the first connection; later the broker may be starting, so it is retried. */
  #refused(text: string): void {
    const error = new FlowdError('ERR_STOMP_REFUSED', `the broker at ${this.url} refused the connection: ${text}`);
    if (this.#everConnected) return this.#retry(error.message);
    this.#fatal = error;
    this.#log.error(
      { url: this.url, err: { code: error.code, message: error.message } },
      `${error.message}; check the user and password of the workflow broker URL`,
    );
    this.#abandon(error);
  }

  #lost(mine: number, why: string): void {
    if (mine !== this.#session || !this.#connected) return;
    this.#connected = false;
    const old = this.#client;
    this.#client = undefined;
    if (old) void old.deactivate({ force: true }).catch(() => {});
    for (const subscription of this.#subscriptions) subscription.handle = undefined;
    for (const done of [...this.#whenDrained]) done();
    if (!this.#stopped) this.#retry(`lost the connection to ${this.url}: ${why}`);
  }

  /**
   * One warning per attempt, then the next one after a wait drawn between
   * reconnectDelayMs and min(reconnectDelayMs × 2^n, reconnectMaxDelayMs):
   * jittered, so daemons that lost the broker together do not come back in
   * lockstep, and capped, so they are back soon after it is.
   */
  #retry(message: string): void {
    if (this.#stopped) return;
    this.#failures++;
    const { reconnectDelayMs, reconnectMaxDelayMs } = this.#options;
    const delay = backoffDelay(
      { kind: 'exponential', delayMs: reconnectDelayMs, maxDelayMs: reconnectMaxDelayMs },
      this.#failures,
      Math.random,
    );
    this.#log.warn(
      { url: this.url, attempt: this.#failures, retryInMs: delay },
      `${message} (${this.#options.purpose}; attempt ${this.#failures}; trying again in ${delay}ms)`,
    );
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#attempt(), delay);
  }

  /** Rejects every publish and subscription still waiting. */
  #abandon(error: Error): void {
    for (const entry of this.#outbox) entry.reject(error);
    this.#outbox.clear();
    for (const subscription of this.#subscriptions) for (const waiter of subscription.waiters.splice(0)) waiter.reject(error);
    if (this.#fatal) this.#subscriptions.length = 0;
    this.#drained();
  }

  #send(entry: Outgoing): void {
    const client = this.#client!;
    const receipt = `flowd-wf-${this.#session}-${++this.#receiptSeq}`;
    try {
      client.watchForReceipt(receipt, () => {
        if (!this.#outbox.delete(entry)) return;
        entry.resolve();
        this.#drained();
      });
      client.publish({
        destination: entry.destination,
        body: entry.body,
        headers: { ...entry.headers, 'content-type': 'application/json', persistent: 'true', receipt },
      });
    } catch {
      // The socket closed a moment ago and its close is not handled yet: the entry goes out on the next connection.
    }
  }

  #subscribe(subscription: Subscription): void {
    const client = this.#client!;
    const mine = this.#session;
    const receipt = `flowd-wf-${mine}-subscribed-${++this.#receiptSeq}`;
    try {
      client.watchForReceipt(receipt, () => {
        for (const waiter of subscription.waiters.splice(0)) waiter.resolve();
      });
      subscription.handle = client.subscribe(subscription.destination, (message) => subscription.onMessage(this.#delivery(mine, message)), {
        ack: 'client-individual',
        'prefetch-count': String(subscription.prefetch),
        receipt,
      });
    } catch {
      // As in #send: the next connection subscribes again.
    }
  }

  #delivery(mine: number, message: IMessage): Delivery {
    const live = () => mine === this.#session && this.#connected;
    const answer = (how: 'ack' | 'nack') => {
      if (!live()) return false;
      try {
        if (how === 'ack') message.ack();
        else message.nack({ requeue: 'true' });
        return true;
      } catch {
        return false;
      }
    };
    return {
      headers: message.headers,
      body: message.body,
      get live() {
        return live();
      },
      ack: () => answer('ack'),
      nack: () => answer('nack'),
    };
  }

  #drained(): void {
    if (this.#outbox.size > 0) return;
    for (const done of [...this.#whenDrained]) done();
  }
}
