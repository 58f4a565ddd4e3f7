// The primary's side of metrics: at each scrape it asks every live worker for
// its snapshot over IPC ({t:'metrics', seq} → {t:'metrics', seq, snapshot}),
// waits at most SCRAPE_TIMEOUT_MS, sums what it has, adds its own gauges
// (machine load from the ledger, states, health, queues) and renders.
//
// A worker that does not answer in time never fails the scrape: its last
// snapshot (from an earlier scrape) stands in for it. A worker that exits
// leaves its last snapshot to a "retired" sum, so counters summed across
// workers never go backwards when one is replaced (only what it counted
// since the scrape before its death is lost).
import type { Machine } from '../machines/machine.ts';
import type { LoadView } from './primary-view.ts';
import { METRICS_CONTENT_TYPE, renderMetrics, type MachineGauge, type PrimaryGauges } from './render.ts';
import { emptySnapshot, sumSnapshots, type MetricsSnapshot } from './snapshot.ts';

/** How long a scrape waits for the workers' answers. */
export const SCRAPE_TIMEOUT_MS = 500;

/** What the hub needs of a cluster worker. */
export interface WorkerLike {
  isConnected(): boolean;
  send(message: { t: 'metrics'; seq: number }, sendHandle: undefined, options: undefined, callback: (error: Error | null) => void): unknown;
}

export interface MetricsHubOptions {
  /** The edge's own region (the `region` label of fly_edge_ series). */
  region: string;
  /** The live workers, by cluster id (the primary's own map, read at each scrape). */
  workers: ReadonlyMap<number, WorkerLike>;
  fleet: { readonly machines: ReadonlyMap<string, Machine> };
  loads: Pick<LoadView, 'routeLoads' | 'queues'>;
  timeoutMs?: number;
}

interface Scrape {
  waiting: Set<number>;
  answered: number;
  done(): void;
}

export class MetricsHub {
  readonly contentType = METRICS_CONTENT_TYPE;
  private readonly options: MetricsHubOptions;
  private readonly timeoutMs: number;
  private seq = 0;
  /** Each live worker's latest snapshot. */
  private readonly last = new Map<number, MetricsSnapshot>();
  /** The sum of the last snapshots of workers that exited. */
  private retired: MetricsSnapshot = emptySnapshot();
  private readonly scrapes = new Map<number, Scrape>();

  constructor(options: MetricsHubOptions) {
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? SCRAPE_TIMEOUT_MS;
  }

  /** A worker's answer (to this scrape or a late one: any answer is that worker's newest counts). */
  answer(worker: number, seq: number, snapshot: MetricsSnapshot): void {
    this.last.set(worker, snapshot);
    const scrape = this.scrapes.get(seq);
    if (scrape === undefined || !scrape.waiting.delete(worker)) return;
    scrape.answered++;
    if (scrape.waiting.size === 0) scrape.done();
  }

  /** The worker exited: its last counts are kept; no scrape waits for it. */
  workerGone(worker: number): void {
    const last = this.last.get(worker);
    if (last !== undefined) {
      this.retired = sumSnapshots([this.retired, last]);
      this.last.delete(worker);
    }
    for (const scrape of this.scrapes.values()) {
      if (scrape.waiting.delete(worker) && scrape.waiting.size === 0) scrape.done();
    }
  }

  /** Asks every live worker for its snapshot; resolves with the sum once all answered or the timeout passed. */
  async collect(): Promise<{ snapshot: MetricsSnapshot; answered: number; missed: number }> {
    const seq = ++this.seq;
    const waiting = new Set<number>();
    let answered = 0;
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const scrape: Scrape = {
        waiting,
        answered: 0,
        done: () => {
          if (timer !== null) clearTimeout(timer);
          answered = scrape.answered;
          this.scrapes.delete(seq);
          resolve();
        },
      };
      this.scrapes.set(seq, scrape);
      for (const [id, worker] of this.options.workers) {
        if (!worker.isConnected()) continue;
        waiting.add(id);
        // A channel that closes meanwhile reports here (never as an unhandled 'error'); the exit follows.
        worker.send({ t: 'metrics', seq }, undefined, undefined, () => {});
      }
      if (waiting.size === 0) scrape.done();
      else timer = setTimeout(scrape.done, this.timeoutMs);
    });
    const sources = [this.retired, ...this.last.values()];
    return { snapshot: sumSnapshots(sources), answered, missed: waiting.size };
  }

  gauges(): Omit<PrimaryGauges, 'workers'> {
    const machines: MachineGauge[] = [];
    for (const machine of this.options.fleet.machines.values()) {
      let load = 0;
      for (const route of this.options.loads.routeLoads(machine)) load += route.load;
      machines.push({
        app: machine.app.name,
        machine: machine.spec.id,
        region: machine.spec.region,
        state: machine.state,
        healthy: machine.healthy,
        rttMs: machine.rttMs,
        load,
      });
    }
    return { machines, queues: this.options.loads.queues() };
  }

  /** GET /metrics: the Prometheus text format. */
  async render(): Promise<string> {
    const { snapshot, answered, missed } = await this.collect();
    return renderMetrics(snapshot, { ...this.gauges(), workers: { answered, missed } }, this.options.region);
  }
}
