// Helpers for the [[services]] tests: free fixed ports (service ports are
// declared in the app file, so they cannot be 0), app files running the TCP
// echo machine, and small TCP clients.
import net from 'node:net';
import path from 'node:path';
import { REPO, type LogLine, type Perch } from '../support/perch.ts';

export const TCP_ECHO = path.join(REPO, 'test/support/tcp-echo.ts');

/** Below Linux's ephemeral range (32768–60999), so outgoing connections do not take them meanwhile. */
const PORT_LOW = 12_000;
const PORT_HIGH = 32_000;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive ports nothing listens on now (the first one returned). */
export async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW - count));
    let ok = true;
    for (let port = base; port < base + count && ok; port++) ok = await bindable(port);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

export interface EchoAppOptions {
  name: string;
  /** [[services.ports]] blocks (TOML, one string each, without the header line). */
  ports: string[];
  env?: Record<string, string>;
  /** Body of [services.concurrency]. */
  concurrency?: string;
  machines?: number;
  /** More top-level tables (e.g. [limits]). */
  tables?: string;
}

/** An app whose machines run test/support/tcp-echo.ts, with one [[services]] entry. */
export function echoApp(options: EchoAppOptions): string {
  const lines = [`app = "${options.name}"`, 'primary_region = "ams"', '', '[processes]', `app = ${JSON.stringify(`node ${TCP_ECHO}`)}`];
  if (options.env !== undefined) {
    lines.push('', '[env]');
    for (const [key, value] of Object.entries(options.env)) lines.push(`${key} = ${JSON.stringify(value)}`);
  }
  lines.push('', '[[services]]', 'internal_port = 7000', 'protocol = "tcp"');
  lines.push('', '[services.concurrency]', options.concurrency ?? 'type = "connections"\nsoft_limit = 20');
  for (const port of options.ports) lines.push('', '[[services.ports]]', port);
  lines.push('', '[[machines]]', 'region = "ams"', `count = ${options.machines ?? 1}`);
  if (options.tables !== undefined) lines.push('', options.tables);
  return `${lines.join('\n')}\n`;
}

export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Reads until `bytes` have arrived (or the stream ends); resolves with what arrived. */
export function readBytes(socket: net.Socket, bytes: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => finish(new Error(`only ${got} of ${bytes} bytes within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= bytes) finish(null);
    };
    const onEnd = (): void => finish(null);
    const finish = (err: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      const all = Buffer.concat(chunks);
      if (got > bytes) socket.unshift(all.subarray(bytes));
      void 0;
      if (err !== null) reject(err);
      else resolve(all.subarray(0, Math.min(bytes, all.length)));
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}

/** Reads one line (without its "\n"). */
export function readLine(socket: net.Socket, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`no line within ${timeoutMs} ms (got ${JSON.stringify(text)})`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\n');
      if (end === -1) return;
      const rest = text.slice(end + 1);
      text = text.slice(0, end);
      finish(null);
      // After the listener is gone and the socket paused: unshift re-emits at once otherwise.
      if (rest.length > 0) socket.unshift(Buffer.from(rest, 'latin1'));
    };
    const onEnd = (): void => finish(new Error(`stream ended before a line (got ${JSON.stringify(text)})`));
    const finish = (err: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (err !== null) reject(err);
      else resolve(text);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  });
}

/** Everything until the peer ends its side (or the socket closes). */
export function readToEnd(socket: net.Socket, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`no end within ${timeoutMs} ms (${chunks.reduce((n, c) => n + c.length, 0)} bytes)`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = (): void => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.resume();
  });
}

/** Resolves once the socket is closed (by the peer or an error). */
export function closed(socket: net.Socket, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume();
  });
}

/** The access-log line of the connection from `clientPort`, once it is written. */
export function connectionLog(perch: Perch, clientPort: number, timeoutMs = 10_000): Promise<LogLine> {
  return perch.waitForLog((line) => line.msg === 'connection' && typeof line.client === 'string' && line.client.endsWith(`:${clientPort}`), timeoutMs);
}

/** The tcp-echo reports ({"tcp_echo": …}) of a machine, parsed from perch's "machine output" lines. */
export function echoReports(perch: Perch, app: string): { tcp_echo: string; active: number; max: number }[] {
  const out: { tcp_echo: string; active: number; max: number }[] = [];
  for (const line of perch.logs) {
    if (line.msg !== 'machine output' || line.app !== app || typeof line.line !== 'string' || !line.line.startsWith('{"tcp_echo"')) continue;
    out.push(JSON.parse(line.line));
  }
  return out;
}
