// Runs one autocannon measurement in a child process (bench/load.ts) pinned to
// the load core, and samples the proxy's CPU and memory around it.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { cpuMicros, processTree, rssBytes } from './proc.ts';
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
  bytesPerSecond: number;
}

export interface ResourceUsage {
  /** CPU (user + system) of the whole tree during the window, in µs. */
  cpuMicros: number;
  /** Largest VmRSS of any one process seen during the window, bytes. */
  peakRssMaxBytes: number;
  /** Largest sum of VmRSS over the tree seen during the window, bytes. */
  peakRssSumBytes: number;
  processCount: number;
}

export interface Measurement {
  load: LoadResult;
  /** Per watched tree (e.g. "proxy", "backend"), what it used during the window. */
  usage: Record<string, ResourceUsage>;
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
  options: { request: LoadRequest; watch: Record<string, number>; loadCore: number | undefined; logFile: string },
): Promise<Measurement> {
  const trees = Object.fromEntries(Object.entries(options.watch).map(([name, pid]) => [name, processTree(pid)]));
  const cpuBefore = Object.fromEntries(Object.entries(trees).map(([name, pids]) => [name, cpuMicros(pids)]));
  const peaks = Object.fromEntries(Object.keys(trees).map((name) => [name, { max: 0, sum: 0 }]));
  const sampleRss = (): void => {
    for (const [name, pids] of Object.entries(trees)) {
      let sum = 0;
      for (const pid of pids) {
        const rss = rssBytes(pid) ?? 0;
        sum += rss;
        const peak = peaks[name] as { max: number; sum: number };
        peak.max = Math.max(peak.max, rss);
      }
      const peak = peaks[name] as { max: number; sum: number };
      peak.sum = Math.max(peak.sum, sum);
    }
  };
  sampleRss();
  const sampler = setInterval(sampleRss, RSS_SAMPLE_INTERVAL_MS);

  let result: LoadResult;
  try {
    const child = registry.start({
      name: 'load',
      command: process.execPath,
      args: [path.join(benchDir, 'load.ts'), JSON.stringify(options.request)],
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
  sampleRss();

  const usage: Record<string, ResourceUsage> = {};
  for (const [name, pids] of Object.entries(trees)) {
    const after = cpuMicros(pids);
    const before = cpuBefore[name] as Map<number, number>;
    let cpu = 0;
    for (const [pid, micros] of after) cpu += micros - (before.get(pid) ?? micros);
    const peak = peaks[name] as { max: number; sum: number };
    usage[name] = { cpuMicros: cpu, peakRssMaxBytes: peak.max, peakRssSumBytes: peak.sum, processCount: pids.length };
  }
  return { load: result, usage };
}
