// Scenario "limits": what perch's exact cross-worker load accounting costs.
// Two perch instances with 2 workers each run side by side in front of the
// same three backends (src/demo/hello.ts, one static machine each), differing
// only in the app's [http_service.concurrency]:
//   A: type = "requests", soft_limit = 20, hard_limit = 25 on each machine
//      (hard-limit slots are leased from the primary: a worker asks it when
//      its best machine has no spare slot of its own);
//   B: type = "requests", soft_limit = 1000, no hard_limit (workers decide
//      alone; the primary only hears their periodic load reports).
// The same load (autocannon, keep-alive) goes to A and B in alternating order
// each repetition; the figure that matters is the throughput ratio A/B
// (target ≥ 0.95). After each window perch's own view is recorded: which
// machine and worker served each request and every non-2xx with its routing
// code (access log), the machines' state and health (admin API), and how many
// IPC messages the primary sent (the slow path: a grant answering a worker
// that asked for a slot).
import os from 'node:os';
import type { Backend } from '../lib/backend.ts';
import type { BenchContext, ScenarioReport } from '../lib/context.ts';
import { benchAppToml, perchToml } from '../lib/perch.ts';
import {
  summarizeVariant,
  variantSample,
  warmUp,
  adminMachines,
  alternate,
  describeFailures,
  measureWindow,
  probeVariants,
  shares,
  type PerchVariant,
  type VariantSample,
  type Window,
} from '../lib/perch-window.ts';
import { hostNote } from '../lib/loadgen.ts';
import { median, ratio } from '../lib/stats.ts';
import { formatNumber, formatRatio } from '../lib/table.ts';

const MACHINES = 3;
const WORKERS = 2;
const SOFT_LIMIT = 20;
const HARD_LIMIT = 25;
const UNLIMITED_SOFT = 1000;
const BYTES = 1024;
const PATH = `/bytes/${BYTES}`;
const TARGET_RATIO = 0.95;
const APP = 'bench';
const HOST = 'bench.local';

interface Sample extends VariantSample {
  workersCpuMicrosPerRequest: number;
  backends: Window['backends'];
  primarySyscalls: Window['primarySyscalls'];
  /** write() calls of perch's primary per 1,000 completed requests: the IPC messages it sent the workers. */
  primaryWritesPer1kRequests: number;
}

function toSample(window: Window, variant: PerchVariant, machineOrder: readonly string[]): Sample {
  const common = variantSample(window, variant, machineOrder);
  const done = common.completed;
  const perchCpu = window.measurement.usage.perch?.cpuMicros ?? NaN;
  const primaryCpu = window.measurement.usage.perch?.cpuMicrosByPid[String(variant.perch.ready.pids.primary)] ?? NaN;
  return {
    ...common,
    workersCpuMicrosPerRequest: done === 0 ? NaN : (perchCpu - primaryCpu) / done,
    backends: window.backends,
    primarySyscalls: window.primarySyscalls,
    primaryWritesPer1kRequests: done === 0 ? NaN : (1000 * window.primarySyscalls.writes) / done,
  };
}

function summarize(samples: readonly Sample[], key: string, baseline: string) {
  const { mine, summary } = summarizeVariant(samples, key, baseline);
  return {
    ...summary,
    workersCpuMicrosPerRequest: median(mine.map((s) => s.workersCpuMicrosPerRequest)),
    primaryWritesPer1kRequests: median(mine.map((s) => s.primaryWritesPer1kRequests)),
  };
}

export async function run(ctx: BenchContext): Promise<ScenarioReport> {
  const { options } = ctx;
  const backends: Backend[] = [];
  for (let i = 0; i < MACHINES; i++) backends.push(await ctx.startBackend(`backend-${i + 1}`));
  const ports = backends.map((b) => b.port);
  ctx.log(`limits: backends (src/demo/hello.ts) on ${ports.map((p) => `127.0.0.1:${p}`).join(', ')}`);

  // Both cores (or nothing when the runner could not pin): the accounting only matters across
  // workers, so the two workers must be free to run in parallel. Backends and autocannon keep
  // the runner's layout (core 1) in both A and B.
  const perchCore = ctx.cores.all;
  const configs = [
    { key: 'A', label: `soft ${SOFT_LIMIT} / hard ${HARD_LIMIT}`, softLimit: SOFT_LIMIT, hardLimit: HARD_LIMIT as number | undefined },
    { key: 'B', label: `soft ${UNLIMITED_SOFT}, no hard`, softLimit: UNLIMITED_SOFT, hardLimit: undefined },
  ];
  const variants: PerchVariant[] = [];
  for (const config of configs) {
    const files = {
      'perch.toml': perchToml(WORKERS),
      [`apps/${APP}.toml`]: benchAppToml({ app: APP, hostname: HOST, backendPorts: ports, softLimit: config.softLimit, hardLimit: config.hardLimit }),
    };
    const perch = await ctx.startPerch(`perch-limits-${config.key}`, files, perchCore);
    ctx.log(`limits: perch ${config.key} (${config.label}) at ${perch.origin}, admin ${perch.adminOrigin}, pids ${JSON.stringify(perch.ready.pids)}`);
    variants.push({ key: config.key, label: config.label, app: APP, perch, headers: { host: HOST } });
  }
  await probeVariants(variants, PATH, BYTES);

  // Machine ids in backend order, per variant (each perch names its own machines).
  const machineOrder = new Map<string, string[]>();
  for (const variant of variants) {
    const machines = await adminMachines(variant.perch, APP);
    machineOrder.set(variant.key, ports.map((port) => machines.find((m) => m.port === port)?.id ?? `(port ${port})`));
  }

  await warmUp(ctx, 'limits', variants, PATH);

  const samples: Sample[] = [];
  // A window after which a backend or a perch is gone ends the measuring: later windows would measure the failure.
  let stopped: string | null = null;
  measuring: for (let rep = 0; rep < options.reps; rep++) {
    for (const variant of alternate(variants, rep)) {
      ctx.log(`limits: rep ${rep + 1}/${options.reps} ${variant.key} (${variant.label}, ${options.durationSeconds} s)`);
      const window = await measureWindow(ctx, variant, backends, PATH, options.durationSeconds, rep);
      const sample = toSample(window, variant, machineOrder.get(variant.key)!);
      samples.push(sample);
      for (const problem of sample.problems) ctx.log(`limits: ${variant.key} rep ${rep + 1}: ${problem}`);
      const gone = [...window.backendsDown, ...variants.filter((v) => !v.perch.process.running).map((v) => `perch ${v.key} ${v.perch.process.exitDescription}`)];
      if (gone.length > 0) {
        stopped = `stopped after rep ${rep + 1} (${variant.key}): ${gone.join('; ')}`;
        ctx.log(`limits: ${stopped}`);
        break measuring;
      }
    }
  }

  const summaries = variants.map((v) => summarize(samples, v.key, 'B'));
  const rows = summaries.map((s) => {
    const variant = variants.find((v) => v.key === s.variant)!;
    const isA = s.variant === 'A';
    const workerPids = variant.perch.ready.pids.workers.map(String);
    return [
      s.variant,
      variant.label,
      formatNumber(s.requestsPerSecond),
      isA ? formatRatio(s.throughputVsBaseline) : '',
      formatNumber(s.p50Ms, 2),
      formatNumber(s.p99Ms, 2),
      isA ? formatRatio(s.p99VsBaseline) : '',
      formatNumber(s.perchCpuMicrosPerRequest, 1),
      isA ? formatRatio(s.cpuVsBaseline) : '',
      formatNumber(s.primaryCpuMicrosPerRequest, 2),
      formatNumber(s.primaryWritesPer1kRequests, 1),
      shares(s.byMachine, machineOrder.get(s.variant)!),
      shares(s.byWorker, workerPids),
      String(s.errors),
      s.non2xx === 0 ? '0' : `${s.non2xx} (${describeFailures(s.byStatus, s.byCode)})`,
    ];
  });

  const a = summaries.find((s) => s.variant === 'A')!;
  const b = summaries.find((s) => s.variant === 'B')!;
  const notes: string[] = [];
  if (stopped !== null) notes.push(`Measuring ${stopped}.`);
  notes.push(
    `Throughput with limits ÷ without (A/B, median of per-repetition ratios): ${formatRatio(a.throughputVsBaseline)}; target ≥ ${TARGET_RATIO}: ` +
      `${Number.isFinite(a.throughputVsBaseline) ? (a.throughputVsBaseline >= TARGET_RATIO ? 'met' : 'NOT met') : 'not measured'}. ` +
      `Per repetition: ${a.throughputVsBaselinePerRep.map((r) => formatRatio(r)).join(', ')}.`,
  );
  // The worker split changes every window (connections stay on the worker that accepted them), and on a small machine it
  // moves throughput by itself: say it per repetition next to the ratio, with what else ran.
  const workerSplit = (s: Sample): string => {
    const counts = Object.values(s.access.byWorker);
    const total = counts.reduce((n, c) => n + c, 0);
    return total === 0 ? '—' : counts.map((c) => Math.round((100 * c) / total)).join('/');
  };
  const repLines: string[] = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const sa = samples.find((s) => s.variant === 'A' && s.rep === rep);
    const sb = samples.find((s) => s.variant === 'B' && s.rep === rep);
    if (sa === undefined || sb === undefined) continue;
    repLines.push(
      `rep ${rep + 1}: ${formatRatio(ratio(sa.requestsPerSecond, sb.requestsPerSecond))} (A ${formatNumber(sa.requestsPerSecond)} req/s, workers ${workerSplit(sa)} %, ` +
        `${formatNumber(sa.primaryWritesPer1kRequests, 1)} primary msgs/1k; B ${formatNumber(sb.requestsPerSecond)} req/s, workers ${workerSplit(sb)} %; ` +
        `other CPU ${sa.host.otherCores.toFixed(2)} / ${sb.host.otherCores.toFixed(2)} cores)`,
    );
  }
  if (repLines.length > 0) {
    notes.push(
      `Per repetition, with each window's split of requests between the 2 workers (set by which worker accepted autocannon's connections; ` +
        `with 2 cores a lopsided split can be faster, since the busy worker then has core 0 to itself): ${repLines.join('; ')}.`,
    );
  }
  notes.push(
    `The slow path (a worker asking the primary for a hard-limit slot: one IPC message each way): perch's primary sent ` +
      `${formatNumber(a.primaryWritesPer1kRequests, 1)} IPC messages per 1,000 requests with limits vs ${formatNumber(b.primaryWritesPer1kRequests, 1)} without ` +
      `(without limits mostly the load summaries, plus a machine-list broadcast when a machine's RTT moves), and used ${formatNumber(a.primaryCpuMicrosPerRequest, 2)} vs ${formatNumber(b.primaryCpuMicrosPerRequest, 2)} µs CPU per request; ` +
      `the workers ${formatNumber(a.workersCpuMicrosPerRequest, 1)} vs ${formatNumber(b.workersCpuMicrosPerRequest, 1)} µs/req. CPU is read in clock ticks ` +
      `(10 ms), so the primary's figure is coarse in short windows.`,
  );
  notes.push(
    `${options.connections} connections against ${MACHINES} machines × soft_limit ${SOFT_LIMIT} = ${MACHINES * SOFT_LIMIT} (hard ${MACHINES * HARD_LIMIT}): ` +
      `${options.connections < MACHINES * SOFT_LIMIT ? 'no request ever has to queue, so any wait in A is the accounting itself' : 'some requests must wait for a slot'}. ` +
      `The backends' own in-flight counters cannot show the hard limit here (hello.ts answers /bytes synchronously, one request at a time); the e2e tests prove it with slow requests.`,
  );
  const failures = summaries.filter((s) => s.non2xx > 0 || s.errors > 0);
  notes.push(
    failures.length === 0
      ? 'Every response was 2xx and autocannon saw no connection error, in A and B.'
      : `Failures: ${failures.map((s) => `${s.variant}: ${s.errors} connection errors/timeouts, ${s.non2xx} non-2xx (${describeFailures(s.byStatus, s.byCode) || 'not in the access log'})`).join('; ')}. ` +
          'A 503 with code PR04 means a request waited for a hard-limit slot past the queue bounds.',
  );
  const gone = summaries.reduce((n, s) => n + s.clientGone, 0);
  if (gone > 0) {
    notes.push(
      `${gone} request(s) in all were cut when autocannon closed its connections at the end of a window; no client saw them, so they are left out of ` +
        `the counts above (perch logs most of them as status 502, code PU02, "client went away", rather than 499).`,
    );
  }
  const problems = summaries.flatMap((s) => s.problems.map((p) => `${s.variant} ${p}`));
  notes.push(
    problems.length === 0
      ? `perch's view after every window: all ${MACHINES} machines started and healthy (admin API) and each served requests (access log).`
      : `Problems seen in perch's or the backends' view: ${problems.join('; ')}.`,
  );
  const placement =
    perchCore === undefined
      ? 'Nothing pinned (taskset missing or a single core).'
      : `perch (primary and ${WORKERS} workers, A and B alike) allowed on cores ${perchCore} (not confined to one core); the ${MACHINES} backends and autocannon pinned to core ${ctx.cores.backend}, ` +
        `so on a 2-core machine one perch worker shares a core with them: absolute figures are low, the A/B ratio is what counts.`;
  notes.push(placement);
  notes.push(hostNote(samples.map((s) => ({ label: s.variant, otherCores: s.host.otherCores })), os.cpus().length));

  return {
    title: 'limits',
    description:
      `GET ${PATH} through perch (${WORKERS} workers) to ${MACHINES} static machines (one src/demo/hello.ts each), app concurrency type = "requests": ` +
      `A = soft_limit ${SOFT_LIMIT}, hard_limit ${HARD_LIMIT} per machine; B = soft_limit ${UNLIMITED_SOFT}, no hard limit. Both perch instances run side by side, ` +
      `measured in alternating order (A B, B A, …), autocannon with ${options.connections} keep-alive connections, ${options.durationSeconds} s per window ${ctx.warmUpNote()}, ` +
      `${options.reps} repetition(s), medians; "A/B" = A ÷ B in the same repetition. CPU µs/req covers every perch process (primary + workers); ` +
      `"primary µs/req" is the primary alone; "primary msgs" the IPC messages it sent the workers (its write() calls, /proc/<pid>/io syscw): grants, load summaries, contention on/off, machine-list broadcasts. ` +
      `Requests per machine (backend order) and per worker are from perch's access log. ` +
      `errors = connection errors + timeouts.`,
    table: {
      headers: ['run', 'concurrency', 'req/s', 'req/s A/B', 'p50 ms', 'p99 ms', 'p99 A/B', 'CPU µs/req', 'CPU A/B', 'primary µs/req', 'primary msgs /1k req', 'requests per machine', 'requests per worker', 'errors', 'non-2xx'],
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      rows,
    },
    notes,
    data: {
      path: PATH,
      workers: WORKERS,
      machines: MACHINES,
      limits: { A: { soft: SOFT_LIMIT, hard: HARD_LIMIT }, B: { soft: UNLIMITED_SOFT, hard: null } },
      stopped,
      placement: { perch: perchCore ?? null, backends: ctx.cores.backend ?? null, load: ctx.cores.load ?? null },
      backends: backends.map((b) => ({ name: b.process.name, port: b.port, pid: b.process.pid })),
      perch: variants.map((v) => ({ key: v.key, label: v.label, origin: v.perch.origin, admin: v.perch.adminOrigin, pids: v.perch.ready.pids, machines: machineOrder.get(v.key), config: v.perch.details.config })),
      summaries,
      samples,
    },
  };
}
