// The primary's side of the load protocol: keeps the slot ledger in step
// with the fleet and the workers' reports, answers workers' requests for a
// machine, and tells each worker the load the others have.
import type { PerchConfig } from '../config/model.ts';
import type { Fleet } from '../machines/fleet.ts';
import type { Machine } from '../machines/machine.ts';
import { regionRanks } from '../routing/rank.ts';
import { routesOf, serves, targetKey, type RouteSpec } from '../routing/service-route.ts';
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

/** What the autoscaler wants to hear of the load protocol. */
export interface BrokerHooks {
  /** Load on these (route, machine) keys changed. */
  loadChanged(keys: readonly string[]): void;
  /** A request of this route could not be placed by its worker: it asks the primary. */
  wanted(route: string): void;
}

interface Drain {
  keys: string[];
  /** The machines broadcast every worker must have seen (it took the machine out of rotation). */
  gen: number;
  resolve(drained: boolean): void;
  timer: NodeJS.Timeout;
}

function queuePolicies(routes: readonly RouteSpec[]): Map<string, AppQueuePolicy> {
  const policies = new Map<string, AppQueuePolicy>();
  for (const route of routes) {
    const machines = route.app.machines.filter((machine) => serves(route.service, machine.processGroup)).length;
    const hardSum = machines * (route.service.concurrency.hardLimit ?? 0);
    policies.set(route.key, { queueLength: route.app.limits.queueLength ?? (hardSum > 0 ? 10 * hardSum : QUEUE_LENGTH_WITHOUT_HARD_LIMITS) });
  }
  return policies;
}

export class LoadBroker {
  readonly ledger: SlotLedger;
  private config: PerchConfig;
  private readonly io: BrokerIo;
  /** Every (route, machine) key the ledger has. */
  private readonly keys = new Set<string>();
  private routes: RouteSpec[];
  private othersTimer: NodeJS.Timeout | null = null;
  /**
   * Per worker: the others-load last sent for each key. Only changes are sent;
   * it is forgotten with every machines broadcast, which may reset a worker's counts.
   */
  private readonly sentOthers = new Map<number, Map<string, number>>();
  private regionOrder: string[];
  hooks: BrokerHooks | null = null;
  /** Number of the latest machines broadcast. */
  private gen = 0;
  /** Per worker: the latest machines broadcast it has acknowledged with a load report. */
  private readonly acked = new Map<number, number>();
  private readonly drains = new Set<Drain>();
  /** Machines asked to start, counted as on their way before the fleet says so. */
  private readonly waking = new Set<string>();

  constructor(config: PerchConfig, io: BrokerIo) {
    this.config = config;
    this.io = io;
    this.routes = routesOf(config);
    this.ledger = new SlotLedger(queuePolicies(this.routes), { spillGraceMs: SPILL_GRACE_MS });
    this.regionOrder = [config.region, ...config.regions.filter((region) => region !== config.region)];
    this.ledger.regions = regionRanks(config.region, this.regionOrder, new Map());
  }

  /**
   * A reloaded config: new routes and bounds. The ledger's counts and leases
   * carry over (workers of both configs share the machines while the old ones
   * drain); the caller re-announces every machine (machineChanged) and drops
   * what is gone (forget).
   */
  reconfigure(config: PerchConfig): void {
    this.config = config;
    this.routes = routesOf(config);
    this.ledger.setPolicies(queuePolicies(this.routes));
  }

  /** A machine removed from the config: its entries leave the ledger. */
  forget(machineId: string): void {
    for (const key of this.keysOf(machineId)) {
      this.ledger.removeMachine(key);
      this.keys.delete(key);
    }
  }

  /** Numbers a machines broadcast; workers acknowledge it in their next load report. */
  nextGen(): number {
    this.sentOthers.clear();
    return ++this.gen;
  }

  /** The keys of a machine's entries (one per route it serves). */
  keysOf(machineId: string): string[] {
    return [...this.keys].filter((key) => this.ledger.machine(key)?.id === machineId);
  }

  /**
   * Resolves true once every worker has seen the latest machines broadcast
   * (which took the machine out of rotation) and none has load on it; false
   * when `deadlineMs` passes first.
   */
  drain(machineId: string, deadlineMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const drain: Drain = {
        keys: this.keysOf(machineId),
        gen: this.gen,
        resolve,
        timer: setTimeout(() => {
          this.drains.delete(drain);
          resolve(false);
        }, deadlineMs),
      };
      this.drains.add(drain);
      this.checkDrains();
    });
  }

  private checkDrains(): void {
    for (const drain of this.drains) {
      const seen = this.io.workers().every((worker) => (this.acked.get(worker) ?? 0) >= drain.gen);
      if (!seen || drain.keys.some((key) => this.ledger.loadOf(key) > 0)) continue;
      clearTimeout(drain.timer);
      this.drains.delete(drain);
      drain.resolve(true);
    }
  }

  /** A machine is being started for waiting requests: they wait for it rather than fail. */
  markWaking(machineId: string): void {
    this.waking.add(machineId);
    for (const key of this.keysOf(machineId)) {
      const machine = this.ledger.machine(key);
      if (machine !== undefined && !machine.routable) this.apply(this.ledger.setMachine({ ...machine, coming: true }));
    }
  }

  isWaking(machineId: string): boolean {
    return this.waking.has(machineId);
  }

  /** Tells every worker that requests of a route wait for a machine to wake (their bound becomes the wake timeout). */
  announceWake(route: string): void {
    for (const worker of this.io.workers()) this.io.send(worker, { t: 'waking', app: route });
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
    if (machine.state !== 'stopped' && machine.state !== 'suspended' && machine.state !== 'created') this.waking.delete(machine.spec.id);
    for (const route of this.routes) {
      if (route.app !== machine.app || !serves(route.service, machine.spec.processGroup)) continue;
      const key = targetKey(route.key, route.app.name, machine.spec.id);
      this.keys.add(key);
      const ledgerMachine: LedgerMachine = {
        id: machine.spec.id,
        key,
        app: route.key,
        region: machine.spec.region,
        routable: machine.state === 'started' && machine.healthy,
        coming: machine.state === 'starting' || (machine.state === 'started' && machine.awaitingCheck) || this.waking.has(machine.spec.id),
        load: 0,
        soft: route.service.concurrency.softLimit,
        hard: route.service.concurrency.hardLimit,
        rttMs: machine.rttMs,
        epoch: machine.epoch,
      };
      this.apply(this.ledger.setMachine(ledgerMachine));
    }
  }

  workerGone(worker: number): void {
    this.acked.delete(worker);
    this.sentOthers.delete(worker);
    this.apply(this.ledger.workerGone(worker));
    this.scheduleOthers();
    this.checkDrains();
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
        if (message.gen > (this.acked.get(worker) ?? 0)) this.acked.set(worker, message.gen);
        // A waiter held back by slots that looked idle may go elsewhere now the counts are fresh.
        for (const app of apps) this.apply(this.ledger.pump(app));
        this.scheduleOthers();
        this.checkDrains();
        if (message.loads.length > 0) this.hooks?.loadChanged(message.loads.map(([key]) => key));
        break;
      }
      case 'want':
        this.hooks?.wanted(message.app);
        this.apply(this.ledger.want({ worker, seq: message.seq, app: message.app, steering: message.steering, exclude: message.exclude }));
        break;
      case 'cancel':
        this.apply(this.ledger.cancel(worker, message.seq, message.app));
        break;
      case 'release':
        this.apply(this.ledger.release(worker, message.machine, message.epoch, message.count));
        break;
      case 'passive': {
        const machine = this.ledger.machine(message.machine);
        if (machine?.epoch === message.epoch) this.io.passiveFailure(machine.id);
        break;
      }
    }
  }

  private apply(effects: LedgerEffect[]): void {
    for (const effect of effects) {
      if (effect.to === 'all') for (const worker of this.io.workers()) this.io.send(worker, effect.msg);
      else this.io.send(effect.to, effect.msg);
    }
    const granted = effects.filter((effect) => effect.msg.t === 'grant').map((effect) => (effect.msg as { machine: string }).machine);
    if (granted.length > 0) {
      this.scheduleOthers();
      this.hooks?.loadChanged(granted);
    }
    this.scheduleSpills();
  }

  private readonly spillTimers = new Map<string, NodeJS.Timeout>();

  /** Wakes the queue of each app when its first waiter may leave its best region. */
  private scheduleSpills(): void {
    for (const { key } of this.routes) {
      if (this.spillTimers.has(key)) continue;
      const at = this.ledger.nextSpill(key);
      if (at === null) continue;
      this.spillTimers.set(key, setTimeout(() => {
        this.spillTimers.delete(key);
        this.apply(this.ledger.pump(key));
      }, Math.max(0, at - performance.now()) + 1));
    }
  }

  private scheduleOthers(): void {
    if (this.othersTimer !== null) return;
    // A lone worker's others-load changes only when a worker leaves or a broadcast resets it: it is
    // checked at once, rather than by a timer that would wake the primary after every report.
    if (this.io.workers().length <= 1) {
      this.sendOthers();
      return;
    }
    this.othersTimer = setTimeout(() => {
      this.othersTimer = null;
      this.sendOthers();
    }, OTHERS_INTERVAL_MS);
  }

  /** Each worker gets every machine's load minus its own share, where that changed since it last heard. */
  private sendOthers(): void {
    for (const worker of this.io.workers()) {
      let sent = this.sentOthers.get(worker);
      if (sent === undefined) this.sentOthers.set(worker, (sent = new Map()));
      const loads: [string, number][] = [];
      for (const key of this.keys) {
        const others = Math.max(0, this.ledger.loadOf(key) - this.ledger.usedBy(worker, key));
        if (sent.get(key) === others) continue;
        sent.set(key, others);
        loads.push([key, others]);
      }
      if (loads.length > 0) this.io.send(worker, { t: 'others', loads });
    }
  }


  close(): void {
    for (const drain of this.drains) {
      clearTimeout(drain.timer);
      drain.resolve(false);
    }
    this.drains.clear();
    if (this.othersTimer !== null) clearTimeout(this.othersTimer);
    this.othersTimer = null;
    for (const timer of this.spillTimers.values()) clearTimeout(timer);
    this.spillTimers.clear();
  }
}
