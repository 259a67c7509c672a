import { Client, type IMessage, type IStompSocket } from '@stomp/stompjs';
import { StompReader } from '../actors/sources/stomp-frames.js';
import { answerMessage, createStompClient, ReadChunk } from '../actors/sources/stomp-transport.js';
import type { StompEndpoint } from '../actors/sources/stomp-url.js';
import { BODY } from './stomp-consumers.js';

/**
 * stompjs alone, without a broker or a socket: MESSAGE frames as RabbitMQ
 * sends them (its headers, this bench's body), five to a read, played into
 * a client whose socket only counts what is sent, each message ACKed as it
 * arrives. `stock` is stompjs as the bare consumer uses it (a Buffer a read,
 * `message.ack()`); `flowd` as flowd's TCP transport does (TcpSocket's
 * readMessages: MESSAGE frames read by StompReader, anything else handed
 * to stompjs as a ReadChunk, ACKs by answerMessage). CPU per message, in
 * this process.
 */

const ENDPOINT: StompEndpoint = {
  transport: 'tcp',
  host: '127.0.0.1',
  port: 61613,
  webSocketUrl: undefined,
  destination: '/queue/replay',
  login: undefined,
  passcode: undefined,
  displayUrl: 'stomp://127.0.0.1:61613/queue/replay',
};

const frame = (n: number): string => {
  const id = `T_sub-0@@session-AbCdEfGhIjKlMnOpQrStUv@@${n}`;
  return `MESSAGE\nsubscription:sub-0\ndestination:/queue/flowd-bench.replay\nmessage-id:${id}\nredelivered:false\nack:${id}\npersistent:true\ncontent-length:${Buffer.byteLength(BODY)}\n\n${BODY}\0`;
};

async function replay(way: 'stock' | 'flowd', count: number): Promise<number> {
  let socket!: IStompSocket;
  let sent = 0;
  const makeSocket = (): IStompSocket =>
    (socket = {
      url: 'replay://',
      readyState: 1,
      onclose: null,
      onerror: null,
      onmessage: null,
      onopen: null,
      close() {},
      send(data) {
        sent += typeof data === 'string' ? data.length : 1;
      },
    });
  const client =
    way === 'flowd'
      ? // flowd's client as createStompClient makes it over TCP (raw logging on), here on the replay socket.
        createStompClient(ENDPOINT, { heartbeatMs: 0, logRawCommunication: true }, makeSocket)
      : new Client({ webSocketFactory: makeSocket, heartbeatIncoming: 0, heartbeatOutgoing: 0, reconnectDelay: 0, debug: () => {} });
  const connected = new Promise<void>((resolve) => (client.onConnect = () => resolve()));
  client.activate();
  await new Promise((resolve) => setImmediate(resolve));
  socket.onmessage?.({ data: Buffer.from('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0') });
  await connected;
  let read = 0;
  client.subscribe(
    '/queue/replay',
    (message: IMessage) => {
      read += message.body.length;
      message.ack();
    },
    { ack: 'client-individual' },
  );
  // As TcpSocket.readMessages reads: MESSAGE frames by the reader, the rest to stompjs (none here: an empty chunk a read).
  const reader = new StompReader(
    (message) => {
      read += Buffer.from(message.binaryBody.buffer, message.binaryBody.byteOffset, message.binaryBody.byteLength).toString('utf8').length;
      answerMessage(client, message, 'ack');
    },
    (bytes) => socket.onmessage?.({ data: new ReadChunk(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength) }),
  );
  const empty = new ReadChunk(0);
  const reads: Buffer[] = [];
  for (let n = 0; n < count; n += 5) reads.push(Buffer.from(frame(n) + frame(n + 1) + frame(n + 2) + frame(n + 3) + frame(n + 4)));
  const before = process.cpuUsage();
  if (way === 'flowd') {
    for (const data of reads) {
      reader.read(data);
      socket.onmessage?.({ data: empty });
    }
  } else for (const data of reads) socket.onmessage?.({ data });
  const used = process.cpuUsage(before);
  await client.deactivate({ force: true });
  if (read !== reads.length * 5 * BODY.length || sent === 0) throw new Error(`the ${way} replay read ${read} body bytes and sent ${sent}`);
  return (used.user + used.system) / (reads.length * 5);
}

/** CPU µs a message of each way, rounds alternated: the medians. */
export async function replayStompjs(count: number, rounds: number): Promise<{ stock: number; flowd: number }> {
  const runs = { stock: [] as number[], flowd: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    for (const way of round % 2 === 0 ? (['stock', 'flowd'] as const) : (['flowd', 'stock'] as const)) {
      globalThis.gc?.();
      runs[way].push(await replay(way, count));
    }
  }
  const mid = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return { stock: mid(runs.stock), flowd: mid(runs.flowd) };
}
