// WebSocket upgrades (HTTP/1.1 `Upgrade: websocket`) on the HTTP and HTTPS
// listeners. An upgrade goes through the request pipeline like any request
// (route, force_https, steer, choose a machine or wait for one, retry a
// refused connection), as a TunnelExchange: undici sends the upgrade on an
// HTTP/1.1 pool and hands over the machine's socket on 101; perch writes the
// 101 to the client and joins the two sockets. The exchange, and the load it
// counts on the machine, lasts until either side closes (or the tunnel is idle
// for the app's idle_timeout). A non-101 answer is relayed as a response.
//
// Why undici's dispatch({ upgrade }) rather than http-proxy-3's ws(): the
// upgrade then shares everything requests have (header rewriting, the choice
// of a machine with its load slot or the wait at the primary, connect
// timeout, retry of refused connections, passive failure tracking, error
// codes, the access log) on one code path, with no second HTTP client.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { MachineTarget, ServiceRoute } from '../routing/service-route.ts';
import { Exchange, type ClientRequest, type ClientResponse, type ExchangeHost, type UpgradeRequest } from './exchange.ts';
import { clientResponseHeaders, type ListenerFacts } from './headers.ts';
import type { HttpProxy } from './http-proxy.ts';
import type { Upstreams } from './upstreams.ts';
import { ServerResponse } from './node-http.ts';

/** The upgrades perch forwards; a request asking for another (h2c) is served as a plain request. */
export function isWebSocketUpgrade(req: http.IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && req.method === 'GET' && upgrade.toLowerCase().includes('websocket');
}

/** The WebSocket tunnels of a worker. */
export class Tunnels {
  readonly upstreams: Upstreams;
  private readonly open = new Set<TunnelExchange>();
  /** Draining: tunnels are closed, and an upgrade answered from now on is closed at once. */
  closing = false;

  constructor(upstreams: Upstreams) {
    this.upstreams = upstreams;
  }

  /** The `upgrade` listener of a server whose requests `proxy` handles. */
  listenerFor(proxy: HttpProxy, facts: ListenerFacts): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void {
    return (req, socket, head) => {
      socket.on('error', ignore);
      // A response object on the socket, for answers other than 101 (errors, the machine's refusal).
      const res = new ServerResponse(req);
      res.assignSocket(socket as Socket);
      res.shouldKeepAlive = false;
      res.once('finish', endSocket);
      proxy.handle(req, res, facts, new PendingUpgrade(this, socket, head));
    };
  }

  get size(): number {
    return this.open.size;
  }

  added(tunnel: TunnelExchange): void {
    this.open.add(tunnel);
  }

  removed(tunnel: TunnelExchange): void {
    this.open.delete(tunnel);
  }

  /** Closes every tunnel (shutdown): a WebSocket cannot move to another process, its client reconnects. */
  closeAll(): void {
    this.closing = true;
    for (const tunnel of this.open) tunnel.close();
  }
}

class PendingUpgrade implements UpgradeRequest {
  private readonly tunnels: Tunnels;
  private readonly socket: Duplex;
  private readonly head: Buffer;

  constructor(tunnels: Tunnels, socket: Duplex, head: Buffer) {
    this.tunnels = tunnels;
    this.socket = socket;
    this.head = head;
  }

  exchangeFor(req: ClientRequest, res: ClientResponse, app: ServiceRoute, requestId: string, host: ExchangeHost): Exchange {
    return new TunnelExchange(req, res, app, requestId, host, this.tunnels, this.socket, this.head);
  }
}

export class TunnelExchange extends Exchange {
  private readonly tunnels: Tunnels;
  private readonly client: Duplex;
  /** What the client sent past its request head, for the machine once the tunnel is up. */
  private readonly early: Buffer;
  private machine: Duplex | null = null;

  constructor(req: ClientRequest, res: ClientResponse, app: ServiceRoute, requestId: string, host: ExchangeHost, tunnels: Tunnels, client: Duplex, early: Buffer) {
    super(req, res, app, requestId, host);
    this.tunnels = tunnels;
    this.client = client;
    this.early = early;
  }

  override dispatchTo(target: MachineTarget): void {
    this.target = target;
    this.targetEpoch = target.epoch;
    this.attempts++;
    this.tunnels.upstreams.forUpgrade(target.origin, this.app.config.limits).dispatch(
      { path: this.path, method: 'GET', headers: this.head.headers, body: null, upgrade: 'websocket' },
      this,
    );
  }

  onRequestUpgrade(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, machine: Duplex): void {
    this.host.deadlines.unwatch(this);
    this.status = statusCode;
    this.responseStarted = true;
    this.host.responded(this);
    const client = this.client;
    if (this.done || client.destroyed || this.tunnels.closing) {
      machine.destroy();
      this.finish();
      return;
    }
    this.machine = machine;
    client.write(switchingProtocols(headers, this));
    if (this.early.length > 0) machine.write(this.early);
    join(client, machine, this.app.response.idleTimeoutMs);
    this.tunnels.added(this);
  }

  override clientClosed(): void {
    if (this.machine !== null) this.finish();
    else super.clientClosed();
  }

  /** Shutdown: cuts both sides; the exchange finishes when the client socket closes. */
  close(): void {
    this.client.destroy();
  }

  override finish(): void {
    if (this.done) return;
    const machine = this.machine;
    if (machine !== null) {
      this.bytesOut = (this.client as Socket).bytesWritten ?? 0;
      this.tunnels.removed(this);
      machine.destroy();
    }
    super.finish();
  }
}

/** The 101 for the client: the machine's headers, rewritten like any response's, with the upgrade put back. */
function switchingProtocols(headers: Record<string, string | string[] | undefined>, exchange: Exchange): string {
  const list = clientResponseHeaders(headers, exchange.app.response, exchange.requestId, '1.1');
  let head = `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${String(headers.upgrade ?? 'websocket')}\r\n`;
  for (let i = 0; i < list.length; i += 2) head += `${list[i]}: ${list[i + 1]}\r\n`;
  return `${head}\r\n`;
}

const kPeer = Symbol('perch.peer');
type Joined = Duplex & { [kPeer]?: Duplex };

function ignore(): void {}

function destroyPeer(this: Joined): void {
  this[kPeer]?.destroy();
}

function destroySelf(this: Duplex): void {
  this.destroy();
}

function endSocket(this: ClientResponse): void {
  this.socket?.end();
}

/** Bytes flow both ways; an end is passed on, a close or error of either side closes the other, and so does idleness. */
function join(client: Duplex, machine: Duplex, idleMs: number): void {
  (client as Joined)[kPeer] = machine;
  (machine as Joined)[kPeer] = client;
  machine.on('error', ignore);
  client.on('close', destroyPeer);
  machine.on('close', destroyPeer);
  // The client socket sees every byte either way: its idle timer is the tunnel's.
  if (idleMs > 0) (client as Socket).setTimeout(idleMs, destroySelf);
  machine.pipe(client);
  client.pipe(machine);
}
