// Closeness: an exponentially weighted moving average of round-trip samples
// (TCP connect times, HTTP check round trips) per machine.
//
// Why α = 1/8 going up and 1/2 going down. A round trip can only be inflated
// (queueing, a busy app, a GC pause during an HTTP check), never shortened,
// so a sample above the estimate is weak news about distance and one below
// it is strong news. Going up, 1/8 (TCP's SRTT gain) lets a single 50 ms
// stall on a 5 ms machine move the estimate by about 6 ms, not enough to
// change its closeness bucket; a real change of path (a machine moved, a
// link got slower) is still 90 % absorbed after ~17 samples (about half a
// minute at the 2 s probe interval). Going down, 1/2 sheds in two or three
// runs the slow first check of a process that has just booted.
// The first sample is taken as is, so the estimate does not start from zero.
export const DEFAULT_RTT_ALPHA = 0.125;
const DOWNWARD_WEIGHT = 4;

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
    if (this.current === null) this.current = sample;
    else this.current += (sample < this.current ? Math.min(1, DOWNWARD_WEIGHT * this.alpha) : this.alpha) * (sample - this.current);
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
