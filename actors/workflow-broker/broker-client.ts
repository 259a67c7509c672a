/**
 * One attempt to connect to the workflow broker: a fresh stompjs client
 * whose many callbacks come down to four outcomes, connected, refused (an
 * ERROR frame before CONNECTED), failed (no connection) and, once
 * connected, lost. Each fires at most once, and only one of refused,
 * failed and lost does.
 */
import type { Client } from '@stomp/stompjs';
import { frameText, socketReason } from '../sources/stomp.js';
import { createStompClient } from '../sources/stomp-transport.js';
import { connectHeaders, type StompEndpoint } from '../sources/stomp-url.js';

/** What happened to an attempt. */
export interface AttemptEvents {
  connected(): void;
  /** The broker's ERROR frame before CONNECTED (wrong login or virtual host), as one line. */
  refused(text: string): void;
  failed(why: string): void;
  lost(why: string): void;
}

/**
 * Opens a client on `endpoint` and reports its outcome to `events`. The
 * client is closed (without waiting) when refused or failed; after lost,
 * the caller closes it. stompjs's own reconnect and connect timeout are
 * off: its timers would outlive a failed attempt.
 */
export function attemptConnection(
  endpoint: StompEndpoint,
  options: { heartbeatMs: number; connectTimeoutMs: number; virtualHost?: string | undefined },
  events: AttemptEvents,
): Client {
  const client = createStompClient(endpoint, {
    connectHeaders: connectHeaders({ ...endpoint, virtualHost: options.virtualHost }),
    heartbeatMs: options.heartbeatMs,
  });
  let phase: 'connecting' | 'connected' | 'over' = 'connecting';
  let reason: string | undefined;
  const giveUp = () => {
    phase = 'over';
    clearTimeout(timer);
    void client.deactivate({ force: true }).catch(() => {});
  };
  const failed = (why: string) => {
    if (phase !== 'connecting') return;
    giveUp();
    events.failed(why);
  };
  const lost = (why: string) => {
    if (phase !== 'connected') return;
    phase = 'over';
    events.lost(why);
  };
  const timer = setTimeout(() => failed(`no CONNECTED frame within ${options.connectTimeoutMs}ms`), options.connectTimeoutMs);
  client.onConnect = () => {
    if (phase !== 'connecting') return;
    clearTimeout(timer);
    phase = 'connected';
    events.connected();
  };
  client.onStompError = (frame) => {
    if (phase === 'connecting') {
      giveUp();
      events.refused(frameText(frame));
    } else lost(`the broker sent an error: ${frameText(frame)}`);
  };
  client.onWebSocketError = (event) => {
    reason ??= socketReason(event);
  };
  client.onWebSocketClose = () => {
    if (phase === 'connecting') failed(reason ?? 'the broker closed the connection');
    else lost(reason ?? 'the broker closed the connection');
  };
  client.onHeartbeatLost = () => lost(`no heart-beat from the broker for ${options.heartbeatMs}ms`);
  client.activate();
  return client;
}
