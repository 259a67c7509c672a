import type { IFrame, IMessage } from '@stomp/stompjs';
import { scriptedStompClient } from '../helpers/scripted-stomp-client.js';
import { describe, expect, it } from 'vitest';
import { StompReader, type MessageFrame } from '../../actors/sources/stomp-frames.js';
import { until } from '../helpers/wait.js';

// flowd reads MESSAGE frames itself over TCP: what it reads must be what stompjs reads, however the bytes are split.

const message = (n: number, body = `{"n":${n}}`): string =>
  `MESSAGE\nsubscription:sub-0\ndestination:/queue/in\nmessage-id:T_sub-0@@s@@${n}\nack:T_sub-0@@s@@${n}\ncontent-length:${Buffer.byteLength(body)}\n\n${body}\0`;
const RECEIPT = 'RECEIPT\nreceipt-id:flowd-1-subscribed\n\n\0';
// A body with a NUL in it (content-length says where it ends), escaped and repeated headers, a CR LF head, no content-length.
const NUL_BODY = 'MESSAGE\nsubscription:sub-0\nack:a\\cb\\nc\\\\d\nx-tag:first\nx-tag:second\ncontent-length:5\n\nab\0cd\0';
const CRLF = 'MESSAGE\r\nsubscription:sub-0\r\nack:crlf\r\ncontent-length:2\r\n\r\nhi\0';
const NO_LENGTH = 'MESSAGE\nsubscription:sub-0\nack:open\n\nno length here\0';
const ERROR = 'ERROR\nmessage:boom\ncontent-type:text/plain\n\nsomething broke\0';
const STREAM = [message(1), '\n', RECEIPT, message(2, 'é'.repeat(300)), NUL_BODY, '\r\n\n', CRLF, ERROR, NO_LENGTH, message(3)].join('');

interface Read {
  messages: MessageFrame[];
  /** What went to stompjs, joined, and each hand-over separately. */
  other: string;
  handovers: string[];
}

function readAll(reads: Buffer[]): Read {
  const result: Read = { messages: [], other: '', handovers: [] };
  const reader = new StompReader(
    (frame) => result.messages.push(frame),
    (bytes) => {
      result.other += bytes.toString('utf8');
      result.handovers.push(bytes.toString('utf8'));
    },
  );
  for (const read of reads) reader.read(read);
  return result;
}

/** How stompjs reads the same bytes: its messages and every other frame, through a client on a scripted socket. */
async function stompjsReads(bytes: Buffer): Promise<{ messages: IMessage[]; frames: IFrame[] }> {
  const { client, play } = await scriptedStompClient();
  const frames: IFrame[] = [];
  client.onUnhandledReceipt = (frame) => frames.push(frame);
  client.onStompError = (frame) => frames.push(frame);
  const messages: IMessage[] = [];
  client.subscribe('/queue/in', (m) => messages.push(m));
  play(bytes);
  await client.deactivate({ force: true });
  return { messages, frames };
}

const text = (frame: MessageFrame) => Buffer.from(frame.binaryBody).toString('utf8');

describe('StompReader', () => {
  it('reads MESSAGE frames as stompjs does: headers unescaped, the first of repeated ones, bodies by content-length or NUL', async () => {
    const bytes = Buffer.from(STREAM);
    const ours = readAll([bytes]);
    const theirs = await stompjsReads(bytes);
    expect(ours.messages.map((m) => m.headers)).toEqual(theirs.messages.map((m) => ({ ...m.headers })));
    expect(ours.messages.map((m) => [...m.binaryBody])).toEqual(theirs.messages.map((m) => [...m.binaryBody]));
    expect(ours.messages.map((m) => m.headers.ack)).toEqual([
      'T_sub-0@@s@@1',
      'T_sub-0@@s@@2',
      'a:b\nc\\d',
      'crlf',
      'open',
      'T_sub-0@@s@@3',
    ]);
    expect(ours.messages[2]!.headers['x-tag']).toBe('first');
    expect(text(ours.messages[1]!)).toBe('é'.repeat(300));
    expect(text(ours.messages[2]!)).toBe('ab\0cd');
  });

  it('hands every other frame and heart-beat to stompjs whole, in order', async () => {
    const ours = readAll([Buffer.from(STREAM)]);
    expect(ours.other).toBe(`\n${RECEIPT}\r\n\n${ERROR}`);
    const theirs = await stompjsReads(Buffer.from(ours.other));
    expect(theirs.messages).toEqual([]);
    expect(theirs.frames.map((f) => [f.command, f.body])).toEqual([
      ['RECEIPT', ''],
      ['ERROR', 'something broke'],
    ]);
  });

  it('reads the same whatever the reads split, and never hands stompjs part of a frame', () => {
    const bytes = Buffer.from(STREAM);
    const whole = readAll([bytes]);
    for (let cut = 1; cut < bytes.length; cut++) {
      for (const step of [cut, 7]) {
        const reads: Buffer[] = [bytes.subarray(0, cut)];
        for (let at = cut; at < bytes.length; at += step) reads.push(bytes.subarray(at, Math.min(bytes.length, at + step)));
        const split = readAll(reads);
        expect(split.messages.map((m) => [m.headers, text(m)])).toEqual(whole.messages.map((m) => [m.headers, text(m)]));
        expect(split.other).toBe(whole.other);
        for (const handover of split.handovers)
          expect(handover.replace(/^[\r\n]+/, '')).toMatch(/^(?:|RECEIPT[^\0]*\0|ERROR[^\0]*\0)[\r\n]*$/);
      }
    }
  });

  it('joins a long body once it has all arrived, however many reads it takes', () => {
    const body = 'x'.repeat(200_000);
    const bytes = Buffer.from(message(9, body) + message(10));
    const reads: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 1000) reads.push(bytes.subarray(at, at + 1000));
    const read = readAll(reads);
    expect(read.messages.map((m) => m.headers.ack)).toEqual(['T_sub-0@@s@@9', 'T_sub-0@@s@@10']);
    expect(text(read.messages[0]!)).toBe(body);
  });

  it('keeps a header named __proto__ out of the prototype', () => {
    const read = readAll([Buffer.from('MESSAGE\nsubscription:sub-0\n__proto__:x\nack:p\n\nb\0')]);
    expect(Object.getPrototypeOf(read.messages[0]!.headers)).toBe(Object.prototype);
    expect(read.messages[0]!.headers).toEqual({ subscription: 'sub-0', ack: 'p' });
  });

  it('hands a frame shorter than MESSAGE at the end of a read to stompjs, without reading past the read', () => {
    const read = readAll([Buffer.from('X\n\n\0')]);
    expect(read.messages).toEqual([]);
    expect(read.other).toBe('X\n\n\0');
  });
});

describe('message bodies and the reads they came in', () => {
  it('copies a body much smaller than its read, so a message held in flight does not pin the whole read; a large one stays a view', () => {
    const frames: MessageFrame[] = [];
    const small = Buffer.from('MESSAGE\nmessage-id:1\ncontent-length:2\n\nhi\0');
    const big = Buffer.from(`MESSAGE\nmessage-id:2\ncontent-length:65000\n\n${'x'.repeat(65000)}\0`);
    const read = Buffer.concat([small, big]);
    const reader = new StompReader(
      (frame) => frames.push(frame),
      () => undefined,
    );
    reader.read(read);
    expect(frames.map((frame) => Buffer.from(frame.binaryBody).length)).toEqual([2, 65000]);
    expect(Buffer.from(frames[0]!.binaryBody).toString()).toBe('hi');
    expect(frames[0]!.binaryBody.buffer.byteLength).toBeLessThan(1024);
    expect(frames[1]!.binaryBody.buffer).toBe(read.buffer);
  });

  it("trims a header value's Unicode spaces as String.prototype.trim does", () => {
    const frames: MessageFrame[] = [];
    const reader = new StompReader(
      (frame) => frames.push(frame),
      () => undefined,
    );
    reader.read(Buffer.from('MESSAGE\nmessage-id:1\u00a0\nx-tag:\u2003tagged\u000b\ncontent-length:0\n\n\0'));
    expect(frames[0]!.headers).toMatchObject({ 'message-id': '1', 'x-tag': 'tagged' });
  });
});
