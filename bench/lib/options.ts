// Command-line flags of `npm run bench` (node:util parseArgs).
import { parseArgs } from 'node:util';
import { TARGET_NAMES, type TargetName } from './targets.ts';

export interface BenchOptions {
  quick: boolean;
  /** Seconds of load per measurement. */
  durationSeconds: number;
  /** Seconds of unrecorded load per target and size before the first repetition (JIT, pools). */
  warmupSeconds: number;
  reps: number;
  connections: number;
  /** Targets to run, in canonical order. */
  only: TargetName[];
  scenarios: string[];
  perchWorkers: number;
  /** perch's CLI entry, relative to the repo root (another checkout's, to compare). */
  perchCli: string;
  /** Before each window, wait up to this many seconds for other processes to leave the machine quiet (0: never wait). */
  quietWaitSeconds: number;
  /** Keep the temp dir (configs, logs of every process) instead of deleting it. */
  keep: boolean;
  /** "tls": the keep-alive load generator (h2load when installed, else bench/tls-load.ts's own Node client). */
  h2Client: 'auto' | 'h2load' | 'node';
  /** "wake": wakes per kind (default 30, quick 8). */
  wakes: number;
  help: boolean;
}

/** Below this much CPU (in cores) used by processes outside the bench, the machine counts as quiet. */
export const QUIET_CORES = 0.15;

/**
 * Warm-up windows per target (each --warmup seconds, on new connections).
 * perch's workers run without Maglev, so their hot code reaches TurboFan later
 * than a default Node's; and when the first load's connections close, the
 * close paths deoptimize hot Node and undici functions, which TurboFan then
 * compiles again during the next load: 0.26-0.34 s of compile CPU in that
 * window (--trace-opt, windows of 2-5 s), ~2 µs per request of a 5 s window,
 * nothing in the windows after. One warm-up window left that in the first
 * repetition (forwarding at 1 KiB, per-repetition CPU ×bare 1.14, 1.18, then
 * 1.03, 1.01); limits with 1 s of warm-up: 0.73-1.05× per repetition.
 */
export const WARMUP_WINDOWS = 2;

/** What a run without --scenario runs, in this order. */
export const DEFAULT_SCENARIOS = ['forwarding', 'limits', 'workers', 'tls', 'wake'] as const;

export const USAGE = `usage: node bench/run.ts [options]

  --quick               short run: 2 s per measurement, 1 repetition
  --duration <s>        seconds of load per measurement (default 5, quick 2)
  --warmup <s>          unrecorded load per target and size first, in two windows of s seconds
                        on new connections each (default 2, quick 0.5)
  --reps <n>            repetitions, peer order alternated each time; medians reported (default 3, quick 1)
  --connections <n>     concurrent keep-alive connections (default 50)
  --only <a,b>          targets: ${TARGET_NAMES.join(', ')} (default all)
  --scenario <a,b>      scenario files in bench/scenarios/ (default ${DEFAULT_SCENARIOS.join(',')})
  --perch-workers <n>   perch's worker count in "forwarding" (default 1, for the pinned comparison;
                        "limits" always runs 2 workers, "workers" runs 1 and 2)
  --perch-cli <file>    perch's CLI entry to run as "<file> start perch.toml" (default bin/perch.js, as npm start runs it)
  --quiet-wait <s>      before each window, wait up to s seconds until other processes use less than
                        ${QUIET_CORES} core over a second (for a shared machine; default 0 = measure at once)
  --h2-client <c>       "tls": keep-alive HTTP/1.1 and HTTP/2 load by h2load (nghttp2-client) or node
                        (bench/tls-load.ts); default h2load when installed, else node
  --wakes <n>           "wake": wakes measured per kind (default 30, quick 8)
  --keep                keep the temp dir with generated configs and process logs
  --help
`;

function positiveNumber(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${flag} wants a positive number, got "${raw}"`);
  return value;
}

function list(raw: string | undefined): string[] | undefined {
  return raw?.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      reps: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      scenario: { type: 'string' },
      'perch-workers': { type: 'string' },
      'perch-cli': { type: 'string' },
      'quiet-wait': { type: 'string' },
      keep: { type: 'boolean', default: false },
      'h2-client': { type: 'string' },
      wakes: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick === true;
  const only = list(values.only) ?? [...TARGET_NAMES];
  const h2Client = values['h2-client'] ?? 'auto';
  if (h2Client !== 'auto' && h2Client !== 'h2load' && h2Client !== 'node') throw new Error(`--h2-client: h2load or node, got "${h2Client}"`);
  const unknown = only.filter((name) => !(TARGET_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`--only: unknown target(s) ${unknown.join(', ')}; known: ${TARGET_NAMES.join(', ')}`);
  return {
    quick,
    durationSeconds: positiveNumber('duration', values.duration, quick ? 2 : 5),
    warmupSeconds: values.warmup === '0' ? 0 : positiveNumber('warmup', values.warmup, quick ? 0.5 : 2),
    reps: Math.round(positiveNumber('reps', values.reps, quick ? 1 : 3)),
    connections: Math.round(positiveNumber('connections', values.connections, 50)),
    only: TARGET_NAMES.filter((name) => only.includes(name)),
    scenarios: list(values.scenario) ?? [...DEFAULT_SCENARIOS],
    perchWorkers: Math.round(positiveNumber('perch-workers', values['perch-workers'], 1)),
    perchCli: values['perch-cli'] ?? 'bin/perch.js',
    quietWaitSeconds: values['quiet-wait'] === undefined || values['quiet-wait'] === '0' ? 0 : positiveNumber('quiet-wait', values['quiet-wait'], 0),
    keep: values.keep === true,
    h2Client,
    wakes: Math.round(positiveNumber('wakes', values.wakes, quick ? 8 : 30)),
    help: values.help === true,
  };
}
