// For apps whose concurrency type is "connections", load is a client
// connection, not a request: the first request of a connection takes a slot
// on a machine and every later request of that connection goes to the same
// machine, until the connection closes (or the machine can no longer serve).
import type { ServiceRoute, MachineTarget } from '../routing/service-route.ts';

const kPin = Symbol('perch.pin');

export interface Pin {
  app: ServiceRoute;
  target: MachineTarget;
  epoch: number;
}

/** A client connection: a socket for HTTP/1.1, a session for HTTP/2. */
export interface PinnableConnection {
  [kPin]?: Pin;
  once(event: 'close', listener: () => void): unknown;
}

function onConnectionClose(this: PinnableConnection): void {
  unpin(this);
}

export function pinOf(connection: PinnableConnection): Pin | undefined {
  return connection[kPin];
}

/** Pins a connection to the machine it already holds a slot on. */
export function pin(connection: PinnableConnection, app: ServiceRoute, target: MachineTarget): void {
  const fresh = connection[kPin] === undefined;
  connection[kPin] = { app, target, epoch: target.epoch };
  if (fresh) connection.once('close', onConnectionClose);
}

/** Releases the connection's slot. */
export function unpin(connection: PinnableConnection): void {
  const held = connection[kPin];
  if (held === undefined) return;
  connection[kPin] = undefined;
  held.app.release(held.target, held.epoch);
}

/** The pinned machine, when it can still take this connection's requests. */
export function usablePin(connection: PinnableConnection, app: ServiceRoute, exclude: readonly string[] | null): MachineTarget | null {
  const held = connection[kPin];
  if (held === undefined) return null;
  if (held.app === app && held.target.routable && held.target.epoch === held.epoch && !(exclude?.includes(held.target.id) ?? false)) return held.target;
  unpin(connection);
  return null;
}
