import type { StompHeaders } from '@stomp/stompjs';

/**
 * A MESSAGE frame read by flowd's own reader (StompReader), in place of
 * stompjs's: its headers (STOMP 1.2 escapes undone, the first of repeated
 * ones) and its body. The STOMP source handles it as it does stompjs's
 * messages, and ACKs it with answerMessage.
 */
export interface MessageFrame {
  headers: StompHeaders;
  binaryBody: Uint8Array;
}

const LF = 10;
const CR = 13;
const NUL = 0;
const MESSAGE = Buffer.from('MESSAGE');

/** A STOMP 1.2 header value with its escapes (`\\`, `\r`, `\n`, `\c`) undone. */
const unescapeHeader = (value: string): string =>
  value.includes('\\') ? value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : c)) : value;

/** Where a frame's head ends: the index of the LF of its last header line, and where its body starts; undefined while incomplete. */
function headEnd(buffer: Buffer, from: number): { stop: number; body: number } | undefined {
  // The head ends at an empty line: an LF, then (a CR and) an LF. stompjs ignores CRs in the head alike.
  for (let lf = buffer.indexOf(LF, from); lf !== -1; lf = buffer.indexOf(LF, lf + 1)) {
    let next = lf + 1;
    if (buffer[next] === CR) next++;
    if (next >= buffer.length) return undefined;
    if (buffer[next] === LF) return { stop: lf, body: next + 1 };
  }
  return undefined;
}

/**
 * Splits the bytes read from a STOMP 1.2 connection into frames, and reads
 * MESSAGE frames itself: stompjs's parser makes a function call and an
 * array push of every byte, this reader a few indexOf calls a frame. Every
 * other frame (CONNECTED, RECEIPT, ERROR) and the heart-beats go to `other`
 * as they came, whole frames only, for stompjs to read. A frame split over
 * reads waits for its rest (without copying a long body more than once).
 */
export class StompReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The bytes the frame at the start of `pending` needs in all, once its head was read; 0 while unknown. */
  private needed = 0;
  /** Whether the head of the frame waiting in `pending` is complete (its body, without content-length, is not). */
  private headKnown = false;

  constructor(
    private readonly onMessage: (frame: MessageFrame) => void,
    private readonly other: (bytes: Buffer) => void,
  ) {}

  read(data: Buffer): void {
    if (this.pending.length > 0) {
      this.pending.push(data);
      this.pendingBytes += data.length;
      // A long body arriving read by read: wait for all of it, then join once.
      if (this.needed > 0 && this.pendingBytes < this.needed) return;
      // A body without content-length ends at a NUL: only the new read can hold it.
      if (this.needed === 0 && this.headKnown && data.indexOf(NUL) === -1) return;
      data = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    this.needed = 0;
    this.headKnown = false;
    let at = 0;
    // Bytes from `passFrom` up to `at` are frames (or heart-beats) for stompjs, handed over together.
    let passFrom = 0;
    while (at < data.length) {
      const byte = data[at]!;
      if (byte === LF || byte === CR || byte === NUL) {
        at++; // a heart-beat (or a NUL stompjs would skip)
        continue;
      }
      const head = headEnd(data, at);
      if (!head) break;
      const text = data.toString('utf8', at, head.stop);
      const length = /(?:^|\n)content-length:[ \t]*(\d+)/.exec(text);
      const bodyEnd = length ? head.body + Number(length[1]) : data.indexOf(NUL, head.body);
      if (bodyEnd === -1 || bodyEnd >= data.length) {
        this.headKnown = true;
        if (length) this.needed = bodyEnd + 1 - at;
        break;
      }
      const frameEnd = bodyEnd + 1; // past the NUL
      if (
        at + MESSAGE.length < data.length &&
        data.compare(MESSAGE, 0, MESSAGE.length, at, at + MESSAGE.length) === 0 &&
        isLineEnd(data[at + MESSAGE.length])
      ) {
        if (passFrom < at) this.other(data.subarray(passFrom, at));
        this.onMessage({ headers: readHeaders(text), binaryBody: Uint8Array.prototype.slice.call(data, head.body, bodyEnd) });
        passFrom = frameEnd;
      }
      at = frameEnd;
    }
    if (passFrom < at) this.other(data.subarray(passFrom, at));
    if (at < data.length) {
      const rest = Buffer.from(data.subarray(at));
      this.pending = [rest];
      this.pendingBytes = rest.length;
    }
  }
}

const isLineEnd = (byte: number | undefined): boolean => byte === LF || byte === CR;

/** The headers of a frame's head (its command line first), as stompjs reads them: trimmed, unescaped, the first of repeated ones. */
function readHeaders(head: string): StompHeaders {
  const headers: StompHeaders = {};
  const lines = head.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim();
    // The first of repeated headers counts; `__proto__` would not be a header but the object's prototype.
    if (Object.hasOwn(headers, key) || key === '__proto__') continue;
    headers[key] = unescapeHeader(line.slice(colon + 1).trim());
  }
  return headers;
}
