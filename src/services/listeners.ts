// A worker's listeners for the [[services]] of every app (see plan.ts for
// which): one server per port and host, sharing its listening socket with
// the other workers through node:cluster. TCP kinds hand each connection to
// a TcpForward; HTTP kinds run perch's HTTP pipeline with the port's route
// fixed (no Host routing: the port decides the app).
import type http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { LoadChannel } from '../cluster/load-channel.ts';
import type { PerchConfig } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import { answerClientError } from '../proxy/http-server.ts';
import type { HttpProxy, PortListenerFacts } from '../proxy/http-proxy.ts';
import type { ServiceRoute } from '../routing/service-route.ts';
import { CertStore } from '../tls/cert-store.ts';
import { DEFAULT_HTTPS_PORT, planServices, type PortPlan } from './plan.ts';
import { portTls, type PortTls } from './port-tls.ts';
import { TcpForward, type TcpPort } from './tcp-forward.ts';
import { listenOn } from '../cluster/listen.ts';
import { httpServerOptions } from '../proxy/http-server.ts';
import { createServer, HttpServer } from '../proxy/node-http.ts';

export interface ServiceListenersOptions {
  config: PerchConfig;
  routes: ReadonlyMap<string, ServiceRoute>;
  channel: LoadChannel;
  proxy: HttpProxy;
  /** Where each connection's line goes (the access log). */
  access: Logger;
  log: Logger;
  serverName: string;
  /** The worker's certificate store, when it has one; else one is opened for the ports that need it. */
  certStore?: CertStore;
  /** Session-ticket keys shared by every worker (48 bytes), so a resumed TLS session may land on any of them. */
  ticketKeys?: Buffer;
  /** WebSocket upgrades on HTTP ports go here (the worker's tunnels, src/proxy/websocket.ts); without it they are plain requests. */
  tunnels?: UpgradeListeners;
}

/** What WebSocket upgrades need: an `upgrade` listener for a server whose requests `proxy` handles. */
export interface UpgradeListeners {
  listenerFor(proxy: HttpProxy, facts: PortListenerFacts): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
}

type AnyServer = net.Server | http.Server | http2.Http2SecureServer;

export class ServiceListeners {
  private readonly options: ServiceListenersOptions;
  private readonly servers: AnyServer[] = [];
  /** TCP-kind connections open in this worker. */
  private readonly open = new Set<TcpForward>();
  /** Client sockets of the HTTP-kind ports (closed at the drain deadline). */
  private readonly httpSockets = new Set<net.Socket>();
  private readonly stopFollowing: (() => void)[] = [];
  private store: CertStore | null;
  private ownStore = false;

  constructor(options: ServiceListenersOptions) {
    this.options = options;
    this.store = options.certStore ?? null;
  }

  /** TCP connections under way (what a drain waits for, besides the HTTP pipeline's requests). */
  get active(): number {
    return this.open.size;
  }

  /** Listens on every planned port; resolves with "host:port" of each socket. */
  async listen(): Promise<string[]> {
    const { config, log } = this.options;
    const plan = planServices(config);
    for (const note of plan.notes) log.warn({ app: note.app, route: note.route, ports: note.ports }, note.message);
    const addresses: string[] = [];
    const tlsByPortSpec = new Map<object, PortTls>();
    for (const port of plan.ports) {
      const route = this.options.routes.get(port.route);
      if (route === undefined) throw new Error(`no route ${port.route} for port ${port.port}`);
      let portTlsOptions: PortTls | null = null;
      if (port.kind === 'tls' || port.kind === 'https') {
        portTlsOptions = tlsByPortSpec.get(port.spec) ?? null;
        if (portTlsOptions === null) {
          portTlsOptions = await portTls(await this.certStore(), port.app, port.spec.tlsOptions, log);
          tlsByPortSpec.set(port.spec, portTlsOptions);
        }
      }
      const server = this.serverFor(port, route, portTlsOptions);
      this.servers.push(server);
      await listenOn(server, { host: port.host, port: port.port });
      addresses.push(`${port.host.includes(':') ? `[${port.host}]` : port.host || '*'}:${port.port}`);
    }
    if (plan.ports.length > 0) log.info({ ports: plan.ports.length, kinds: countKinds(plan.ports) }, 'service ports listening');
    return addresses;
  }

  /** Stops accepting; connections under way go on. */
  stopAccepting(): void {
    for (const server of this.servers) server.close();
    for (const stop of this.stopFollowing.splice(0)) stop();
  }

  /** Closes HTTP keep-alive connections that have no request under way (while draining). */
  closeIdle(): void {
    for (const server of this.servers) if (server instanceof HttpServer) server.closeIdleConnections();
  }

  /** Cuts everything still open; returns how many TCP connections were cut. */
  destroyAll(): number {
    const cut = this.open.size;
    for (const connection of [...this.open]) connection.close('drain');
    for (const socket of this.httpSockets) socket.destroy();
    if (this.ownStore) this.store?.close();
    return cut;
  }

  private async certStore(): Promise<CertStore> {
    if (this.store === null) {
      const { config, log } = this.options;
      this.store = await CertStore.create({ https: config.https, apps: config.apps, log });
      this.ownStore = true;
    }
    return this.store;
  }

  private serverFor(port: PortPlan, route: ServiceRoute, tlsOptions: PortTls | null): AnyServer {
    const { edge } = this.options.config;
    switch (port.kind) {
      case 'tcp': {
        const tcp = this.tcpPort(port, route);
        return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => new TcpForward(socket, tcp).start());
      }
      case 'tls': {
        const tcp = this.tcpPort(port, route);
        const server = tls.createServer({ ...tlsOptions!.options, ...this.ticketKeys(), allowHalfOpen: true, handshakeTimeout: edge.requestHeadTimeoutMs });
        server.on('secureConnection', (socket: tls.TLSSocket) => new TcpForward(socket, tcp).start());
        this.quietTlsErrors(server, port);
        this.stopFollowing.push(tlsOptions!.follow(server));
        return server;
      }
      case 'http': {
        const server = createServer({ ...httpServerOptions(edge, port.idleTimeoutMs), shouldUpgradeCallback: port.httpsPort === null ? this.upgrades : never });
        server.on('request', this.requestHandler(port, route, 'http'));
        this.forwardUpgrades(server, port, route, 'http');
        server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => answerClientError(err, socket, this.options.log, this.options.serverName));
        this.trackSockets(server);
        return server;
      }
      case 'https': {
        const server = http2.createSecureServer({
          ...tlsOptions!.options,
          ...this.ticketKeys(),
          allowHTTP1: true,
          handshakeTimeout: edge.requestHeadTimeoutMs,
          settings: { maxHeaderListSize: edge.requestHeadBytes },
          // createSecureServer passes these on to HTTP/1.1 connections (@types/node does not list them).
          ...httpServerOptions(edge, port.idleTimeoutMs),
        } as http2.SecureServerOptions);
        server.on('request', this.requestHandler(port, route, 'https') as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
        (server as unknown as { shouldUpgradeCallback: (req: http.IncomingMessage) => boolean }).shouldUpgradeCallback = this.upgrades;
        this.forwardUpgrades(server, port, route, 'https');
        // HTTP/2 sessions idle this long are closed (Node destroys them when nobody listens to 'timeout').
        server.setTimeout(port.idleTimeoutMs);
        server.on('sessionError', () => {});
        // HTTP/1.1 parse errors are answered like on the plain port; anything else just closes that connection.
        server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
          const code = err.code ?? '';
          if (code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT') answerClientError(err, socket, this.options.log, this.options.serverName);
          else socket.destroy();
        });
        this.quietTlsErrors(server, port);
        this.trackSockets(server);
        this.stopFollowing.push(tlsOptions!.follow(server as unknown as tls.Server));
        return server;
      }
    }
  }

  private ticketKeys(): { ticketKeys?: Buffer } {
    return this.options.ticketKeys === undefined ? {} : { ticketKeys: this.options.ticketKeys };
  }

  private tcpPort(port: PortPlan, route: ServiceRoute): TcpPort {
    return {
      route,
      channel: this.options.channel,
      access: this.options.access,
      port: port.port,
      proxyProto: port.proxyProto,
      idleTimeoutMs: port.idleTimeoutMs,
      open: this.open,
    };
  }

  private requestHandler(port: PortPlan, route: ServiceRoute, proto: 'http' | 'https'): (req: http.IncomingMessage, res: http.ServerResponse) => void {
    return this.options.proxy.handlerFor(factsOf(port, route, proto));
  }

  /** Which upgrade requests are handed to the tunnels (WebSockets, when there are tunnels); others are plain requests. */
  // A force_https port answers an upgrade with its redirect, like any request.
  private readonly upgrades = (req: http.IncomingMessage): boolean =>
    this.options.tunnels !== undefined && req.method === 'GET' && (req.headers.upgrade ?? '').toLowerCase().includes('websocket');

  private forwardUpgrades(server: http.Server | http2.Http2SecureServer, port: PortPlan, route: ServiceRoute, proto: 'http' | 'https'): void {
    const tunnels = this.options.tunnels;
    if (tunnels === undefined || port.httpsPort !== null) return;
    server.on('upgrade', tunnels.listenerFor(this.options.proxy, factsOf(port, route, proto)));
  }

  private trackSockets(server: AnyServer): void {
    const sockets = this.httpSockets;
    server.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  }

  private quietTlsErrors(server: tls.Server | http2.Http2SecureServer, port: PortPlan): void {
    const log = this.options.log;
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      log.debug({ app: port.app.name, port: port.port, remote: socket.remoteAddress, err: err.code ?? err.message }, 'TLS handshake failed');
      socket.destroy();
    });
  }
}

/** What the HTTP pipeline knows of a port: its route (no Host routing), its force_https and where that redirects. */
function factsOf(port: PortPlan, route: ServiceRoute, proto: 'http' | 'https'): PortListenerFacts {
  const facts: PortListenerFacts = { proto, port: String(port.port), route, forceHttps: port.httpsPort !== null };
  if (port.httpsPort !== null) facts.httpsPortSuffix = port.httpsPort === DEFAULT_HTTPS_PORT ? '' : `:${port.httpsPort}`;
  return facts;
}

function never(): boolean {
  return false;
}



function countKinds(ports: readonly PortPlan[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const port of ports) counts[port.kind] = (counts[port.kind] ?? 0) + 1;
  return counts;
}
