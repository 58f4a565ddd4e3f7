// A worker process: owns the listeners and the forwarding hot path. It gets
// its config and every machine change from the primary, and drains when told.
import cluster from 'node:cluster';
import { flushCompileCache } from 'node:module';
import type http from 'node:http';
import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { HttpOptions, PerchConfig } from '../config/model.ts';
import { accessLogger, flushLogs, logger, requestLog } from '../log/logger.ts';
import type { MachineView } from '../machines/machine.ts';
import { viaEntries, type ListenerFacts, type ResponsePolicy } from '../proxy/headers.ts';
import { HttpProxy } from '../proxy/http-proxy.ts';
import { createHttpServer } from '../proxy/http-server.ts';
import { closeAllHttps, closeIdleHttps, createHttpsServer } from '../proxy/https-server.ts';
import { Tunnels } from '../proxy/websocket.ts';
import { CertStore } from '../tls/cert-store.ts';
import { followStore, tlsServerOptions } from '../tls/server-options.ts';
import { RequestIds } from '../proxy/request-id.ts';
import { Upstreams } from '../proxy/upstreams.ts';
import { routesOf, ServiceRoute } from '../routing/service-route.ts';
import { ServiceListeners } from '../services/listeners.ts';
import { listenOn } from './listen.ts';
import { LoadChannel } from './load-channel.ts';
import { HostRouter } from '../routing/host-router.ts';
import { isPrimaryMessage, type PrimaryMessage, type WorkerMessage } from './messages.ts';
import { metricsSnapshot } from '../metrics/recorder.ts';
import { watchTlsHandshakes, watchUpstreamConnects } from '../metrics/worker-hooks.ts';

const SERVER_NAME = 'perch';
const VIA = viaEntries(SERVER_NAME);
const DRAIN_POLL_MS = 25;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export function runWorker(): void {
  const workerId = cluster.worker?.id ?? 0;
  const log = logger().child({ role: 'worker', worker: workerId });
  // The primary decides when a worker stops; a terminal's Ctrl-C reaches every process of the group.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});

  let state: WorkerState | null = null;
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    const msg = message as PrimaryMessage;
    if (msg.t === 'config') {
      state = new WorkerState(msg.config, workerId, log, Buffer.from(msg.ticketKeys, 'base64'));
      state.listen().then(
        (addresses) => {
          send({ t: 'ready', ...addresses });
          // Every module is loaded by now: the next worker finds them compiled (see workerEnv).
          flushCompileCache();
        },
        (err) => {
          log.error({ err }, 'worker could not listen');
          process.exit(1);
        },
      );
    } else if (msg.t === 'machines') {
      state?.updateMachines(msg.machines, msg.regions);
      state?.channel.applied(msg.gen);
    } else if (msg.t === 'drain') {
      void drainAndExit(state, msg.deadlineMs, log, msg.handoverMs ?? 0);
    } else if (msg.t === 'metrics') {
      send({ t: 'metrics', seq: msg.seq, snapshot: metricsSnapshot() });
    } else {
      state?.channel.handle(msg);
    }
  });
  process.on('disconnect', () => {
    // The primary is gone: finish what is under way, then go too.
    void drainAndExit(state, 5_000, log);
  });
}

function responsePolicy(options: HttpOptions | null, forceHttps: boolean): ResponsePolicy {
  return {
    pristine: options?.pristine ?? false,
    set: Object.entries(options?.responseHeaders ?? {}),
    serverName: SERVER_NAME,
    via: VIA,
    forceHttps,
    h2Backend: options?.h2Backend ?? false,
    idleTimeoutMs: options?.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
  };
}

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

class WorkerState {
  readonly config: PerchConfig;
  readonly proxy: HttpProxy;
  readonly upstreams = new Upstreams();
  /** Every route, by key (see routeKey). */
  readonly routes = new Map<string, ServiceRoute>();
  /** The routes of apps' HTTP services, chosen by Host on the edge HTTP/HTTPS listeners. */
  readonly httpRoutes: ServiceRoute[] = [];
  readonly channel: LoadChannel;
  readonly servers: http.Server[] = [];
  readonly httpsServers: http2.Http2SecureServer[] = [];
  /** WebSocket tunnels of both kinds of listener. */
  readonly tunnels: Tunnels;
  /** Certificates for TLS listeners (made in listen() when any listener terminates TLS). */
  certStore: CertStore | null = null;
  /** Session-ticket keys shared by every worker. */
  readonly ticketKeys: Buffer;
  /** Listeners of the apps' [[services]] ports (made in listen()). */
  services: ServiceListeners | null = null;
  private readonly log: ReturnType<typeof logger>;

  constructor(config: PerchConfig, workerId: number, log: ReturnType<typeof logger>, ticketKeys: Buffer) {
    this.config = config;
    this.log = log;
    this.ticketKeys = ticketKeys;
    this.tunnels = new Tunnels(this.upstreams);
    this.channel = new LoadChannel(send, this.routes);
    watchUpstreamConnects(this.routes);
    const entries: [string, ServiceRoute][] = [];
    for (const spec of routesOf(config)) {
      const http = spec.app.httpService;
      const isHttpService = spec.service === http;
      // A [[services]] entry answers HTTP with the options of its first port that has the http handler.
      const options = isHttpService ? http!.httpOptions : (spec.app.services[spec.index!]!.ports.find((port) => port.handlers.includes('http'))?.httpOptions ?? null);
      const forceHttps = isHttpService ? http!.forceHttps : (spec.app.services[spec.index!]!.ports.find((port) => port.handlers.includes('http'))?.forceHttps ?? false);
      const route = new ServiceRoute(spec.key, spec.app, spec.service, responsePolicy(options, forceHttps), this.channel);
      this.routes.set(route.key, route);
      if (!isHttpService) continue;
      this.httpRoutes.push(route);
      for (const hostname of spec.app.hostnames) entries.push([hostname, route]);
    }
    const router = new HostRouter(entries, this.httpRoutes.length === 1 ? this.httpRoutes[0]! : null);
    this.proxy = new HttpProxy({
      region: config.region,
      serverName: SERVER_NAME,
      via: VIA,
      router,
      requestIds: new RequestIds(workerId, config.region),
      channel: this.channel,
      access: accessLogger(),
      requests: requestLog(),
    });
  }

  async listen(): Promise<{ http: string[]; https: string[] }> {
    const idleTimeoutMs = Math.max(DEFAULT_IDLE_TIMEOUT_MS, ...this.httpRoutes.map((route) => route.config.httpService!.httpOptions.idleTimeoutMs));
    // HTTPS first: force_https redirects name its port.
    const https = await this.listenHttps(idleTimeoutMs);
    const httpsPort = https.length === 0 ? 443 : Number(https[0]!.slice(https[0]!.lastIndexOf(':') + 1));
    const http: string[] = [];
    for (const address of this.config.http.listen) {
      const facts: ListenerFacts = { proto: 'http', port: String(address.port), httpsPortSuffix: httpsPort === 443 ? '' : `:${httpsPort}` };
      const server = createHttpServer(this.proxy, facts, this.config.edge, idleTimeoutMs, this.log, SERVER_NAME, this.tunnels);
      this.servers.push(server);
      const bound = await listenOn(server, address);
      facts.port = String(bound.port);
      http.push(formatAddress(bound));
    }
    this.services = new ServiceListeners({
      config: this.config,
      routes: this.routes,
      channel: this.channel,
      proxy: this.proxy,
      access: accessLogger(),
      log: this.log,
      serverName: SERVER_NAME,
      certStore: this.certStore ?? undefined,
      ticketKeys: this.ticketKeys,
      tunnels: this.tunnels,
    });
    await this.services.listen();
    return { http, https };
  }

  private async listenHttps(idleTimeoutMs: number): Promise<string[]> {
    const config = this.config;
    const terminatesTls = config.apps.some((app) => app.services.some((service) => service.ports.some((port) => port.handlers.includes('tls'))));
    if (config.https.listen.length === 0 && !terminatesTls) return [];
    const store = await CertStore.create({ https: config.https, apps: config.apps, log: this.log });
    this.certStore = store;
    const addresses: string[] = [];
    for (const address of config.https.listen) {
      const facts: ListenerFacts = { proto: 'https', port: String(address.port) };
      const tlsInput = { ticketKeys: this.ticketKeys, log: this.log };
      const server = createHttpsServer({
        proxy: this.proxy,
        facts,
        edge: config.edge,
        idleTimeoutMs,
        tls: tlsServerOptions(store, tlsInput),
        tunnels: this.tunnels,
        log: this.log,
        serverName: SERVER_NAME,
      });
      // A reload or a renewed default certificate reaches the server's default context; SNI contexts follow the store by themselves.
      followStore(server, store, tlsInput);
      watchTlsHandshakes(server, this.httpRoutes);
      this.httpsServers.push(server);
      const bound = await listenOn(server, address);
      facts.port = String(bound.port);
      addresses.push(formatAddress(bound));
    }
    return addresses;
  }

  updateMachines(machines: MachineView[], regionOrder: string[]): void {
    const origins = new Set<string>();
    const regions = new Map(regionOrder.map((region, index) => [region, index]));
    const h2c = new Set<string>();
    for (const route of this.routes.values()) {
      route.regions = regions;
      route.update(machines, this.upstreams, origins);
      if (route.response.h2Backend) for (const target of route.targets) h2c.add(target.origin);
    }
    // Before any request of this update makes a pool: the protocol is a property of the pool.
    this.upstreams.setH2c(h2c);
    this.upstreams.retain(origins);
  }
}


export function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
}

let draining = false;

/**
 * `handoverMs` (a reload: other workers already listen): keep serving, every
 * HTTP/1.1 response saying `Connection: close`, so keep-alive clients move to
 * the new workers between two of their requests instead of having an idle
 * connection closed under a request they are sending.
 */
async function drainAndExit(state: WorkerState | null, deadlineMs: number, log: ReturnType<typeof logger>, handoverMs = 0): Promise<void> {
  if (draining) return;
  draining = true;
  let cut = 0;
  if (state !== null) {
    state.proxy.draining = true;
    if (handoverMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(handoverMs, deadlineMs)));
    for (const server of state.servers) server.close();
    // HTTP/2 sessions get GOAWAY: streams under way finish, new ones go elsewhere.
    for (const server of state.httpsServers) server.close();
    // A WebSocket cannot move to another process: it is closed now, and its client reconnects.
    state.tunnels.closeAll();
    const deadline = Date.now() + deadlineMs;
    // [[services]] ports: stop accepting; TCP connections under way may finish within the deadline too.
    state.services?.stopAccepting();
    while ((state.proxy.inflight > 0 || (state.services?.active ?? 0) > 0) && Date.now() < deadline) {
      state.services?.closeIdle();
      for (const server of state.servers) server.closeIdleConnections();
      for (const server of state.httpsServers) closeIdleHttps(server);
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    cut = state.proxy.inflight;
    cut += state.services?.destroyAll() ?? 0;
    for (const server of state.servers) server.closeAllConnections();
    for (const server of state.httpsServers) closeAllHttps(server);
    state.certStore?.close();
    if (cut > 0) log.warn({ cut }, 'drain deadline passed; requests cut');
    await state.upstreams.closeAll();
  }
  send({ t: 'drained', cut });
  flushLogs();
  // Let the IPC message leave before the channel closes.
  setImmediate(() => process.exit(0));
}
