// Latency percentiles at 10 µs resolution. autocannon's own histogram stores
// whole milliseconds, which on loopback (p50 ≈ 1 ms) makes every ratio 1.00×
// or 2.00×; the load generator feeds this one from its 'response' events.

const BUCKET_MICROS = 10;
const BUCKETS = 100_000; // 10 µs × 100k = 1 s; slower responses are kept exactly

export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  readonly #slow: number[] = [];
  #total = 0;

  recordMs(ms: number): void {
    const bucket = Math.floor((ms * 1000) / BUCKET_MICROS);
    if (bucket < BUCKETS) this.#counts[bucket] = (this.#counts[bucket] as number) + 1;
    else this.#slow.push(ms);
    this.#total++;
  }

  get count(): number {
    return this.#total;
  }

  /** The latency (ms) at or below which `percent` % of responses fell; NaN when empty. */
  percentileMs(percent: number): number {
    if (this.#total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((percent / 100) * this.#total));
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      seen += this.#counts[bucket] as number;
      if (seen >= rank) return ((bucket + 0.5) * BUCKET_MICROS) / 1000; // bucket middle
    }
    const slow = [...this.#slow].sort((a, b) => a - b);
    return slow[rank - seen - 1] as number;
  }
}
