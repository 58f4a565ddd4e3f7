// A TCP relay that makes a machine look far away: it forwards every
// connection to a target and holds each chunk (and the end of each stream)
// for `delayMs` in both directions, so a request/response round trip costs at
// least 2 × delayMs more than going direct. Order is kept: every chunk waits
// the same time, and Node runs timers of equal duration in the order set.
// Connects are not delayed (the kernel accepts before the relay sees them).
import net from 'node:net';

export interface DelayRelayOptions {
  targetHost: string;
  targetPort: number;
  delayMs: number;
  /** Where the relay listens (default 127.0.0.1, a port the kernel picks). */
  host?: string;
}

export interface DelayRelay {
  readonly host: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Stops listening, drops every open connection and pending chunk. */
  close(): Promise<void>;
}

export async function startDelayRelay(options: DelayRelayOptions): Promise<DelayRelay> {
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  let closed = false;

  const later = (fn: () => void): void => {
    if (closed) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, options.delayMs);
    timers.add(timer);
  };

  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  /** from → to, each chunk and the end delayed. */
  const pipeDelayed = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (chunk: Buffer) => later(() => {
      if (!to.destroyed) to.write(chunk);
    }));
    from.on('end', () => later(() => {
      if (!to.destroyed) to.end();
    }));
  };

  const server = net.createServer((client) => {
    accepted++;
    track(client);
    const upstream = net.connect({ host: options.targetHost, port: options.targetPort });
    track(upstream);
    const fail = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    client.on('close', () => later(() => upstream.destroy()));
    upstream.on('close', () => later(() => client.destroy()));
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    host,
    port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        server.close(() => resolve());
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        for (const socket of sockets) socket.destroy();
      }),
  };
}
