import { createConnection, type Socket } from 'node:net';
import { Client, type IStompSocket, type StompConfig } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import WebSocket from 'ws';
import type { StompEndpoint } from './stomp-url.js';

// The I/O half of STOMP: stompjs's client over a TCP or WebSocket transport. Loaded on the first
// connection (by the STOMP source and the workflow broker), so an app without STOMP never loads it.

/**
 * A TCP transport for stompjs: no Nagle delay, and the text frames of one
 * tick (the ACKs of a batch, say) go out joined in one write.
 */
export class TcpSocket extends TCPWrapper {
  declare private tcp: Socket;
  declare private pending: string[] | undefined;

  protected override getSocket(port: number, host: string): Socket {
    this.tcp = createConnection({ port, host, noDelay: true });
    return this.tcp;
  }

  override send(data: string | ArrayBuffer): void {
    if (typeof data !== 'string') {
      this.flush();
      super.send(data);
      return;
    }
    if (!this.pending) {
      this.pending = [];
      process.nextTick(() => this.flush());
    }
    this.pending.push(data);
  }

  override close(code?: number, reason?: string): void {
    this.flush();
    super.close(code, reason);
  }

  private flush(): void {
    const frames = this.pending;
    this.pending = undefined;
    if (!frames || frames.length === 0 || this.tcp.destroyed || this.tcp.writableEnded) return;
    this.tcp.write(frames.length === 1 ? frames[0]! : frames.join(''));
  }
}

/**
 * A stompjs client for `endpoint`, over TCP (TcpSocket) or WebSocket as
 * the endpoint says, with heart-beats both ways every `heartbeatMs` and
 * stompjs's own reconnects and connect timeout off; `config` is the rest
 * of stompjs's configuration. `socket`, when given, makes each connection's socket instead (a test's scripted broker).
 */
export function createStompClient(
  endpoint: StompEndpoint,
  config: Omit<StompConfig, 'webSocketFactory' | 'brokerURL'> & { heartbeatMs: number },
  socket?: () => IStompSocket,
): Client {
  const { heartbeatMs, ...rest } = config;
  return new Client({
    heartbeatIncoming: heartbeatMs,
    heartbeatOutgoing: heartbeatMs,
    // Reconnects and the connect timeout are flowd's: stompjs's own timers outlive a failed attempt and would keep the process up.
    reconnectDelay: 0,
    connectionTimeout: 0,
    discardWebsocketOnCommFailure: true,
    debug: () => {},
    ...rest,
    webSocketFactory: () =>
      socket
        ? socket()
        : endpoint.transport === 'tcp'
          ? new TcpSocket(endpoint.host, endpoint.port)
          : (new WebSocket(endpoint.webSocketUrl!, ['v12.stomp', 'v11.stomp', 'v10.stomp'], { perMessageDeflate: false }) as never),
  });
}
