import { describe, expect, it } from 'vitest';
import { toResponse } from '../../actors/sources/http.js';
import { FlowdError } from '../../src/kernel/errors.js';

/** 300,000 arrays nested in each other: deeper than JSON.stringify's stack. */
function deeplyNested(): unknown {
  let value: unknown = [];
  for (let i = 0; i < 300_000; i++) value = [value];
  return value;
}

const cycle = (): unknown => {
  const node: Record<string, unknown> = { name: 'a' };
  node.self = node;
  return node;
};

describe("the HTTP source's response to a worker's result", () => {
  it('writes text, JSON and { status, headers, body } as given', () => {
    expect(toResponse('plain')).toEqual({
      status: 200,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': '5' },
      text: 'plain',
    });
    expect(toResponse({ a: 1 })).toMatchObject({ status: 200, headers: { 'content-type': 'application/json' }, text: '{"a":1}' });
    expect(toResponse({ status: 302, headers: { Location: '/x', 'Set-Cookie': ['a=1', 'b=2'], 'X-Count': 3 } })).toEqual({
      status: 302,
      headers: { location: '/x', 'set-cookie': ['a=1', 'b=2'], 'x-count': '3' },
      text: undefined,
    });
    expect(toResponse(undefined)).toEqual({ status: 204, headers: {}, text: undefined });
  });

  it.each([
    [
      'a header value with CR LF from user input',
      { status: 302, headers: { location: '/x\r\nSet-Cookie: a=1' } },
      /header "location" cannot be sent/,
    ],
    ['a header name HTTP does not allow', { status: 200, headers: { 'bad name': 'x' } }, /header "bad name" cannot be sent/],
    ['a header value that is an object', { status: 200, headers: { 'x-a': { b: 1 } } }, /header "x-a" is object/],
    ['a status above 999', { status: 1000 }, /status 1000 is not a final HTTP status; expected a whole number from 200 to 999/],
    ['a status below 100', { status: 99 }, /status 99 is not a final HTTP status/],
    ['an informational status, which the server sends itself', { status: 101, body: 'x' }, /status 101 is not a final HTTP status/],
    ['a status that is not whole', { status: 200.5 }, /status 200.5 is not a final HTTP status/],
    [
      'a content-length of its own (the stream would split)',
      { status: 200, headers: { 'content-length': '1' }, body: 'hello world' },
      /header "content-length" frames the message/,
    ],
    [
      'a transfer-encoding of its own',
      { status: 200, headers: { 'Transfer-Encoding': 'chunked' }, body: 'x' },
      /header "Transfer-Encoding" frames the message/,
    ],
    ['a connection: upgrade', { status: 200, headers: { connection: 'upgrade' } }, /header "connection" frames the message/],
    ['a header given twice in two cases', { status: 200, headers: { 'X-A': '1', 'x-a': '2' } }, /header "x-a" is given twice/],
    ['a body on a 204', { status: 204, body: 'x' }, /a 204 response has no body/],
    [
      'a status getter that throws',
      {
        get status(): number {
          throw new Error('getter');
        },
      },
      /reading it failed: getter/,
    ],
    ['a BigInt', { n: 10n }, /the body cannot be written as JSON: Do not know how to serialize a BigInt/],
    ['a cycle', cycle(), /the body cannot be written as JSON: Converting circular structure to JSON/],
    ['nesting too deep for JSON', deeplyNested(), /the body cannot be written as JSON: Maximum call stack size exceeded/],
    ['a function', () => 1, /the body is function, which JSON cannot hold/],
  ])('refuses %s with ERR_RESPONSE before anything is written', (_what, result, message) => {
    let thrown: unknown;
    try {
      toResponse(result);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FlowdError);
    expect(thrown).toMatchObject({ code: 'ERR_RESPONSE' });
    expect((thrown as Error).message).toMatch(/^the worker's result cannot be sent as the response: /);
    expect((thrown as Error).message).toMatch(message);
  });
});
