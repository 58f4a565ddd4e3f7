// The demo app perch runs on its embedded default config, and the backend
// its tests and benchmarks put behind it. It says which machine and region
// answered, and offers a few routes that make proxy behaviour observable.
//
//   GET  /                 "hello from <machine> in <region>"
//   GET  /headers          the request as this machine saw it (JSON)
//   GET  /bytes/<n>        n bytes of body (Content-Length set)
//   GET  /stream?chunks=&interval=&size=   a body sent slowly, chunk by chunk
//   POST /echo             the request body back, streamed
//   POST /count            reads the body, answers its byte count and sha-free length
//   GET  /sleep?ms=        answers after ms milliseconds
//   GET  /inflight         this process's current and peak in-flight requests
//   GET  /counter          an in-memory counter, incremented on each call
//   GET  /healthz          200, or 503 after POST /health/fail
//   POST /health/fail|ok   flips /healthz
//   POST /exit?code=       exits the process at once
//   GET  /status/<code>    answers with that status
//   GET  /hop              a response carrying hop-by-hop headers and two cookies
//   GET  /ws (WebSocket)   echoes every message; "!headers" answers the upgrade request's
//                          headers (JSON), "!machine" the machine id, "!close" closes (1000)
//
// Environment: PORT (default 8080), HOST (default 0.0.0.0), FLY_MACHINE_ID,
// FLY_REGION, HELLO_START_DELAY_MS (wait before listening, to look like a slow boot).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

const machine = process.env.FLY_MACHINE_ID ?? 'local';
const region = process.env.FLY_REGION ?? 'local';
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '0.0.0.0';
const startDelayMs = Number(process.env.HELLO_START_DELAY_MS ?? 0);

const payloads = new Map<number, Buffer>();
function payload(size: number): Buffer {
  let buf = payloads.get(size);
  if (buf === undefined) {
    buf = Buffer.alloc(size, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
    if (payloads.size < 64) payloads.set(size, buf);
  }
  return buf;
}

let inflight = 0;
let peakInflight = 0;
let counter = 0;
let healthy = true;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function numberParam(url: URL, name: string, fallback: number): number {
  const raw = url.searchParams.get(name);
  const value = raw === null ? NaN : Number(raw);
  return Number.isFinite(value) ? value : fallback;
}

const server = http.createServer((req, res) => {
  inflight++;
  if (inflight > peakInflight) peakInflight = inflight;
  let counted = true;
  const done = (): void => {
    if (counted) {
      counted = false;
      inflight--;
    }
  };
  res.on('close', done);

  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname;

  if (path === '/') {
    const text = `hello from ${machine} in ${region}\n`;
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(text),
      'x-machine-id': machine,
      'x-region': region,
    });
    res.end(text);
  } else if (path === '/headers') {
    json(res, 200, {
      machine,
      region,
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
    });
  } else if (path.startsWith('/bytes/')) {
    const size = Math.max(0, Math.min(Number(path.slice(7)) || 0, 64 * 1024 * 1024));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'x-machine-id': machine });
    res.end(payload(size));
  } else if (path === '/stream') {
    const chunks = numberParam(url, 'chunks', 5);
    const interval = numberParam(url, 'interval', 100);
    const size = numberParam(url, 'size', 16);
    // A longer pause once `stallAfter` chunks are out: a machine that stops in the middle of a body.
    const stallAfter = numberParam(url, 'stallAfter', -1);
    const stall = numberParam(url, 'stall', 0);
    res.writeHead(200, { 'content-type': 'text/plain', 'x-machine-id': machine });
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const next = (): void => {
      res.write(`${sent}:${'x'.repeat(Math.max(0, size - String(sent).length - 2))}\n`);
      sent++;
      if (sent >= chunks) res.end();
      else timer = setTimeout(next, sent === stallAfter ? interval + stall : interval);
    };
    timer = setTimeout(next, interval);
    res.on('close', () => clearTimeout(timer));
  } else if (path === '/echo') {
    const headers: http.OutgoingHttpHeaders = { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'x-machine-id': machine };
    if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    res.writeHead(200, headers);
    req.pipe(res);
  } else if (path === '/count') {
    let bytes = 0;
    let firstChunkAt = 0;
    req.on('data', (chunk: Buffer) => {
      if (bytes === 0) firstChunkAt = Date.now();
      bytes += chunk.length;
    });
    req.on('end', () => json(res, 200, { machine, bytes, firstChunkAt, endAt: Date.now() }));
  } else if (path === '/sleep') {
    const ms = numberParam(url, 'ms', 100);
    const timer = setTimeout(() => json(res, 200, { machine, region, slept: ms }), ms);
    res.on('close', () => clearTimeout(timer));
  } else if (path === '/inflight') {
    json(res, 200, { machine, inflight: inflight - 1, peak: peakInflight });
  } else if (path === '/inflight/reset') {
    peakInflight = inflight;
    json(res, 200, { machine, peak: peakInflight });
  } else if (path === '/counter') {
    counter++;
    json(res, 200, { machine, pid: process.pid, counter });
  } else if (path === '/healthz') {
    json(res, healthy ? 200 : 503, { machine, healthy });
  } else if (path === '/health/fail' || path === '/health/ok') {
    healthy = path === '/health/ok';
    json(res, 200, { machine, healthy });
  } else if (path === '/exit') {
    const code = numberParam(url, 'code', 1);
    process.exit(code);
  } else if (path === '/hop') {
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('keep-alive', 'timeout=5');
    res.setHeader('proxy-connection', 'keep-alive');
    res.setHeader('upgrade', 'h2c');
    res.setHeader('x-hop', 'named in Connection');
    res.setHeader('connection', 'x-hop');
    res.setHeader('via', '1.1 app-cache');
    res.setHeader('server', 'hello');
    json(res, 200, { machine });
  } else if (path.startsWith('/status/')) {
    const status = Number(path.slice(8)) || 500;
    json(res, status, { machine, status });
  } else {
    json(res, 404, { machine, error: 'not found', path });
  }
});

const sockets = new WebSocketServer({ noServer: true });
sockets.on('connection', (socket: WebSocket, req: http.IncomingMessage) => {
  socket.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString();
    if (text === '!headers') socket.send(JSON.stringify({ machine, headers: req.headers }));
    else if (text === '!machine') socket.send(machine);
    else if (text === '!close') socket.close(1000, 'bye');
    else socket.send(data, { binary: isBinary });
  });
});
server.on('upgrade', (req, socket, head) => {
  if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    return;
  }
  sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req));
});

server.keepAliveTimeout = 65_000;
server.headersTimeout = 70_000;

function stop(): void {
  for (const socket of sockets.clients) socket.close(1001, 'going away');
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

setTimeout(() => {
  server.listen(port, host, () => {
    const bound = server.address() as AddressInfo;
    process.stdout.write(`hello ${machine} (${region}) listening on ${host}:${bound.port}\n`);
  });
}, startDelayMs);
