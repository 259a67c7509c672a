import { createConnection, type Socket } from 'node:net';
import { Client, StompSocketState, type IMessage, type IStompSocket, type StompConfig } from '@stomp/stompjs';
import WebSocket from 'ws';
import { StompReader, type MessageFrame } from './stomp-frames.js';
import type { StompEndpoint } from './stomp-url.js';

// The I/O half of STOMP: stompjs's client over a TCP or WebSocket transport. Loaded on the first
// connection (by the STOMP source and the workflow broker), so an app without STOMP never loads it.

/**
 * A chunk read from the TCP socket, as stompjs's parser gets it (a view, not
 * a copy). Its text form does not decode it: with `logRawCommunication`
 * stompjs builds a debug line from each chunk, which flowd then drops.
 */
export class ReadChunk extends Uint8Array {
  override toString(): string {
    return `[${this.length} bytes]`;
  }
}

const chunk = (data: Buffer): ReadChunk => new ReadChunk(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
const EMPTY = new ReadChunk(0);

/**
 * A TCP transport for stompjs (in place of @stomp/tcp-wrapper's): no Nagle
 * delay, and the text frames of one tick (the ACKs of a batch, say) go out
 * joined in one write.
 */
export class TcpSocket implements IStompSocket {
  readonly url: string;
  readyState: StompSocketState = StompSocketState.CONNECTING;
  onclose: ((event?: unknown) => unknown) | null = null;
  onerror: ((event: unknown) => unknown) | null = null;
  onmessage: ((event: { data: Uint8Array }) => unknown) | null = null;
  onopen: ((event?: unknown) => unknown) | null = null;
  private readonly tcp: Socket;
  private pending: string[] | undefined;
  /** The close event to report when flowd ended the connection itself (stompjs's `terminate`). */
  private terminated: object | undefined;

  constructor(host: string, port: number) {
    this.url = `tcp://${host}:${port}/`;
    this.tcp = createConnection({ port, host, noDelay: true });
    this.tcp.on('connect', () => {
      this.readyState = StompSocketState.OPEN;
      this.onopen?.();
    });
    this.tcp.on('data', (data: Buffer) => this.read(data));
    this.tcp.on('close', (hadError: boolean) => {
      this.readyState = StompSocketState.CLOSED;
      this.onclose?.(this.terminated ?? { wasClean: !hadError, type: 'CloseEvent', code: 1000 });
    });
    this.tcp.on('error', (error) => this.onerror?.({ type: 'Error', error: 100, message: error }));
  }

  /** What a read does: hands the bytes to stompjs, until readMessages. */
  private read = (data: Buffer): void => void this.onmessage?.({ data: chunk(data) });

  /**
   * From now on MESSAGE frames are read by a StompReader and go to
   * `onMessage`, not through stompjs; every other frame still goes to
   * stompjs. For STOMP 1.2 (the reader undoes 1.2's header escapes), called
   * between frames: after CONNECTED, before SUBSCRIBE.
   */
  readMessages(onMessage: (frame: MessageFrame) => void): void {
    let passed = false;
    const reader = new StompReader(onMessage, (bytes) => {
      passed = true;
      this.onmessage?.({ data: chunk(bytes) });
    });
    this.read = (data) => {
      passed = false;
      reader.read(data);
      // stompjs counts any read as the broker's heart-beat: an empty one keeps its heart-beat check fed.
      if (!passed) this.onmessage?.({ data: EMPTY });
    };
  }

  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (typeof data !== 'string') {
      this.flush();
      this.tcp.write(new Uint8Array(data as ArrayBuffer));
      return;
    }
    if (!this.pending) {
      this.pending = [];
      process.nextTick(() => this.flush());
    }
    this.pending.push(data);
  }

  close(): void {
    this.flush();
    this.readyState = StompSocketState.CLOSING;
    this.tcp.end();
  }

  terminate(): void {
    this.readyState = StompSocketState.CLOSING;
    this.terminated = { wasClean: false, type: 'CloseEvent', code: 4001 };
    this.tcp.destroy();
  }

  private flush(): void {
    const frames = this.pending;
    this.pending = undefined;
    if (!frames || frames.length === 0 || this.tcp.destroyed || this.tcp.writableEnded) return;
    this.tcp.write(frames.length === 1 ? frames[0]! : frames.join(''));
  }
}

/**
 * A stompjs client for `endpoint`, over TCP (TcpSocket) or WebSocket as
 * the endpoint says, with heart-beats both ways every `heartbeatMs` and
 * stompjs's own reconnects and connect timeout off; `config` is the rest
 * of stompjs's configuration. `socket`, when given, makes each connection's socket instead (a test's scripted broker).
 */
export function createStompClient(
  endpoint: StompEndpoint,
  config: Omit<StompConfig, 'webSocketFactory' | 'brokerURL'> & { heartbeatMs: number },
  socket?: () => IStompSocket,
): Client {
  const { heartbeatMs, ...rest } = config;
  const tcp = !socket && endpoint.transport === 'tcp';
  return new Client({
    heartbeatIncoming: heartbeatMs,
    heartbeatOutgoing: heartbeatMs,
    // Reconnects and the connect timeout are flowd's: stompjs's own timers outlive a failed attempt and would keep the process up.
    reconnectDelay: 0,
    connectionTimeout: 0,
    discardWebsocketOnCommFailure: true,
    debug: () => {},
    // stompjs builds a debug line for every frame in and out even when `debug` drops it: its headers
    // serialized and escaped again, a TextEncoder each. With raw logging the lines are the chunks
    // themselves, which over TCP are ReadChunks that print as their length: no work per frame.
    logRawCommunication: tcp,
    ...rest,
    webSocketFactory: () =>
      socket
        ? socket()
        : tcp
          ? new TcpSocket(endpoint.host, endpoint.port)
          : (new WebSocket(endpoint.webSocketUrl!, ['v12.stomp', 'v11.stomp', 'v10.stomp'], { perMessageDeflate: false }) as never),
  });
}

/** A STOMP 1.2 header value, escaped (`\`, CR, LF and `:`), as stompjs escapes what it sends. */
const escapeHeader = (value: string): string =>
  /[\\\r\n:]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/:/g, '\\c') : value;

/**
 * ACKs `message`, or NACKs it with requeue, on `client`: over STOMP 1.2 the
 * same frame stompjs's `message.ack()` writes, made as one string rather
 * than through stompjs's frame object (two header copies, the headers
 * serialized twice with four regular expressions a value, two
 * TextEncoders: a quarter of stompjs's cost a message). Other versions go
 * through stompjs. Throws when the client has no connection (stompjs's own
 * `message.ack()` would write to the closed socket).
 */
export function answerMessage(client: Client, message: MessageFrame & Partial<Pick<IMessage, 'ack' | 'nack'>>, how: 'ack' | 'nack'): void {
  const socket = client.connected ? client.webSocket : undefined;
  if (!socket) throw new Error('There is no underlying STOMP connection');
  const { ack, subscription } = message.headers;
  if (client.connectedVersion !== '1.2' || ack === undefined || subscription === undefined) {
    if (!message.ack || !message.nack) throw new Error(`cannot ${how} a message without its ack and subscription headers`);
    if (how === 'ack') message.ack();
    else message.nack({ requeue: 'true' });
    return;
  }
  const ids = `id:${escapeHeader(ack)}\nsubscription:${escapeHeader(subscription)}\n\n\0`;
  socket.send(how === 'ack' ? `ACK\n${ids}` : `NACK\nrequeue:true\n${ids}`);
}
