// A worker's view of one route: an app's HTTP service, or one of its
// [[services]]. Its machines are routing targets, each with its upstream
// pool and this worker's share of the load, and the hot-path choice of a
// machine when this worker can decide alone. Load is counted per route:
// a machine serving two routes has a target (and a ledger entry) in each.
import type { Pool } from 'undici';
import type { AppConfig, PerchConfig, ServiceCommon } from '../config/model.ts';
import type { MachineView } from '../machines/machine.ts';
import type { ResponsePolicy } from '../proxy/headers.ts';
import type { Upstreams } from '../proxy/upstreams.ts';
import { bestCandidate, equallyGood, type Candidate, type RegionRanks, type Steering } from './rank.ts';

/** The key of an app's route: its name for the HTTP service, `<app>#<n>` for its n-th [[services]] entry. */
export function routeKey(app: string, serviceIndex: number | null): string {
  return serviceIndex === null ? app : `${app}#${serviceIndex}`;
}

/** The key of a machine within a route, as the ledger counts it. */
export function targetKey(route: string, app: string, machineId: string): string {
  return route === app ? machineId : `${route}/${machineId}`;
}

export interface RouteSpec {
  key: string;
  app: AppConfig;
  service: ServiceCommon;
  /** Index in the app's [[services]], null for its [http_service]. */
  index: number | null;
}

/** Every route of the config: each app's HTTP service and each of its [[services]]. */
export function routesOf(config: PerchConfig): RouteSpec[] {
  const routes: RouteSpec[] = [];
  for (const app of config.apps) {
    if (app.httpService !== null) routes.push({ key: routeKey(app.name, null), app, service: app.httpService, index: null });
    app.services.forEach((service, index) => routes.push({ key: routeKey(app.name, index), app, service, index }));
  }
  return routes;
}

/** Whether a service runs on machines of a process group (the config lists its groups explicitly). */
export function serves(service: Pick<ServiceCommon, 'processes'>, processGroup: string): boolean {
  return service.processes.includes(processGroup);
}

export class MachineTarget implements Candidate {
  /** The machine's id (what steering headers and logs name). */
  readonly id: string;
  /** Unique across routes: what the load protocol counts. */
  readonly key: string;
  readonly region: string;
  readonly host: string;
  readonly port: number;
  readonly origin: string;
  readonly soft: number;
  readonly hard: number | null;
  private readonly upstreams: Upstreams;
  private readonly config: AppConfig;
  private poolRef: Pool | null = null;
  state: MachineView['state'] = 'created';
  healthy = false;
  routable = false;
  epoch = 0;
  rttMs: number | null = null;
  /** Load of the other workers, as the primary last told. */
  others = 0;
  /** This worker's in-flight load on the machine. */
  local = 0;
  /** The highest `local` since the load channel last looked at it. */
  peak = 0;
  /** The figure last reported to the primary, and when (performance.now()). */
  reported = 0;
  reportedAt = 0;
  /** others + local: the global load as this worker sees it. */
  load = 0;
  /** Hard-limit slots this worker holds (machines with a hard_limit only). */
  lease = 0;
  /** Slots it may keep while idle: its fair part of hard_limit, as the primary says. */
  share = 0;
  /** Consecutive connect failures on live traffic. */
  connectFailures = 0;
  /** Out of rotation in this worker after connect failures, until the primary says it is healthy again. */
  passiveDown = false;

  constructor(view: MachineView, key: string, port: number, service: ServiceCommon, config: AppConfig, upstreams: Upstreams) {
    this.id = view.id;
    this.key = key;
    this.region = view.region;
    this.host = view.host;
    this.port = port;
    this.origin = `http://${view.host.includes(':') ? `[${view.host}]` : view.host}:${port}`;
    this.soft = service.concurrency.softLimit;
    this.hard = service.concurrency.hardLimit;
    this.config = config;
    this.upstreams = upstreams;
  }

  /** The keep-alive pool to this machine, made on first use (TCP-only routes never make one). */
  get pool(): Pool {
    return (this.poolRef ??= this.upstreams.pool(this.origin, this.config.limits));
  }

  get hasPool(): boolean {
    return this.poolRef !== null;
  }
}

export interface LoadListener {
  /** This worker's load on a machine changed. */
  loadChanged(target: MachineTarget): void;
  /** A route in contention: slots this worker does not use go back to the primary. */
  returnSlots(target: MachineTarget, count: number): void;
}

export class ServiceRoute {
  readonly key: string;
  readonly config: AppConfig;
  readonly service: ServiceCommon;
  readonly response: ResponsePolicy;
  readonly listener: LoadListener;
  targets: MachineTarget[] = [];
  private readonly byKey = new Map<string, MachineTarget>();
  regions: RegionRanks = new Map();
  /** Some request of this route waits at the primary: freed slots go back so the oldest waiter gets them. */
  contended = false;
  /** Load is client connections (each pinned to a machine), not requests. */
  readonly byConnection: boolean;

  constructor(key: string, config: AppConfig, service: ServiceCommon, response: ResponsePolicy, listener: LoadListener) {
    this.key = key;
    this.config = config;
    this.service = service;
    this.response = response;
    this.listener = listener;
    this.byConnection = service.concurrency.type === 'connections';
  }

  target(key: string): MachineTarget | undefined {
    return this.byKey.get(key);
  }

  /** Applies the primary's machine list; adds the origins whose pools are in use to `origins`. */
  update(views: readonly MachineView[], upstreams: Upstreams, origins: Set<string>): void {
    const service = this.service;
    const next: MachineTarget[] = [];
    for (const view of views) {
      if (view.app !== this.config.name) continue;
      if (!serves(service, view.processGroup)) continue;
      const port = view.ports.find(([internal]) => internal === service.internalPort)?.[1];
      if (port === undefined) continue;
      const key = targetKey(this.key, this.config.name, view.id);
      let target = this.byKey.get(key);
      if (target === undefined || target.host !== view.host || target.port !== port) {
        target = new MachineTarget(view, key, port, service, this.config, upstreams);
        this.byKey.set(key, target);
      }
      if (target.hasPool) origins.add(target.origin);
      if (target.epoch !== view.epoch) {
        // A new start: what was counted or leased on the old process is void.
        target.epoch = view.epoch;
        target.local = 0;
        target.peak = 0;
        target.reported = 0;
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
    for (const key of [...this.byKey.keys()]) if (!next.some((target) => target.key === key)) this.byKey.delete(key);
    this.targets = next;
  }

  /**
   * The hot path: the best machine for a request when this worker can take
   * it alone (no hard_limit, or a leased slot to spare), counted as load.
   * Null means: ask the primary, whose counts are exact.
   */
  tryAcquire(steering: Steering, exclude: readonly string[] | null): MachineTarget | null {
    let best = bestCandidate(this.targets, this.regions, steering, exclude, false);
    if (best === null) return null;
    if (best.hard !== null && best.local >= best.lease) {
      // The pick among equals was random: an equally good machine this worker holds a slot of does as well.
      best = this.equalWithSlot(best, steering, exclude);
      if (best === null) return null;
    }
    this.take(best);
    return best;
  }

  private equalWithSlot(best: MachineTarget, steering: Steering, exclude: readonly string[] | null): MachineTarget | null {
    for (const target of this.targets) {
      if (target === best || !target.routable || target.hard === null || target.local >= target.lease) continue;
      if (exclude !== null && exclude.includes(target.id)) continue;
      if (equallyGood(target, best, this.regions, steering)) return target;
    }
    return null;
  }

  /** Counts a request (or connection) on a machine, chosen here or granted by the primary. */
  take(target: MachineTarget): void {
    target.local++;
    target.load++;
    this.listener.loadChanged(target);
  }

  /** The load counted on `target` in `epoch` is over. */
  release(target: MachineTarget, epoch: number): void {
    if (target.epoch !== epoch || this.byKey.get(target.key) !== target) return;
    target.local--;
    target.load--;
    this.listener.loadChanged(target);
    if (target.hard === null || target.lease <= target.local) return;
    if (this.contended) {
      this.giveBack(target);
    } else if (target.lease > target.share) {
      // Slots borrowed beyond its share go back as soon as they are free; its share it keeps.
      this.giveBack(target, target.lease - Math.max(target.share, target.local));
    }
  }

  /** Gives slots this worker holds but does not use back to the primary: all of them, or at most `count`. */
  giveBack(target: MachineTarget, count = Infinity): void {
    const spare = Math.min(count, target.lease - target.local);
    if (spare <= 0) return;
    target.lease -= spare;
    this.listener.returnSlots(target, spare);
  }

  setContended(on: boolean): void {
    this.contended = on;
    if (on) for (const target of this.targets) if (target.hard !== null) this.giveBack(target);
  }
}
