// One client request on its way to a machine and back: the undici handler
// that streams the response to the client, and the state the pipeline keeps
// about the request while it waits, is forwarded, or is retried.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Waiter } from '../cluster/load-channel.ts';
import type { ServiceRoute, MachineTarget } from '../routing/service-route.ts';
import { NO_STEERING, type Steering } from '../routing/rank.ts';
import type { RejectCode } from '../routing/slot-ledger.ts';
import { responseTimeoutError, upstreamError, type ProxyError } from './errors.ts';
import { clientHttpVersion, clientResponseHeaders, type ClientHttpVersion, type ForwardedHead } from './headers.ts';
import type { AwaitingResponse, ResponseDeadlines } from './response-deadlines.ts';

// HTTP/2 compat requests and responses are used through the HTTP/1 types:
// the pipeline only calls what both have.
export type ClientRequest = IncomingMessage;
export type ClientResponse = ServerResponse;

/** What an exchange needs from the request pipeline that made it. */
export interface ExchangeHost {
  /** The primary granted a machine to a waiting request. */
  granted(exchange: Exchange, target: MachineTarget): void;
  /** The primary refused a waiting request. */
  rejected(exchange: Exchange, code: RejectCode): void;
  /** A waiting request now waits for a machine to wake. */
  waking(exchange: Exchange): void;
  /** The machine's response began. */
  responded(exchange: Exchange): void;
  /** An attempt failed before any response arrived: try another machine or answer the error. */
  attemptFailed(exchange: Exchange, error: ProxyError): void;
  /** The exchange is over, whatever the outcome: release its load and log it. */
  finished(exchange: Exchange): void;
  /** Keeps upstream_response_timeout for the worker's requests. */
  readonly deadlines: ResponseDeadlines;
}

/** An HTTP/1.1 upgrade (WebSocket, see websocket.ts): makes the exchange that forwards it. */
export interface UpgradeRequest {
  exchangeFor(req: ClientRequest, res: ClientResponse, app: ServiceRoute, requestId: string, host: ExchangeHost): Exchange;
}

const kExchange = Symbol('perch.exchange');
type TaggedResponse = ClientResponse & { [kExchange]?: Exchange };

function onClientDrain(this: TaggedResponse): void {
  this[kExchange]?.controller?.resume();
}

function onClientClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}

export class Exchange implements Dispatcher.DispatchHandler, Waiter, AwaitingResponse {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly app: ServiceRoute;
  readonly requestId: string;
  readonly httpVersion: ClientHttpVersion;
  readonly startedAt: number;
  readonly host: ExchangeHost;
  head!: ForwardedHead;
  path = '/';
  steering: Steering = NO_STEERING;
  /** The machine of the current attempt; its load is counted while set. */
  target: MachineTarget | null = null;
  /** The machine's epoch when this request was counted on it. */
  targetEpoch = 0;
  /** The slot is held by the client connection ("connections" apps), not by this request. */
  pinned = false;
  controller: Dispatcher.DispatchController | null = null;
  /** Machines already tried, for retries. */
  tried: string[] | null = null;
  attempts = 0;
  /** Ticket of a wait at the primary, 0 when not waiting. */
  ticket = 0;
  waitTimer: NodeJS.Timeout | null = null;
  /**
   * Watched for upstream_response_timeout from the moment the request is
   * written: the response head, then each gap in the body (the gap only when
   * the machine speaks HTTP/1.1: an h2c stream, gRPC's, may be quiet for long).
   */
  progressAt = 0;
  watchPrev: AwaitingResponse | null = null;
  watchNext: AwaitingResponse | null = null;
  /** What the wait ends in when its bound passes: the queue's (PR04) or a wake's (PM03). */
  waitCode: 'PR04' | 'PM03' = 'PR04';
  status = 0;
  bytesOut = 0;
  /** Milliseconds from arrival to the end, set when the exchange is finished. */
  elapsedMs = 0;
  error: ProxyError | null = null;
  responseStarted = false;
  done = false;
  /** Listening for the client's 'drain': only once a write had to wait (most responses never do). */
  private drainHooked = false;

  constructor(req: ClientRequest, res: ClientResponse, app: ServiceRoute, requestId: string, host: ExchangeHost) {
    this.req = req;
    this.res = res;
    this.app = app;
    this.requestId = requestId;
    this.httpVersion = clientHttpVersion(req);
    this.startedAt = performance.now();
    this.host = host;
    (res as TaggedResponse)[kExchange] = this;
    res.on('close', onClientClose);
  }

  granted(target: MachineTarget): void {
    this.ticket = 0;
    this.host.granted(this, target);
  }

  rejected(code: RejectCode): void {
    this.ticket = 0;
    this.host.rejected(this, code);
  }

  waking(): void {
    this.host.waking(this);
  }

  /** Sends the request to `target`, already counted as load there. */
  dispatchTo(target: MachineTarget): void {
    this.target = target;
    this.targetEpoch = target.epoch;
    this.attempts++;
    const head = this.head;
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
    if (this.done) {
      controller.abort(new Error('client went away'));
      return;
    }
    if (this.responseTimeoutMs > 0) this.host.deadlines.watch(this);
  }

  get responseTimeoutMs(): number {
    return this.app.config.limits.upstreamResponseTimeoutMs;
  }

  responseTimedOut(): void {
    this.controller?.abort(responseTimeoutError(this.responseStarted, this.responseTimeoutMs));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // Informational responses are perch's to answer (100-continue) or not forwarded.
    if (statusCode < 200) return;
    this.responseStarted = true;
    this.status = statusCode;
    if (this.app.response.h2Backend) this.host.deadlines.unwatch(this);
    else this.progressAt = this.host.deadlines.now;
    this.host.responded(this);
    const list = clientResponseHeaders(headers, this.app.response, this.requestId, this.httpVersion);
    if (this.httpVersion === '2' && headers['grpc-status'] !== undefined) {
      // A gRPC "trailers-only" response: its status is in a head that ends the stream, and
      // clients read it as trailers only then. The head is held until the response ends
      // (res.end() sends it with END_STREAM); a body, if one came, would send it first.
      const res = this.res;
      res.statusCode = statusCode;
      for (let i = 0; i < list.length; i += 2) res.appendHeader(list[i]!, list[i + 1]!);
      return;
    }
    this.res.writeHead(statusCode, list);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytesOut += chunk.length;
    this.progressAt = this.host.deadlines.now;
    if (this.res.write(chunk)) return;
    controller.pause();
    if (!this.drainHooked) {
      this.drainHooked = true;
      this.res.on('drain', onClientDrain);
    }
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
    this.host.deadlines.unwatch(this);
    if (this.done) return;
    const error = upstreamError(err, this.responseStarted);
    if (this.responseStarted) {
      // Part of the response is with the client: cutting the connection is the only honest signal left.
      this.error = error;
      this.res.destroy(err);
      this.finish();
      return;
    }
    this.host.attemptFailed(this, error);
  }

  /** The client connection closed; an unfinished exchange stops its upstream request. */
  clientClosed(): void {
    // Not writableFinished: Node ends an aborted HTTP/2 stream's response itself before 'close'.
    // Every way perch ends a response finishes the exchange first, so `done` says it all.
    if (this.done) return;
    // 499 as nginx logs it: the client left before the response was complete. Done first, so the
    // upstream error the abort causes is not taken for the machine's fault.
    this.status = 499;
    this.done = true;
    this.host.deadlines.unwatch(this);
    this.controller?.abort(new Error('client went away'));
    this.host.finished(this);
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.host.deadlines.unwatch(this);
    this.host.finished(this);
  }
}
