// Per-connection (never per-request) observations of a worker:
//
// - Upstream connect time (fly_app_connect_time_seconds): every TCP client
//   socket the worker opens (undici pools, WebSocket and [[services]] TCP
//   forwards alike) is stamped when created (the `net.client.socket`
//   diagnostics channel) and measured at its 'connect' event; its remote
//   address names the machine. Pooled keep-alive connections make this rare:
//   it costs nothing per request. A connection that fails is not observed.
// - TLS handshake time (fly_edge_tls_handshake_time_seconds): an HTTPS
//   listener's accepted TCP socket is stamped ('connection') and measured
//   when its handshake completes ('secureConnection'), labelled with the
//   negotiated version and the app the client's SNI name routes to.
import diagnostics from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HostRouter } from '../routing/host-router.ts';
import type { ServiceRoute } from '../routing/service-route.ts';
import { recordConnect, recordTlsHandshake } from './recorder.ts';

const kStartedAt = Symbol('perch.metrics.startedAt');
type Stamped = Socket & { [kStartedAt]?: number };

/** The routes whose machines name an upstream address (the worker's current ones). */
let upstreamRoutes: ReadonlyMap<string, ServiceRoute> | null = null;

/** Starts (once per process) timing upstream connects; `routes` is the worker's route table, read at each new connection. */
export function watchUpstreamConnects(routes: ReadonlyMap<string, ServiceRoute>): void {
  const first = upstreamRoutes === null;
  upstreamRoutes = routes;
  if (first) diagnostics.subscribe('net.client.socket', onClientSocket);
}

function onClientSocket(message: unknown): void {
  const socket = (message as { socket: Stamped }).socket;
  socket[kStartedAt] = performance.now();
  socket.once('connect', onUpstreamConnect);
}

function onUpstreamConnect(this: Stamped): void {
  const startedAt = this[kStartedAt];
  const routes = upstreamRoutes;
  if (startedAt === undefined || routes === null) return;
  const target = machineAt(routes, this.remoteAddress, this.remotePort);
  if (target === null) return;
  recordConnect(target.app, target.machine, target.region, (performance.now() - startedAt) / 1000);
}

/** The machine listening at address:port, if any route has it (by port; the host decides between machines sharing a port). */
export function machineAt(routes: ReadonlyMap<string, ServiceRoute>, address: string | undefined, port: number | undefined): { app: string; machine: string; region: string } | null {
  if (port === undefined) return null;
  let byPort: { app: string; machine: string; region: string } | null = null;
  let ambiguous = false;
  for (const route of routes.values()) {
    for (const target of route.targets) {
      if (target.port !== port) continue;
      const found = { app: route.config.name, machine: target.id, region: target.region };
      if (target.host === address) return found;
      if (byPort === null) byPort = found;
      else if (byPort.machine !== found.machine) ambiguous = true;
    }
  }
  // Two machines on this port and neither host matched as written (e.g. "localhost"): say nothing rather than guess.
  return ambiguous ? null : byPort;
}

interface TlsListener {
  on(event: 'connection', listener: (socket: Socket) => void): unknown;
  on(event: 'secureConnection', listener: (socket: TLSSocket) => void): unknown;
}

/** Times the TLS handshakes of an HTTPS listener; SNI names go to apps through the HTTP routes' hostnames. */
export function watchTlsHandshakes(server: TlsListener, routes: readonly ServiceRoute[]): void {
  const entries: [string, string][] = [];
  for (const route of routes) for (const hostname of route.config.hostnames) entries.push([hostname, route.config.name]);
  const router = new HostRouter(entries, routes.length === 1 ? routes[0]!.config.name : null);
  server.on('connection', (socket: Stamped) => {
    socket[kStartedAt] = performance.now();
  });
  server.on('secureConnection', (tlsSocket: TLSSocket) => {
    // The TLS socket wraps the accepted TCP socket (`_parent`, what 'connection' stamped).
    const startedAt = (tlsSocket as unknown as { _parent?: Stamped })._parent?.[kStartedAt];
    if (startedAt === undefined) return;
    const servername = (tlsSocket as TLSSocket & { servername?: string | false }).servername;
    const app = router.route(typeof servername === 'string' ? servername : undefined) ?? '';
    recordTlsHandshake(app, tlsSocket.getProtocol() ?? 'unknown', (performance.now() - startedAt) / 1000);
  });
}
