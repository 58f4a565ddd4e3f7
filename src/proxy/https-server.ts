// HTTPS listeners of a worker: TLS with the certificate store's options (SNI,
// per-name ALPN and versions, shared ticket keys), HTTP/2 and HTTP/1.1 on the
// same port by ALPN, both into the same request pipeline as plain HTTP.
//
// Bounds: the TLS handshake and an HTTP/1.1 request head get the request-head
// time bound; an HTTP/1.1 head its size bound, and so does an HTTP/2 header
// list (both answered 431; the HTTP/2 connection goes on). An HTTP/2 session idle for the app's
// idle_timeout is closed (GOAWAY first), like an idle HTTP/1.1 connection.
import type http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { EdgeLimits } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import type { PerchTlsServerOptions } from '../tls/server-options.ts';
import type { ClientRequest } from './exchange.ts';
import type { ListenerFacts } from './headers.ts';
import { answerClientError } from './http-server.ts';
import type { HttpProxy } from './http-proxy.ts';
import { isWebSocketUpgrade, type Tunnels } from './websocket.ts';
import { httpServerOptions } from './http-server.ts';
import { HttpServer } from './node-http.ts';

/** Concurrent streams an HTTP/2 client may open on one connection. */
const MAX_CONCURRENT_STREAMS = 256;

export interface HttpsServerOptions {
  proxy: HttpProxy;
  /** `facts.port` may be updated once the server listens (a configured port 0). */
  facts: ListenerFacts;
  edge: EdgeLimits;
  idleTimeoutMs: number;
  tls: PerchTlsServerOptions;
  tunnels: Tunnels;
  log: Logger;
  serverName: string;
}

export function createHttpsServer(options: HttpsServerOptions): http2.Http2SecureServer {
  const { edge, idleTimeoutMs, log, serverName } = options;
  const server = http2.createSecureServer({
    ...options.tls,
    allowHTTP1: true,
    handshakeTimeout: edge.requestHeadTimeoutMs,
    settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS, maxHeaderListSize: edge.requestHeadBytes },
    maxSessionMemory: 64,
    // HTTP/1.1 connections: the same bounds as the plain-HTTP listener's.
    ...httpServerOptions(edge, idleTimeoutMs),
  } as http2.SecureServerOptions);
  // The options above are what createSecureServer passes on to HTTP/1.1 connections; @types/node does not list them.
  server.on('request', options.proxy.handlerFor(options.facts) as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  (server as unknown as { shouldUpgradeCallback: (req: ClientRequest) => boolean }).shouldUpgradeCallback = isWebSocketUpgrade;
  server.on('upgrade', options.tunnels.listenerFor(options.proxy, options.facts));
  // HTTP/2 sessions idle this long are closed; Node destroys them when nobody listens to 'timeout'.
  server.setTimeout(idleTimeoutMs);
  server.on('sessionError', () => {});
  trackSessions(server);
  // TLS failures (refused names, old versions, handshake timeouts) and HTTP/1.1 parse errors both come here.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (isHttpParseError(err)) answerClientError(err, socket, log, serverName);
    else socket.destroy();
  });
  return server;
}

function isHttpParseError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT';
}

const kSessions = Symbol('perch.sessions');
type TrackedServer = http2.Http2SecureServer & { [kSessions]?: Set<http2.ServerHttp2Session> };

function trackSessions(server: TrackedServer): void {
  const sessions = new Set<http2.ServerHttp2Session>();
  server[kSessions] = sessions;
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
}

/** Closes the HTTP/1.1 connections of an HTTPS listener that have nothing in flight (HTTP/2 sessions got GOAWAY on close()). */
export function closeIdleHttps(server: http2.Http2SecureServer): void {
  (server as unknown as http.Server).closeIdleConnections();
}

/** Closes every connection of an HTTPS listener at once (the drain deadline passed). */
export function closeAllHttps(server: http2.Http2SecureServer): void {
  for (const session of (server as TrackedServer)[kSessions] ?? []) session.destroy();
  // HTTP/1.1 connections are tracked the way http.Server tracks them (allowHTTP1).
  HttpServer.prototype.closeAllConnections.call(server as unknown as http.Server);
}
