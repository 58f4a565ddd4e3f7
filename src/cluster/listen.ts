// How a worker listens. Where Node supports it (22.12+ on Linux), each worker
// binds its own socket with SO_REUSEPORT and the kernel spreads connections
// evenly over the workers. Otherwise workers share the primary's socket and
// accept from it themselves (cluster SCHED_NONE), which the kernel spreads
// unevenly. Either way no connection passes through the primary.
import net, { type AddressInfo } from 'node:net';
import type { ListenAddress, PerchConfig } from '../config/model.ts';

function supportsReusePort(): boolean {
  if (process.platform !== 'linux') return false;
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

export const REUSE_PORT = supportsReusePort();

export function listenOn(server: net.Server, address: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const options: net.ListenOptions & { reusePort?: boolean } = address.host === '' ? { port: address.port } : { host: address.host, port: address.port };
    if (REUSE_PORT) {
      options.exclusive = true;
      options.reusePort = true;
    }
    server.listen(options, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Workers binding their own sockets must agree on a port: the primary turns
 * each `port 0` listener into a free port before it forks them.
 */
export async function settlePorts(config: PerchConfig, previous: Settled | null = null): Promise<PerchConfig> {
  if (!REUSE_PORT) return config;
  // On a reload, a `port 0` listener that was `port 0` before keeps the port it got.
  const settle = async (addresses: ListenAddress[], before: Settled['http'] | undefined): Promise<ListenAddress[]> =>
    Promise.all(
      addresses.map(async (address, index) => {
        if (address.port !== 0) return address;
        const kept = before?.[index];
        if (kept !== undefined && kept.asked.port === 0 && kept.asked.host === address.host) return kept.got;
        return { host: address.host, port: await freePort(address.host) };
      }),
    );
  return {
    ...config,
    http: { ...config.http, listen: await settle(config.http.listen, previous?.http) },
    https: { ...config.https, listen: await settle(config.https.listen, previous?.https) },
  };
}

/** What listeners were asked for and what they got, to settle the next config the same way. */
export interface Settled {
  http: { asked: ListenAddress; got: ListenAddress }[];
  https: { asked: ListenAddress; got: ListenAddress }[];
}

export function settledOf(asked: PerchConfig, got: PerchConfig): Settled {
  const pair = (a: ListenAddress[], g: ListenAddress[]): Settled['http'] => a.map((address, index) => ({ asked: address, got: g[index] ?? address }));
  return { http: pair(asked.http.listen, got.http.listen), https: pair(asked.https.listen, got.https.listen) };
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(host === '' ? { port: 0 } : { host, port: 0 }, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
