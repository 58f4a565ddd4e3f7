// The HTTP request pipeline of a worker, phase by phase:
//   head → route to app → steer → choose a machine (here, or wait for the
//   primary) → forward → respond → release and log.
// Later phases (force_https, waking, compression, fly-replay) slot in here.
import type { Http2ServerRequest } from 'node:http2';
import type { LoadChannel } from '../cluster/load-channel.ts';
import type { AccessLog } from '../log/access-log.ts';
import type { Logger } from '../log/logger.ts';
import type { ServiceRoute, MachineTarget } from '../routing/service-route.ts';
import type { HostRouter } from '../routing/host-router.ts';
import type { RejectCode } from '../routing/slot-ledger.ts';
import { hasSteering, parseSteering } from '../routing/steering.ts';
import { pin, unpin, usablePin, type PinnableConnection } from './connection-pin.ts';
import { ProxyError, ERROR_CODES } from './errors.ts';
import { Exchange, type ClientRequest, type ClientResponse, type ExchangeHost, type UpgradeRequest } from './exchange.ts';
import { ResponseDeadlines } from './response-deadlines.ts';
import { clientHttpVersion, forwardedRequestHeaders, type ListenerFacts, type ViaEntries } from './headers.ts';
import type { RequestIds } from './request-id.ts';
import { pinSettled, waitForPin } from './shared-pin.ts';
import { recordExchange, recordUnrouted } from '../metrics/recorder.ts';

/** Consecutive connect failures on live traffic that take a machine out of rotation. */
export const PASSIVE_FAILURE_THRESHOLD = 2;

export interface ProxyContext {
  region: string;
  serverName: string;
  /** This edge's Via entries (headers.ts). */
  via: ViaEntries;
  router: HostRouter<ServiceRoute>;
  requestIds: RequestIds;
  channel: LoadChannel;
  access: Logger;
  requests: AccessLog;
}

/** A [[services]] port with the http handler: the port decides the route, not the Host header. */
export interface PortListenerFacts extends ListenerFacts {
  route?: ServiceRoute;
  /** The port's own force_https (a [[services]] entry may mix ports with and without it). */
  forceHttps?: boolean;
}

export class HttpProxy implements ExchangeHost {
  private readonly ctx: ProxyContext;
  /** Exchanges under way in this worker. */
  inflight = 0;
  /** Log each choice with this worker's view of the machines (PERCH_LOG_LEVEL=debug). */
  private readonly debug: boolean;
  draining = false;
  readonly deadlines = new ResponseDeadlines();

  constructor(ctx: ProxyContext) {
    this.ctx = ctx;
    this.debug = ctx.access.isLevelEnabled('debug');
  }

  /** The request handler for one listener. */
  handlerFor(listener: ListenerFacts): (req: ClientRequest, res: ClientResponse) => void {
    return (req, res) => this.handle(req, res, listener);
  }

  /** One request; `upgrade` when it asks for a WebSocket (see websocket.ts). */
  handle(req: ClientRequest, res: ClientResponse, listener: ListenerFacts, upgrade: UpgradeRequest | null = null): void {
    const ctx = this.ctx;
    const requestId = ctx.requestIds.next();
    const head = forwardedRequestHeaders(
      req.rawHeaders,
      listener,
      { ip: clientIp(req), requestId, httpVersion: clientHttpVersion(req) },
      ctx.region,
      ctx.via,
    );
    if (req.httpVersionMajor === 2) {
      // An HTTP/2 request has a body unless its head ended the stream; it need not say how long.
      head.hasBody = !(req as unknown as Http2ServerRequest).stream.endAfterHeaders;
    } else if (this.draining) {
      res.shouldKeepAlive = false;
    }

    const app = (listener as PortListenerFacts).route ?? ctx.router.route(head.host);
    if (app === null) {
      this.answerWithoutApp(req, res, requestId, new ProxyError('PH02', `no app serves host ${head.host ?? '(none)'}`));
      return;
    }

    if (listener.proto === 'http' && ((listener as PortListenerFacts).forceHttps ?? app.response.forceHttps)) {
      this.redirectToHttps(req, res, app, head.host, listener, requestId);
      return;
    }
    // TE is hop-by-hop; an HTTP/2 machine may be told the client takes trailers (gRPC needs it).
    if (head.teTrailers && app.response.h2Backend) head.headers.push('te', 'trailers');

    const exchange = upgrade === null ? new Exchange(req, res, app, requestId, this) : upgrade.exchangeFor(req, res, app, requestId, this);
    this.inflight++;
    exchange.head = head;
    const path = forwardPath(req.url);
    if (path === null) {
      this.fail(exchange, new ProxyError('PH01', `request target ${JSON.stringify(req.url)} is not a path`));
      return;
    }
    exchange.path = path;
    if (hasSteering(head)) exchange.steering = parseSteering(head, app.config.primaryRegion, ctx.region);
    this.choose(exchange);
  }

  /** Takes the best machine if this worker can alone; otherwise waits for the primary's grant. */
  private choose(exchange: Exchange): void {
    const app = exchange.app;
    if (app.byConnection) {
      const connection = connectionOf(exchange.req);
      const pinned = usablePin(connection, app, exchange.tried);
      if (pinned !== null) {
        exchange.pinned = true;
        this.forward(exchange, pinned);
        return;
      }
      // Another stream of this HTTP/2 connection is getting its slot: wait for that one.
      if (waitForPin(connection, exchange)) return;
    }
    const target = app.tryAcquire(exchange.steering, exchange.tried);
    if (target !== null) {
      this.hold(exchange, target);
      return;
    }
    exchange.ticket = this.ctx.channel.want(exchange.app, exchange.steering, exchange.tried, exchange);
    if (exchange.waitTimer === null) {
      const remaining = exchange.app.config.limits.queueTimeoutMs - (performance.now() - exchange.startedAt);
      exchange.waitTimer = setTimeout(() => this.waitExpired(exchange), Math.max(0, remaining));
    }
  }

  private forward(exchange: Exchange, target: MachineTarget): void {
    if (this.debug) {
      this.ctx.access.debug({
        request_id: exchange.requestId,
        machine: target.id,
        view: exchange.app.targets.map((t) => `${t.id}:${t.routable ? '' : 'down:'}${t.local}+${t.others}/${t.soft}${t.hard === null ? '' : `/${t.hard}`}@${t.rttMs === null ? '?' : t.rttMs.toFixed(1)}ms lease ${t.lease}`),
      }, 'chose machine');
    }
    const preferred = exchange.steering.preferInstance;
    if (preferred !== null && target.id !== preferred) exchange.head.headers.push('fly-preferred-instance-unavailable', preferred);
    exchange.dispatchTo(target);
  }

  granted(exchange: Exchange, target: MachineTarget): void {
    if (exchange.done) {
      exchange.app.release(target, target.epoch);
      return;
    }
    this.hold(exchange, target);
  }

  /** The slot just taken on `target` belongs to the request, or to its connection for "connections" apps. */
  private hold(exchange: Exchange, target: MachineTarget): void {
    if (exchange.app.byConnection) {
      const connection = connectionOf(exchange.req);
      pin(connection, exchange.app, target);
      exchange.pinned = true;
      this.forward(exchange, target);
      this.routeAgain(pinSettled(connection, exchange));
      return;
    }
    this.forward(exchange, target);
  }

  /** Requests that waited for a sibling stream's slot: to the pin now, or one of them gets the slot. */
  private routeAgain(waiters: Exchange[]): void {
    for (const waiter of waiters) if (!waiter.done) this.choose(waiter);
  }

  rejected(exchange: Exchange, code: RejectCode): void {
    if (exchange.done) return;
    this.fail(exchange, exchange.error !== null && code === 'PR01' ? exchange.error : new ProxyError(code));
  }

  waking(exchange: Exchange): void {
    if (exchange.done || exchange.waitCode === 'PM03') return;
    exchange.waitCode = 'PM03';
    if (exchange.waitTimer !== null) clearTimeout(exchange.waitTimer);
    const remaining = exchange.app.config.limits.wakeTimeoutMs - (performance.now() - exchange.startedAt);
    exchange.waitTimer = setTimeout(() => this.waitExpired(exchange), Math.max(0, remaining));
  }

  private waitExpired(exchange: Exchange): void {
    exchange.waitTimer = null;
    if (exchange.done || exchange.ticket === 0) return;
    this.ctx.channel.cancel(exchange.ticket);
    exchange.ticket = 0;
    const limits = exchange.app.config.limits;
    this.fail(exchange, exchange.waitCode === 'PM03'
      ? new ProxyError('PM03', `no machine woke within ${limits.wakeTimeoutMs} ms`)
      : new ProxyError('PR04', `waited ${limits.queueTimeoutMs} ms for a free machine`));
  }

  responded(exchange: Exchange): void {
    const target = exchange.target;
    if (target !== null) target.connectFailures = 0;
  }

  attemptFailed(exchange: Exchange, error: ProxyError): void {
    const target = exchange.target;
    if (target !== null) {
      this.releaseTarget(exchange, target);
      if (exchange.pinned) {
        unpin(connectionOf(exchange.req));
        exchange.pinned = false;
      }
      (exchange.tried ??= []).push(target.id);
      if (error.notSent && ++target.connectFailures >= PASSIVE_FAILURE_THRESHOLD && !target.passiveDown) {
        target.passiveDown = true;
        target.routable = false;
        this.ctx.channel.reportPassiveFailure(target);
      }
    }
    if (exchange.done) return;
    exchange.error = error;
    const bodyUntouched = !exchange.head.hasBody || !exchange.req.readableDidRead;
    if (!error.notSent || !bodyUntouched) {
      this.fail(exchange, error);
    } else if (exchange.attempts >= exchange.app.config.limits.retryAttempts) {
      this.fail(exchange, new ProxyError('PC07', `${exchange.attempts} attempts, last: ${error.code} on ${target?.id}`, { cause: error }));
    } else {
      this.choose(exchange);
    }
  }

  private releaseTarget(exchange: Exchange, target: MachineTarget): void {
    exchange.target = null;
    // A connection's slot outlives its requests.
    if (!exchange.pinned) exchange.app.release(target, exchange.targetEpoch);
  }

  private fail(exchange: Exchange, error: ProxyError): void {
    exchange.error = error;
    exchange.status = error.status;
    if (!exchange.res.headersSent) writeError(exchange.res, error, exchange.requestId, this.ctx.serverName);
    exchange.finish();
  }

  finished(exchange: Exchange): void {
    this.inflight--;
    if (exchange.waitTimer !== null) clearTimeout(exchange.waitTimer);
    if (exchange.ticket !== 0) {
      this.ctx.channel.cancel(exchange.ticket);
      exchange.ticket = 0;
    }
    // It was getting its connection's slot and gave up: its sibling streams try again.
    if (exchange.app.byConnection && !exchange.pinned) this.routeAgain(pinSettled(connectionOf(exchange.req), exchange));
    const target = exchange.target;
    if (target !== null) this.releaseTarget(exchange, target);
    exchange.elapsedMs = performance.now() - exchange.startedAt;
    recordExchange(exchange);
    const error = exchange.error;
    this.ctx.requests.request({
      requestId: exchange.requestId,
      app: exchange.app.config.name,
      machine: target?.id ?? null,
      region: target?.region ?? null,
      method: exchange.req.method ?? 'GET',
      path: exchange.path,
      status: exchange.status,
      bytes: exchange.bytesOut,
      attempts: exchange.attempts,
      ms: exchange.elapsedMs,
      code: error?.code ?? null,
      error: error === null ? null : error.message,
    });
  }

  /** force_https: a plain-HTTP request is sent to the same host and path on perch's HTTPS listener. */
  private redirectToHttps(req: ClientRequest, res: ClientResponse, app: ServiceRoute, host: string | undefined, listener: ListenerFacts, requestId: string): void {
    const path = forwardPath(req.url) ?? '/';
    const location = `https://${redirectHost(host, app)}${listener.httpsPortSuffix ?? ''}${path === '*' ? '/' : path}`;
    const body = `Moved to ${location}\n`;
    res.writeHead(301, {
      'location': location,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'server': this.ctx.serverName,
      'fly-request-id': requestId,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    this.ctx.access.info({ request_id: requestId, app: app.config.name, method: req.method, path, status: 301, code: null, redirect: location }, 'request');
  }

  private answerWithoutApp(req: ClientRequest, res: ClientResponse, requestId: string, error: ProxyError): void {
    writeError(res, error, requestId, this.ctx.serverName);
    recordUnrouted(error.code);
    this.ctx.access.info({ request_id: requestId, app: null, method: req.method, path: req.url, host: req.headers.host ?? null, status: error.status, code: error.code, error: error.message }, 'request');
  }
}

/** The client connection a request came on: its socket (HTTP/1.1) or session (HTTP/2). */
function connectionOf(req: ClientRequest): PinnableConnection {
  const stream = (req as { stream?: { session?: PinnableConnection } }).stream;
  return stream?.session ?? (req.socket as unknown as PinnableConnection);
}

/** A host name as sent (`Host` or `:authority`) without its port; the app's own name when it is missing or odd. */
function redirectHost(host: string | undefined, app: ServiceRoute): string {
  if (host !== undefined && HOST_WITH_PORT.test(host)) {
    if (host.charCodeAt(0) === 91 /* [ */) return host.slice(0, host.indexOf(']') + 1);
    const colon = host.indexOf(':');
    return colon === -1 ? host : host.slice(0, colon);
  }
  return app.config.hostnames.find((name) => !name.startsWith('*')) ?? `${app.config.name}.localhost`;
}

const HOST_WITH_PORT = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/** The client address as the machine should see it: IPv4-mapped IPv6 shown as IPv4. */
function clientIp(req: ClientRequest): string {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** The path to send upstream: origin-form as is, absolute-form reduced to its path, anything else refused. */
function forwardPath(url: string | undefined): string | null {
  if (url === undefined || url === '') return null;
  if (url.charCodeAt(0) === 47 /* / */) return url;
  if (url === '*') return url;
  if (url.startsWith('http://') || url.startsWith('https://')) {
    try {
      const parsed = new URL(url);
      return parsed.pathname + parsed.search;
    } catch {
      return null;
    }
  }
  return null;
}

export function errorBody(error: ProxyError, requestId: string): string {
  return `perch error ${error.code}: ${ERROR_CODES[error.code].text}${error.message === ERROR_CODES[error.code].text ? '' : ` (${error.message})`}\nrequest id: ${requestId}\n`;
}

export function writeError(res: ClientResponse, error: ProxyError, requestId: string, serverName: string): void {
  const body = errorBody(error, requestId);
  res.writeHead(error.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'server': serverName,
    'fly-request-id': requestId,
    'x-perch-error': error.code,
  });
  res.end(body);
}
