import type { Client, IFrame, IMessage, IStompSocket, StompHeaders, StompSubscription } from '@stomp/stompjs';
import { RECONNECT_MAX_DELAY_MS } from '../../machines/backoff.js';
import type { ErrorInfo, Settlement } from '../../machines/events.js';
import { FlowdError, type ErrorCode } from '../../src/kernel/errors.js';
import type { Feed, SourceDriver } from './driver.js';
import { isLoopback, type DurationOption, type SourceApp, type SourceKind } from './source-kind.js';
import type { SectionReader } from '../../src/kernel/section-reader.js';
import { compilePayloadClass, parsePayload, type PayloadClass } from './payload.js';
import { connectHeaders, defaultDeadLetter, defaultPrefetch, parseStompUrl, type StompEndpoint } from './stomp-url.js';
import type { MessageFrame } from './stomp-frames.js';
import type * as StompTransportModule from './stomp-transport.js';

type StompTransport = typeof StompTransportModule;
let loadedTransport: StompTransport | undefined;

/** `[Source] type = stomp`, compiled. */
export interface StompOptions extends StompEndpoint {
  /** The STOMP `host` header (RabbitMQ's virtual host); unset: the broker's default. */
  virtualHost: string | undefined;
  heartbeatMs: number;
  /** Unacknowledged messages at most; unset: twice the workers (defaultPrefetch). */
  prefetch: number | undefined;
  payloadClass: PayloadClass;
  /** Where messages that failed their last attempt go. */
  deadLetter: string;
  /** How long the TCP connect and the CONNECTED frame may take. */
  connectTimeoutMs: number;
  /** How long a publish (or a dead letter) waits for the broker's RECEIPT. */
  receiptTimeoutMs: number;
}

/** What the worker receives for each message. */
export interface StompEvent<B = unknown> {
  destination: string;
  messageId: string;
  /** The broker delivered it before (to this daemon or another) without an ACK. */
  redelivered: boolean;
  headers: Readonly<Record<string, string>>;
  /** The body, as `payload class` reads it: text, parsed JSON, or parsed XML. */
  body: B;
}

/** Counts a stomp source keeps: `runtime.snapshot().source.stats`. */
export type StompStats = {
  received: number;
  acked: number;
  nacked: number;
  deadLettered: number;
  /** Work that finished after its connection had closed: not acknowledged; the broker redelivers those messages. */
  voided: number;
  /** Waiting events dropped because their connection closed (the broker redelivers them). */
  revoked: number;
  connections: number;
};

type Log = {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug?(fields: object, message: string): void;
};
const silent: Log = { info: () => {}, warn: () => {} };

// Headers the broker sets on delivery, and a TTL that would let the copy quietly expire: a dead letter does not carry them over.
export const DELIVERY_HEADERS: ReadonlySet<string> = new Set([
  'message-id',
  'subscription',
  'ack',
  'destination',
  'redelivered',
  'content-length',
  'receipt',
  'expiration',
]);

/** The destination forms RabbitMQ takes for SEND. */
const SEND_DESTINATION = /^\/(?:queue|topic|exchange|amq\/queue|temp-queue|reply-queue)\/./;

function deadLetterHeaders(original: StompHeaders, settlement: Settlement): StompHeaders {
  const headers: StompHeaders = {};
  for (const [key, value] of Object.entries(original)) if (!DELIVERY_HEADERS.has(key)) headers[key] = value;
  const error = settlement.error ?? { code: 'ERR_WORKER_FAILED', message: 'failed' };
  headers['x-flowd-error-code'] = error.code;
  headers['x-flowd-error-message'] = error.message.replace(/\s+/g, ' ').slice(0, 1000);
  headers['x-flowd-attempts'] = String(settlement.attempts);
  headers['x-flowd-original-destination'] = original.destination ?? '';
  headers['x-flowd-failed-at'] = new Date().toISOString();
  return headers;
}

const lostError = (url: string, why: string): ErrorInfo & { retryable: boolean } => ({
  code: 'ERR_CONNECTION_LOST',
  message: `lost the connection to ${url}: ${why}`,
  retryable: true,
});

/**
 * What the broker's ERROR frame says, and whether trying again could help:
 * an ERROR before CONNECTED (login, vhost) or before the subscription's
 * RECEIPT (no such queue, no access) is the configuration's fault and stops
 * the source; one later (a bad publish, say) costs the connection, which is
 * made again.
 */
function frameError(
  url: string,
  frame: IFrame,
  phase: 'connecting' | 'subscribing' | 'running',
  destination: string,
): ErrorInfo & { retryable: boolean } {
  const text = frameText(frame);
  if (phase === 'connecting')
    return { code: 'ERR_STOMP_REFUSED', message: `the broker at ${url} refused the connection: ${text}`, retryable: false };
  if (phase === 'subscribing')
    return {
      code: 'ERR_STOMP_REFUSED',
      message: `the broker at ${url} refused the subscription to ${destination}: ${text}`,
      retryable: false,
    };
  return { code: 'ERR_STOMP_ERROR', message: `the broker at ${url} sent an error: ${text}`, retryable: true };
}

/** What an ERROR frame says: its `message` header and its body, once. */
export function frameText(frame: IFrame): string {
  const summary = frame.headers.message ?? 'ERROR frame';
  const detail = frame.body.trim().replace(/\s+/g, ' ');
  return detail && !detail.startsWith(summary) ? `${summary}: ${detail}` : detail || summary;
}

/** What a socket's error event says, if anything. */
export function socketReason(event: unknown): string | undefined {
  const candidate = (event as { message?: unknown; error?: unknown } | undefined) ?? {};
  const error = candidate.message instanceof Error ? candidate.message : candidate.error instanceof Error ? candidate.error : undefined;
  if (error) return error.message;
  return typeof candidate.message === 'string' ? candidate.message : undefined;
}

/** The body as text: decoded with Buffer, without the TextDecoder stompjs makes per message. */
function bodyText(message: MessageFrame): string {
  const bytes = message.binaryBody;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** A message as flowd's reader (over TCP) or stompjs (its IMessage, over WebSocket) hands it over. */
type Message = MessageFrame & Partial<Pick<IMessage, 'ack' | 'nack'>>;

interface Inflight {
  session: number;
  message: Message;
}

/** A STOMP source that can also publish for workers (`ctx.publish`). */
export interface StompDriver extends SourceDriver {
  publish(destination: string, body: string | Uint8Array | object, headers?: Record<string, string | number | boolean>): Promise<void>;
  stats(): StompStats;
  /** `payload class`: how a body was read, so a retry can write it back (see stomp-republish.ts). */
  readonly payloadClass: PayloadClass;
}

/**
 * Flow's Generic Stomp Listener, with at-least-once delivery. Subscribes
 * with `ack: client-individual` and a prefetch, so the broker never has more
 * than `prefetch` messages out to this daemon. A message is ACKed only after
 * its worker finished; one that failed its last attempt is published to the
 * dead-letter destination, and ACKed once the broker's RECEIPT says the copy
 * is safe. Anything else (returned on shutdown, expired, rejected) is NACKed
 * with requeue. Outcomes that arrive after their connection closed are
 * void: the broker redelivers those messages, so they are counted and
 * dropped. While paused, new messages are held unacknowledged (still
 * within the prefetch) and handed over on resume.
 */
export function stompDriver(
  options: StompOptions,
  deps: {
    log?: Log | undefined;
    workers?: number | undefined;
    /** Makes each connection's socket instead of TCP or WebSocket: a unit test's scripted broker. */
    socket?: (() => IStompSocket) | undefined;
  } = {},
): StompDriver {
  const log = deps.log ?? silent;
  const url = options.displayUrl;
  const prefetch = options.prefetch ?? defaultPrefetch(deps.workers ?? 1);
  let client: Client | undefined;
  /** The current connection's number; outcomes and receipts of an older one are void. */
  let session = 0;
  let connected = false;
  /** Whether the subscription's RECEIPT arrived (an ERROR before it is a refused subscription). */
  let subscribed = false;
  let stopping = false;
  let paused = false;
  let feed: Feed | undefined;
  let subscription: StompSubscription | undefined;
  let held: Message[] = [];
  let receiptSeq = 0;
  /** Delivered and not yet answered, by delivery id (`<session>:<message-id>`, unique even where a broker reuses message ids). */
  const inflight = new Map<string, Inflight>();
  const receipts = new Map<string, { session: number; resolve(): void; reject(error: Error): void }>();
  /** Dead letters waiting for their RECEIPT: a graceful stop lets them finish and ACK first. */
  const deadLetters = new Set<Promise<void>>();
  const stats: StompStats = { received: 0, acked: 0, nacked: 0, deadLettered: 0, voided: 0, revoked: 0, connections: 0 };

  const rejectReceipts = (ended: number, why: string) => {
    for (const [id, receipt] of receipts) {
      if (receipt.session !== ended) continue;
      receipts.delete(id);
      receipt.reject(new FlowdError('ERR_CONNECTION_LOST', `no receipt from ${url}: ${why}`));
    }
  };

  /** Closes a client for good, without waiting for the broker. */
  const discard = (old: Client | undefined) => {
    if (old) void old.deactivate({ force: true }).catch(() => {});
  };

  /** The connection of `ended` is gone (or unusable after an ERROR): close it and tell the source machine, once. */
  const lose = (ended: number, error: ErrorInfo & { retryable: boolean }) => {
    if (ended !== session || !connected) return;
    connected = false;
    subscription = undefined;
    held = [];
    // The broker may keep a socket open after an ERROR frame: close it, or its subscription would hold messages.
    const old = client;
    client = undefined;
    discard(old);
    rejectReceipts(ended, error.message);
    if (stopping) return;
    // Waiting events of this connection are dropped (the broker redelivers them); running ones finish, void.
    const orphans: string[] = [];
    for (const [id, entry] of inflight) if (entry.session === ended) orphans.push(id);
    feed?.revoke(orphans, { code: 'ERR_CONNECTION_LOST', message: error.message });
    feed?.lost(error);
  };

  const createClient = (transport: StompTransport, mine: number) =>
    transport.createStompClient(
      options,
      {
        connectHeaders: connectHeaders(options),
        heartbeatMs: options.heartbeatMs,
        onHeartbeatLost: () => lose(mine, lostError(url, `no heart-beat from the broker for ${options.heartbeatMs}ms`)),
      },
      deps.socket,
    );

  const onMessage = (mine: number, message: Message) => {
    // A frame of a connection that is closing: left unacknowledged, so the broker redelivers it.
    if (mine !== session || !connected || stopping) return;
    stats.received++;
    if (paused || !feed) held.push(message);
    else deliver(feed, message);
  };

  const deliver = (to: Feed, message: Message) => {
    const headers = message.headers;
    const messageId = headers['message-id'];
    const id = `${session}:${messageId ?? stats.received}`;
    inflight.set(id, { session, message });
    const redelivered = headers.redelivered === 'true';
    const text = bodyText(message);
    // A text body is the payload as it is: no parse, and no name for an error that cannot happen.
    const { payload, error } =
      options.payloadClass === 'text'
        ? { payload: text, error: undefined }
        : parsePayload(text, options.payloadClass, `message ${messageId ?? id}`);
    const event: StompEvent = {
      destination: headers.destination ?? options.destination,
      messageId: messageId ?? id,
      redelivered,
      headers,
      body: payload,
    };
    // The body's bytes go along: a retry republishes them as they came (a parsed XML body cannot be written back).
    const raw = message.binaryBody;
    to.deliver(event, error ? { id, meta: { redelivered }, error, raw } : { id, meta: { redelivered }, raw });
  };

  const publishOn = (
    mine: number,
    destination: string,
    body: string | Uint8Array | object,
    headers: Record<string, string | number | boolean> = {},
  ) => {
    if (!SEND_DESTINATION.test(destination)) {
      return Promise.reject(
        new FlowdError(
          'ERR_INVALID_DESTINATION',
          `cannot publish to "${destination}": expected a destination such as /queue/name, /topic/name or /exchange/name`,
        ),
      );
    }
    const current = client;
    if (!current || mine !== session || !connected) {
      return Promise.reject(new FlowdError('ERR_NOT_CONNECTED', `cannot publish to ${destination}: not connected to ${url}`));
    }
    const receipt = `flowd-${mine}-${++receiptSeq}`;
    const frameHeaders: StompHeaders = {};
    for (const [key, value] of Object.entries(headers)) frameHeaders[key] = String(value);
    frameHeaders.persistent = 'true';
    frameHeaders.receipt = receipt;
    let params: { body: string } | { binaryBody: Uint8Array };
    if (typeof body === 'string') params = { body };
    else if (body instanceof Uint8Array) params = { binaryBody: body };
    else {
      params = { body: JSON.stringify(body) };
      frameHeaders['content-type'] ??= 'application/json';
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        receipts.delete(receipt);
        reject(
          new FlowdError(
            'ERR_RECEIPT_TIMEOUT',
            `no receipt from ${url} for a message to ${destination} within ${options.receiptTimeoutMs}ms`,
          ),
        );
      }, options.receiptTimeoutMs);
      const settle = (error?: Error) => {
        clearTimeout(timer);
        receipts.delete(receipt);
        if (error) reject(error);
        else resolve();
      };
      receipts.set(receipt, { session: mine, resolve: () => settle(), reject: settle });
      try {
        current.watchForReceipt(receipt, () => receipts.get(receipt)?.resolve());
        current.publish({ destination, headers: frameHeaders, ...params });
      } catch (error) {
        // The socket closed a moment ago (stompjs throws when it has no connection).
        settle(new FlowdError('ERR_NOT_CONNECTED', (error as Error).message, { cause: error }));
      }
    });
  };

  /** ACK or NACK (with requeue); false when the connection is already gone (the outcome is void). */
  const answer = (message: Message, how: 'ack' | 'nack'): boolean => {
    try {
      if (!client || !loadedTransport) throw new Error('not connected');
      loadedTransport.answerMessage(client, message, how);
    } catch {
      // The socket closed a moment ago and its close is not handled yet: the broker redelivers.
      stats.voided++;
      return false;
    }
    return true;
  };

  const deadLetter = async (entry: Inflight, settlement: Settlement) => {
    const { message } = entry;
    try {
      await publishOn(entry.session, options.deadLetter, message.binaryBody, deadLetterHeaders(message.headers, settlement));
    } catch (error) {
      log.warn(
        { url, event: settlement.id, error: { code: (error as { code?: string }).code, message: (error as Error).message } },
        `could not dead-letter ${settlement.id} to ${options.deadLetter}: ${(error as Error).message}; the broker will redeliver it`,
      );
      // Still connected (the receipt timed out): requeue rather than hold the message for ever.
      if (entry.session === session && connected && answer(message, 'nack')) stats.nacked++;
      return;
    }
    if (entry.session !== session || !connected) stats.voided++;
    else if (answer(message, 'ack')) stats.deadLettered++;
  };

  return {
    type: 'stomp',
    payloadClass: options.payloadClass,

    async connect() {
      // stompjs and its sockets load with the first connection, not with flowd (an app without STOMP never loads them).
      const transport = (loadedTransport ??= await import('./stomp-transport.js'));
      stopping = false;
      held = [];
      discard(client);
      client = undefined;
      const mine = ++session;
      const current = createClient(transport, mine);
      client = current;
      try {
        await new Promise<void>((resolve, reject) => {
          let settled = false;
          let reason: string | undefined;
          const fail = (error: ErrorInfo & { retryable: boolean }) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(Object.assign(new FlowdError(error.code as ErrorCode, error.message), { retryable: error.retryable }));
          };
          const timer = setTimeout(
            () =>
              fail({
                code: 'ERR_CONNECT',
                message: `cannot connect to ${url}: no CONNECTED frame within ${options.connectTimeoutMs}ms`,
                retryable: true,
              }),
            options.connectTimeoutMs,
          );
          current.onConnect = () => {
            if (settled) return;
            if (stopping) return fail({ code: 'ERR_CONNECT', message: `the source stopped while connecting to ${url}`, retryable: false });
            settled = true;
            clearTimeout(timer);
            connected = true;
            subscribed = false;
            resolve();
          };
          current.onStompError = (frame) => {
            if (!settled) fail(frameError(url, frame, 'connecting', options.destination));
            else lose(mine, frameError(url, frame, subscribed ? 'running' : 'subscribing', options.destination));
          };
          current.onWebSocketError = (event) => {
            reason ??= socketReason(event);
          };
          current.onWebSocketClose = () => {
            if (!settled) {
              fail({
                code: 'ERR_CONNECT',
                message: `cannot connect to ${url}: ${reason ?? 'the broker closed the connection'}`,
                retryable: true,
              });
            } else lose(mine, lostError(url, reason ?? 'the broker closed the connection'));
          };
          current.activate();
        });
      } catch (error) {
        if (client === current) client = undefined;
        discard(current);
        // The source machine decides what follows (a retry with backoff, logged by the runtime, or failing).
        throw error;
      }
      stats.connections++;
      log.info({ url, prefetch }, `connected to ${url} (prefetch ${prefetch})`);
    },

    start(to) {
      feed = to;
      const current = client;
      if (!current || !connected) {
        to.lost(lostError(url, 'the connection closed before the subscription'));
        return;
      }
      const mine = session;
      const receipt = `flowd-${mine}-subscribed`;
      current.watchForReceipt(receipt, () => {
        if (mine === session) subscribed = true;
      });
      // Over TCP, flowd reads the MESSAGE frames itself (StompReader): a few µs a message rather than stompjs's dozen.
      const socket = current.webSocket;
      if (loadedTransport && socket instanceof loadedTransport.TcpSocket && current.connectedVersion === '1.2')
        socket.readMessages((message) => onMessage(mine, message));
      subscription = current.subscribe(options.destination, (message) => onMessage(mine, message), {
        ack: 'client-individual',
        'prefetch-count': String(prefetch),
        receipt,
      });
    },

    stop() {
      // The subscription stays until disconnect(): dead letters still in flight must be ACKed first, and
      // RabbitMQ refuses an ACK after UNSUBSCRIBE. Held messages stay unacknowledged: closing returns them.
      feed = undefined;
      held = [];
    },

    pause() {
      paused = true;
    },

    resume() {
      paused = false;
      const waiting = held;
      held = [];
      for (const message of waiting) {
        if (feed) deliver(feed, message);
      }
    },

    settle(settlement) {
      const entry = inflight.get(settlement.id);
      if (!entry) return;
      inflight.delete(settlement.id);
      if (entry.session !== session || !connected) {
        if (settlement.outcome === 'returned' && settlement.error?.code === 'ERR_CONNECTION_LOST') {
          stats.revoked++;
          return;
        }
        stats.voided++;
        // The work was done, but its message cannot be acknowledged any more: it will run again. Said at warn,
        // so that an operator who sees the same message processed twice knows why.
        log.warn(
          { url, event: settlement.id, outcome: settlement.outcome },
          `event ${settlement.id} ended (${settlement.outcome}) after its connection was lost; it cannot be acknowledged, so the broker redelivers it and it runs again`,
        );
        return;
      }
      if (settlement.deadLetter) {
        const pending = deadLetter(entry, settlement);
        deadLetters.add(pending);
        void pending.finally(() => deadLetters.delete(pending));
        return;
      }
      if (settlement.ack) {
        if (answer(entry.message, 'ack')) stats.acked++;
      } else if (answer(entry.message, 'nack')) stats.nacked++;
    },

    async disconnect() {
      stopping = true;
      const current = client;
      const mine = session;
      // Dead letters still waiting for their RECEIPT finish (and ACK their original) before the connection closes.
      if (deadLetters.size > 0) await Promise.allSettled([...deadLetters]);
      client = undefined;
      const wasConnected = connected;
      connected = false;
      held = [];
      rejectReceipts(mine, 'the source stopped');
      if (!current) return;
      if (!wasConnected) {
        // Stopped while connecting: close the attempt, so no connection outlives the source.
        await current.deactivate({ force: true }).catch(() => {});
        return;
      }
      if (subscription) {
        try {
          subscription.unsubscribe();
        } catch {
          // the connection is closing anyway
        }
        subscription = undefined;
      }
      // DISCONNECT with a receipt; a broker that does not answer in time gets the socket closed.
      let timer: NodeJS.Timeout | undefined;
      const answered = await Promise.race([
        current.deactivate().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.min(options.connectTimeoutMs, 5000)))),
      ]);
      clearTimeout(timer);
      if (!answered) await current.deactivate({ force: true }).catch(() => {});
      log.info({ url, ...stats }, `disconnected from ${url}${answered ? '' : ' (no DISCONNECT receipt; closed)'}`);
    },

    publish(destination, body, headers) {
      return publishOn(session, destination, body, headers);
    },

    stats: () => ({ ...stats }),
  };
}

/** `sources.stomp({ ... })`: the `[Source] type = stomp` keys, in camelCase. */
export interface StompSourceOptions {
  /** `stomp://[user:pass@]host[:port]/queue/name` (or `stomp+ssl://`, `ws://`, `wss://`). */
  stompUrl: string;
  /** The user, when the url names none. */
  login?: string;
  /** The password, when the url has none. */
  passcode?: string;
  /** The STOMP `host` header (RabbitMQ's virtual host); unset: the broker's default. */
  virtualHost?: string;
  /** How often heart-beats go each way; 0 turns them off. @default '10s' */
  heartbeat?: DurationOption;
  /** Unacknowledged messages at most (1 to 65535). @default twice the workers, at least workers + 2 */
  prefetch?: number;
  /** How a body is read: `text`, or parsed `json` or `xml`. @default 'text' */
  payloadClass?: PayloadClass;
  /** The queue where messages that failed their last attempt go. @default the destination with `.dlq` appended */
  deadLetter?: string;
  /** How long the TCP connect and the CONNECTED frame may take. @default '10s' */
  connectTimeout?: DurationOption;
  /** How long a publish (or a dead letter) waits for the broker's RECEIPT. @default '30s' */
  receiptTimeout?: DurationOption;
  /** The first wait before connecting again; it doubles each attempt. @default '1s' */
  reconnectDelay?: DurationOption;
  /** The longest wait between attempts (drawn with jitter up to it). @default '1.5s' (or the reconnect delay, if longer) */
  reconnectMaxDelay?: DurationOption;
}

/** `[Source] type = stomp`: reads its keys and makes its driver. */
export const stompSource: SourceKind = {
  compile(reader: SectionReader, app: SourceApp) {
    const urlText = reader.string('stomp url');
    if (urlText === undefined) reader.fail('stomp url', 'is missing; expected stomp://[user:pass@]host[:port]/queue/name');
    let endpoint: StompEndpoint;
    try {
      endpoint = parseStompUrl(urlText);
    } catch (error) {
      reader.fail('stomp url', (error as Error).message);
    }
    const login = reader.string('login');
    const passcode = reader.string('passcode');
    if (login !== undefined && endpoint.login !== undefined)
      reader.fail('login', `is set, and the stomp url ${endpoint.displayUrl} names a user too; expected one of them`);
    if (passcode !== undefined && endpoint.passcode !== undefined)
      reader.fail('passcode', `is set, and the stomp url ${endpoint.displayUrl} has a password too; expected one of them`);
    const deadLetter = reader.string('dead letter', defaultDeadLetter(endpoint.destination));
    // Only a plain queue is safe: the broker creates it, and a topic or exchange with nothing bound would drop the copy after its RECEIPT.
    if (!/^\/queue\/.+/.test(deadLetter))
      reader.fail(
        'dead letter',
        `found "${deadLetter}"; expected a queue such as /queue/assets.dlq (a topic or exchange with nothing bound would lose the message)`,
      );
    if (deadLetter === endpoint.destination)
      reader.fail(
        'dead letter',
        `found "${deadLetter}", the source's own destination; expected another queue, or failed messages would come back for ever`,
      );
    const delayMs = reader.duration('reconnect delay', 1000, { minMs: 1 });
    const maxDelayMs = reader.duration('reconnect max delay', Math.max(RECONNECT_MAX_DELAY_MS, delayMs));
    if (maxDelayMs < delayMs)
      reader.fail('reconnect max delay', `found ${maxDelayMs}ms; expected at least the reconnect delay (${delayMs}ms)`);
    // 0 is the "unset" sentinel: the default follows [Flow] workers, known only when the runtime is built.
    const prefetchValue = reader.integer('prefetch', 0, { min: 1, max: 65_535 });
    const options: StompOptions = {
      ...endpoint,
      login: login ?? endpoint.login,
      passcode: passcode ?? endpoint.passcode,
      virtualHost: reader.string('virtual host'),
      heartbeatMs: reader.duration('heartbeat', 10_000),
      prefetch: prefetchValue === 0 ? undefined : prefetchValue,
      payloadClass: compilePayloadClass(reader),
      deadLetter,
      connectTimeoutMs: reader.duration('connect timeout', 10_000, { minMs: 1 }),
      receiptTimeoutMs: reader.duration('receipt timeout', 30_000, { minMs: 1 }),
    };
    const prefetchText =
      options.prefetch !== undefined
        ? String(options.prefetch)
        : app.workers !== undefined
          ? String(defaultPrefetch(app.workers))
          : '2 x workers';
    return {
      type: 'stomp',
      description: `stomp ${endpoint.displayUrl} (prefetch ${prefetchText}, payload ${options.payloadClass}, dead letter ${deadLetter})${isLoopback(endpoint.host) ? '' : ', NOT loopback'}`,
      reconnect: { delayMs, maxDelayMs },
      create: (deps = {}) => stompDriver(options, { log: deps.log, workers: deps.workers }),
    };
  },
};
