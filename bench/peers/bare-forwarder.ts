// The floor a Node proxy can reach: node:http in front, one keep-alive undici
// Pool behind, dispatch() streaming both ways, hop-by-hop headers stripped and
// nothing else (no routing, no header rewriting, no logging, no metrics).
// Bench-only. Env BACKEND=host:port; listens on 127.0.0.1:0 and prints
// {"listening":"127.0.0.1:PORT"}.
import http from 'node:http';
import { Pool } from 'undici';

// RFC 9110 §7.6.1 plus the legacy ones; undici refuses some of them outright.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings']);

function endToEnd(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const named = String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.includes(name)) out[name] = value;
  }
  return out;
}

const pool = new Pool(`http://${process.env.BACKEND}`, { connections: 128, pipelining: 1 });

const server = http.createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch({ method: req.method ?? 'GET', path: req.url ?? '/', headers: endToEnd(req.headers), body: hasBody ? req : null }, {
    onRequestStart(controller) {
      res.once('close', () => { if (!res.writableFinished) controller.abort(new Error('client went away')); });
    },
    onResponseStart(controller, status, headers) {
      res.writeHead(status, endToEnd(headers));
    },
    onResponseData(controller, chunk) {
      if (!res.write(chunk)) { controller.pause(); res.once('drain', () => controller.resume()); }
    },
    onResponseEnd() { res.end(); },
    onResponseError(controller, err) {
      if (res.headersSent) res.destroy(err);
      else res.writeHead(502).end();
    },
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`${JSON.stringify({ listening: `127.0.0.1:${port}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
