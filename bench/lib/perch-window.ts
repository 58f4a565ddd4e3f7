// A/B comparisons of perch configurations ("limits", "workers"): several perch
// instances run side by side in front of the same backends, and each measured
// window is one autocannon run against one of them, followed by what perch and
// the machine say about it:
//   - perch's access log (one JSON line per request, with the machine, the
//     worker's pid, the status and the routing error code), read from where
//     the window started;
//   - the admin listener's GET /v1/apps/<app>/machines (state, health);
//   - how many write() calls perch's primary made in the window (syscw in
//     /proc/<pid>/io): each message it sends a worker over the cluster IPC
//     pipe is one write (a grant, the 25 ms load summary, contention on/off,
//     a machine-list broadcast when an RTT moves) and nothing else writes
//     there under load, so this counts the load protocol's traffic; the
//     primary receives with recvmsg, which syscr does not count;
//   - whether the backends and perch are still running.
// (The backends' own in-flight counters are of no use here: hello.ts answers
// /bytes synchronously, so it never sees more than one request at a time;
// the hard limit is proven by the e2e tests with slow requests.)
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend } from './backend.ts';
import type { BenchContext } from './context.ts';
import type { Measurement } from './loadgen.ts';
import type { LaunchedPerch } from './perch.ts';
import { probe } from './probe.ts';
import { failureReason } from './processes.ts';
import { median, ratio } from './stats.ts';

/** perch flushes its buffered access lines every 250 ms (src/log/logger.ts); wait a little longer. */
const ACCESS_FLUSH_WAIT_MS = 600;

export interface PerchVariant {
  /** Short key for tables and JSON ("A", "B", "1w"). */
  key: string;
  /** What differs ("soft 20 / hard 25"). */
  label: string;
  app: string;
  perch: LaunchedPerch;
  /** Headers every request carries (Host routes to the app). */
  headers: Record<string, string>;
}

/** What perch's access log says about the requests of one window. */
export interface AccessCounts {
  requests: number;
  byMachine: Record<string, number>;
  /** By the pid of the worker that answered. */
  byWorker: Record<string, number>;
  byStatus: Record<string, number>;
  /** Routing/proxy error codes (x-perch-error), e.g. PR04 when the limits queue timed out or overflowed. */
  byCode: Record<string, number>;
  /** Requests that needed more than one attempt. */
  retried: number;
  /**
   * Requests whose client left before the answer (status 499, or perch's
   * "client went away"): autocannon closing its connections at the end of
   * the window. Counted here only, not in byStatus/byCode, since no client saw them.
   */
  clientGone: number;
}

export interface AdminMachine {
  id: string;
  state: string;
  healthy: boolean;
  /** The backend port the machine points at. */
  port: number | null;
  rttMs: number | null;
}

export interface BackendWindow {
  name: string;
  port: number;
  cpuMicros: number;
}

/** Read and write system calls of a process (/proc/<pid>/io), NaN when unreadable. */
export interface SyscallCounts {
  reads: number;
  writes: number;
}

export function syscalls(pid: number): SyscallCounts {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { reads: field('syscr'), writes: field('syscw') };
  } catch {
    return { reads: NaN, writes: NaN };
  }
}

export interface Window {
  rep: number;
  variant: string;
  measurement: Measurement;
  access: AccessCounts;
  /** perch's admin view right after the window; null with the reason in `adminError`. */
  admin: AdminMachine[] | null;
  adminError?: string;
  backends: BackendWindow[];
  /** Backends that were no longer running after the window, with how they ended (empty: all up). */
  backendsDown: string[];
  /** perch's own processes after the window: false when its primary exited. */
  perchUp: boolean;
  /** System calls of perch's primary during the window; `writes` = IPC messages it sent the workers. */
  primarySyscalls: SyscallCounts;
}

function getJson(url: string, timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${url} answered ${res.statusCode}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** perch's admin view of an app's machines (GET <admin>/v1/apps/<app>/machines). */
export async function adminMachines(perch: LaunchedPerch, app: string): Promise<AdminMachine[]> {
  const list = (await getJson(`${perch.adminOrigin}/v1/apps/${encodeURIComponent(app)}/machines`)) as {
    id: string;
    state: string;
    healthy: boolean;
    ports?: Record<string, number>;
    rtt_ms?: number | null;
  }[];
  return list.map((m) => ({
    id: m.id,
    state: m.state,
    healthy: m.healthy,
    port: Object.values(m.ports ?? {})[0] ?? null,
    rttMs: m.rtt_ms ?? null,
  }));
}

/** Reads a growing log file from a byte offset, whole lines only. */
export class LogTail {
  readonly file: string;
  #offset: number;

  constructor(file: string) {
    this.file = file;
    this.#offset = LogTail.size(file);
  }

  static size(file: string): number {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  }

  /** Skips everything written so far. */
  skip(): void {
    this.#offset = LogTail.size(this.file);
  }

  /** Every complete line written since the last read or skip. */
  *lines(): Generator<string> {
    const fd = openSync(this.file, 'r');
    try {
      const chunk = Buffer.alloc(1 << 20);
      let carry = '';
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, this.#offset);
        if (n === 0) break;
        const text = carry + chunk.toString('utf8', 0, n);
        const lastNewline = text.lastIndexOf('\n');
        if (lastNewline === -1) {
          carry = text;
        } else {
          carry = text.slice(lastNewline + 1);
          yield* text.slice(0, lastNewline).split('\n');
        }
        this.#offset += n;
      }
      // A partial last line is read again next time.
      this.#offset -= Buffer.byteLength(carry);
    } finally {
      closeSync(fd);
    }
  }
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Counts perch's access lines ({"msg":"request",…}) among `lines`. */
export function countAccess(lines: Iterable<string>): AccessCounts {
  const counts: AccessCounts = { requests: 0, byMachine: {}, byWorker: {}, byStatus: {}, byCode: {}, retried: 0, clientGone: 0 };
  for (const line of lines) {
    if (!line.includes('"msg":"request"')) continue;
    let entry: { pid?: number; machine?: string | null; status?: number; code?: string | null; error?: string; attempts?: number; msg?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    if (entry.msg !== 'request') continue;
    counts.requests++;
    if (entry.status === 499 || entry.error === 'client went away') {
      counts.clientGone++;
      continue;
    }
    bump(counts.byMachine, entry.machine ?? '(none)');
    bump(counts.byWorker, String(entry.pid ?? '?'));
    bump(counts.byStatus, String(entry.status ?? '?'));
    if (entry.code !== null && entry.code !== undefined) bump(counts.byCode, entry.code);
    if ((entry.attempts ?? 1) > 1) counts.retried++;
  }
  return counts;
}

/**
 * Sends one request through each variant and checks it answers 200 with
 * `bytes` bytes; throws with the variant's name otherwise.
 */
export async function probeVariants(variants: readonly PerchVariant[], requestPath: string, bytes: number): Promise<void> {
  for (const variant of variants) {
    try {
      await probe(variant.perch.origin, requestPath, variant.headers, bytes);
    } catch (err) {
      throw new Error(`perch ${variant.key} (${variant.label}) does not forward: ${(err as Error).message}`);
    }
  }
}

/**
 * One measured window against `variant`: runs the load while watching perch's
 * processes and the backends, then reads the admin view and the access log
 * of the window.
 */
export async function measureWindow(
  ctx: BenchContext,
  variant: PerchVariant,
  backends: readonly Backend[],
  requestPath: string,
  durationSeconds: number,
  rep: number,
): Promise<Window> {
  const tail = new LogTail(variant.perch.process.logFile);
  await sleep(ACCESS_FLUSH_WAIT_MS); // lines of an earlier window still buffered in perch go before the start
  tail.skip();

  const watch: Record<string, number> = { perch: variant.perch.process.pid };
  backends.forEach((b, i) => (watch[`backend${i}`] = b.process.pid));
  const primary = variant.perch.ready.pids.primary;
  const before = syscalls(primary);
  const measurement = await ctx.measureUrl(`${variant.perch.origin}${requestPath}`, variant.headers, watch, durationSeconds);
  const after = syscalls(primary);

  let admin: AdminMachine[] | null = null;
  let adminError: string | undefined;
  try {
    admin = await adminMachines(variant.perch, variant.app);
  } catch (err) {
    adminError = (err as Error).message;
  }
  await sleep(ACCESS_FLUSH_WAIT_MS);
  const access = countAccess(tail.lines());
  return {
    rep,
    variant: variant.key,
    measurement,
    access,
    admin,
    ...(adminError === undefined ? {} : { adminError }),
    backends: backends.map((b, i) => ({
      name: b.process.name,
      port: b.port,
      cpuMicros: measurement.usage[`backend${i}`]?.cpuMicros ?? NaN,
    })),
    primarySyscalls: { reads: after.reads - before.reads, writes: after.writes - before.writes },
    backendsDown: backends.filter((b) => !b.process.running).map((b) => `${b.process.name} ${b.process.exitDescription}: ${failureReason(b.process.output())}`),
    perchUp: variant.perch.process.running,
  };
}

/** Variants in alternating order per repetition: A B, then B A, … */
export function alternate<T>(variants: readonly T[], rep: number): T[] {
  return rep % 2 === 0 ? [...variants] : [...variants].reverse();
}

/** Sums count maps. */
export function addCounts(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
  return into;
}

/** Unrecorded load on each variant before the windows, so they measure warm processes. */
export async function warmUp(ctx: BenchContext, scenario: string, variants: readonly PerchVariant[], requestPath: string): Promise<void> {
  for (const variant of variants) {
    await ctx.warmUp(`${scenario} ${variant.key}`, (seconds) => ctx.measureUrl(`${variant.perch.origin}${requestPath}`, variant.headers, {}, seconds));
  }
}

/** What every A/B sample of perch holds ("limits", "workers"). */
export interface VariantSample {
  rep: number;
  variant: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  /** Connection errors and timeouts seen by autocannon. */
  errors: number;
  non2xx: number;
  statusCounts: Record<string, number>;
  /** CPU of every perch process (primary and workers) per completed request, µs. */
  perchCpuMicrosPerRequest: number;
  primaryCpuMicrosPerRequest: number;
  perchRssSumBytes: number;
  access: AccessCounts;
  admin: AdminMachine[] | null;
  adminError?: string;
  /** Problems perch's or the backends' view shows for this window (empty: none). */
  problems: string[];
  /** What the whole machine did meanwhile (other processes' CPU is noise). */
  host: Window['measurement']['host'];
}

/**
 * The common part of one window's sample, with what perch's, the backends' and
 * the admin view show wrong (`problems`); `machineOrder`, when given, lists the
 * machines that must each have served requests.
 */
export function variantSample(window: Window, variant: PerchVariant, machineOrder: readonly string[] = []): VariantSample {
  const m = window.measurement;
  const done = m.load.completed;
  const perch = m.usage.perch;
  const perRequest = (micros: number | undefined): number => (micros === undefined || done === 0 ? NaN : micros / done);
  const problems: string[] = [];
  for (const down of window.backendsDown) problems.push(`backend down: ${down}`);
  if (!window.perchUp) problems.push(`perch ${variant.key} ${variant.perch.process.exitDescription}`);
  if (window.admin === null) {
    problems.push(`admin view unavailable: ${window.adminError}`);
  } else {
    for (const machine of window.admin) {
      if (machine.state !== 'started' || !machine.healthy) problems.push(`machine ${machine.id} ${machine.state}${machine.healthy ? '' : ', unhealthy'} after the window`);
    }
  }
  for (const id of machineOrder) if ((window.access.byMachine[id] ?? 0) === 0) problems.push(`machine ${id} served no request`);
  if (m.load.non2xx > 0) problems.push(`non-2xx: ${describeFailures(window.access.byStatus, window.access.byCode) || `${m.load.non2xx} (not in the access log)`}`);
  return {
    rep: window.rep,
    variant: variant.key,
    requestsPerSecond: m.load.requestsPerSecond,
    p50Ms: m.load.latencyMs.p50,
    p99Ms: m.load.latencyMs.p99,
    completed: done,
    errors: m.load.errors + m.load.timeouts,
    non2xx: m.load.non2xx,
    statusCounts: m.load.statusCounts ?? {},
    perchCpuMicrosPerRequest: perRequest(perch?.cpuMicros),
    primaryCpuMicrosPerRequest: perRequest(perch?.cpuMicrosByPid[String(variant.perch.ready.pids.primary)]),
    perchRssSumBytes: perch?.peakRssSumBytes ?? NaN,
    access: window.access,
    admin: window.admin,
    ...(window.adminError === undefined ? {} : { adminError: window.adminError }),
    problems,
    host: m.host,
  };
}

/**
 * One variant's samples summed up: medians, totals, the access log's counts,
 * and ratios to `baseline` taken per repetition (variants measured back to
 * back drift together) and then the median. `perRep` gives other ratios.
 */
export function summarizeVariant<S extends VariantSample>(samples: readonly S[], key: string, baseline: string) {
  const mine = samples.filter((s) => s.variant === key);
  const perRep = (pick: (s: S) => number): number[] =>
    mine.map((s) => {
      const other = samples.find((o) => o.variant === baseline && o.rep === s.rep);
      return ratio(pick(s), other === undefined ? undefined : pick(other));
    });
  const byMachine: Record<string, number> = {};
  const byWorker: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  const byCode: Record<string, number> = {};
  for (const s of mine) {
    addCounts(byMachine, s.access.byMachine);
    addCounts(byWorker, s.access.byWorker);
    addCounts(byStatus, s.access.byStatus);
    addCounts(byCode, s.access.byCode);
  }
  const summary = {
    variant: key,
    reps: mine.length,
    requestsPerSecond: median(mine.map((s) => s.requestsPerSecond)),
    p50Ms: median(mine.map((s) => s.p50Ms)),
    p99Ms: median(mine.map((s) => s.p99Ms)),
    perchCpuMicrosPerRequest: median(mine.map((s) => s.perchCpuMicrosPerRequest)),
    primaryCpuMicrosPerRequest: median(mine.map((s) => s.primaryCpuMicrosPerRequest)),
    perchPeakRssSumMiB: Math.max(...mine.map((s) => s.perchRssSumBytes)) / (1024 * 1024),
    errors: mine.reduce((n, s) => n + s.errors, 0),
    non2xx: mine.reduce((n, s) => n + s.non2xx, 0),
    /** Requests cut when autocannon closed its connections at the end of a window (perch's access log). */
    clientGone: mine.reduce((n, s) => n + s.access.clientGone, 0),
    accessRequests: mine.reduce((n, s) => n + s.access.requests, 0),
    completed: mine.reduce((n, s) => n + s.completed, 0),
    byMachine,
    byWorker,
    byStatus,
    byCode,
    throughputVsBaseline: median(perRep((s) => s.requestsPerSecond)),
    throughputVsBaselinePerRep: perRep((s) => s.requestsPerSecond),
    p50VsBaseline: median(perRep((s) => s.p50Ms)),
    p99VsBaseline: median(perRep((s) => s.p99Ms)),
    cpuVsBaseline: median(perRep((s) => s.perchCpuMicrosPerRequest)),
    problems: mine.flatMap((s) => s.problems.map((p) => `rep ${s.rep + 1}: ${p}`)),
  };
  return { mine, perRep, summary };
}

/** "503 PR04 ×12, 502 ×1" from status and code counts; "" when every response was 2xx. */
export function describeFailures(byStatus: Record<string, number>, byCode: Record<string, number>): string {
  const statuses = Object.entries(byStatus).filter(([status]) => !status.startsWith('2'));
  const codes = Object.entries(byCode).map(([code, n]) => `${code} ×${n}`);
  return [...statuses.map(([status, n]) => `${status} ×${n}`), ...(codes.length > 0 ? [`codes: ${codes.join(', ')}`] : [])].join('; ');
}

/** Shares of a count map as "34 / 33 / 33 %" in the order of `keys`. */
export function shares(counts: Record<string, number>, keys: readonly string[]): string {
  const total = keys.reduce((n, key) => n + (counts[key] ?? 0), 0);
  if (total === 0) return '—';
  return `${keys.map((key) => Math.round((100 * (counts[key] ?? 0)) / total)).join(' / ')} %`;
}
