// One client connection on a TCP service port (no handler, `tls`,
// `proxy_proto`), from accept to close, phase by phase:
//
//   machine  take a slot on a machine of the port's route: here when this
//            worker can decide alone, else wait for the primary's grant
//            (bounded by the queue timeout, or the wake timeout once the
//            primary says a machine is waking);
//   connect  to the machine; refused or timed out before any byte was sent:
//            the next machine, within `retry_attempts` (and passive failure
//            reporting, as the HTTP pipeline does);
//   header   the PROXY protocol header, on proxy_proto ports;
//   pipe     bytes both ways with backpressure (stream.pipe); a FIN is passed
//            on and the other direction keeps flowing (half-close); an error
//            or a reset on either side closes both; no byte either way for
//            the idle timeout closes both;
//   end      the slot is released exactly once, and one access-log line says
//            how it went (route, machine, bytes both ways, duration, code).
//
// A connection is one unit of load on its machine for its whole life,
// whatever the service's concurrency type: a TCP stream has no requests.
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { LoadChannel, Waiter } from '../cluster/load-channel.ts';
import type { Logger } from '../log/logger.ts';
import { ProxyError } from '../proxy/errors.ts';
import { PASSIVE_FAILURE_THRESHOLD } from '../proxy/http-proxy.ts';
import { NO_STEERING } from '../routing/rank.ts';
import type { MachineTarget, ServiceRoute } from '../routing/service-route.ts';
import type { RejectCode } from '../routing/slot-ledger.ts';
import { endsOf, proxyHeader } from './proxy-protocol.ts';

/** What every connection of one listening port shares. */
export interface TcpPort {
  route: ServiceRoute;
  channel: LoadChannel;
  access: Logger;
  /** The port the client connected to, for the log. */
  port: number;
  /** 0: no PROXY header; else its version. */
  proxyProto: 0 | 1 | 2;
  /** Closes a connection with no byte either way for this long. */
  idleTimeoutMs: number;
  /** The connections open on every port of the worker (for draining). */
  open: Set<TcpForward>;
}

/** Why a connection ended, for the log. */
type EndReason = 'closed' | 'idle' | 'drain' | 'refused';

export class TcpForward implements Waiter {
  private readonly client: net.Socket;
  private readonly port: TcpPort;
  private readonly startedAt = performance.now();
  private readonly remote: string;
  private upstream: net.Socket | null = null;
  /** The machine holding this connection's slot, while it holds it. */
  private target: MachineTarget | null = null;
  private epoch = 0;
  /** The last machine tried, for the log. */
  private machine: MachineTarget | null = null;
  private tried: string[] | null = null;
  private attempts = 0;
  private ticket = 0;
  private waitTimer: NodeJS.Timeout | null = null;
  private waitCode: 'PR04' | 'PM03' = 'PR04';
  private connected = false;
  private headerBytes = 0;
  private clientClosed = false;
  private upstreamClosed = true;
  private error: ProxyError | null = null;
  /** A client-side failure (reset, TLS error): not a machine's fault, logged apart. */
  private clientError: string | null = null;
  private reason: EndReason = 'closed';
  private done = false;

  constructor(client: net.Socket, port: TcpPort) {
    this.client = client;
    this.port = port;
    this.remote = `${client.remoteAddress}:${client.remotePort}`;
  }

  start(): void {
    const client = this.client;
    this.port.open.add(this);
    client.on('error', (err: NodeJS.ErrnoException) => {
      this.clientError ??= err.code ?? err.message;
    });
    client.on('close', () => this.onClientClose());
    client.setNoDelay(true);
    client.setTimeout(this.port.idleTimeoutMs, () => this.close('idle'));
    this.choose();
  }

  /** Ends the connection now (drain deadline, idle), both sides. */
  close(reason: EndReason): void {
    if (this.done) return;
    this.reason = reason;
    this.client.destroy();
    this.upstream?.destroy();
  }

  // --- machine ------------------------------------------------------------

  private choose(): void {
    const route = this.port.route;
    const target = route.tryAcquire(NO_STEERING, this.tried);
    if (target !== null) {
      this.connect(target);
      return;
    }
    this.ticket = this.port.channel.want(route, NO_STEERING, this.tried, this);
    if (this.waitTimer === null) this.armWait(this.waitCode === 'PM03' ? route.config.limits.wakeTimeoutMs : route.config.limits.queueTimeoutMs);
  }

  granted(target: MachineTarget): void {
    this.ticket = 0;
    if (this.done) {
      this.port.route.release(target, target.epoch);
      return;
    }
    this.connect(target);
  }

  rejected(code: RejectCode): void {
    this.ticket = 0;
    if (this.done) return;
    this.fail(this.error !== null && code === 'PR01' ? this.error : new ProxyError(code));
  }

  waking(): void {
    if (this.done || this.waitCode === 'PM03') return;
    this.waitCode = 'PM03';
    if (this.waitTimer !== null) clearTimeout(this.waitTimer);
    this.armWait(this.port.route.config.limits.wakeTimeoutMs);
  }

  /** The wait's bound counts from the connection's start: it covers every wait and retry. */
  private armWait(boundMs: number): void {
    const remaining = boundMs - (performance.now() - this.startedAt);
    this.waitTimer = setTimeout(() => this.waitExpired(), Math.max(0, remaining));
  }

  private waitExpired(): void {
    this.waitTimer = null;
    if (this.done || this.ticket === 0) return;
    this.port.channel.cancel(this.ticket);
    this.ticket = 0;
    const limits = this.port.route.config.limits;
    this.fail(this.waitCode === 'PM03'
      ? new ProxyError('PM03', `no machine woke within ${limits.wakeTimeoutMs} ms`)
      : new ProxyError('PR04', `waited ${limits.queueTimeoutMs} ms for a free machine`));
  }

  // --- connect ------------------------------------------------------------

  private connect(target: MachineTarget): void {
    this.target = target;
    this.machine = target;
    this.epoch = target.epoch;
    this.attempts++;
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    this.upstream = upstream;
    this.upstreamClosed = false;
    upstream.setTimeout(this.port.route.config.limits.upstreamConnectTimeoutMs);
    upstream.once('connect', () => this.onConnect(upstream));
    upstream.on('timeout', () => {
      if (!this.connected) this.attemptFailed(upstream, new ProxyError('PC05', undefined, { notSent: true }));
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(upstream, err));
    upstream.on('close', (hadError: boolean) => this.onUpstreamClose(upstream, hadError));
  }

  private onConnect(upstream: net.Socket): void {
    if (upstream !== this.upstream || this.done) return;
    this.connected = true;
    // Earlier attempts' failures are not this connection's outcome.
    this.error = null;
    upstream.setTimeout(0);
    if (this.waitTimer !== null) {
      clearTimeout(this.waitTimer);
      this.waitTimer = null;
    }
    this.target!.connectFailures = 0;
    const client = this.client;
    if (this.port.proxyProto !== 0) {
      const header = proxyHeader(this.port.proxyProto, endsOf(client));
      this.headerBytes = header.length;
      upstream.write(header);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private onUpstreamError(upstream: net.Socket, err: NodeJS.ErrnoException): void {
    if (upstream !== this.upstream) return;
    if (!this.connected) {
      // Nothing reached the machine: another one may take the connection.
      const error = err.code === 'ECONNREFUSED'
        ? new ProxyError('PC01', undefined, { notSent: true, cause: err })
        : new ProxyError('PC01', err.code ?? err.message, { notSent: true, cause: err });
      this.attemptFailed(upstream, error);
      return;
    }
    this.error ??= err.code === 'ECONNRESET' || err.code === 'EPIPE'
      ? new ProxyError('PC03', undefined, { cause: err })
      : new ProxyError('PU02', err.code ?? err.message, { cause: err });
  }

  private attemptFailed(upstream: net.Socket, error: ProxyError): void {
    const target = this.target;
    this.upstream = null;
    this.upstreamClosed = true;
    upstream.destroy();
    if (target !== null) {
      this.target = null;
      this.port.route.release(target, this.epoch);
      (this.tried ??= []).push(target.id);
      if (++target.connectFailures >= PASSIVE_FAILURE_THRESHOLD && !target.passiveDown) {
        target.passiveDown = true;
        target.routable = false;
        this.port.channel.reportPassiveFailure(target);
      }
    }
    this.error = error;
    if (this.done) return;
    if (this.attempts >= this.port.route.config.limits.retryAttempts) {
      this.fail(new ProxyError('PC07', `${this.attempts} attempts, last: ${error.code} on ${target?.id}`, { cause: error }));
    } else {
      this.choose();
    }
  }

  /** No machine for this connection: it is closed. */
  private fail(error: ProxyError): void {
    this.error = error;
    this.reason = 'refused';
    this.client.destroy();
  }

  // --- end ----------------------------------------------------------------

  private onClientClose(): void {
    this.clientClosed = true;
    const upstream = this.upstream;
    if (upstream !== null && !this.upstreamClosed) {
      // The client is gone. What it sent may still be on its way to the
      // machine (the machine already finished its side): let that finish;
      // anything else has no one left to talk to.
      if (this.connected && upstream.readableEnded && !upstream.writableFinished && !this.client.errored) {
        upstream.setTimeout(this.port.idleTimeoutMs, () => upstream.destroy());
      } else {
        upstream.destroy();
      }
    }
    this.maybeFinish();
  }

  private onUpstreamClose(upstream: net.Socket, hadError: boolean): void {
    if (upstream !== this.upstream) return;
    this.upstreamClosed = true;
    // After a clean close the pipe has ended the client's side; after a failure the client goes too.
    if (hadError || !upstream.readableEnded) this.client.destroy();
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.done || !this.clientClosed || !this.upstreamClosed) return;
    this.done = true;
    this.port.open.delete(this);
    if (this.waitTimer !== null) clearTimeout(this.waitTimer);
    if (this.ticket !== 0) {
      this.port.channel.cancel(this.ticket);
      this.ticket = 0;
    }
    const target = this.target;
    if (target !== null) {
      this.target = null;
      this.port.route.release(target, this.epoch);
    }
    this.log();
  }

  private log(): void {
    const upstream = this.upstream;
    const machine = this.machine;
    const error = this.error;
    const route = this.port.route;
    const sni = (this.client as TLSSocket).servername;
    this.port.access.info({
      app: route.config.name,
      route: route.key,
      port: this.port.port,
      client: this.remote,
      sni: typeof sni === 'string' ? sni : undefined,
      machine: machine?.id ?? null,
      region: machine?.region ?? null,
      bytes_in: upstream !== null && this.connected ? upstream.bytesWritten - this.headerBytes : 0,
      bytes_out: upstream !== null && this.connected ? upstream.bytesRead : 0,
      attempts: this.attempts,
      ms: Math.round((performance.now() - this.startedAt) * 100) / 100,
      end: this.reason,
      code: error?.code ?? null,
      error: error?.message,
      client_error: this.clientError ?? undefined,
    }, 'connection');
  }
}
