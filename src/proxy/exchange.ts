// One client request on its way to a machine and back: the undici handler
// that streams the response to the client, retries a request that never
// reached a machine on another one, and reports how it ended.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AppRoute, MachineTarget } from '../routing/app-route.ts';
import { upstreamError, type ProxyError } from './errors.ts';
import { clientResponseHeaders, type ForwardedHead } from './headers.ts';

// HTTP/2 compat requests and responses are used through the HTTP/1 types:
// the pipeline only calls what both have.
export type ClientRequest = IncomingMessage;
export type ClientResponse = ServerResponse;

/** What an exchange needs from the request pipeline that made it. */
export interface ExchangeHost {
  /** An attempt failed before any response arrived: try another machine or answer the error. */
  attemptFailed(exchange: Exchange, error: ProxyError): void;
  /** The exchange is over, whatever the outcome: release its load and log it. */
  finished(exchange: Exchange): void;
}

const kExchange = Symbol('perch.exchange');
type TaggedResponse = ClientResponse & { [kExchange]?: Exchange };

function onClientDrain(this: TaggedResponse): void {
  this[kExchange]?.controller?.resume();
}

function onClientClose(this: TaggedResponse): void {
  const exchange = this[kExchange];
  if (exchange !== undefined) exchange.clientClosed();
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly app: AppRoute;
  readonly requestId: string;
  readonly httpVersion: string;
  readonly startedAt: number;
  readonly host: ExchangeHost;
  head: ForwardedHead | null = null;
  path = '/';
  target: MachineTarget | null = null;
  controller: Dispatcher.DispatchController | null = null;
  /** Machines already tried, for retries. */
  tried: string[] | null = null;
  attempts = 0;
  status = 0;
  bytesOut = 0;
  error: ProxyError | null = null;
  responseStarted = false;
  done = false;

  constructor(req: ClientRequest, res: ClientResponse, app: AppRoute, requestId: string, host: ExchangeHost) {
    this.req = req;
    this.res = res;
    this.app = app;
    this.requestId = requestId;
    this.httpVersion = req.httpVersionMajor === 2 ? '2' : '1.1';
    this.startedAt = performance.now();
    this.host = host;
    (res as TaggedResponse)[kExchange] = this;
    res.on('drain', onClientDrain);
    res.on('close', onClientClose);
  }

  /** Sends the request to `target`. The caller has counted it as load on that machine. */
  dispatchTo(target: MachineTarget): void {
    this.target = target;
    this.attempts++;
    const head = this.head!;
    target.pool.dispatch(
      {
        path: this.path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: head.headers,
        body: head.hasBody ? this.req : null,
      },
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(new Error('client went away'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // Informational responses are perch's to answer (100-continue) or not forwarded.
    if (statusCode < 200) return;
    this.responseStarted = true;
    this.status = statusCode;
    this.res.writeHead(statusCode, clientResponseHeaders(headers, this.app.response, this.requestId, this.httpVersion));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytesOut += chunk.length;
    if (!this.res.write(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    for (const _ in trailers) {
      this.res.addTrailers(trailers as Record<string, string>);
      break;
    }
    this.res.end();
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    const error = upstreamError(err, this.responseStarted);
    this.error = error;
    if (this.responseStarted) {
      // Part of the response is with the client: cutting the connection is the only honest signal left.
      this.res.destroy(err);
      this.finish();
      return;
    }
    this.host.attemptFailed(this, error);
  }

  /** The client connection closed; an unfinished exchange stops its upstream request. */
  clientClosed(): void {
    if (this.done) return;
    if (this.res.writableFinished) return;
    this.status = this.status || 499;
    this.controller?.abort(new Error('client went away'));
    this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.host.finished(this);
  }
}
