// Keep-alive connection pools to machines, one per reachable address in each
// worker, created on first use and closed when the address goes away.
import { Pool } from 'undici';
import type { AppLimits } from '../config/model.ts';

const MAX_CONNECTIONS_PER_MACHINE = 1024;

export class Upstreams {
  private readonly pools = new Map<string, Pool>();

  pool(origin: string, limits: AppLimits): Pool {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: MAX_CONNECTIONS_PER_MACHINE,
        pipelining: 1,
        allowH2: false,
        connectTimeout: limits.upstreamConnectTimeoutMs,
        headersTimeout: limits.upstreamResponseTimeoutMs,
        bodyTimeout: limits.upstreamResponseTimeoutMs,
        keepAliveTimeout: limits.upstreamIdleTimeoutMs,
        keepAliveMaxTimeout: limits.upstreamIdleTimeoutMs,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Closes pools whose origin is no longer in use. */
  retain(origins: Set<string>): void {
    for (const [origin, pool] of this.pools) {
      if (!origins.has(origin)) {
        this.pools.delete(origin);
        pool.close().catch(() => {});
      }
    }
  }

  async closeAll(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((pool) => pool.destroy()));
  }
}
