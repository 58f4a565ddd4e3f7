// Runs one autocannon measurement in a child process (bench/load.ts) pinned to
// the load core, and samples the proxy's CPU and memory around it.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { hostBusyMicros, ownTreeMicros, processCounters, processTree, residentBytes, type ProcessCounters } from './proc.ts';
import { failureReason, type ProcessRegistry } from './processes.ts';

export interface LoadRequest {
  url: string;
  connections: number;
  durationSeconds: number;
  headers: Record<string, string>;
}

export interface LoadResult {
  completed: number;
  durationSeconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; mean: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Responses by HTTP status ("200": n, "503": n). */
  statusCounts?: Record<string, number>;
  bytesPerSecond: number;
}

export interface ResourceUsage {
  /** CPU (user + system) of the whole tree during the window, in µs. */
  cpuMicros: number;
  /**
   * The kernel's part of cpuMicros, and the tree's minor page faults in the
   * window: when a process runs slow for a whole start, whether the extra time
   * was spent in system calls and faults (memory given back and taken again)
   * or in its own code (JIT, garbage collection).
   */
  systemMicros: number;
  minorFaults: number;
  /**
   * Largest VmRSS of one worker seen during the window, bytes. A worker is a
   * process below the tree's root (perch's and nginx's workers); a tree of one
   * process is its own worker.
   */
  peakWorkerRssBytes: number;
  /** Largest sum of VmRSS over the tree seen during the window, bytes. */
  peakRssSumBytes: number;
  /** Largest private resident memory (RssAnon) of one worker seen during the window, bytes. */
  peakWorkerAnonBytes: number;
  processCount: number;
  /** CPU (µs) of each process of the tree during the window, by PID (e.g. perch's primary apart from its workers). */
  cpuMicrosByPid: Record<string, number>;
}

/** Peaks of resident memory over one tree during a window, bytes. */
interface Peak {
  worker: number;
  sum: number;
  workerAnon: number;
}

/** The whole machine during the window, in cores busy on average (e.g. 1.6 of 2). */
export interface HostUsage {
  windowSeconds: number;
  busyCores: number;
  /** The bench's own processes: the runner and everything it started (load generator included). */
  benchCores: number;
  /** Everything else on the machine (colleagues' tests, the kernel's own threads): noise in the figures. */
  otherCores: number;
}

export interface Measurement {
  load: LoadResult;
  /** Per watched tree (e.g. "proxy", "backend"), what it used during the window. */
  usage: Record<string, ResourceUsage>;
  host: HostUsage;
}

const benchDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const RSS_SAMPLE_INTERVAL_MS = 200;

/**
 * Runs bench/load.ts against `request.url` while watching the process trees
 * rooted at `watch` (name → root PID). CPU is read just before the load child
 * starts and just after it exits, so the window covers all of the load (and a
 * few idle milliseconds, which cost nothing measurable).
 */
export async function measure(
  registry: ProcessRegistry,
  options: {
    request: LoadRequest;
    watch: Record<string, number>;
    loadCore: number | undefined;
    logFile: string;
    /** The load generator child: a script taking `request` as one JSON argument and printing one {"completed":…} line (default bench/load.ts, autocannon). */
    script?: string;
  },
): Promise<Measurement> {
  const trees = Object.fromEntries(Object.entries(options.watch).map(([name, pid]) => [name, processTree(pid)]));
  const countersBefore = Object.fromEntries(Object.entries(trees).map(([name, pids]) => [name, processCounters(pids)]));
  const peaks = Object.fromEntries(Object.keys(trees).map((name) => [name, { worker: 0, sum: 0, workerAnon: 0 }]));
  const sampleRss = (): void => {
    for (const [name, pids] of Object.entries(trees)) {
      let sum = 0;
      for (const [i, pid] of pids.entries()) {
        const resident = residentBytes(pid);
        if (resident === undefined) continue;
        sum += resident.rss;
        // The root (perch's primary, nginx's master) serves nothing when it has workers.
        if (i === 0 && pids.length > 1) continue;
        const peak = peaks[name] as Peak;
        peak.worker = Math.max(peak.worker, resident.rss);
        peak.workerAnon = Math.max(peak.workerAnon, resident.anon);
      }
      const peak = peaks[name] as Peak;
      peak.sum = Math.max(peak.sum, sum);
    }
  };
  sampleRss();
  const sampler = setInterval(sampleRss, RSS_SAMPLE_INTERVAL_MS);
  const hostBefore = { at: performance.now(), busy: hostBusyMicros(), own: ownTreeMicros() };

  let result: LoadResult;
  try {
    const child = registry.start({
      name: 'load',
      command: process.execPath,
      args: [options.script ?? path.join(benchDir, 'load.ts'), JSON.stringify(options.request)],
      core: options.loadCore,
      logFile: options.logFile,
    });
    // Generous bound: the run itself plus time to connect and aggregate.
    const bound = setTimeout(() => void child.stop('SIGKILL'), (options.request.durationSeconds + 30) * 1000);
    await child.exited;
    clearTimeout(bound);
    const line = child.output().split('\n').find((l) => l.startsWith('{"completed"'));
    if (line === undefined) throw new Error(`load generator ${child.exitDescription}: ${failureReason(child.output())}`);
    result = JSON.parse(line) as LoadResult;
  } finally {
    clearInterval(sampler);
  }
  const hostAfter = { at: performance.now(), busy: hostBusyMicros(), own: ownTreeMicros() };
  sampleRss();
  const windowMicros = (hostAfter.at - hostBefore.at) * 1000;
  const busyCores = (hostAfter.busy - hostBefore.busy) / windowMicros;
  const benchCores = (hostAfter.own - hostBefore.own) / windowMicros;
  const host: HostUsage = { windowSeconds: windowMicros / 1e6, busyCores, benchCores, otherCores: Math.max(0, busyCores - benchCores) };

  const usage: Record<string, ResourceUsage> = {};
  for (const [name, pids] of Object.entries(trees)) {
    const before = countersBefore[name] as Map<number, ProcessCounters>;
    let cpu = 0;
    let system = 0;
    let faults = 0;
    const byPid: Record<string, number> = {};
    for (const [pid, now] of processCounters(pids)) {
      const then = before.get(pid) ?? now;
      const used = now.cpuMicros - then.cpuMicros;
      byPid[String(pid)] = used;
      cpu += used;
      system += now.systemMicros - then.systemMicros;
      faults += now.minorFaults - then.minorFaults;
    }
    const peak = peaks[name] as Peak;
    usage[name] = {
      cpuMicros: cpu,
      systemMicros: system,
      minorFaults: faults,
      peakWorkerRssBytes: peak.worker,
      peakRssSumBytes: peak.sum,
      peakWorkerAnonBytes: peak.workerAnon,
      processCount: pids.length,
      cpuMicrosByPid: byPid,
    };
  }
  return { load: result, usage, host };
}

/** CPU (in cores) used by processes outside the bench over the next `ms` milliseconds. */
export async function otherCoresOver(ms: number): Promise<number> {
  const before = { at: performance.now(), busy: hostBusyMicros(), own: ownTreeMicros() };
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = { at: performance.now(), busy: hostBusyMicros(), own: ownTreeMicros() };
  const window = (after.at - before.at) * 1000;
  return (after.busy - before.busy - (after.own - before.own)) / window;
}

/**
 * A note on what the rest of the machine did during the windows (other
 * processes' CPU, in cores), so a disturbed run says so next to its figures.
 */
export function hostNote(windows: readonly { label: string; otherCores: number }[], cores: number): string {
  const byLabel = new Map<string, number[]>();
  for (const w of windows) byLabel.set(w.label, [...(byLabel.get(w.label) ?? []), w.otherCores]);
  const all = windows.map((w) => w.otherCores).filter(Number.isFinite);
  if (all.length === 0) return 'CPU of other processes on the machine: not measured.';
  const worst = Math.max(...all);
  const parts = [...byLabel].map(([label, values]) => `${label} ${values.map((v) => v.toFixed(2)).join(', ')}`);
  return (
    `Other processes on the machine used, per window (cores of ${cores}): ${parts.join('; ')}. ` +
    (worst > 0.1 * cores ? 'Windows with more than a tenth of the machine busy elsewhere are disturbed; compare ratios, and rerun when the machine is quiet.' : 'The machine was quiet.')
  );
}
