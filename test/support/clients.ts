// Real clients for the TLS, HTTP/2 and WebSocket tests: curl, Node's http2
// and tls, and the ws package. Each closes what it opens.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import tls from 'node:tls';
import WebSocket from 'ws';

export const CURL = '/usr/bin/curl';

export interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl (never throws: a failed transfer is a result with its exit code). */
export function curl(args: string[], timeoutMs = 15_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(CURL, ['--silent', '--show-error', '--max-time', String(Math.ceil(timeoutMs / 1000)), ...args], { timeout: timeoutMs + 2_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders;
}

/** Opens an HTTP/2 session to perch's HTTPS listener, trusting `ca`; the caller closes it. */
export function h2connect(port: number, servername: string, ca: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${servername}:${port}`, {
      ca,
      servername,
      // Every name is this machine.
      lookup: (_host, options, callback) => {
        const answer = callback as (err: null, address: string | { address: string; family: number }[], family?: number) => void;
        if ((options as { all?: boolean }).all) answer(null, [{ address: '127.0.0.1', family: 4 }]);
        else answer(null, '127.0.0.1', 4);
      },
    });
    session.once('connect', () => {
      session.off('error', reject);
      resolve(session);
    });
    session.once('error', reject);
  });
}

/** One request on an HTTP/2 session; `body` is sent as DATA frames without a content-length. */
export function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let response: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      response = h;
    });
    stream.on('trailers', (h) => {
      trailers = h;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status: Number(response[':status']), headers: response, body: Buffer.concat(chunks), trailers }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

export interface Handshake {
  ok: boolean;
  error?: NodeJS.ErrnoException;
  alpn?: string | false | null;
  version?: string | null;
  authorized?: boolean;
  authorizationError?: Error;
  subjectCN?: string;
  fingerprint256?: string;
}

/** One TLS handshake with perch; never rejects. */
export function handshake(port: number, options: tls.ConnectionOptions, timeoutMs = 5_000): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    const timer = setTimeout(() => finish({ ok: false, error: Object.assign(new Error('handshake timed out'), { code: 'TIMEOUT' }) }), timeoutMs);
    function finish(result: Handshake): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      finish({
        ok: true,
        alpn: socket.alpnProtocol,
        version: socket.getProtocol(),
        authorized: socket.authorized,
        authorizationError: socket.authorizationError,
        subjectCN: cert.subject?.CN as string | undefined,
        fingerprint256: cert.fingerprint256,
      });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => finish({ ok: false, error }));
  });
}

export interface OpenSocket {
  ws: WebSocket;
  /** Messages received so far, as text. */
  messages: string[];
  /** The next message (already received or to come). */
  next(timeoutMs?: number): Promise<string>;
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a WebSocket (ws:// or wss://) and collects what it receives. */
export function openSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<OpenSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const messages: string[] = [];
    let read = 0;
    const waiting: (() => void)[] = [];
    ws.on('message', (data) => {
      messages.push(data.toString());
      for (const wake of waiting.splice(0)) wake();
    });
    const closed = new Promise<{ code: number; reason: string }>((resolveClose) => {
      ws.on('close', (code, reason) => resolveClose({ code, reason: reason.toString() }));
    });
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve({
        ws,
        messages,
        closed,
        next(timeoutMs = 5_000) {
          return new Promise((resolveNext, rejectNext) => {
            const take = (): boolean => {
              if (read >= messages.length) return false;
              clearTimeout(timer);
              resolveNext(messages[read++]!);
              return true;
            };
            const timer = setTimeout(() => rejectNext(new Error('no message in time')), timeoutMs);
            if (!take()) waiting.push(() => void take());
          });
        },
      });
    });
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}
