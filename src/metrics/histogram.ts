// Fixed-bucket histograms as plain numbers: what a worker observes on the
// hot path (no allocation, no labels, no prom-client), and what the primary
// sums across workers at scrape time.
//
// Counts are kept per bucket (not cumulative): `counts[i]` holds the
// observations ≤ bounds[i] and > bounds[i-1]; the last slot holds those above
// every bound (+Inf). Rendering makes them cumulative (see render.ts).

/** Upper bounds (seconds) of the edge response-time buckets: up to the 60 s upstream response bound. */
export const RESPONSE_TIME_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Upper bounds (seconds) of upstream connect times: up to the 5 s connect bound. */
export const CONNECT_TIME_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Upper bounds (seconds) of TLS handshake times: up to the 10 s request-head bound that also bounds a handshake. */
export const TLS_HANDSHAKE_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A histogram's numbers as they travel over IPC and are summed. */
export interface HistogramData {
  count: number;
  /** Sum of the observed values (seconds). */
  sum: number;
  /** Per-bucket counts, bounds.length + 1 long (the last is the +Inf overflow). */
  counts: number[];
}

export class FixedHistogram {
  readonly bounds: readonly number[];
  readonly counts: Float64Array;
  count = 0;
  sum = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** One observation: a short linear scan (bounds are few and most values fall in the first ones). */
  observe(value: number): void {
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    while (i < n && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += value;
  }

  data(): HistogramData {
    return { count: this.count, sum: this.sum, counts: Array.from(this.counts) };
  }
}

export function emptyHistogram(bounds: readonly number[]): HistogramData {
  return { count: 0, sum: 0, counts: new Array<number>(bounds.length + 1).fill(0) };
}

/** Adds `from` into `into` (same bounds). */
export function addHistogram(into: HistogramData, from: HistogramData): void {
  into.count += from.count;
  into.sum += from.sum;
  const n = Math.min(into.counts.length, from.counts.length);
  for (let i = 0; i < n; i++) into.counts[i]! += from.counts[i]!;
}

export function copyHistogram(from: HistogramData): HistogramData {
  return { count: from.count, sum: from.sum, counts: from.counts.slice() };
}
