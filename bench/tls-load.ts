// The load generator of the "tls" scenario, run as its own process pinned to
// the load core like bench/load.ts. It takes one JSON argument (a ConnLoadSpec)
// and writes one {"completed":…} line (a LoadResult plus TLS facts) to stdout.
//
// Modes:
//   new-connection  every request on a new TCP (and TLS) connection: connect,
//                   handshake, one GET with `Connection: close`, read the whole
//                   response, close; `lanes` of these at once. With TLS,
//                   `resume` offers the session ticket the lane got on its
//                   previous connection (a resumed handshake), else every
//                   handshake is a full one.
//   keepalive-h1    `connections` keep-alive HTTP/1.1 connections, one request
//                   in flight on each (like autocannon).
//   h2              `connections` HTTP/2 connections with `streams` requests in
//                   flight on each.
// keepalive-h1 and h2 run either here (generator "node": node:net, node:tls,
// node:http2) or through h2load (generator "h2load", nghttp2's C client: cheaper
// per request, so the server side is what limits); new-connection always runs
// here (h2load has no connection-per-request mode).
//
// TLS clients verify the server's certificate against `caFile` (the local CA's
// ca.pem) with `servername` as SNI (h2load does not verify; it sends the same SNI).
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { LatencyHistogram } from './lib/latency-histogram.ts';
import type { LoadRequest, LoadResult } from './lib/loadgen.ts';

export type ConnLoadMode = 'new-connection' | 'keepalive-h1' | 'h2';

export interface ConnLoadSpec extends LoadRequest {
  mode: ConnLoadMode;
  generator: 'node' | 'h2load';
  /** Where to connect (the url's host is the name used for Host/:authority and SNI). */
  connectHost: string;
  connectPort: number;
  tls: { servername: string; caFile: string; resume: boolean } | null;
  /** h2: requests in flight per connection. */
  streams: number;
  /** h2load --log-file (per-request latencies), when generator is h2load. */
  h2loadLogFile?: string;
}

export interface ConnLoadResult extends LoadResult {
  generator: string;
  /** Connections opened (new-connection: one per request). */
  connectionsOpened: number;
  /** TLS handshakes that resumed a session (new-connection with TLS). */
  resumed: number;
  /** What the first TLS connection negotiated. */
  tlsFacts: { protocol: string | null; cipher: string | null; alpn: string | false | null } | null;
  /** First few error messages. */
  errorSamples: string[];
}

const spec = JSON.parse(process.argv[2] ?? '') as ConnLoadSpec;
const url = new URL(spec.url);
const requestPath = `${url.pathname}${url.search}`;
const hostHeader = spec.headers.host ?? url.hostname;
const ca = spec.tls === null ? undefined : readFileSync(spec.tls.caFile);
// One context for every connection: tls.connect({ ca }) would build (and parse the CA into) a new one each time,
// which costs the client more than the handshake itself.
const secureContext = ca === undefined ? undefined : tls.createSecureContext({ ca });

const latency = new LatencyHistogram();
const statusCounts: Record<string, number> = {};
const errorSamples: string[] = [];
let completed = 0;
let errors = 0;
let non2xx = 0;
let bodyBytes = 0;
let connectionsOpened = 0;
let resumed = 0;
let tlsFacts: ConnLoadResult['tlsFacts'] = null;

function recordError(err: unknown): void {
  errors++;
  if (errorSamples.length < 5) errorSamples.push((err as Error)?.message ?? String(err));
}

function recordResponse(status: number, ms: number, bytes: number): void {
  completed++;
  bodyBytes += bytes;
  latency.recordMs(ms);
  statusCounts[status] = (statusCounts[status] ?? 0) + 1;
  if (status < 200 || status >= 300) non2xx++;
}

/**
 * A minimal HTTP/1.1 response reader for one response at a time (no
 * pipelining): status, Content-Length body or chunked body, or to end of stream.
 */
class ResponseReader {
  #head: Buffer = Buffer.alloc(0);
  #status = 0;
  #remaining = -1; // body bytes left with Content-Length; -1 before the head; -2: read to end; -3 chunked
  #bodyBytes = 0;
  #chunkTail = '';

  reset(): void {
    this.#head = Buffer.alloc(0);
    this.#status = 0;
    this.#remaining = -1;
    this.#bodyBytes = 0;
    this.#chunkTail = '';
  }

  /** Feeds bytes; returns the status and body size once the response is complete. */
  push(chunk: Buffer): { status: number; bytes: number } | null {
    let body = chunk;
    if (this.#remaining === -1) {
      this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
      const end = this.#head.indexOf('\r\n\r\n');
      if (end === -1) return null;
      const head = this.#head.toString('latin1', 0, end);
      body = this.#head.subarray(end + 4);
      this.#status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length !== null) this.#remaining = Number(length[1]);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) this.#remaining = -3;
      else this.#remaining = -2;
    }
    if (this.#remaining >= 0) {
      this.#bodyBytes += body.length;
      this.#remaining -= body.length;
      return this.#remaining <= 0 ? { status: this.#status, bytes: this.#bodyBytes } : null;
    }
    if (this.#remaining === -3) {
      // Enough for a benchmark: the body ends with the zero-size chunk.
      this.#bodyBytes += body.length;
      this.#chunkTail = (this.#chunkTail + body.toString('latin1')).slice(-7);
      return this.#chunkTail.endsWith('0\r\n\r\n') ? { status: this.#status, bytes: this.#bodyBytes } : null;
    }
    this.#bodyBytes += body.length;
    return null;
  }

  /** At end of stream: the response, if its head arrived and it had no length. */
  end(): { status: number; bytes: number } | null {
    return this.#remaining === -2 ? { status: this.#status, bytes: this.#bodyBytes } : null;
  }
}

function h1Request(close: boolean): Buffer {
  return Buffer.from(`GET ${requestPath} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: perch-bench\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');
}

function connect(session: Buffer | undefined, alpn: string[]): net.Socket {
  connectionsOpened++;
  if (spec.tls === null) return net.connect({ host: spec.connectHost, port: spec.connectPort, noDelay: true });
  // noDelay is a net.connect option tls.connect's types do not list; set it on the socket instead.
  return tls.connect({
    host: spec.connectHost,
    port: spec.connectPort,
    servername: spec.tls.servername,
    ALPNProtocols: alpn,
    ...(session === undefined ? {} : { session }),
    ...(secureContext === undefined ? {} : { secureContext }),
  }).setNoDelay(true);
}

function noteTls(socket: tls.TLSSocket): void {
  if (tlsFacts !== null) return;
  tlsFacts = { protocol: socket.getProtocol(), cipher: socket.getCipher()?.name ?? null, alpn: socket.alpnProtocol ?? null };
}

// --- new-connection --------------------------------------------------------

async function newConnectionLane(deadline: number): Promise<void> {
  const request = h1Request(true);
  let session: Buffer | undefined;
  while (performance.now() < deadline) {
    await new Promise<void>((resolve) => {
      const started = performance.now();
      const reader = new ResponseReader();
      const socket = connect(spec.tls?.resume === true ? session : undefined, ['http/1.1']);
      let settled = false;
      const finish = (err?: unknown, response?: { status: number; bytes: number } | null): void => {
        if (settled) return;
        settled = true;
        if (response) {
          if (performance.now() <= deadline) recordResponse(response.status, performance.now() - started, response.bytes);
        } else if (performance.now() <= deadline) {
          recordError(err ?? new Error('connection closed before a complete response'));
        }
        socket.destroy();
        resolve();
      };
      if (spec.tls !== null) {
        const secure = socket as tls.TLSSocket;
        if (spec.tls.resume) secure.on('session', (ticket: Buffer) => (session = ticket));
        secure.once('secureConnect', () => {
          noteTls(secure);
          if (secure.isSessionReused()) resumed++;
          secure.write(request);
        });
      } else {
        socket.once('connect', () => socket.write(request));
      }
      socket.on('data', (chunk: Buffer) => {
        const done = reader.push(chunk);
        if (done !== null) finish(undefined, done);
      });
      socket.once('end', () => finish(undefined, reader.end()));
      socket.once('error', (err) => finish(err));
      socket.once('close', () => finish());
    });
  }
}

// --- keep-alive HTTP/1.1 ----------------------------------------------------

function keepAliveConnection(deadline: number): Promise<void> {
  const request = h1Request(false);
  return new Promise<void>((resolve) => {
    const reader = new ResponseReader();
    const socket = connect(undefined, ['http/1.1']);
    let started = 0;
    const send = (): void => {
      if (performance.now() >= deadline) {
        socket.destroy();
        resolve();
        return;
      }
      reader.reset();
      started = performance.now();
      socket.write(request);
    };
    socket.once(spec.tls === null ? 'connect' : 'secureConnect', () => {
      if (spec.tls !== null) noteTls(socket as tls.TLSSocket);
      send();
    });
    socket.on('data', (chunk: Buffer) => {
      const done = reader.push(chunk);
      if (done === null) return;
      if (performance.now() <= deadline) recordResponse(done.status, performance.now() - started, done.bytes);
      send();
    });
    socket.once('error', (err) => {
      if (performance.now() < deadline) recordError(err);
    });
    socket.once('close', () => resolve());
  });
}

// --- HTTP/2 -----------------------------------------------------------------

function h2Connection(deadline: number): Promise<void> {
  return new Promise<void>((resolve) => {
    connectionsOpened++;
    const origin = `${spec.tls === null ? 'http' : 'https'}://${spec.connectHost}:${spec.connectPort}`;
    const session = http2.connect(origin, spec.tls === null ? {} : { servername: spec.tls.servername, ...(secureContext === undefined ? {} : { secureContext }) });
    let inflight = 0;
    let closing = false;
    const close = (): void => {
      if (closing) return;
      closing = true;
      session.close(() => resolve());
      setTimeout(() => {
        session.destroy();
        resolve();
      }, 2000).unref();
    };
    const one = (): void => {
      if (performance.now() >= deadline || session.closed || session.destroyed) {
        if (inflight === 0) close();
        return;
      }
      inflight++;
      const started = performance.now();
      let status = 0;
      let bytes = 0;
      const stream = session.request({ ':method': 'GET', ':path': requestPath, ':authority': hostHeader, 'user-agent': 'perch-bench' });
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
      stream.once('end', () => {
        if (performance.now() <= deadline) recordResponse(status, performance.now() - started, bytes);
      });
      stream.once('error', (err) => {
        if (performance.now() < deadline) recordError(err);
      });
      stream.once('close', () => {
        inflight--;
        one();
      });
      stream.end();
    };
    session.once('connect', () => {
      if (spec.tls !== null) noteTls(session.socket as tls.TLSSocket);
      for (let i = 0; i < spec.streams; i++) one();
    });
    session.once('error', (err) => {
      if (performance.now() < deadline) recordError(err);
      close();
    });
  });
}

// --- h2load -------------------------------------------------------------------

async function runH2load(): Promise<ConnLoadResult> {
  const scheme = spec.tls === null ? 'http' : 'https';
  // The URI names the app (SNI and :authority / Host); --connect-to says where to connect.
  const target = `${scheme}://${spec.tls?.servername ?? hostHeader}:${spec.connectPort}${requestPath}`;
  const args = [
    target,
    `--connect-to=${spec.connectHost}:${spec.connectPort}`,
    '-t',
    '1',
    '-c',
    String(spec.connections),
    '-m',
    String(spec.mode === 'h2' ? spec.streams : 1),
    '-D',
    `${Math.max(1, Math.round(spec.durationSeconds * 1000))}ms`, // h2load takes whole numbers with a unit
    '-H',
    'user-agent: perch-bench',
  ];
  if (spec.mode === 'keepalive-h1') args.push('--h1');
  if (spec.h2loadLogFile !== undefined) {
    rmSync(spec.h2loadLogFile, { force: true }); // h2load appends
    args.push(`--log-file=${spec.h2loadLogFile}`);
  }
  const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(out);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const protocol = /Application protocol: (\S+)/.exec(out)?.[1] ?? null;
  const tlsProtocol = /TLS Protocol: (\S+)/.exec(out)?.[1] ?? null;
  const cipher = /Cipher: (\S+)/.exec(out)?.[1] ?? null;
  if (finished === null || requests === null) throw new Error(`h2load exited ${code}: ${out.trim().split('\n').slice(-5).join(' | ')}`);
  const duration = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  const done = Number(requests[4]);
  if (spec.h2loadLogFile !== undefined) {
    // start µs since epoch, status, µs until the end of the response
    for (const line of readFileSync(spec.h2loadLogFile, 'utf8').split('\n')) {
      const [, status, micros] = line.split('\t');
      if (status === undefined || micros === undefined || Number(status) < 0) continue;
      latency.recordMs(Number(micros) / 1000);
      statusCounts[status] = (statusCounts[status] ?? 0) + 1;
    }
  }
  const notTwo = statuses === null ? 0 : Number(statuses[2]) + Number(statuses[3]) + Number(statuses[4]);
  const failed = Number(requests[5]) + Number(requests[6]);
  return {
    completed: done,
    durationSeconds: duration,
    requestsPerSecond: done / duration,
    latencyMs: { p50: latency.percentileMs(50), p99: latency.percentileMs(99), mean: NaN, max: latency.percentileMs(100) },
    errors: failed,
    timeouts: Number(requests[7]),
    non2xx: notTwo,
    statusCounts,
    bytesPerSecond: NaN,
    generator: 'h2load',
    connectionsOpened: spec.connections,
    resumed: 0,
    tlsFacts: spec.tls === null ? null : { protocol: tlsProtocol, cipher, alpn: protocol },
    errorSamples: failed > 0 ? [out.trim().split('\n').slice(-3).join(' | ')] : [],
  };
}

// --- main ---------------------------------------------------------------------

async function runNode(): Promise<ConnLoadResult> {
  const startedAt = performance.now();
  const deadline = startedAt + spec.durationSeconds * 1000;
  const runs: Promise<void>[] = [];
  for (let i = 0; i < spec.connections; i++) {
    if (spec.mode === 'new-connection') runs.push(newConnectionLane(deadline));
    else if (spec.mode === 'keepalive-h1') runs.push(keepAliveConnection(deadline));
    else runs.push(h2Connection(deadline));
  }
  // In-flight requests at the deadline are not counted; give them a moment to wind down.
  await Promise.race([Promise.all(runs), new Promise((resolve) => setTimeout(resolve, spec.durationSeconds * 1000 + 3000))]);
  const duration = spec.durationSeconds;
  return {
    completed,
    durationSeconds: duration,
    requestsPerSecond: completed / duration,
    latencyMs: { p50: latency.percentileMs(50), p99: latency.percentileMs(99), mean: NaN, max: latency.percentileMs(100) },
    errors,
    timeouts: 0,
    non2xx,
    statusCounts,
    bytesPerSecond: bodyBytes / duration,
    generator: 'node',
    connectionsOpened,
    resumed,
    tlsFacts,
    errorSamples,
  };
}

const result = spec.generator === 'h2load' && spec.mode !== 'new-connection' ? await runH2load() : await runNode();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
