// Sends N assets to the example's queue: node --import tsx examples/queue/send.ts [N]
import { Client } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';

const count = Number(process.argv[2] ?? 3);
const client = new Client({
  webSocketFactory: () => new TCPWrapper('127.0.0.1', 61613),
  connectHeaders: { login: 'guest', passcode: 'guest' },
  reconnectDelay: 0,
});
client.onStompError = (frame) => {
  console.error(`the broker refused: ${frame.headers.message}`);
  process.exit(1);
};
let connected = false;
client.onWebSocketClose = () => {
  if (!connected) console.error('cannot reach RabbitMQ STOMP on 127.0.0.1:61613');
};
client.onConnect = () => {
  connected = true;
  for (let i = 1; i <= count; i++) {
    const receipt = `asset-${i}`;
    client.publish({
      destination: '/queue/flowd-example.assets',
      body: JSON.stringify({ title: `Evening news, part ${i}` }),
      headers: { 'asset-id': `A-${i}`, 'content-type': 'application/json', persistent: 'true', ...(i === count ? { receipt } : {}) },
    });
    // One receipt for the last: the broker confirms a connection's messages in order.
    if (i === count) client.watchForReceipt(receipt, () => void client.deactivate().then(() => console.log(`sent ${count} asset(s)`)));
  }
};
client.activate();
