// The per-request access line. It has one fixed shape, so it is written
// here directly in pino's line format ({"level":30,"time":…,"pid":…,…,
// "msg":"request"}) into the same destination as pino's access logger:
// pino's generic serializer costs ~1 µs a line more, and on the hot path
// that is a tenth of what forwarding a request costs. Strings that come
// from clients (path, host, errors) are JSON-escaped; the rest (ids, app
// and region names, methods, codes) cannot hold characters that need it:
// the config schema and the HTTP parser guarantee that.
import type { LineBatcher } from './line-batcher.ts';

export interface RequestRecord {
  requestId: string;
  app: string;
  machine: string | null;
  region: string | null;
  method: string;
  path: string;
  status: number;
  bytes: number;
  attempts: number;
  /** Milliseconds from arrival to the end, logged to the hundredth. */
  ms: number;
  code: string | null;
  error: string | null;
}

export class AccessLog {
  private readonly destination: LineBatcher;
  private readonly tail: string;

  constructor(destination: LineBatcher, pid: number) {
    this.destination = destination;
    this.tail = `,"pid":${pid},"msg":"request"}\n`;
  }

  request(r: RequestRecord): void {
    // Hundredths as integers: a fractional number's decimal form costs V8 more than the rest of the line.
    const hundredths = Math.round(r.ms * 100);
    const fraction = hundredths % 100;
    this.destination.write(
      `{"level":30,"time":${Date.now()},"request_id":"${r.requestId}","app":"${r.app}","machine":${r.machine === null ? 'null' : `"${r.machine}"`},"region":${r.region === null ? 'null' : `"${r.region}"`},"method":"${r.method}","path":${JSON.stringify(r.path)},"status":${r.status},"bytes":${r.bytes},"attempts":${r.attempts},"ms":${(hundredths - fraction) / 100}.${fraction < 10 ? '0' : ''}${fraction},"code":${r.code === null ? 'null' : `"${r.code}"`}${r.error === null ? '' : `,"error":${JSON.stringify(r.error)}`}${this.tail}`,
    );
  }
}
