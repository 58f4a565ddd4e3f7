// A worker's view of one app: its machines as routing targets, each with
// its upstream pool and this worker's share of the machine's load, and the
// hot-path choice of a machine when this worker can decide alone.
import type { Pool } from 'undici';
import type { AppConfig, Concurrency } from '../config/model.ts';
import type { MachineView } from '../machines/machine.ts';
import type { ResponsePolicy } from '../proxy/headers.ts';
import type { Upstreams } from '../proxy/upstreams.ts';
import { bestCandidate, type Candidate, type RegionRanks, type Steering } from './rank.ts';

export class MachineTarget implements Candidate {
  readonly id: string;
  readonly region: string;
  readonly origin: string;
  readonly pool: Pool;
  readonly soft: number;
  readonly hard: number | null;
  state: MachineView['state'] = 'created';
  healthy = false;
  routable = false;
  epoch = 0;
  rttMs: number | null = null;
  /** Load of the other workers, as the primary last told. */
  others = 0;
  /** This worker's in-flight load on the machine. */
  local = 0;
  /** others + local: the global load as this worker sees it. */
  load = 0;
  /** Hard-limit slots this worker holds (machines with a hard_limit only). */
  lease = 0;
  /** Consecutive connect failures on live traffic. */
  connectFailures = 0;
  /** Out of rotation in this worker after connect failures, until the primary says it is healthy again. */
  passiveDown = false;

  constructor(view: MachineView, origin: string, pool: Pool, concurrency: Concurrency) {
    this.id = view.id;
    this.region = view.region;
    this.origin = origin;
    this.pool = pool;
    this.soft = concurrency.softLimit;
    this.hard = concurrency.hardLimit;
  }
}

export interface LoadListener {
  /** This worker's load on a machine changed. */
  loadChanged(target: MachineTarget): void;
  /** An app in contention: slots this worker does not use go back to the primary. */
  returnSlots(target: MachineTarget, count: number): void;
}

export class AppRoute {
  readonly config: AppConfig;
  readonly response: ResponsePolicy;
  readonly listener: LoadListener;
  targets: MachineTarget[] = [];
  private readonly byId = new Map<string, MachineTarget>();
  regions: RegionRanks = new Map();
  /** Some request of this app waits at the primary: freed slots go back so the oldest waiter gets them. */
  contended = false;
  /** Load is client connections (each pinned to a machine), not requests. */
  readonly byConnection: boolean;

  constructor(config: AppConfig, response: ResponsePolicy, listener: LoadListener) {
    this.config = config;
    this.response = response;
    this.listener = listener;
    this.byConnection = config.httpService?.concurrency.type === 'connections';
  }

  target(id: string): MachineTarget | undefined {
    return this.byId.get(id);
  }

  /** Applies the primary's machine list; adds the origins in use to `origins`. */
  update(views: readonly MachineView[], upstreams: Upstreams, origins: Set<string>): void {
    const service = this.config.httpService;
    if (service === null) return;
    const next: MachineTarget[] = [];
    for (const view of views) {
      if (view.app !== this.config.name) continue;
      if (service.processes.length > 0 && !service.processes.includes(view.processGroup)) continue;
      const port = view.ports.find(([internal]) => internal === service.internalPort)?.[1];
      if (port === undefined) continue;
      const origin = `http://${view.host.includes(':') ? `[${view.host}]` : view.host}:${port}`;
      origins.add(origin);
      let target = this.byId.get(view.id);
      if (target === undefined || target.origin !== origin) {
        target = new MachineTarget(view, origin, upstreams.pool(origin, this.config.limits), service.concurrency);
        this.byId.set(view.id, target);
      }
      if (target.epoch !== view.epoch) {
        // A new start: what was counted or leased on the old process is void.
        target.epoch = view.epoch;
        target.local = 0;
        target.lease = 0;
        target.others = 0;
        target.load = 0;
        target.connectFailures = 0;
        target.passiveDown = false;
      }
      target.state = view.state;
      target.healthy = view.healthy;
      if (view.healthy) target.passiveDown = false;
      target.rttMs = view.rttMs;
      target.routable = view.state === 'started' && view.healthy && !target.passiveDown;
      next.push(target);
    }
    for (const id of [...this.byId.keys()]) if (!next.some((target) => target.id === id)) this.byId.delete(id);
    this.targets = next;
  }

  /**
   * The hot path: the best machine for a request when this worker can take
   * it alone (no hard_limit, or a leased slot to spare), counted as load.
   * Null means: ask the primary, whose counts are exact.
   */
  tryAcquire(steering: Steering, exclude: readonly string[] | null): MachineTarget | null {
    const best = bestCandidate(this.targets, this.regions, steering, exclude, false);
    if (best === null) return null;
    if (best.hard !== null && best.local >= best.lease) return null;
    this.take(best);
    return best;
  }

  /** Counts a request on a machine (chosen here or granted by the primary). */
  take(target: MachineTarget): void {
    target.local++;
    target.load++;
    this.listener.loadChanged(target);
  }

  /** The request counted on `target` in `epoch` is over. */
  release(target: MachineTarget, epoch: number): void {
    if (target.epoch !== epoch || this.byId.get(target.id) !== target) return;
    target.local--;
    target.load--;
    this.listener.loadChanged(target);
    if (this.contended && target.hard !== null && target.lease > target.local) this.giveBack(target);
  }

  /** Gives every slot this worker holds but does not use back to the primary. */
  giveBack(target: MachineTarget): void {
    const spare = target.lease - target.local;
    if (spare <= 0) return;
    target.lease = target.local;
    this.listener.returnSlots(target, spare);
  }

  setContended(on: boolean): void {
    this.contended = on;
    if (on) for (const target of this.targets) if (target.hard !== null) this.giveBack(target);
  }
}
