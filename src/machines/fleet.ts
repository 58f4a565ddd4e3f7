// The primary's record of every machine and the one place their state
// changes. Each transition is logged and announced to listeners (the
// workers' routing view, the admin API).
import { EventEmitter } from 'node:events';
import type { AppConfig, MachineSpec, PerchConfig } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import type { DriverEvents, MachineDriver } from './driver.ts';
import { viewOf, type Machine, type MachineState, type MachineView } from './machine.ts';
import { ProcessDriver } from './process-driver.ts';
import { StaticDriver } from './static-driver.ts';

/** How long a machine being suspended may take to drain before the suspend is abandoned. */
export const SUSPEND_DRAIN_MS = 2_000;

export interface FleetEvents {
  change: [machine: Machine, from: MachineState];
}

export class Fleet extends EventEmitter<FleetEvents> {
  readonly machines = new Map<string, Machine>();
  private readonly log: Logger;
  private readonly processDriver: ProcessDriver;
  private readonly staticDriver = new StaticDriver();
  /** The transition under way per machine, so concurrent asks share one. */
  private readonly pending = new Map<string, Promise<void>>();
  /**
   * perch is stopping its machines: nothing starts any more. A start asked
   * for after stopAll took its list (a late wake, an admin call, a reload's
   * new app) would leave a machine running after perch exits.
   */
  private stopping = false;

  private apps: readonly AppConfig[];

  constructor(config: PerchConfig, log: Logger) {
    super();
    this.log = log;
    this.apps = config.apps;
    const events: DriverEvents = {
      onUnexpectedExit: (machine, code, signal) => {
        this.log.warn({ machine: machine.spec.id, app: machine.app.name, code, signal }, 'machine exited unexpectedly');
        this.transition(machine, 'stopped', `exited (code ${code}, signal ${signal})`);
      },
      onOutput: (machine, stream, line) => {
        this.log.info({ machine: machine.spec.id, app: machine.app.name, stream, line }, 'machine output');
      },
    };
    this.processDriver = new ProcessDriver(events);
    for (const app of config.apps) this.add(app);
  }

  private add(app: AppConfig): void {
    for (const spec of app.machines) this.addMachine(spec, app);
  }

  private addMachine(spec: MachineSpec, app: AppConfig): void {
    this.machines.set(spec.id, {
      spec,
      app,
      state: 'created',
      host: spec.address?.host ?? '127.0.0.1',
      ports: new Map(),
      pid: null,
      lastExit: null,
      failure: null,
      failedAt: null,
      updatedAt: new Date().toISOString(),
      epoch: 0,
      healthy: false,
      awaitingCheck: false,
      rttMs: null,
    });
  }

  driverOf(machine: Machine): MachineDriver {
    return machine.spec.address === null ? this.processDriver : this.staticDriver;
  }

  get(id: string): Machine | undefined {
    return this.machines.get(id);
  }

  views(): MachineView[] {
    return [...this.machines.values()].map(viewOf);
  }

  /**
   * Takes a machine out of rotation before it is stopped or suspended: set by
   * the primary to wait until no worker has load on it (true), or until the
   * deadline passes (false).
   */
  drainer: (machine: Machine, deadlineMs: number) => Promise<boolean> = async () => true;

  /** Starts (or resumes) a machine; resolves when it is started. Concurrent calls share one start. */
  start(id: string): Promise<void> {
    if (this.stopping) return Promise.reject(new Error('perch is stopping its machines'));
    return this.serialized(id, async (machine) => {
      if (machine.state === 'started') return;
      const driver = this.driverOf(machine);
      if (machine.state === 'suspended') {
        await driver.resume(machine);
        this.transition(machine, 'started', 'resumed');
        return;
      }
      machine.epoch++;
      machine.healthy = false;
      this.transition(machine, 'starting');
      try {
        await driver.start(machine, machine.app.limits.wakeTimeoutMs);
        machine.failure = null;
        machine.failedAt = null;
        this.transition(machine, 'started');
      } catch (err) {
        machine.failure = (err as Error).message;
        machine.failedAt = Date.now();
        this.transition(machine, 'failed', machine.failure);
        throw err;
      }
    });
  }

  /** Leaves rotation, drains (bounded by the app's kill_timeout), then stops. */
  stop(id: string): Promise<void> {
    return this.serialized(id, async (machine) => {
      if (machine.spec.address !== null) return;
      if (machine.state === 'stopped' || machine.state === 'created' || machine.state === 'failed') return;
      const wasStarted = machine.state === 'started';
      this.transition(machine, 'stopping');
      if (wasStarted && !(await this.drainer(machine, machine.app.killTimeoutMs))) {
        this.log.warn({ machine: id, app: machine.app.name }, 'machine did not drain within kill_timeout; stopping it anyway');
      }
      await this.driverOf(machine).stop(machine);
      this.transition(machine, 'stopped');
    });
  }

  /** Leaves rotation, drains promptly, then freezes; a machine that does not drain in time goes back to started. */
  suspend(id: string): Promise<boolean> {
    let suspended = false;
    return this.serialized(id, async (machine) => {
      if (machine.state !== 'started' || machine.spec.address !== null) return;
      this.transition(machine, 'suspending');
      if (!(await this.drainer(machine, SUSPEND_DRAIN_MS))) {
        this.transition(machine, 'started', `suspend abandoned: still busy after ${SUSPEND_DRAIN_MS} ms`);
        return;
      }
      try {
        await this.driverOf(machine).suspend(machine);
        this.transition(machine, 'suspended');
        suspended = true;
      } catch (err) {
        this.transition(machine, 'started', `suspend abandoned: ${(err as Error).message}`);
      }
    }).then(() => suspended);
  }

  /**
   * A reloaded config. Machines whose spec (region, process group, address)
   * is unchanged keep running and take the new app config (a new command or
   * env applies at their next start); the others are stopped (drained first)
   * and removed, and new ones are added, not yet started. Returns the ids.
   */
  async reconfigure(config: PerchConfig): Promise<{ added: string[]; removed: string[] }> {
    const next = new Map<string, { spec: MachineSpec; app: AppConfig }>();
    for (const app of config.apps) for (const spec of app.machines) next.set(spec.id, { spec, app });
    const removed: string[] = [];
    for (const [id, machine] of this.machines) {
      const entry = next.get(id);
      if (entry !== undefined && sameSpec(machine.spec, entry.spec)) machine.app = entry.app;
      else removed.push(id);
    }
    await Promise.allSettled(removed.map((id) => this.stop(id)));
    for (const id of removed) this.machines.delete(id);
    const added: string[] = [];
    for (const [id, { spec, app }] of next) {
      if (this.machines.has(id)) continue;
      this.addMachine(spec, app);
      added.push(id);
    }
    this.apps = config.apps;
    return { added, removed };
  }

  /** At startup (or for machines a reload added): every machine, or with autostop on, only min_machines_running of the primary region. */
  async startInitial(only: ReadonlySet<string> | null = null): Promise<void> {
    const ids: string[] = [];
    for (const app of this.apps) {
      const service = app.httpService ?? app.services[0] ?? null;
      const machines = [...this.machines.values()].filter((machine) => machine.app === app && (only === null || only.has(machine.spec.id)));
      if (service === null || service.autoStopMachines === 'off') {
        ids.push(...machines.map((machine) => machine.spec.id));
        continue;
      }
      // Machines perch does not run are always there; of the others, only the minimum.
      ids.push(...machines.filter((machine) => machine.spec.address !== null).map((machine) => machine.spec.id));
      const primary = machines.filter((machine) => machine.spec.address === null && machine.spec.region === app.primaryRegion);
      ids.push(...primary.slice(0, service.minMachinesRunning).map((machine) => machine.spec.id));
    }
    await Promise.allSettled(ids.map((id) => this.start(id)));
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.machines.keys()].map((id) => this.stop(id)));
  }

  private serialized(id: string, run: (machine: Machine) => Promise<void>): Promise<void> {
    const machine = this.machines.get(id);
    if (machine === undefined) return Promise.reject(new Error(`no machine ${id}`));
    const current = this.pending.get(id);
    const next = (current ?? Promise.resolve())
      .catch(() => {})
      .then(() => run(machine))
      .finally(() => {
        if (this.pending.get(id) === next) this.pending.delete(id);
      });
    this.pending.set(id, next);
    return next;
  }

  private transition(machine: Machine, to: MachineState, reason?: string): void {
    const from = machine.state;
    if (from === to) return;
    machine.state = to;
    machine.updatedAt = new Date().toISOString();
    this.log.info({ machine: machine.spec.id, app: machine.app.name, region: machine.spec.region, from, to, reason, machine_pid: machine.pid }, 'machine state');
    this.emit('change', machine, from);
  }
}

function sameSpec(a: MachineSpec, b: MachineSpec): boolean {
  return a.region === b.region && a.processGroup === b.processGroup && a.address?.host === b.address?.host && a.address?.port === b.address?.port;
}
