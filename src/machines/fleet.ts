// The primary's record of every machine and the one place their state
// changes. Each transition is logged and announced to listeners (the
// workers' routing view, the admin API).
import { EventEmitter } from 'node:events';
import type { AppConfig, PerchConfig } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import type { DriverEvents, MachineDriver } from './driver.ts';
import { viewOf, type Machine, type MachineState, type MachineView } from './machine.ts';
import { ProcessDriver } from './process-driver.ts';
import { StaticDriver } from './static-driver.ts';

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

  constructor(config: PerchConfig, log: Logger) {
    super();
    this.log = log;
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
    for (const spec of app.machines) {
      this.machines.set(spec.id, {
        spec,
        app,
        state: 'created',
        host: spec.address?.host ?? '127.0.0.1',
        ports: new Map(),
        pid: null,
        lastExit: null,
        failure: null,
        updatedAt: new Date().toISOString(),
        epoch: 0,
        healthy: false,
        awaitingCheck: false,
        rttMs: null,
      });
    }
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

  /** Starts (or resumes) a machine; resolves when it is started. Concurrent calls share one start. */
  start(id: string): Promise<void> {
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
        this.transition(machine, 'started');
      } catch (err) {
        machine.failure = (err as Error).message;
        this.transition(machine, 'failed', machine.failure);
        throw err;
      }
    });
  }

  stop(id: string): Promise<void> {
    return this.serialized(id, async (machine) => {
      if (machine.spec.address !== null) return;
      if (machine.state === 'stopped' || machine.state === 'created' || machine.state === 'failed') return;
      this.transition(machine, 'stopping');
      await this.driverOf(machine).stop(machine);
      this.transition(machine, 'stopped');
    });
  }

  suspend(id: string): Promise<void> {
    return this.serialized(id, async (machine) => {
      if (machine.state !== 'started') return;
      this.transition(machine, 'suspending');
      try {
        await this.driverOf(machine).suspend(machine);
        this.transition(machine, 'suspended');
      } catch (err) {
        this.transition(machine, 'started', `suspend abandoned: ${(err as Error).message}`);
        throw err;
      }
    });
  }

  async startAll(): Promise<void> {
    await Promise.allSettled([...this.machines.keys()].map((id) => this.start(id)));
  }

  async stopAll(): Promise<void> {
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
