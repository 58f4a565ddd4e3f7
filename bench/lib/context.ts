// What a scenario (bench/scenarios/<name>.ts) gets to work with, and what it
// hands back. A scenario starts what it needs through the context, so every
// process is registered and stopped by the runner, pinned to the right core.
import path from 'node:path';
import { startBackend, type Backend } from './backend.ts';
import { measure, otherCoresOver, type LoadRequest, type Measurement } from './loadgen.ts';
import { launchPerch, type LaunchedPerch } from './perch.ts';
import { QUIET_CORES, WARMUP_WINDOWS, type BenchOptions } from './options.ts';
import type { ProcessRegistry, RunningProcess } from './processes.ts';
import type { Table } from './table.ts';
import { startTarget, type Target, type TargetName, type TargetStart } from './targets.ts';

/** Which core each role runs on; undefined = not pinned (taskset missing or one core). */
export interface CoreLayout {
  proxy: number | undefined;
  backend: number | undefined;
  load: number | undefined;
  /** Every core as a taskset list ("0,1"), for a process allowed to run anywhere (multi-worker perch). */
  all: string | undefined;
}

export interface ScenarioReport {
  title: string;
  /** One paragraph above the table: what was measured and how to read it. */
  description: string;
  table: Table;
  /** Lines under the table (failures, caveats). */
  notes: string[];
  /** Everything raw, for latest.json. */
  data: unknown;
}

/** The shape of a bench/scenarios/<name>.ts module. */
export interface ScenarioModule {
  run(context: BenchContext): Promise<ScenarioReport>;
}

export class BenchContext {
  readonly options: BenchOptions;
  readonly cores: CoreLayout;
  readonly repoRoot: string;
  readonly tmpDir: string;
  readonly #registry: ProcessRegistry;
  #loadRuns = 0;

  constructor(init: { options: BenchOptions; cores: CoreLayout; repoRoot: string; tmpDir: string; registry: ProcessRegistry }) {
    this.options = init.options;
    this.cores = init.cores;
    this.repoRoot = init.repoRoot;
    this.tmpDir = init.tmpDir;
    this.#registry = init.registry;
  }

  /** Progress goes to stderr; stdout carries only the final table. */
  log(message: string): void {
    process.stderr.write(`bench: ${message}\n`);
  }

  /** A src/demo/hello.ts process on the backend core; `name` names its log file and machine id (default "backend"). */
  startBackend(name?: string): Promise<Backend> {
    return startBackend(this.#registry, { repoRoot: this.repoRoot, tmpDir: this.tmpDir, core: this.cores.backend, name });
  }

  /**
   * perch on a config of the scenario's own (`files`: perch.toml and
   * apps/*.toml), in <tmpDir>/<name>/, logging to <tmpDir>/<name>.log.
   * `core`: a core or taskset list; undefined inherits the runner's core.
   */
  startPerch(name: string, files: Record<string, string>, core: number | string | undefined): Promise<LaunchedPerch> {
    return launchPerch({ registry: this.#registry, repoRoot: this.repoRoot, tmpDir: this.tmpDir, perchCli: this.options.perchCli, name, files, core });
  }

  /** Starts a target in front of `backend` and probes it once; failures come back as a reason. */
  startTarget(name: TargetName, backend: Backend, probe: { path: string; bytes: number }): Promise<TargetStart> {
    return startTarget(
      name,
      {
        registry: this.#registry,
        repoRoot: this.repoRoot,
        tmpDir: this.tmpDir,
        backend,
        proxyCore: this.cores.proxy,
        perchWorkers: this.options.perchWorkers,
        perchCli: this.options.perchCli,
      },
      probe.path,
      probe.bytes,
    );
  }

  /**
   * Unrecorded load before the measured windows: WARMUP_WINDOWS runs of
   * --warmup seconds each, every run on new connections (see options.ts for why two).
   */
  async warmUp(label: string, run: (seconds: number) => Promise<unknown>): Promise<void> {
    const seconds = this.options.warmupSeconds;
    if (seconds <= 0) return;
    for (let window = 1; window <= WARMUP_WINDOWS; window++) {
      this.log(`warm-up ${label} (${window}/${WARMUP_WINDOWS}, ${seconds} s)`);
      await run(seconds);
    }
  }

  /** How the windows were warmed up, for a scenario's description. */
  warmUpNote(): string {
    const seconds = this.options.warmupSeconds;
    return seconds <= 0 ? 'no warm-up' : `after ${WARMUP_WINDOWS} unrecorded warm-up windows of ${seconds} s per target`;
  }

  /** One autocannon run of `durationSeconds` against target + path, watching the proxy's and the backend's processes. */
  measure(target: Target, backend: Backend, requestPath: string, durationSeconds: number): Promise<Measurement> {
    const watch: Record<string, number> = { backend: backend.process.pid };
    if (target.process !== undefined) watch.proxy = target.process.pid;
    return this.measureUrl(`${target.origin}${requestPath}`, target.headers, watch, durationSeconds);
  }

  /**
   * One autocannon run (the run's connection count, keep-alive) against `url`
   * on the load core, with CPU and RSS of each process tree in `watch`
   * (name → root PID) over the window.
   */
  async measureUrl(url: string, headers: Record<string, string>, watch: Record<string, number>, durationSeconds: number): Promise<Measurement> {
    return this.measureLoad({ url, connections: this.options.connections, durationSeconds, headers }, watch);
  }

  /**
   * One load run of `request` (any JSON the generator takes, with at least the
   * LoadRequest fields) by `script` (default bench/load.ts, autocannon) on the
   * load core, watching the process trees in `watch` like measureUrl.
   */
  async measureLoad(request: LoadRequest, watch: Record<string, number>, script?: string): Promise<Measurement> {
    await this.#waitForQuiet();
    this.#loadRuns++;
    return measure(this.#registry, {
      request,
      watch,
      loadCore: this.cores.load,
      logFile: path.join(this.tmpDir, `load-${this.#loadRuns}.log`),
      ...(script === undefined ? {} : { script }),
    });
  }

  /**
   * Any other process a scenario needs (nginx on its own config, an app timed
   * from spawn to listening), registered so the runner stops it, logging to
   * <tmpDir>/<name>.log. `core`: a core or taskset list; undefined inherits the runner's core (1).
   */
  startProcess(options: { name: string; command: string; args: readonly string[]; env?: Record<string, string>; cwd?: string; core: number | string | undefined }): RunningProcess {
    return this.#registry.start({
      name: options.name,
      command: options.command,
      args: options.args,
      cwd: options.cwd ?? this.repoRoot,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...(options.core === undefined ? {} : { core: options.core }),
      logFile: path.join(this.tmpDir, `${options.name}.log`),
    });
  }

  /** With --quiet-wait: holds the next window until other processes leave the machine (nearly) idle for a second, or the wait is over. */
  async #waitForQuiet(): Promise<void> {
    const limit = this.options.quietWaitSeconds;
    if (limit <= 0) return;
    const started = performance.now();
    let said = false;
    for (;;) {
      const other = await otherCoresOver(1000);
      if (!(other >= QUIET_CORES)) return; // quiet, or not measurable
      const waited = (performance.now() - started) / 1000;
      if (waited >= limit) {
        this.log(`machine still busy (${other.toFixed(2)} cores used elsewhere) after ${Math.round(waited)} s; measuring anyway`);
        return;
      }
      if (!said) this.log(`other processes use ${other.toFixed(2)} cores; waiting up to ${limit} s for a quiet machine`);
      said = true;
    }
  }
}
