import type { IMessage } from '@stomp/stompjs';
import { describe, expect, it } from 'vitest';
import { answerMessage } from '../../actors/sources/stomp-transport.js';
import { scriptedStompClient } from '../helpers/scripted-stomp-client.js';

// answerMessage writes ACK and NACK frames itself: they must be, byte for byte, the frames stompjs writes.

/** A stompjs client on a socket that records what it sends; `play` hands it text as the broker's. */
const client = (version: string) => scriptedStompClient(version);

/** A MESSAGE whose ack id needs every escape STOMP 1.2 has (`\c` for `:`, `\n`, `\r`, `\\`). */
const ESCAPED_ID = 'T_sub-0@@session\\cx\\ny\\rz\\\\w@@7';

async function received(version: string): Promise<{ stomp: Awaited<ReturnType<typeof client>>; message: IMessage }> {
  const stomp = await client(version);
  const messages: IMessage[] = [];
  stomp.client.subscribe('/queue/in', (message) => messages.push(message), { ack: 'client-individual' });
  stomp.sent.length = 0;
  stomp.play(`MESSAGE\nsubscription:sub-0\ndestination:/queue/in\nmessage-id:${ESCAPED_ID}\nack:${ESCAPED_ID}\ncontent-length:2\n\nhi\0`);
  expect(messages).toHaveLength(1);
  return { stomp, message: messages[0]! };
}

describe('answerMessage', () => {
  it.each(['ack', 'nack'] as const)('writes the %s frame stompjs writes, with the ack id escaped again', async (how) => {
    const { stomp, message } = await received('1.2');
    expect(message.headers.ack).toBe('T_sub-0@@session:x\ny\rz\\w@@7');
    if (how === 'ack') message.ack();
    else message.nack({ requeue: 'true' });
    const fromStompjs = stomp.sent.splice(0);
    answerMessage(stomp.client, message, how);
    expect(stomp.sent).toEqual(fromStompjs);
    expect(stomp.sent[0]).toContain(`id:${ESCAPED_ID}\n`);
  });

  it('leaves STOMP 1.1 (message-id, no escaping) to stompjs', async () => {
    const { stomp, message } = await received('1.1');
    message.ack();
    const fromStompjs = stomp.sent.splice(0);
    answerMessage(stomp.client, message, 'ack');
    expect(stomp.sent).toEqual(fromStompjs);
    expect(stomp.sent[0]).toMatch(/^ACK\nmessage-id:/);
  });

  it('throws once the client has no connection, and writes nothing', async () => {
    const { stomp, message } = await received('1.2');
    await stomp.client.deactivate({ force: true });
    expect(() => answerMessage(stomp.client, message, 'ack')).toThrow(/no underlying STOMP connection/);
    expect(stomp.sent.filter((frame) => frame.startsWith('ACK'))).toEqual([]);
  });
});
