// Scenario "forwarding": plain GETs forwarded to one backend, keep-alive both
// sides, through each proxy in turn. Every proxy is pinned to the proxy core;
// the backend and the load generator share the other. Reported per target and
// response size: throughput and latency against going direct, and the proxy's
// own CPU per request and p99 against the bare undici forwarder.
import type { BenchContext, ScenarioReport } from '../lib/context.ts';
import { hostNote, type Measurement } from '../lib/loadgen.ts';
import os from 'node:os';
import { median, ratio } from '../lib/stats.ts';
import { formatNumber, formatRatio } from '../lib/table.ts';
import type { Target, TargetName } from '../lib/targets.ts';

const SIZES = [
  { label: '1 KiB', bytes: 1024 },
  { label: '64 KiB', bytes: 65536 },
] as const;

const pathFor = (bytes: number): string => `/bytes/${bytes}`;

interface Sample {
  rep: number;
  target: TargetName;
  sizeBytes: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  completed: number;
  /** Proxy's CPU per completed request (µs); NaN for direct. */
  proxyCpuMicrosPerRequest: number;
  /** The kernel's part of it (system calls, faults, the loopback network stack run on the proxy's behalf). */
  proxySystemMicrosPerRequest: number;
  backendCpuMicrosPerRequest: number;
  proxyPeakWorkerRssBytes: number;
  proxyPeakRssSumBytes: number;
  proxyPeakWorkerAnonBytes: number;
  proxyProcessCount: number;
  raw: Measurement;
}

function toSample(rep: number, target: TargetName, sizeBytes: number, m: Measurement): Sample {
  const done = m.load.completed;
  const proxy = m.usage.proxy;
  const backend = m.usage.backend;
  return {
    rep,
    target,
    sizeBytes,
    requestsPerSecond: m.load.requestsPerSecond,
    p50Ms: m.load.latencyMs.p50,
    p99Ms: m.load.latencyMs.p99,
    errors: m.load.errors,
    non2xx: m.load.non2xx,
    completed: done,
    proxyCpuMicrosPerRequest: proxy === undefined || done === 0 ? NaN : proxy.cpuMicros / done,
    proxySystemMicrosPerRequest: proxy === undefined || done === 0 ? NaN : proxy.systemMicros / done,
    backendCpuMicrosPerRequest: backend === undefined || done === 0 ? NaN : backend.cpuMicros / done,
    proxyPeakWorkerRssBytes: proxy?.peakWorkerRssBytes ?? NaN,
    proxyPeakRssSumBytes: proxy?.peakRssSumBytes ?? NaN,
    proxyPeakWorkerAnonBytes: proxy?.peakWorkerAnonBytes ?? NaN,
    proxyProcessCount: proxy?.processCount ?? 0,
    raw: m,
  };
}

/** Medians over repetitions; ratios are taken per repetition (peers measured minutes apart drift together) and then the median. */
function summarize(samples: readonly Sample[], target: TargetName, sizeBytes: number) {
  const mine = samples.filter((s) => s.target === target && s.sizeBytes === sizeBytes);
  const pairedRatio = (peer: TargetName, pick: (s: Sample) => number): number =>
    median(
      mine.map((s) => {
        const other = samples.find((o) => o.target === peer && o.sizeBytes === sizeBytes && o.rep === s.rep);
        return ratio(pick(s), other === undefined ? undefined : pick(other));
      }),
    );
  const MiB = 1024 * 1024;
  return {
    target,
    sizeBytes,
    reps: mine.length,
    requestsPerSecond: median(mine.map((s) => s.requestsPerSecond)),
    p50Ms: median(mine.map((s) => s.p50Ms)),
    p99Ms: median(mine.map((s) => s.p99Ms)),
    proxyCpuMicrosPerRequest: median(mine.map((s) => s.proxyCpuMicrosPerRequest)),
    proxySystemMicrosPerRequest: median(mine.map((s) => s.proxySystemMicrosPerRequest)),
    backendCpuMicrosPerRequest: median(mine.map((s) => s.backendCpuMicrosPerRequest)),
    // Each repetition's peak; like every other figure, the median over repetitions, and the largest beside it.
    proxyPeakWorkerRssMiB: median(mine.map((s) => s.proxyPeakWorkerRssBytes)) / MiB,
    proxyPeakWorkerRssMaxMiB: Math.max(...mine.map((s) => s.proxyPeakWorkerRssBytes)) / MiB,
    proxyPeakRssSumMiB: Math.max(...mine.map((s) => s.proxyPeakRssSumBytes)) / MiB,
    proxyPeakWorkerAnonMiB: median(mine.map((s) => s.proxyPeakWorkerAnonBytes)) / MiB,
    proxyProcessCount: Math.max(0, ...mine.map((s) => s.proxyProcessCount)),
    errors: mine.reduce((n, s) => n + s.errors, 0),
    non2xx: mine.reduce((n, s) => n + s.non2xx, 0),
    requestsPerSecondVsDirect: pairedRatio('direct', (s) => s.requestsPerSecond),
    p50VsDirect: pairedRatio('direct', (s) => s.p50Ms),
    p99VsDirect: pairedRatio('direct', (s) => s.p99Ms),
    p99VsBare: pairedRatio('bare-forwarder', (s) => s.p99Ms),
    cpuVsBare: pairedRatio('bare-forwarder', (s) => s.proxyCpuMicrosPerRequest),
  };
}

export async function run(ctx: BenchContext): Promise<ScenarioReport> {
  const { options } = ctx;
  const backend = await ctx.startBackend();
  ctx.log(`backend (src/demo/hello.ts) on 127.0.0.1:${backend.port}, pid ${backend.process.pid}`);

  // Each size gets freshly started proxies: a worker's memory under one load is then not what an
  // earlier load left behind (glibc and V8 keep what a 64 KiB load grew to).
  const started: { size: string; name: TargetName; origin: string; pid: number | undefined; headers: Record<string, string>; details: Record<string, unknown> }[] = [];
  const failures: { name: TargetName; reason: string }[] = [];
  const fail = (name: TargetName, reason: string): void => {
    if (failures.some((f) => f.name === name)) return;
    failures.push({ name, reason });
    ctx.log(reason);
  };
  const stillUp = (t: Target): boolean => {
    if (t.process === undefined || t.process.running) return true;
    fail(t.name, `${t.name} ${t.process.exitDescription} during the run`);
    return false;
  };

  const samples: Sample[] = [];
  for (const size of SIZES) {
    const targets: Target[] = [];
    for (const name of options.only) {
      const start = await ctx.startTarget(name, backend, { path: pathFor(size.bytes), bytes: size.bytes });
      if (!start.ok) {
        fail(name, start.reason);
        continue;
      }
      const t = start.target;
      targets.push(t);
      started.push({ size: size.label, name, origin: t.origin, pid: t.process?.pid, headers: t.headers, details: t.details });
      ctx.log(`${size.label}: ${name}: ${t.origin}${t.process ? `, pid ${t.process.pid}` : ''}`);
    }

    for (const target of targets) {
      if (!stillUp(target)) continue;
      await ctx.warmUp(`${target.name} ${size.label}`, (seconds) => ctx.measure(target, backend, pathFor(size.bytes), seconds));
    }

    for (let rep = 0; rep < options.reps; rep++) {
      // Alternate the order (A B C, then C B A, …) so no peer always runs first or last.
      const order = rep % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        if (!stillUp(target)) continue;
        ctx.log(`rep ${rep + 1}/${options.reps} ${target.name} ${size.label} (${options.durationSeconds} s)`);
        const m = await ctx.measure(target, backend, pathFor(size.bytes), options.durationSeconds);
        samples.push(toSample(rep, target.name, size.bytes, m));
      }
    }
    for (const target of targets) await target.process?.stop();
  }

  const measured = options.only.filter((name) => samples.some((s) => s.target === name));
  const summaries = SIZES.flatMap((size) => measured.map((name) => summarize(samples, name, size.bytes)));

  const rows = SIZES.flatMap((size) =>
    summaries
      .filter((s) => s.sizeBytes === size.bytes)
      .map((s) => {
        const isProxy = s.target !== 'direct';
        return [
          s.target,
          size.label,
          formatNumber(s.requestsPerSecond),
          isProxy ? formatRatio(s.requestsPerSecondVsDirect) : '',
          formatNumber(s.p50Ms, 2),
          isProxy ? formatRatio(s.p50VsDirect) : '',
          formatNumber(s.p99Ms, 2),
          isProxy ? formatRatio(s.p99VsDirect) : '',
          isProxy ? formatRatio(s.p99VsBare) : '',
          isProxy ? `${formatNumber(s.proxyCpuMicrosPerRequest, 1)} (${formatNumber(s.proxySystemMicrosPerRequest, 1)})` : '—',
          isProxy ? formatRatio(s.cpuVsBare) : '',
          isProxy ? `${formatNumber(s.proxyPeakWorkerRssMiB, 1)} (${formatNumber(s.proxyPeakWorkerAnonMiB, 1)}), max ${formatNumber(s.proxyPeakWorkerRssMaxMiB, 1)} / ${formatNumber(s.proxyPeakRssSumMiB, 1)}` : '—',
          String(s.errors + s.non2xx),
          '',
        ];
      }),
  );
  for (const failure of failures) rows.push([failure.name, '—', '—', '', '—', '', '—', '', '', '—', '', '—', '—', failure.reason]);

  const pinning =
    ctx.cores.proxy === undefined
      ? 'Nothing pinned (taskset missing or a single core).'
      : `Proxies pinned to core ${ctx.cores.proxy}; backend and load generator on core ${ctx.cores.backend}.`;
  return {
    title: 'forwarding',
    description:
      `GET /bytes/<n> from src/demo/hello.ts, autocannon with ${options.connections} keep-alive connections, ` +
      `${options.durationSeconds} s per measurement ${ctx.warmUpNote()}, ${options.reps} repetition(s), medians. ${pinning} ` +
      `"×direct" = proxy ÷ direct in the same repetition; "×bare" = proxy ÷ bare undici forwarder. ` +
      `CPU µs/req and RSS are the proxy's own processes, started afresh for each size; in brackets the CPU's system part ` +
      `(system calls, page faults, and the loopback network stack the kernel runs on the proxy's behalf), median over repetitions. RSS, MiB: the peak of one worker (perch's and nginx's workers; ` +
      `the process itself for one-process proxies) in each repetition, median over repetitions, in brackets its private part ` +
      `without shared file pages such as the Node binary's code (median), then the largest repetition's peak, / the peak sum ` +
      `over all the proxy's processes in any repetition (perch's primary included). Errors = connection errors + non-2xx.`,
    table: {
      headers: ['target', 'size', 'req/s', 'req/s ×direct', 'p50 ms', 'p50 ×direct', 'p99 ms', 'p99 ×direct', 'p99 ×bare', 'CPU µs/req (system)', 'CPU ×bare', 'worker RSS MiB: median (private), max / all', 'errors', 'note'],
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      rows,
    },
    notes: [hostNote(samples.map((s) => ({ label: s.target, otherCores: s.raw.host.otherCores })), os.cpus().length)],
    data: {
      sizes: SIZES,
      backend: { port: backend.port, pid: backend.process.pid },
      targets: started,
      failures,
      summaries,
      samples,
    },
  };
}
