// Ports perch hands to the machines it runs. The kernel picks a free one;
// perch remembers what it handed out so two machines never share one.
import net from 'node:net';

const handedOut = new Set<number>();

export async function allocatePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', reject);
      server.listen(0, host, () => {
        const address = server.address() as net.AddressInfo;
        server.close(() => resolve(address.port));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found');
}

export function releasePort(port: number): void {
  handedOut.delete(port);
}

/** Resolves once host:port accepts a TCP connection; rejects when `signal` aborts. */
/** `pollMs` is short: what a wake costs beyond the app's own boot is at most one poll. */
export async function waitUntilAccepting(host: string, port: number, signal: AbortSignal, pollMs = 5): Promise<void> {
  while (!signal.aborted) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
  throw signal.reason ?? new Error('aborted');
}
