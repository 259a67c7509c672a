import type { IStompSocket } from '@stomp/stompjs';

/** A STOMP frame as flowd wrote it or the broker plays it. */
export interface Frame {
  command: string;
  headers: Record<string, string>;
  body: string;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

function parseFrames(text: string): Frame[] {
  const frames: Frame[] = [];
  for (const raw of text.split('\0')) {
    const chunk = raw.replace(/^(\r?\n)+/, '');
    if (chunk === '') continue; // a heart-beat
    const split = chunk.indexOf('\n\n');
    const head = split === -1 ? chunk : chunk.slice(0, split);
    const [command, ...lines] = head.split('\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0 && !(line.slice(0, colon) in headers)) headers[line.slice(0, colon)] = line.slice(colon + 1);
    }
    frames.push({ command: command!, headers, body: split === -1 ? '' : chunk.slice(split + 2) });
  }
  return frames;
}

const serialize = (frame: Frame) =>
  `${frame.command}\n${Object.entries(frame.headers)
    .map(([key, value]) => `${key}:${value}\n`)
    .join('')}\n${frame.body}\0`;

/** One connection to the scripted broker, as stompjs sees a WebSocket. */
class ScriptedSocket implements IStompSocket {
  url = 'scripted://broker';
  onclose: ((ev?: unknown) => unknown) | undefined | null = null;
  onerror: ((ev: unknown) => unknown) | undefined | null = null;
  onmessage: ((ev: unknown) => unknown) | undefined | null = null;
  onopen: ((ev?: unknown) => unknown) | undefined | null = null;
  binaryType = 'arraybuffer';
  readyState = CONNECTING;

  constructor(private readonly broker: ScriptedBroker) {
    queueMicrotask(() => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      this.onopen?.({});
    });
  }

  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.readyState !== OPEN) throw new Error('the socket is not open');
    const text = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
    for (const frame of parseFrames(text)) this.broker.received(this, frame);
  }

  /** The broker plays a frame to flowd. */
  play(frame: Frame): void {
    if (this.readyState === OPEN) this.onmessage?.({ data: serialize(frame) });
  }

  close(): void {
    this.drop(1000, 'closed by the client');
  }

  /** The connection ends (the client's close, or the broker's side going away). */
  drop(code = 1006, reason = 'connection reset'): void {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    queueMicrotask(() => this.onclose?.({ code, reason, wasClean: code === 1000 }));
  }
}

/**
 * A STOMP broker in memory for the STOMP source's unit tests: hand
 * `broker.socket` to `stompDriver(options, { socket })`. It answers CONNECT
 * with CONNECTED (or, with `refuse`, an ERROR) and every `receipt` header
 * with a RECEIPT (unless `withholdReceipts`); the test plays MESSAGE and
 * ERROR frames, drops the connection, and reads the frames flowd wrote.
 */
export class ScriptedBroker {
  /** Every frame flowd wrote, in order, with the number of its connection (1 for the first). */
  readonly written: Array<Frame & { connection: number }> = [];
  /** Sockets made, in order (one per connection attempt). */
  readonly sockets: ScriptedSocket[] = [];
  /** When set, CONNECT is answered with an ERROR frame saying this. */
  refuse: string | undefined;
  /** When true, frames asking for a receipt get none. */
  withholdReceipts = false;
  private subscription: string | undefined;
  private messageSeq = 0;
  private readonly waiters = new Set<() => void>();

  /** The socket factory for the driver's `socket` seam. */
  readonly socket = (): IStompSocket => {
    const socket = new ScriptedSocket(this);
    this.sockets.push(socket);
    return socket;
  };

  /** The frames of one command flowd wrote. */
  frames(command: string): Array<Frame & { connection: number }> {
    return this.written.filter((frame) => frame.command === command);
  }

  /** Resolves once flowd has written `count` frames of `command`. */
  until(command: string, count = 1): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.frames(command).length < count) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  private get current(): ScriptedSocket {
    const socket = this.sockets.at(-1);
    if (!socket) throw new Error('flowd has not connected');
    return socket;
  }

  /** Plays a MESSAGE on the current subscription; returns its message id (also its ack id). */
  message(body: string, headers: Record<string, string> = {}): string {
    const id = headers['message-id'] ?? `m-${++this.messageSeq}`;
    this.current.play({
      command: 'MESSAGE',
      headers: { subscription: this.subscription ?? 'none', 'message-id': id, ack: id, destination: '/queue/in', ...headers },
      body,
    });
    return id;
  }

  /** Plays an ERROR frame. */
  error(message: string): void {
    this.current.play({ command: 'ERROR', headers: { message }, body: '' });
  }

  /** The broker's side of the connection goes away. */
  drop(): void {
    this.current.drop();
  }

  received(socket: ScriptedSocket, frame: Frame): void {
    this.written.push({ ...frame, connection: this.sockets.indexOf(socket) + 1 });
    // Answers go out on the next microtask, as over a network: stompjs listens for a receipt after it sends its frame.
    if (frame.command === 'CONNECT' || frame.command === 'STOMP') {
      const answer: Frame =
        this.refuse !== undefined
          ? { command: 'ERROR', headers: { message: this.refuse }, body: '' }
          : { command: 'CONNECTED', headers: { version: '1.2', 'heart-beat': '0,0' }, body: '' };
      queueMicrotask(() => socket.play(answer));
    } else if (frame.command === 'SUBSCRIBE') {
      this.subscription = frame.headers.id;
    }
    const receipt = frame.headers.receipt;
    if (receipt !== undefined && !this.withholdReceipts) {
      queueMicrotask(() => socket.play({ command: 'RECEIPT', headers: { 'receipt-id': receipt }, body: '' }));
    }
    for (const waiter of [...this.waiters]) waiter();
  }
}
