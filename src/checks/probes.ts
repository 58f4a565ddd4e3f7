// The I/O of a check: one HTTP request or one TCP connect, bounded by an
// AbortSignal the caller aborts on timeout or when it stops watching. A probe
// never rejects: every outcome is a ProbeResult.
import net from 'node:net';
import { Client } from 'undici';
import type { ServiceCheck } from '../config/model.ts';
import type { ProbeResult } from './state.ts';
import { STATUS_CODES } from '../proxy/node-http.ts';

export type Clock = () => number;

const USER_AGENT = 'perch-health-check';
/** Bodies of check responses are read and dropped; a larger one closes the connection instead. */
const BODY_DUMP_LIMIT = 64 * 1024;

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** Why a probe ended early: the abort reason wins over whatever error the abort caused. */
function failure(signal: AbortSignal, err: unknown): string {
  return signal.aborted ? describe(signal.reason) : describe(err);
}

function urlHost(host: string): string {
  return net.isIPv6(host) ? `[${host}]` : host;
}

/** Connects to host:port and hangs up: passes on connect. The connect time is the RTT sample. */
export function tcpProbe(host: string, port: number, signal: AbortSignal, now: Clock): Promise<ProbeResult> {
  const startedAt = now();
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve({ ok: false, output: describe(signal.reason), startedAt, finishedAt: now(), rttMs: null });
      return;
    }
    const socket = net.connect({ host, port });
    socket.on('error', () => {});
    let settled = false;
    const finish = (ok: boolean, output: string): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      const finishedAt = now();
      resolve({ ok, output, startedAt, finishedAt, rttMs: ok ? finishedAt - startedAt : null });
    };
    const onAbort = (): void => finish(false, describe(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish(true, `connected to ${host}:${port}`));
    socket.once('error', (err) => finish(false, describe(err)));
  });
}

/** The key of the client an HTTP check uses: one per origin and TLS settings. */
export function httpClientKey(check: ServiceCheck, host: string, port: number): string {
  return `${check.protocol}://${urlHost(host)}:${port} verify=${!check.tlsSkipVerify} sni=${check.tlsServerName ?? ''}`;
}

/**
 * A small client for a machine's checks, apart from the data-plane pools:
 * one connection, kept alive between runs when the interval allows it.
 */
export function createHttpClient(check: ServiceCheck, host: string, port: number): Client {
  const tls = check.protocol === 'https'
    ? { rejectUnauthorized: !check.tlsSkipVerify, ...(check.tlsServerName !== null ? { servername: check.tlsServerName } : {}) }
    : undefined;
  return new Client(`${check.protocol}://${urlHost(host)}:${port}`, {
    pipelining: 1,
    connectTimeout: Math.max(check.timeoutMs, 1),
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 10_000,
    ...(tls !== undefined ? { connect: tls } : {}),
  });
}

/**
 * Sends the check's request; passes on 2xx and 3xx (redirects are not
 * followed). The round trip to the response head is the RTT sample; on a
 * fresh connection it includes the connect (and TLS handshake).
 */
export async function httpProbe(client: Client, check: ServiceCheck, signal: AbortSignal, now: Clock): Promise<ProbeResult> {
  const startedAt = now();
  const headers: Record<string, string> = { 'user-agent': USER_AGENT };
  for (const [name, value] of Object.entries(check.headers)) headers[name.toLowerCase()] = value;
  try {
    const response = await client.request({
      method: check.method,
      path: check.path,
      headers,
      signal,
      headersTimeout: Math.max(check.timeoutMs, 1),
      bodyTimeout: Math.max(check.timeoutMs, 1),
    });
    const headAt = now();
    await response.body.dump({ limit: BODY_DUMP_LIMIT, signal });
    const status = response.statusCode;
    const ok = status >= 200 && status < 400;
    return { ok, output: `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd(), startedAt, finishedAt: now(), rttMs: headAt - startedAt };
  } catch (err) {
    return { ok: false, output: failure(signal, err), startedAt, finishedAt: now(), rttMs: null };
  }
}
