// The primary's exact view of load, for the admin API, `perch status` and
// /metrics: each machine's load per route from the slot ledger (what every
// worker last reported, plus grants since), its limits, and each route's
// queue of waiting requests. Read at request/scrape time; nothing here runs
// per proxied request.
import type { AppConfig, PerchConfig } from '../config/model.ts';
import type { Machine, MachineState } from '../machines/machine.ts';
import { routesOf, serves, targetKey, type RouteSpec } from '../routing/service-route.ts';

/** What the view reads from the slot ledger. */
export interface LoadSource {
  loadOf(key: string): number;
  queued(route: string): number;
}

export interface RouteLoad {
  /** The route key (`app`, or `app#n` for the n-th [[services]] entry). */
  route: string;
  /** Which service of the app file: `http_service` or `services[n]`. */
  service: string;
  type: 'requests' | 'connections';
  load: number;
  soft_limit: number;
  hard_limit: number | null;
}

export interface RouteQueue {
  app: string;
  route: string;
  service: string;
  queued: number;
}

export const MACHINE_STATES: readonly MachineState[] = ['created', 'starting', 'started', 'stopping', 'stopped', 'suspending', 'suspended', 'failed', 'destroyed'];

export function serviceName(route: RouteSpec): string {
  return route.index === null ? 'http_service' : `services[${route.index}]`;
}

export class LoadView {
  private routes: RouteSpec[];
  private readonly source: LoadSource;

  constructor(config: PerchConfig, source: LoadSource) {
    this.routes = routesOf(config);
    this.source = source;
  }

  reconfigure(config: PerchConfig): void {
    this.routes = routesOf(config);
  }

  /** The machine's load and limits on each route it serves (the app's HTTP service first). */
  routeLoads(machine: Machine): RouteLoad[] {
    const loads: RouteLoad[] = [];
    for (const route of this.routes) {
      if (route.app !== machine.app || !serves(route.service, machine.spec.processGroup)) continue;
      const concurrency = route.service.concurrency;
      loads.push({
        route: route.key,
        service: serviceName(route),
        type: concurrency.type,
        load: this.source.loadOf(targetKey(route.key, route.app.name, machine.spec.id)),
        soft_limit: concurrency.softLimit,
        hard_limit: concurrency.hardLimit,
      });
    }
    return loads;
  }

  /** Requests waiting at the primary for a slot or a wake, per route. */
  queues(app?: AppConfig): RouteQueue[] {
    return this.routes
      .filter((route) => app === undefined || route.app === app)
      .map((route) => ({ app: route.app.name, route: route.key, service: serviceName(route), queued: this.source.queued(route.key) }));
  }
}
