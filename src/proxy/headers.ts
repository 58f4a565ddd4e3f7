// Header rewriting for both directions. Request headers are rebuilt from the
// client's raw list in one pass: hop-by-hop headers and client-sent copies of
// the headers perch sets are dropped, then perch's own are appended.
// Response headers drop what belongs to the upstream connection and gain
// Server, Via and Fly-Request-Id unless the app asked for pristine responses.

import type { SteeringHeaders } from '../routing/steering.ts';

/** What to do with a request header, by lower-case name. */
const DROP = 1;
const XFF = 2;
const VIA = 3;
const CONNECTION = 4;
const HOST = 5;
const BODY = 6;
const PREFER_REGION = 7;
const FORCE_REGION = 8;
const PREFER_INSTANCE = 9;
const FORCE_INSTANCE = 10;
const TE = 11;

const requestActions = new Map<string, number>([
  // Hop-by-hop (RFC 9110 §7.6.1) and connection-specific headers.
  ['connection', CONNECTION],
  ['keep-alive', DROP],
  ['proxy-connection', DROP],
  ['transfer-encoding', BODY],
  // Hop-by-hop too; `te: trailers` is passed on to h2 machines only (see ForwardedHead.teTrailers).
  ['te', TE],
  ['trailer', DROP],
  ['upgrade', DROP],
  ['http2-settings', DROP],
  // undici refuses Expect; the client's 100-continue was already answered by perch.
  ['expect', DROP],
  // Headers perch sets: a client's copy is never trusted.
  ['fly-client-ip', DROP],
  ['fly-forwarded-port', DROP],
  ['fly-region', DROP],
  ['fly-request-id', DROP],
  ['fly-forwarded-proto', DROP],
  ['fly-forwarded-ssl', DROP],
  ['x-forwarded-proto', DROP],
  ['x-forwarded-port', DROP],
  ['x-forwarded-ssl', DROP],
  ['x-forwarded-host', DROP],
  ['fly-preferred-instance-unavailable', DROP],
  ['fly-replay-src', DROP],
  ['fly-replay-failed', DROP],
  ['fly-replay-cache-status', DROP],
  ['x-forwarded-for', XFF],
  ['via', VIA],
  ['host', HOST],
  ['content-length', BODY],
  // Steering headers: read by perch, and passed on so the app can see what was asked.
  ['fly-prefer-region', PREFER_REGION],
  ['fly-force-region', FORCE_REGION],
  ['fly-prefer-instance-id', PREFER_INSTANCE],
  ['fly-force-instance-id', FORCE_INSTANCE],
]);

/** Raw (as sent) header name → action; most clients send a handful of spellings. */
const rawNameActions = new Map<string, number>();
const RAW_NAME_CACHE_LIMIT = 2048;

function actionOf(rawName: string): number {
  let action = rawNameActions.get(rawName);
  if (action !== undefined) return action;
  const lower = rawName.toLowerCase();
  action = rawName.charCodeAt(0) === 58 /* ':' pseudo-header */ ? (lower === ':authority' ? HOST : DROP) : (requestActions.get(lower) ?? 0);
  if (rawNameActions.size < RAW_NAME_CACHE_LIMIT) rawNameActions.set(rawName, action);
  return action;
}

const STEERING_FIELDS: (keyof SteeringHeaders)[] = ['preferRegion', 'forceRegion', 'preferInstance', 'forceInstance'];

/** Per-listener constants of the forwarded request. */
export interface ListenerFacts {
  proto: 'http' | 'https';
  port: string;
  /**
   * Plain-HTTP listeners: what follows the host in a force_https redirect,
   * "" for port 443, else ":<port>" of perch's HTTPS listener.
   */
  httpsPortSuffix?: string;
}

/** The HTTP version a client spoke, as a Via entry names it. */
export type ClientHttpVersion = '1.1' | '2';

export function clientHttpVersion(request: { readonly httpVersionMajor: number }): ClientHttpVersion {
  return request.httpVersionMajor === 2 ? '2' : '1.1';
}

/** This edge's own Via entry for each client HTTP version ("1.1 perch"), built once: every request and response carries one. */
export type ViaEntries = Readonly<Record<ClientHttpVersion, string>>;

export function viaEntries(name: string): ViaEntries {
  return { '1.1': `1.1 ${name}`, '2': `2 ${name}` };
}

/** Per-request facts about the client. */
export interface ClientFacts {
  ip: string;
  requestId: string;
  httpVersion: ClientHttpVersion;
}

export interface ForwardedHead extends SteeringHeaders {
  headers: string[];
  host: string | undefined;
  /** The request says it carries a body (Content-Length or Transfer-Encoding; for HTTP/2, no END_STREAM on its head). */
  hasBody: boolean;
  /** The client sent `TE: trailers` (gRPC does): passed on to machines that speak HTTP/2, where it is legal. */
  teTrailers: boolean;
}

/**
 * Builds the upstream request headers as a flat [name, value, …] list.
 * `region` and `ours` (the edge's Via entries) are fixed at config load.
 */
export function forwardedRequestHeaders(raw: string[], listener: ListenerFacts, client: ClientFacts, region: string, ours: ViaEntries): ForwardedHead {
  const out: string[] = [];
  let xff: string | undefined;
  let via: string | undefined;
  let host: string | undefined;
  let hasBody = false;
  let teTrailers = false;
  let connectionTokens: string | undefined;
  let steering: SteeringHeaders | undefined;

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const action = actionOf(name);
    switch (action) {
      case 0:
        out.push(name, value);
        break;
      case HOST:
        if (host === undefined) {
          host = value;
          out.push('host', value);
        }
        break;
      case BODY:
        hasBody = true;
        if (name.length === 14 /* content-length */) out.push(name, value);
        break;
      case XFF:
        xff = xff === undefined ? value : `${xff}, ${value}`;
        break;
      case VIA:
        via = via === undefined ? value : `${via}, ${value}`;
        break;
      case PREFER_REGION:
      case FORCE_REGION:
      case PREFER_INSTANCE:
      case FORCE_INSTANCE:
        out.push(name, value);
        steering ??= {};
        steering[STEERING_FIELDS[action - PREFER_REGION]!] = value;
        break;
      case TE:
        if (value.includes('trailers')) teTrailers = true;
        break;
      case CONNECTION:
        if (value.length > 10 || (value !== 'keep-alive' && value !== 'close' && value !== 'Keep-Alive' && value !== 'Close')) {
          connectionTokens = connectionTokens === undefined ? value : `${connectionTokens},${value}`;
        }
        break;
    }
  }

  out.push(
    'fly-client-ip', client.ip,
    'x-forwarded-for', xff === undefined ? client.ip : `${xff}, ${client.ip}`,
    'fly-forwarded-port', listener.port,
    'fly-region', region,
    'x-forwarded-proto', listener.proto,
    'x-forwarded-port', listener.port,
    'x-forwarded-ssl', listener.proto === 'https' ? 'on' : 'off',
    'via', via === undefined ? ours[client.httpVersion] : `${via}, ${ours[client.httpVersion]}`,
    'fly-request-id', client.requestId,
  );

  const head: ForwardedHead = { headers: connectionTokens === undefined ? out : withoutNamed(out, connectionTokens), host, hasBody, teTrailers };
  if (steering !== undefined) Object.assign(head, steering);
  return head;
}

/** The header names a Connection header lists, other than keep-alive and close. */
function namedIn(connection: string | string[]): Set<string> {
  const tokens = Array.isArray(connection) ? connection.join(',') : connection;
  return new Set(tokens.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token !== '' && token !== 'keep-alive' && token !== 'close'));
}

/** Drops the headers a Connection header names (rare: most clients send only keep-alive or close). */
function withoutNamed(headers: string[], tokens: string): string[] {
  const named = namedIn(tokens);
  if (named.size === 0) return headers;
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!named.has(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  }
  return kept;
}

const responseDrops = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'http2-settings']);

/**
 * The fixed HTTP behaviour of one route, computed at config load: how its
 * responses are rewritten, and the few request-side facts the pipeline reads.
 */
export interface ResponsePolicy {
  pristine: boolean;
  /** [name, value] pairs to set; values null mean remove. */
  set: [string, string | null][];
  serverName: string;
  via: ViaEntries;
  /** Plain-HTTP requests are redirected to HTTPS (force_https). */
  forceHttps: boolean;
  /** The machines speak HTTP/2 cleartext with prior knowledge (http_options.h2_backend). */
  h2Backend: boolean;
  /** Client idle bound (http_options.idle_timeout); also the idle bound of a WebSocket tunnel. */
  idleTimeoutMs: number;
}

/** Builds the client response headers as a flat list from undici's parsed headers. */
export function clientResponseHeaders(
  upstream: Record<string, string | string[] | undefined>,
  policy: ResponsePolicy,
  requestId: string,
  httpVersion: ClientHttpVersion,
): string[] {
  const out: string[] = [];
  let via: string | undefined;
  const connection = upstream.connection;
  const named = connection === undefined || connection === 'keep-alive' || connection === 'close' ? null : namedIn(connection);
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || responseDrops.has(name) || (named !== null && named.has(name))) continue;
    if (!policy.pristine) {
      if (name === 'via') {
        via = Array.isArray(value) ? value.join(', ') : value;
        continue;
      }
      if (name === 'server' || name === 'fly-request-id') continue;
    }
    if (Array.isArray(value)) {
      for (const item of value) out.push(name, item);
    } else {
      out.push(name, value);
    }
  }
  if (!policy.pristine) {
    out.push(
      'server', policy.serverName,
      'via', via === undefined ? policy.via[httpVersion] : `${via}, ${policy.via[httpVersion]}`,
      'fly-request-id', requestId,
    );
  }
  if (policy.set.length > 0) return applyConfigured(out, policy.set);
  return out;
}

function applyConfigured(headers: string[], set: [string, string | null][]): string[] {
  const replaced = new Set(set.map(([name]) => name));
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!replaced.has(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  }
  for (const [name, value] of set) if (value !== null) out.push(name, value);
  return out;
}
