// Scenario "workers": perch with 1 worker against perch with 2 workers, same
// backend (one src/demo/hello.ts, one static machine, no hard limit), same
// load (autocannon, keep-alive), both perch instances running side by side
// and measured in alternating order. Both are allowed on every core, so the
// placement is identical; on a 2-core machine the load generator and the
// backend (core 1) compete with the second worker, which the notes say.
import os from 'node:os';
import type { BenchContext, ScenarioReport } from '../lib/context.ts';
import { perchConfig } from '../lib/perch.ts';
import {
  alternate,
  describeFailures,
  measureWindow,
  probeVariants,
  shares,
  summarizeVariant,
  variantSample,
  warmUp,
  type PerchVariant,
  type VariantSample,
  type Window,
} from '../lib/perch-window.ts';
import { hostNote } from '../lib/loadgen.ts';
import { median } from '../lib/stats.ts';
import { formatNumber, formatRatio } from '../lib/table.ts';

const WORKER_COUNTS = [1, 2] as const;
const BYTES = 1024;
const PATH = `/bytes/${BYTES}`;
const APP = 'bench';
const HOST = 'bench.local';

interface Sample extends VariantSample {
  workers: number;
  backendCpuMicrosPerRequest: number;
}

function toSample(window: Window, variant: PerchVariant, workers: number): Sample {
  const common = variantSample(window, variant);
  const backendCpu = window.measurement.usage.backend0?.cpuMicros;
  return {
    ...common,
    workers,
    backendCpuMicrosPerRequest: backendCpu === undefined || common.completed === 0 ? NaN : backendCpu / common.completed,
  };
}

function summarize(samples: readonly Sample[], key: string, baseline: string) {
  const { mine, summary } = summarizeVariant(samples, key, baseline);
  return {
    ...summary,
    backendCpuMicrosPerRequest: median(mine.map((s) => s.backendCpuMicrosPerRequest)),
    /** Per repetition, the busier worker's share of the requests (1 worker: 1). */
    busiestWorkerShare: mine.map((s) => {
      const counts = Object.values(s.access.byWorker);
      const total = counts.reduce((n, c) => n + c, 0);
      return total === 0 ? NaN : Math.max(...counts) / total;
    }),
  };
}

export async function run(ctx: BenchContext): Promise<ScenarioReport> {
  const { options } = ctx;
  const backend = await ctx.startBackend();
  ctx.log(`workers: backend (src/demo/hello.ts) on 127.0.0.1:${backend.port}, pid ${backend.process.pid}`);

  // Identical placement for 1 and 2 workers: perch may run on every core; backend and
  // autocannon stay on the runner's core (1).
  const perchCore = ctx.cores.all;
  const variants: (PerchVariant & { workers: number })[] = [];
  for (const workers of WORKER_COUNTS) {
    const key = `${workers}w`;
    const perch = await ctx.startPerch(`perch-workers-${workers}`, perchConfig(backend.port, workers), perchCore);
    ctx.log(`workers: perch ${key} at ${perch.origin}, pids ${JSON.stringify(perch.ready.pids)}`);
    variants.push({ key, label: `${workers} worker${workers === 1 ? '' : 's'}`, app: APP, perch, headers: { host: HOST }, workers });
  }
  await probeVariants(variants, PATH, BYTES);

  await warmUp(ctx, 'workers', variants, PATH);

  const samples: Sample[] = [];
  // A window after which a backend or a perch is gone ends the measuring: later windows would measure the failure.
  let stopped: string | null = null;
  measuring: for (let rep = 0; rep < options.reps; rep++) {
    for (const variant of alternate(variants, rep)) {
      ctx.log(`workers: rep ${rep + 1}/${options.reps} ${variant.label} (${options.durationSeconds} s)`);
      const window = await measureWindow(ctx, variant, [backend], PATH, options.durationSeconds, rep);
      const sample = toSample(window, variant, variant.workers);
      samples.push(sample);
      for (const problem of sample.problems) ctx.log(`workers: ${variant.key} rep ${rep + 1}: ${problem}`);
      const gone = [...window.backendsDown, ...variants.filter((v) => !v.perch.process.running).map((v) => `perch ${v.key} ${v.perch.process.exitDescription}`)];
      if (gone.length > 0) {
        stopped = `stopped after rep ${rep + 1} (${variant.key}): ${gone.join('; ')}`;
        ctx.log(`workers: ${stopped}`);
        break measuring;
      }
    }
  }

  const baseline = variants[0]!.key;
  const summaries = variants.map((v) => summarize(samples, v.key, baseline));
  const rows = summaries.map((s) => {
    const variant = variants.find((v) => v.key === s.variant)!;
    const isBaseline = s.variant === baseline;
    return [
      variant.label,
      formatNumber(s.requestsPerSecond),
      isBaseline ? '' : formatRatio(s.throughputVsBaseline),
      formatNumber(s.p50Ms, 2),
      isBaseline ? '' : formatRatio(s.p50VsBaseline),
      formatNumber(s.p99Ms, 2),
      isBaseline ? '' : formatRatio(s.p99VsBaseline),
      formatNumber(s.perchCpuMicrosPerRequest, 1),
      isBaseline ? '' : formatRatio(s.cpuVsBaseline),
      formatNumber(s.perchPeakRssSumMiB, 1),
      shares(s.byWorker, variant.perch.ready.pids.workers.map(String)),
      String(s.errors),
      s.non2xx === 0 ? '0' : `${s.non2xx} (${describeFailures(s.byStatus, s.byCode)})`,
    ];
  });

  const two = summaries.find((s) => s.variant === '2w')!;
  const notes: string[] = [
    `Throughput of 2 workers ÷ 1 worker (median of per-repetition ratios): ${formatRatio(two.throughputVsBaseline)}; per repetition: ` +
      `${two.throughputVsBaselinePerRep.map((r) => formatRatio(r)).join(', ')}. Busier worker's share of the requests per repetition: ` +
      `${two.busiestWorkerShare.map((x) => `${Math.round(100 * x)} %`).join(', ')} (workers accept on the shared socket; keep-alive connections stay where they landed).`,
  ];
  if (stopped !== null) notes.unshift(`Measuring ${stopped}.`);
  if (perchCore === undefined) {
    notes.push('Nothing pinned (taskset missing or a single core).');
  } else {
    notes.push(
      `Placement, identical for 1 and 2 workers: perch (primary and workers) allowed on cores ${perchCore}; the backend and autocannon pinned to core ${ctx.cores.backend}. ` +
        `With ${ctx.cores.all?.split(',').length ?? '?'} cores the load generator and the backend compete with perch for CPU: a second worker can only use what they leave, ` +
        `so the ratio understates what 2 workers give on a machine with cores to spare (and 1 worker may already use the otherwise idle core 0).`,
    );
  }
  const failures = summaries.filter((s) => s.non2xx > 0 || s.errors > 0);
  notes.push(
    failures.length === 0
      ? 'Every response was 2xx and autocannon saw no connection error.'
      : `Failures: ${failures.map((s) => `${s.variant}: ${s.errors} connection errors/timeouts, ${s.non2xx} non-2xx (${describeFailures(s.byStatus, s.byCode) || 'not in the access log'})`).join('; ')}.`,
  );
  const problems = summaries.flatMap((s) => s.problems.map((p) => `${s.variant} ${p}`));
  if (problems.length > 0) notes.push(`Problems seen in perch's view: ${problems.join('; ')}.`);
  notes.push(hostNote(samples.map((s) => ({ label: s.variant, otherCores: s.host.otherCores })), os.cpus().length));

  return {
    title: 'workers',
    description:
      `GET ${PATH} through perch with 1 and with 2 workers to one src/demo/hello.ts (one static machine, soft_limit 1000, no hard limit). ` +
      `Both perch instances run side by side, measured in alternating order, autocannon with ${options.connections} keep-alive connections, ` +
      `${options.durationSeconds} s per window ${ctx.warmUpNote()}, ${options.reps} repetition(s), medians; "×1w" = 2 workers ÷ 1 worker in the same repetition. ` +
      `CPU µs/req and RSS (MiB, sum over processes) cover every perch process (primary + workers); requests per worker are from perch's access log. ` +
      `errors = connection errors + timeouts.`,
    table: {
      headers: ['perch', 'req/s', 'req/s ×1w', 'p50 ms', 'p50 ×1w', 'p99 ms', 'p99 ×1w', 'CPU µs/req', 'CPU ×1w', 'RSS MiB sum', 'requests per worker', 'errors', 'non-2xx'],
      align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      rows,
    },
    notes,
    data: {
      path: PATH,
      stopped,
      placement: { perch: perchCore ?? null, backend: ctx.cores.backend ?? null, load: ctx.cores.load ?? null },
      backend: { port: backend.port, pid: backend.process.pid },
      perch: variants.map((v) => ({ key: v.key, workers: v.workers, origin: v.perch.origin, admin: v.perch.adminOrigin, pids: v.perch.ready.pids, config: v.perch.details.config })),
      summaries,
      samples,
    },
  };
}
