import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInspector } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import { isAuthorized } from './auth.js';
import { sanitize } from './summaries.js';

/** Stately's inspector relay, started with `[Inspector] stately = yes`. */
export interface StatelyRelay {
  /** The bridge page, which embeds https://stately.ai/inspect and relays the events to it. */
  url: string;
  /** The same inspection events the inspector gets. */
  observer: (event: InspectionEvent) => void;
  close(): Promise<void>;
}

/** Events kept for a browser that connects late (actor registrations are kept while the actor lives). */
const REPLAY = 200;

type Adapter = Parameters<typeof createInspector>[0];

const bridgePage = (inspectorUrl: string) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>flowd: Stately inspector</title>
<style>*{margin:0;padding:0}html,body{height:100%}iframe{width:100%;height:100%;border:none}</style></head>
<body><iframe id="inspector" src="${inspectorUrl}"></iframe>
<script>
  const iframe = document.getElementById('inspector');
  const buffer = [];
  let connected = false;
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected') {
      connected = true;
      for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, '*');
    }
  });
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' + location.search);
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (connected) iframe.contentWindow.postMessage(data, '*');
    else buffer.push(data);
  };
</script></body></html>`;

// Deep enough for a slot's `event.assigned` to show the payload's top-level values (redacted, truncated).
const safeEvent = (event: unknown) => sanitize(event, { depth: 4 }) as { type: string };

/**
 * Starts a WebSocket relay in @statelyai/inspect's format on `host:port`
 * (same auth as the inspector) and serves a bridge page that forwards the
 * events to Stately's inspector UI. Contexts and events are redacted and
 * truncated before they leave the process.
 */
export async function startStatelyRelay(options: { host: string; port: number; token: string | undefined; inspectorUrl?: string }): Promise<StatelyRelay> {
  const registrations = new Map<string, string>();
  const recent: string[] = [];
  const sockets = new WebSocketServer({ noServer: true });
  const adapter: Adapter = {
    send(event) {
      const text = JSON.stringify(event);
      if (event.type === '@xstate.actor') registrations.set(event.sessionId, text);
      else {
        recent.push(text);
        if (recent.length > REPLAY) recent.shift();
        if (event.type === '@xstate.snapshot' && (event.snapshot as { status?: string }).status !== 'active') registrations.delete(event.sessionId);
      }
      for (const client of sockets.clients) if (client.readyState === WebSocket.OPEN) client.send(text);
    },
  };
  const inspector = createInspector(adapter, { autoStart: true });
  sockets.on('connection', (client) => {
    for (const text of [...registrations.values(), ...recent]) client.send(text);
  });

  const http: Server = createServer((request, response) => {
    if (!isAuthorized(request, options.token)) {
      response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unauthorized: a token is required (Authorization: Bearer <token> or ?token=<token>)' }));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(bridgePage(options.inspectorUrl ?? 'https://stately.ai/inspect'));
  });
  http.on('upgrade', (request, socket, head) => {
    if (!isAuthorized(request, options.token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (client) => sockets.emit('connection', client, request));
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const { port } = http.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;

  const observer = (event: InspectionEvent) => {
    const ref = event.actorRef as AnyActorRef;
    if (event.type === '@xstate.actor') {
      inspector.actor(ref, { status: 'active' });
    } else if (event.type === '@xstate.snapshot') {
      const snapshot = event.snapshot as { status?: 'active' | 'done' | 'error' | 'stopped'; value?: unknown; context?: unknown; output?: unknown };
      inspector.snapshot(ref, { status: snapshot.status ?? 'active', value: snapshot.value, context: sanitize(snapshot.context, { depth: 3 }), output: sanitize(snapshot.output, { depth: 2 }) }, { event: safeEvent(event.event) });
    } else if (event.type === '@xstate.event') {
      inspector.event(ref, safeEvent(event.event), event.sourceRef ? { source: event.sourceRef as AnyActorRef } : {});
    }
  };
  return {
    url: `http://${host}:${port}/`,
    observer,
    close: async () => {
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
