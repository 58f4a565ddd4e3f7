// What a scenario (bench/scenarios/<name>.ts) gets to work with, and what it
// hands back. A scenario starts what it needs through the context, so every
// process is registered and stopped by the runner, pinned to the right core.
import path from 'node:path';
import { startBackend, type Backend } from './backend.ts';
import { measure, type Measurement } from './loadgen.ts';
import type { BenchOptions } from './options.ts';
import type { ProcessRegistry } from './processes.ts';
import type { Table } from './table.ts';
import { startTarget, type Target, type TargetName, type TargetStart } from './targets.ts';

/** Which core each role runs on; undefined = not pinned (taskset missing or one core). */
export interface CoreLayout {
  proxy: number | undefined;
  backend: number | undefined;
  load: number | undefined;
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

  startBackend(): Promise<Backend> {
    return startBackend(this.#registry, { repoRoot: this.repoRoot, tmpDir: this.tmpDir, core: this.cores.backend });
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

  /** One autocannon run of `durationSeconds` against target + path, watching the proxy's and the backend's processes. */
  measure(target: Target, backend: Backend, requestPath: string, durationSeconds: number): Promise<Measurement> {
    const watch: Record<string, number> = { backend: backend.process.pid };
    if (target.process !== undefined) watch.proxy = target.process.pid;
    this.#loadRuns++;
    return measure(this.#registry, {
      request: {
        url: `${target.origin}${requestPath}`,
        connections: this.options.connections,
        durationSeconds,
        headers: target.headers,
      },
      watch,
      loadCore: this.cores.load,
      logFile: path.join(this.tmpDir, `load-${this.#loadRuns}.log`),
    });
  }
}
