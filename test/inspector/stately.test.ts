import { request } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { createActor, createMachine } from 'xstate';
import { startStatelyRelay, type StatelyRelay, type StatelyRelayOptions } from '../../src/inspector/stately.js';
import { cleanupsAfterEach } from '../helpers/once.js';

const cleanups = cleanupsAfterEach();

async function relay(options: Partial<StatelyRelayOptions> = {}): Promise<StatelyRelay & { ws: string; port: number }> {
  const started = await startStatelyRelay({ host: '127.0.0.1', port: 0, ...options });
  cleanups.push(() => started.close());
  const port = Number(new URL(started.url).port);
  return { ...started, ws: started.url.replace('http:', 'ws:'), port };
}

/** Opens a WebSocket: 'open', or the status the server refused it with. */
function connect(
  url: string,
  options: { origin?: string; headers?: Record<string, string> } = {},
): Promise<{ outcome: 'open' | number; socket: WebSocket; messages: unknown[] }> {
  const socket = new WebSocket(url, options);
  cleanups.push(() => socket.terminate());
  const messages: unknown[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  return new Promise((resolve, reject) => {
    socket.on('open', () => resolve({ outcome: 'open', socket, messages }));
    socket.on('unexpected-response', (_request, response) => resolve({ outcome: response.statusCode ?? 0, socket, messages }));
    socket.on('error', reject);
  });
}

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (response) => {
      let body = '';
      response
        .setEncoding('utf8')
        .on('data', (chunk: string) => (body += chunk))
        .on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

describe("Stately's relay without a token", () => {
  it("refuses a WebSocket from another website's origin with 403, and sends it nothing", async () => {
    const { ws, observer } = await relay();
    createActor(createMachine({ id: 'busy', initial: 'idle', states: { idle: {} } }), { inspect: observer }).start();
    const evil = await connect(ws, { origin: 'https://evil.example' });
    expect(evil.outcome).toBe(403);
    expect(evil.messages).toEqual([]);
  });

  it("opens a WebSocket from its own origin, from the inspector's, and from a client that sends no Origin", async () => {
    const { ws, port } = await relay({ inspectorPort: 54321 });
    expect((await connect(ws, { origin: `http://127.0.0.1:${port}` })).outcome).toBe('open');
    expect((await connect(ws, { origin: 'http://localhost:54321' })).outcome).toBe('open');
    expect((await connect(ws)).outcome).toBe('open');
  });

  it('answers 421 to a Host that is not its own (a DNS-rebinding page), for the bridge page and the WebSocket', async () => {
    const { url, ws, port } = await relay();
    const page = await get(url, { host: `attacker.example:${port}` });
    expect([page.status, JSON.parse(page.body)]).toEqual([421, { error: expect.stringContaining('attacker.example') }]);
    expect((await get(url, { host: `localhost:${port}` })).status).toBe(200);
    expect((await connect(ws, { headers: { host: `attacker.example:${port}` } })).outcome).toBe(421);
  });
});

describe("Stately's relay with a token", () => {
  it('opens a WebSocket from any origin that has the token, and none without it', async () => {
    const token = 'a-long-random-secret';
    const { ws } = await relay({ tokens: [token] });
    expect((await connect(ws, { origin: 'https://evil.example' })).outcome).toBe(401);
    expect((await connect(`${ws}?token=${token}`, { origin: 'https://evil.example' })).outcome).toBe('open');
  });
});

describe("Stately's relay's actor definitions", () => {
  it("carry the machine's static context redacted", async () => {
    const { ws, observer } = await relay();
    const { messages } = await connect(ws);
    const vault = createMachine({
      id: 'vault',
      context: { user: 'ops', password: 'x', nested: { token: 'y' } },
      initial: 'locked',
      states: { locked: {} },
    });
    createActor(vault, { inspect: observer }).start();
    await vi.waitFor(() => expect(messages).toContainEqual(expect.objectContaining({ type: '@xstate.actor', name: 'vault' })));
    const registration = messages.find((m) => (m as { name?: string }).name === 'vault') as { definition: string };
    expect(JSON.parse(registration.definition)).toMatchObject({
      id: 'vault',
      context: { user: 'ops', password: '[redacted]', nested: { token: '[redacted]' } },
      states: { locked: {} },
    });
  });
});
