// The primary's side of the load protocol: keeps the slot ledger in step
// with the fleet and the workers' reports, answers workers' requests for a
// machine, and tells each worker the load the others have.
import type { PerchConfig } from '../config/model.ts';
import type { Fleet } from '../machines/fleet.ts';
import type { Machine } from '../machines/machine.ts';
import { regionRanks } from '../routing/rank.ts';
import { SlotLedger, type AppQueuePolicy, type LedgerEffect, type LedgerMachine } from '../routing/slot-ledger.ts';
import { REPORT_INTERVAL_MS } from './load-channel.ts';
import type { PrimaryMessage, WorkerMessage } from './messages.ts';

/** How often each worker hears the others' load, at most. */
export const OTHERS_INTERVAL_MS = 25;
/**
 * How long a waiting request holds out for a better machine (own region,
 * preferred region or instance) whose slots are all leased before going to
 * a worse one: long enough for workers to report freed slots and give back
 * idle ones (two report intervals and the IPC between).
 */
export const SPILL_GRACE_MS = 2 * REPORT_INTERVAL_MS + 10;
/** Queue bound for an app without hard limits (its requests only wait for machines that are starting). */
const QUEUE_LENGTH_WITHOUT_HARD_LIMITS = 1_000;

export interface BrokerIo {
  send(worker: number, message: PrimaryMessage): void;
  workers(): number[];
  /** Live traffic says a machine refuses connections. */
  passiveFailure(machineId: string): void;
}

export class LoadBroker {
  readonly ledger: SlotLedger;
  private readonly config: PerchConfig;
  private readonly io: BrokerIo;
  private othersTimer: NodeJS.Timeout | null = null;
  private regionOrder: string[];

  constructor(config: PerchConfig, io: BrokerIo) {
    this.config = config;
    this.io = io;
    const policies = new Map<string, AppQueuePolicy>();
    for (const app of config.apps) {
      const hardSum = app.machines.length * (app.httpService?.concurrency.hardLimit ?? 0);
      policies.set(app.name, { queueLength: app.limits.queueLength ?? (hardSum > 0 ? 10 * hardSum : QUEUE_LENGTH_WITHOUT_HARD_LIMITS) });
    }
    this.ledger = new SlotLedger(policies, { spillGraceMs: SPILL_GRACE_MS });
    this.regionOrder = [config.region, ...config.regions.filter((region) => region !== config.region)];
    this.ledger.regions = regionRanks(config.region, this.regionOrder, new Map());
  }

  /** Regions in order of closeness, own first. */
  get regions(): string[] {
    return this.regionOrder;
  }

  /** Re-ranks regions by the closest machine of each; true when the order changed. */
  updateRegions(fleet: Fleet): boolean {
    const rtt = new Map<string, number>();
    for (const machine of fleet.machines.values()) {
      if (machine.rttMs === null || machine.state !== 'started') continue;
      const best = rtt.get(machine.spec.region);
      if (best === undefined || machine.rttMs < best) rtt.set(machine.spec.region, machine.rttMs);
    }
    const ranks = regionRanks(this.config.region, this.config.regions, rtt);
    const order = [...ranks.entries()].sort((a, b) => a[1] - b[1]).map(([region]) => region);
    this.ledger.regions = ranks;
    if (order.join() === this.regionOrder.join()) return false;
    this.regionOrder = order;
    return true;
  }

  machineChanged(machine: Machine): void {
    const service = machine.app.httpService;
    if (service === null) return;
    const ledgerMachine: LedgerMachine = {
      id: machine.spec.id,
      app: machine.app.name,
      region: machine.spec.region,
      routable: machine.state === 'started' && machine.healthy,
      coming: machine.state === 'starting' || (machine.state === 'started' && machine.awaitingCheck),
      load: 0,
      soft: service.concurrency.softLimit,
      hard: service.concurrency.hardLimit,
      rttMs: machine.rttMs,
      epoch: machine.epoch,
    };
    this.apply(this.ledger.setMachine(ledgerMachine));
  }

  workerGone(worker: number): void {
    this.apply(this.ledger.workerGone(worker));
    this.scheduleOthers();
  }

  handle(worker: number, message: WorkerMessage): void {
    switch (message.t) {
      case 'load': {
        const apps = new Set<string>();
        for (const [id, epoch, load] of message.loads) {
          this.ledger.report(worker, id, epoch, load);
          const app = this.ledger.machine(id)?.app;
          if (app !== undefined && this.ledger.queued(app) > 0) apps.add(app);
        }
        // A waiter held back by slots that looked idle may go elsewhere now the counts are fresh.
        for (const app of apps) this.apply(this.ledger.pump(app));
        this.scheduleOthers();
        break;
      }
      case 'want':
        this.apply(this.ledger.want({ worker, seq: message.seq, app: message.app, steering: message.steering, exclude: message.exclude }));
        break;
      case 'cancel':
        this.apply(this.ledger.cancel(worker, message.seq, message.app));
        break;
      case 'release':
        this.apply(this.ledger.release(worker, message.machine, message.epoch, message.count));
        break;
      case 'passive':
        if (this.ledger.machine(message.machine)?.epoch === message.epoch) this.io.passiveFailure(message.machine);
        break;
    }
  }

  private apply(effects: LedgerEffect[]): void {
    for (const effect of effects) {
      if (effect.to === 'all') for (const worker of this.io.workers()) this.io.send(worker, effect.msg);
      else this.io.send(effect.to, effect.msg);
    }
    if (effects.some((effect) => effect.msg.t === 'grant')) this.scheduleOthers();
    this.scheduleSpills();
  }

  private readonly spillTimers = new Map<string, NodeJS.Timeout>();

  /** Wakes the queue of each app when its first waiter may leave its best region. */
  private scheduleSpills(): void {
    for (const app of this.config.apps) {
      if (this.spillTimers.has(app.name)) continue;
      const at = this.ledger.nextSpill(app.name);
      if (at === null) continue;
      this.spillTimers.set(app.name, setTimeout(() => {
        this.spillTimers.delete(app.name);
        this.apply(this.ledger.pump(app.name));
      }, Math.max(0, at - performance.now()) + 1));
    }
  }

  private scheduleOthers(): void {
    if (this.othersTimer !== null) return;
    this.othersTimer = setTimeout(() => {
      this.othersTimer = null;
      this.sendOthers();
    }, OTHERS_INTERVAL_MS);
  }

  /** Each worker gets every machine's load minus its own share. */
  private sendOthers(): void {
    for (const worker of this.io.workers()) {
      const loads: [string, number][] = [];
      for (const machine of this.machineIds()) {
        loads.push([machine, Math.max(0, this.ledger.loadOf(machine) - this.ledger.usedBy(worker, machine))]);
      }
      this.io.send(worker, { t: 'others', loads });
    }
  }

  private machineIds(): string[] {
    const ids: string[] = [];
    for (const app of this.config.apps) for (const machine of app.machines) ids.push(machine.id);
    return ids;
  }

  close(): void {
    if (this.othersTimer !== null) clearTimeout(this.othersTimer);
    this.othersTimer = null;
    for (const timer of this.spillTimers.values()) clearTimeout(timer);
    this.spillTimers.clear();
  }
}
