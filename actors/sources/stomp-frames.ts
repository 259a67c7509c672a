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
      const isMessage =
        at + MESSAGE.length < data.length &&
        data.compare(MESSAGE, 0, MESSAGE.length, at, at + MESSAGE.length) === 0 &&
        isLineEnd(data[at + MESSAGE.length]);
      const text = data.toString('utf8', at, head.stop);
      // A MESSAGE's headers are read once, content-length with them; any other frame is only measured.
      const headers = isMessage ? readHeaders(text) : undefined;
      const length = contentLength(headers ? headers['content-length'] : /(?:^|\n)content-length:([^\n]*)/.exec(text)?.[1]);
      const bodyEnd = length !== undefined ? head.body + length : data.indexOf(NUL, head.body);
      if (bodyEnd === -1 || bodyEnd >= data.length) {
        this.headKnown = true;
        if (length !== undefined) this.needed = bodyEnd + 1 - at;
        break;
      }
      const frameEnd = bodyEnd + 1; // past the NUL
      if (headers) {
        if (passFrom < at) this.other(data.subarray(passFrom, at));
        // A view, not a copy: each read is a buffer of its own (never reused by the socket, and a joined one is new).
        // But a body much smaller than its read is copied: a message held in flight or while paused must not pin the whole read.
        const body = data.subarray(head.body, bodyEnd);
        this.onMessage({ headers, binaryBody: body.length * 4 >= data.length ? body : Uint8Array.prototype.slice.call(body) });
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

const DIGIT_0 = 48;
const DIGIT_9 = 57;

/** A content-length header's value as stompjs takes it (its leading digits, after blanks); undefined when it has none. */
function contentLength(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let at = 0;
  while (value.charCodeAt(at) === 32 || value.charCodeAt(at) === 9) at++;
  let length = 0;
  const start = at;
  for (let code = value.charCodeAt(at); code >= DIGIT_0 && code <= DIGIT_9; code = value.charCodeAt(++at))
    length = length * 10 + (code - DIGIT_0);
  return at > start ? length : undefined;
}

/** Whether a character code is one String.prototype.trim removes at the ends of a header line (the ASCII ones a broker sends). */
/** Whether `trim()` might remove this character: a superset (control characters, NBSP, the Unicode spaces and above), so `trim()` decides. */
const isBlank = (code: number): boolean => code <= 32 || code === 0xa0 || code >= 0x1680;

/** `text.slice(from, to)`, trimmed: the slice is made only when nothing is to trim (the usual case) or once trimmed. */
function trimmed(text: string, from: number, to: number): string {
  if (from < to && (isBlank(text.charCodeAt(from)) || isBlank(text.charCodeAt(to - 1)))) return text.slice(from, to).trim();
  return text.slice(from, to);
}

/** The headers of a frame's head (its command line first), as stompjs reads them: trimmed, unescaped, the first of repeated ones. */
function readHeaders(head: string): StompHeaders {
  const headers: StompHeaders = {};
  // Line by line without an array of lines: a MESSAGE has five or six headers, read thousands of times a second.
  for (let start = head.indexOf('\n') + 1; start > 0 && start <= head.length;) {
    let end = head.indexOf('\n', start);
    if (end === -1) end = head.length;
    const colon = head.indexOf(':', start);
    if (colon !== -1 && colon < end) {
      const key = trimmed(head, start, colon);
      // The first of repeated headers counts; `__proto__` would not be a header but the object's prototype.
      if (!Object.hasOwn(headers, key) && key !== '__proto__') headers[key] = unescapeHeader(trimmed(head, colon + 1, end));
    }
    start = end + 1;
  }
  return headers;
}
