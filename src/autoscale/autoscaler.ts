// The primary's autostop and autostart controller (SPEC §4). It watches the
// load the workers report, wakes machines for demand (autostartChoices), and
// on every autostop interval stops or suspends one excess machine per app
// and region (autostopChoices), judged on the peak load of the interval.
import type { AppConfig, PerchConfig, ServiceCommon } from '../config/model.ts';
import type { LoadBroker } from '../cluster/load-broker.ts';
import type { Logger } from '../log/logger.ts';
import type { Fleet } from '../machines/fleet.ts';
import type { Machine } from '../machines/machine.ts';
import { routesOf, serves, targetKey, type RouteSpec } from '../routing/service-route.ts';
import { autostartChoices, type AutostartMachine, type StartableState } from './autostart.ts';
import { autostopChoices } from './autostop.ts';

/** A machine that failed to start is not tried again for this long, so a broken command does not spin. */
export const FAILED_START_RETRY_MS = 5_000;

/** The service whose autostop settings an app's machines follow: the HTTP service, else the first [[services]] entry. */
export function governingService(app: AppConfig): ServiceCommon | null {
  return app.httpService ?? app.services[0] ?? null;
}

export class Autoscaler {
  private config: PerchConfig;
  private readonly fleet: Fleet;
  private readonly broker: LoadBroker;
  private readonly log: Logger;
  private routes: RouteSpec[];
  private routeByKey: Map<string, RouteSpec>;
  /** Highest load per machine since the last autostop pass. */
  private readonly peaks = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private passRunning = false;

  constructor(config: PerchConfig, fleet: Fleet, broker: LoadBroker, log: Logger) {
    this.config = config;
    this.fleet = fleet;
    this.broker = broker;
    this.log = log;
    this.routes = routesOf(config);
    this.routeByKey = new Map(this.routes.map((route) => [route.key, route]));
    broker.hooks = {
      loadChanged: (keys) => this.loadChanged(keys),
      wanted: (route) => this.wake(route, 1),
    };
  }

  start(): void {
    if (!this.config.apps.some((app) => (governingService(app)?.autoStopMachines ?? 'off') !== 'off')) return;
    this.timer = setInterval(() => void this.autostopPass(), this.config.autostopIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** A reloaded config: new routes, settings and interval. */
  reconfigure(config: PerchConfig): void {
    this.config = config;
    this.routes = routesOf(config);
    this.routeByKey = new Map(this.routes.map((route) => [route.key, route]));
    this.stop();
    this.start();
  }

  /** Total load of a machine across the routes it serves. */
  private loadOf(machineId: string): number {
    let load = 0;
    for (const key of this.broker.keysOf(machineId)) load += this.broker.ledger.loadOf(key);
    return load;
  }

  private loadChanged(keys: readonly string[]): void {
    const machines = new Set<string>();
    const routes = new Set<string>();
    for (const key of keys) {
      const entry = this.broker.ledger.machine(key);
      if (entry === undefined) continue;
      machines.add(entry.id);
      routes.add(entry.app);
    }
    for (const id of machines) this.peaks.set(id, Math.max(this.peaks.get(id) ?? 0, this.loadOf(id)));
    for (const route of routes) this.wake(route, 0);
  }

  /** A machine changed state: a crash or a failed start may leave waiting requests without a machine. */
  machineChanged(machine: Machine): void {
    if (machine.state !== 'stopped' && machine.state !== 'failed') return;
    for (const route of this.routes) {
      if (route.app === machine.app && this.broker.ledger.queued(route.key) > 0) this.wake(route.key, 0);
    }
  }

  /** Wakes what the route's demand calls for; `arriving` requests are not yet queued. */
  private wake(routeKey: string, arriving: number): void {
    const route = this.routeByKey.get(routeKey);
    if (route === undefined || !route.service.autoStartMachines) return;
    const now = Date.now();
    const machines: AutostartMachine[] = [];
    for (const machine of this.fleet.machines.values()) {
      if (machine.app !== route.app || !serves(route.service, machine.spec.processGroup)) continue;
      machines.push({
        id: machine.spec.id,
        region: machine.spec.region,
        state: this.broker.isWaking(machine.spec.id) ? 'starting' : startableState(machine),
        startable: machine.spec.address === null && (machine.failedAt === null || now - machine.failedAt >= FAILED_START_RETRY_MS),
        load: this.broker.ledger.loadOf(targetKey(route.key, route.app.name, machine.spec.id)),
        softLimit: route.service.concurrency.softLimit,
      });
    }
    const choices = autostartChoices(machines, this.broker.regions, this.broker.ledger.queued(routeKey) + arriving);
    if (choices.length === 0) return;
    this.log.info({ route: routeKey, machines: choices, queued: this.broker.ledger.queued(routeKey) + arriving }, 'autostart: waking machines');
    for (const id of choices) {
      this.broker.markWaking(id);
      this.fleet.start(id).catch((err: unknown) => this.log.warn({ machine: id, err: (err as Error).message }, 'autostart: machine did not start'));
    }
    this.broker.announceWake(routeKey);
  }

  /** One autostop pass over every app with autostop on. */
  async autostopPass(): Promise<void> {
    if (this.passRunning) return;
    this.passRunning = true;
    try {
      const peaks = new Map(this.peaks);
      // The next interval's peak starts from the load now.
      for (const id of this.peaks.keys()) this.peaks.set(id, this.loadOf(id));
      const work: Promise<unknown>[] = [];
      for (const app of this.config.apps) {
        const service = governingService(app);
        if (service === null || service.autoStopMachines === 'off') continue;
        const machines = [...this.fleet.machines.values()].filter((machine) => machine.app === app);
        const choices = autostopChoices(
          machines.map((machine) => ({
            id: machine.spec.id,
            region: machine.spec.region,
            started: machine.state === 'started',
            stoppable: machine.spec.address === null,
            peakLoad: Math.max(peaks.get(machine.spec.id) ?? 0, this.loadOf(machine.spec.id)),
            softLimit: service.concurrency.softLimit,
          })),
          { mode: service.autoStopMachines, primaryRegion: app.primaryRegion, minMachinesRunning: service.minMachinesRunning },
        );
        for (const choice of choices) {
          this.log.info({ machine: choice.id, app: app.name, action: choice.action, peak: peaks.get(choice.id) ?? 0 }, 'autostop: excess machine');
          work.push(choice.action === 'suspend' ? this.fleet.suspend(choice.id) : this.fleet.stop(choice.id));
        }
      }
      await Promise.allSettled(work);
    } finally {
      this.passRunning = false;
    }
  }
}

function startableState(machine: Machine): StartableState {
  switch (machine.state) {
    case 'started':
      if (machine.healthy) return 'started';
      return machine.awaitingCheck ? 'starting' : 'other';
    case 'starting':
      return 'starting';
    case 'stopped':
    case 'created':
    case 'failed':
      return 'stopped';
    case 'suspended':
      return 'suspended';
    default:
      return 'other';
  }
}
