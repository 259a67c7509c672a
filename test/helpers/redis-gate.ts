import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback port in front of the machine's Redis that a test can shut
 * and open again on the same port, so a client sees Redis go down (live
 * connections reset, new ones refused) and come back, without anyone
 * touching the real Redis. (test/helpers/tcp-proxy.ts can cut connections
 * but not refuse new ones and then accept again.)
 */
export interface RedisGate {
  readonly port: number;
  /** `redis://127.0.0.1:<port>/0`, optionally with credentials. */
  url(userinfo?: string): string;
  /** Resets every connection and refuses new ones. */
  shut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  open(): Promise<void>;
  close(): Promise<void>;
}

export async function redisGate(targetPort = 6379): Promise<RedisGate> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect({ port: targetPort, host: '127.0.0.1' });
        sockets.add(client).add(upstream);
        const end = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server!.address() as AddressInfo).port));
    });
  const shut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.resetAndDestroy();
      sockets.clear();
      if (!server?.listening) return resolve();
      server.close(() => resolve());
    });
  const port = await listen(0);
  return {
    port,
    url: (userinfo) => `redis://${userinfo ? `${userinfo}@` : ''}127.0.0.1:${port}/0`,
    shut,
    open: async () => {
      if (!server?.listening) await listen(port);
    },
    close: shut,
  };
}
