// For "connections" apps a client connection is one unit of load, pinned to
// a machine by its first request (see connection-pin.ts). An HTTP/2
// connection sends its first requests concurrently, as streams: the first
// one gets the connection's slot (perhaps waiting for the primary), and those
// that come meanwhile wait for that slot instead of taking slots of their
// own, then go where the pin points. If the first one gives up (refused,
// timed out, its stream reset), the waiters try again, the first of them in
// its place.
const kPending = Symbol('perch.pendingPin');

interface PendingPin<T> {
  acquirer: T;
  waiters: T[];
}

type WithPending<T> = { [kPending]?: PendingPin<T> };

const NONE: never[] = [];

/**
 * Called for a request of an unpinned connection: false when it is the one
 * to get the connection's slot, true when another request of the connection
 * is getting it (this one now waits, see pinSettled).
 */
export function waitForPin<T>(connection: object, request: T): boolean {
  const holder = connection as WithPending<T>;
  const pending = holder[kPending];
  if (pending === undefined) {
    holder[kPending] = { acquirer: request, waiters: [] };
    return false;
  }
  if (pending.acquirer === request) return false;
  pending.waiters.push(request);
  return true;
}

/** `request` got the connection pinned, or gave up: the requests that waited for it, to be routed again. */
export function pinSettled<T>(connection: object, request: T): T[] {
  const holder = connection as WithPending<T>;
  const pending = holder[kPending];
  if (pending === undefined || pending.acquirer !== request) return NONE;
  holder[kPending] = undefined;
  return pending.waiters;
}
