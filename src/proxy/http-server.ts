// Plain-HTTP listeners of a worker. Node's parser enforces the request-head
// bounds (size, time); what it rejects is answered here with a 4xx and a
// code, and never reaches a machine.
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { EdgeLimits } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import { ProxyError } from './errors.ts';
import type { ListenerFacts } from './headers.ts';
import type { HttpProxy } from './http-proxy.ts';
import { createServer, STATUS_CODES } from './node-http.ts';
import { isWebSocketUpgrade, type Tunnels } from './websocket.ts';

/** The bounds every HTTP/1.1 listener of perch applies to a client (SPEC §8). */
export function httpServerOptions(edge: EdgeLimits, idleTimeoutMs: number): http.ServerOptions {
  return {
    maxHeaderSize: edge.requestHeadBytes,
    headersTimeout: edge.requestHeadTimeoutMs,
    // Node checks head deadlines on this interval; its 30 s default would let a slow head live 3× its bound.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, edge.requestHeadTimeoutMs / 4)),
    // Bodies may stream for as long as the app takes; slow heads are bounded by headersTimeout.
    requestTimeout: 0,
    keepAliveTimeout: idleTimeoutMs,
    requireHostHeader: true,
    noDelay: true,
  };
}

/**
 * `facts.port` may be updated once the server listens (a configured port 0).
 * With `tunnels`, WebSocket upgrades are forwarded (other upgrades are served as plain requests).
 */
export function createHttpServer(proxy: HttpProxy, facts: ListenerFacts, edge: EdgeLimits, idleTimeoutMs: number, log: Logger, serverName: string, tunnels?: Tunnels): http.Server {
  const server = createServer({
    ...httpServerOptions(edge, idleTimeoutMs),
    shouldUpgradeCallback: tunnels === undefined ? () => false : isWebSocketUpgrade,
  });
  const handler = proxy.handlerFor(facts);
  server.on('request', handler);
  if (tunnels !== undefined) server.on('upgrade', tunnels.listenerFor(proxy, facts));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, log, serverName));
  return server;
}

/** Answers what Node's HTTP parser refused, then closes that connection only. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket, log: Logger, serverName: string): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  let error: ProxyError;
  if (err.code === 'HPE_HEADER_OVERFLOW') error = new ProxyError('PH03');
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') error = new ProxyError('PH04');
  else error = new ProxyError('PH01', err.code ?? err.message);
  log.info({ remote: socket.remoteAddress, status: error.status, code: error.code, error: error.message }, 'client error');
  const body = `perch error ${error.code}: ${error.message}\n`;
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n` +
      `server: ${serverName}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
