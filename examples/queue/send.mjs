// Sends N assets (default 3) to the example's queue: node examples/queue/send.mjs [N]
// Each message is {"title": "Evening news, part i"} with the header asset-id: A-i.
import { Client } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';

const count = Number(process.argv[2] ?? 3);
if (!Number.isInteger(count) || count < 1) {
  console.error(`send.mjs: found "${process.argv[2]}"; expected a number of assets, at least 1`);
  process.exit(2);
}
const client = new Client({
  webSocketFactory: () => new TCPWrapper('127.0.0.1', 61613),
  connectHeaders: { login: 'guest', passcode: 'guest' },
  reconnectDelay: 0,
});
client.onStompError = (frame) => {
  console.error(`send.mjs: the broker refused: ${frame.headers.message}`);
  process.exit(1);
};
let connected = false;
client.onWebSocketClose = () => {
  if (connected) return;
  console.error('send.mjs: cannot reach RabbitMQ STOMP on 127.0.0.1:61613 (rabbitmq-plugins enable rabbitmq_stomp)');
  process.exit(1);
};
client.onConnect = () => {
  connected = true;
  const receipt = 'last-asset';
  for (let i = 1; i <= count; i++) {
    client.publish({
      destination: '/queue/flowd-example.assets',
      body: JSON.stringify({ title: `Evening news, part ${i}` }),
      headers: { 'asset-id': `A-${i}`, 'content-type': 'application/json', persistent: 'true', ...(i === count ? { receipt } : {}) },
    });
  }
  // One receipt for the last: the broker confirms a connection's messages in order.
  client.watchForReceipt(receipt, () => void client.deactivate().then(() => console.log(`sent ${count} asset(s)`)));
};
client.activate();
