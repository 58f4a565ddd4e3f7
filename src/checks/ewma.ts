// Closeness: an exponentially weighted moving average of round-trip samples
// (TCP connect times, HTTP check round trips) per machine.
//
// Why α = 0.25. TCP's SRTT uses 1/8, but it gets a sample per ACK; perch gets
// one per check run or RTT probe, every few seconds. With 0.25 a sample's
// weight halves after ~2.4 newer samples: a real change of path (a machine
// moved, a link got slower) is 90 % absorbed after 8 samples (~16 s at the
// 2 s probe interval), while one outlier (a SYN retransmit, a GC pause in the
// app during an HTTP check) moves the estimate by only a quarter of its excess.
// The first sample is taken as is, so the estimate does not start from zero.
export const DEFAULT_RTT_ALPHA = 0.25;

export class Ewma {
  readonly alpha: number;
  private current: number | null = null;

  constructor(alpha = DEFAULT_RTT_ALPHA) {
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`EWMA alpha must be in (0, 1], got ${alpha}`);
    this.alpha = alpha;
  }

  get value(): number | null {
    return this.current;
  }

  add(sample: number): number {
    if (!Number.isFinite(sample) || sample < 0) return this.current ?? 0;
    this.current = this.current === null ? sample : this.current + this.alpha * (sample - this.current);
    return this.current;
  }
}

/**
 * Whether an estimate moved enough to tell the routers: the first one always,
 * then a change of at least `minMs` and at least `ratio` of the last one told.
 * Sub-millisecond wobble on loopback is noise and would only churn IPC.
 */
export function rttChanged(told: number | null, now: number, minMs: number, ratio: number): boolean {
  if (told === null) return true;
  const delta = Math.abs(now - told);
  return delta >= minMs && delta >= ratio * told;
}
