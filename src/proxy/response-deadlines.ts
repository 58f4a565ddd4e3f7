// The bound on a machine's response (upstream_response_timeout) for every
// request of a worker: first the response head, then each gap in its body.
//
// One sweep every SWEEP_MS while any request waits on a machine, instead of a
// timer per request. A Node timer reads the clock and relinks a list each time
// it is set or moved, three times for a short response; undici's own response
// timers also made an object per request and kept it until their sweep half a
// second later, long enough for it to be promoted to the old generation (about
// half of what a worker promoted under load). Here a sign of life from the
// machine is one field written with the clock of the last sweep.

/** How often waiting requests are checked; a bound is kept to within two of these. */
export const SWEEP_MS = 100;

/** A request that waits on a machine's response. */
export interface AwaitingResponse {
  /** `ResponseDeadlines.now` at the last sign of life from the machine: the request written, the head, a body chunk. */
  progressAt: number;
  readonly responseTimeoutMs: number;
  /** The bound passed; the request is no longer watched. */
  responseTimedOut(): void;
  // The watched requests are a list through the requests themselves: watching
  // one and letting it go allocate nothing and hash nothing. (A Set of them,
  // tried first, had a worker promote ~1.6 KB per request, whole requests'
  // objects, and cost about a fifth more CPU per request on the forwarding bench.)
  watchPrev: AwaitingResponse | null;
  watchNext: AwaitingResponse | null;
}

/**
 * Whether a request last heard of at `progressAt` (a sweep's clock, so up to
 * one sweep earlier than the event) is past `timeoutMs` at `now`: never
 * before the bound, at most two sweeps after it.
 */
export function isOverdue(now: number, progressAt: number, timeoutMs: number): boolean {
  return now - progressAt >= timeoutMs + SWEEP_MS;
}

export class ResponseDeadlines {
  /** performance.now() at the last sweep, or when the first request after a quiet spell was watched. */
  now = 0;
  private first: AwaitingResponse | null = null;
  private timer: NodeJS.Timeout | null = null;

  watch(request: AwaitingResponse): void {
    if (this.timer === null) {
      this.now = performance.now();
      this.timer = setInterval(() => this.sweep(), SWEEP_MS);
      this.timer.unref();
    }
    request.progressAt = this.now;
    if (request.watchPrev !== null || this.first === request) return;
    request.watchNext = this.first;
    if (this.first !== null) this.first.watchPrev = request;
    this.first = request;
  }

  unwatch(request: AwaitingResponse): void {
    const prev = request.watchPrev;
    const next = request.watchNext;
    if (prev !== null) prev.watchNext = next;
    else if (this.first === request) this.first = next;
    else return;
    if (next !== null) next.watchPrev = prev;
    request.watchPrev = null;
    request.watchNext = null;
  }

  private sweep(): void {
    if (this.first === null) {
      clearInterval(this.timer!);
      this.timer = null;
      return;
    }
    const now = (this.now = performance.now());
    for (let request: AwaitingResponse | null = this.first; request !== null; ) {
      const next: AwaitingResponse | null = request.watchNext;
      if (isOverdue(now, request.progressAt, request.responseTimeoutMs)) {
        this.unwatch(request);
        request.responseTimedOut();
      }
      request = next;
    }
  }
}
