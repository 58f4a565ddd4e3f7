// http-proxy-3 2 as a peer: its native path with a keep-alive http.Agent
// (without one it forces `connection: close` on every request, see
// notes/stack.md §1). Bench-only. Env BACKEND=host:port; listens on
// 127.0.0.1:0 and prints {"listening":"127.0.0.1:PORT"}.
import http from 'node:http';
import { createProxyServer } from 'http-proxy-3';

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const proxy = createProxyServer({ target: `http://${process.env.BACKEND}`, agent });
proxy.on('error', (err, req, res) => {
  // res is a socket for WebSocket errors; the bench sends none.
  if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
  else res.destroy(err);
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ listening: `127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
