import { Client, type IStompSocket } from '@stomp/stompjs';
import { until } from './wait.js';

/**
 * A stompjs client on a scripted socket, connected: `sent` records what it
 * writes after its CONNECT frame, and `play` hands it bytes as the broker's.
 * For tests that hold flowd's own frame reading and writing to stompjs's.
 */
export async function scriptedStompClient(version = '1.2'): Promise<{ client: Client; sent: string[]; play(data: string | Buffer): void }> {
  const sent: string[] = [];
  let socket!: IStompSocket;
  const client = new Client({
    webSocketFactory: () =>
      (socket = {
        url: 'test://broker',
        readyState: 1,
        onclose: null,
        onerror: null,
        onmessage: null,
        onopen: null,
        close() {},
        send(data) {
          sent.push(String(data));
        },
      }),
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    reconnectDelay: 0,
    debug: () => {},
  });
  const play = (data: string | Buffer) => socket.onmessage?.({ data });
  const connected = new Promise<void>((resolve) => (client.onConnect = () => resolve()));
  client.activate();
  await until(() => sent.length > 0, { what: 'the CONNECT frame' });
  play(`CONNECTED\nversion:${version}\nheart-beat:0,0\n\n\0`);
  await connected;
  sent.length = 0;
  return { client, sent, play };
}
