// Keep-alive connection pools to machines, one per reachable address in each
// worker, created on first use and closed when the address goes away.
//
// An address whose route has `h2_backend = true` gets an HTTP/2-cleartext
// pool (prior knowledge): a few multiplexed connections instead of one
// connection per request in flight. WebSocket upgrades need HTTP/1.1, so
// such an address also gets a plain HTTP/1.1 pool for them (`forUpgrade`).
//
// Pool is imported from its own module, not from undici's entry point: the
// entry point loads all of undici (fetch, web streams, WebSocket, caching,
// mocks: over a hundred modules), about 12 MiB of a worker's resident memory
// for code a worker never calls. A worker only dispatches through pools.
import Pool from 'undici/lib/dispatcher/pool.js';
import type { AppLimits } from '../config/model.ts';

const MAX_CONNECTIONS_PER_MACHINE = 1024;
/** h2c: connections per machine, each carrying up to H2_STREAMS_PER_CONNECTION requests at once. */
const H2_CONNECTIONS_PER_MACHINE = 16;
const H2_STREAMS_PER_CONNECTION = 100;

export class Upstreams {
  private readonly pools = new Map<string, Pool>();
  /** HTTP/1.1 pools for upgrades to addresses whose main pool speaks h2c. */
  private readonly upgradePools = new Map<string, Pool>();
  private h2c: ReadonlySet<string> = new Set();

  pool(origin: string, limits: AppLimits): Pool {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = this.h2c.has(origin) ? h2cPool(origin, limits) : h1Pool(origin, limits);
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** A pool that can carry an HTTP/1.1 upgrade to `origin`. */
  forUpgrade(origin: string, limits: AppLimits): Pool {
    if (!this.h2c.has(origin)) return this.pool(origin, limits);
    let pool = this.upgradePools.get(origin);
    if (pool === undefined) {
      pool = h1Pool(origin, limits);
      this.upgradePools.set(origin, pool);
    }
    return pool;
  }

  /**
   * The addresses that speak h2c (their routes have h2_backend). A pool made
   * for the other protocol is closed, and the next request makes the right one.
   */
  setH2c(origins: ReadonlySet<string>): void {
    const before = this.h2c;
    this.h2c = origins;
    for (const [origin, pool] of this.pools) {
      if (before.has(origin) !== origins.has(origin)) {
        this.pools.delete(origin);
        pool.close().catch(() => {});
      }
    }
  }

  /** Closes pools whose origin is no longer in use. */
  retain(origins: Set<string>): void {
    for (const pools of [this.pools, this.upgradePools]) {
      for (const [origin, pool] of pools) {
        if (!origins.has(origin)) {
          pools.delete(origin);
          pool.close().catch(() => {});
        }
      }
    }
  }

  async closeAll(): Promise<void> {
    const pools = [...this.pools.values(), ...this.upgradePools.values()];
    this.pools.clear();
    this.upgradePools.clear();
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
  }
}

function h1Pool(origin: string, limits: AppLimits): Pool {
  return new Pool(origin, {
    connections: MAX_CONNECTIONS_PER_MACHINE,
    pipelining: 1,
    allowH2: false,
    connectTimeout: limits.upstreamConnectTimeoutMs,
    // The response's bounds are the exchange's (src/proxy/response-deadlines.ts).
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: limits.upstreamIdleTimeoutMs,
    keepAliveMaxTimeout: limits.upstreamIdleTimeoutMs,
  });
}

function h2cPool(origin: string, limits: AppLimits): Pool {
  // Top-level useH2c: Pool's connector reads only that one, not h2Options.useH2c (undici 8.13); the types list only the latter.
  const h2c = { useH2c: true } as Pool.Options;
  return new Pool(origin, {
    ...h2c,
    connections: H2_CONNECTIONS_PER_MACHINE,
    allowH2: true,
    h2Options: { useH2c: true, maxConcurrentStreams: H2_STREAMS_PER_CONNECTION },
    connectTimeout: limits.upstreamConnectTimeoutMs,
    // The response head's bound is the exchange's (src/proxy/response-deadlines.ts); a gRPC stream
    // may be quiet for long, so its body has none but the client's idle bound.
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: limits.upstreamIdleTimeoutMs,
    keepAliveMaxTimeout: limits.upstreamIdleTimeoutMs,
  });
}
