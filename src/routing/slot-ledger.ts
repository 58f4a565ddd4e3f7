// The primary's ledger of hard-limit slots (SPEC §3.3), kept exact across
// workers by leasing: a worker may only start a request on a machine with a
// hard_limit while it holds an unused slot of that machine, and the sum of
// slots leased to all workers never exceeds the limit. Workers keep their
// slots between requests (no round trip while they suffice) and give them
// back when an app is contended, so freed slots go to the oldest waiter.
//
// Pure: messages out are returned as effects; the primary sends them.
import { rankCandidates, regionKey, type Candidate, type RegionRanks, type Steering } from './rank.ts';

export interface LedgerMachine extends Candidate {
  /** The route the slots belong to: an app's HTTP service (the app's name) or one of its [[services]]. */
  readonly app: string;
  /** Unique across routes (a machine serving two routes has two entries); the machine id when absent. */
  readonly key?: string;
  /** Changes each time the machine starts; slots of an older epoch are void. */
  epoch: number;
  /** Not routable yet but on its way (starting): waiters wait for it instead of failing. */
  coming: boolean;
}

export interface Want {
  worker: number;
  seq: number;
  app: string;
  steering: Steering;
  exclude: string[] | null;
}

export type RejectCode = 'PR01' | 'PR02' | 'PR04';

/** The worker (other than `asking`) holding the most leased-but-unused slots of a machine, if any. */
function idleHolderOf(entry: Slots, asking: number): { worker: number; key: string } | null {
  let best: number | null = null;
  let most = 0;
  for (const [worker, leased] of entry.leased) {
    if (worker === asking) continue;
    const idle = leased - (entry.used.get(worker) ?? 0);
    if (idle > most) {
      most = idle;
      best = worker;
    }
  }
  return best === null ? null : { worker: best, key: keyOf(entry.machine) };
}

function forgive(want: Want, machineId: string): void {
  if (want.exclude === null || !want.exclude.includes(machineId)) return;
  want.exclude = want.exclude.filter((id) => id !== machineId);
}

/** How long a want waits for the slot a recall asked for before the route goes into contention. */
export const RECALL_PATIENCE_MS = 5;

export function keyOf(machine: LedgerMachine): string {
  return machine.key ?? machine.id;
}

export type LedgerEffect =
  /** `share`: the slots of the machine this worker may keep while idle (its fair part of hard_limit). */
  | { to: number; msg: { t: 'grant'; seq: number; machine: string; epoch: number; slots: number; share: number } }
  /** Give back up to `count` slots you hold but do not use: someone else needs one. */
  | { to: number; msg: { t: 'recall'; machine: string; count: number } }
  | { to: number; msg: { t: 'reject'; seq: number; code: RejectCode } }
  | { to: 'all'; msg: { t: 'contention'; app: string; on: boolean } };

interface Slots {
  machine: LedgerMachine;
  leased: Map<number, number>;
  used: Map<number, number>;
  leasedTotal: number;
}

export interface AppQueuePolicy {
  /** Longest queue of waiting requests for the app. */
  queueLength: number;
}

export class SlotLedger {
  private readonly slots = new Map<string, Slots>();
  private readonly queues = new Map<string, Want[]>();
  private readonly contended = new Set<string>();
  private readonly workers = new Set<number>();
  private policies: ReadonlyMap<string, AppQueuePolicy>;
  regions: RegionRanks = new Map();
  /** Found by the last tryGrant: a worker holding an idle slot of the best full machine. */
  private idleHolder: { worker: number; key: string } | null = null;
  /** When a recall was sent for a want (one per want). */
  private readonly recalledAt = new WeakMap<Want, number>();
  private readonly now: () => number;
  private readonly spillGraceMs: number;
  /** When each queued want may leave its best region or preference. */
  private readonly spillAt = new WeakMap<Want, number>();

  /**
   * `spillGraceMs`: how long a want waits for slots of better machines (by
   * region and steering) before it may go to a worse one; 0 goes at once.
   */
  constructor(policies: ReadonlyMap<string, AppQueuePolicy>, options: { now?: () => number; spillGraceMs?: number } = {}) {
    this.policies = policies;
    this.now = options.now ?? (() => performance.now());
    this.spillGraceMs = options.spillGraceMs ?? 0;
  }

  /** New queue bounds (a config reload). */
  setPolicies(policies: ReadonlyMap<string, AppQueuePolicy>): void {
    this.policies = policies;
  }

  /** The earliest time a queued want of `app` may leave its best region, if one waits for that. */
  nextSpill(app: string): number | null {
    let next: number | null = null;
    const now = this.now();
    for (const want of this.queues.get(app) ?? []) {
      const at = this.spillAt.get(want);
      if (at !== undefined && at > now && (next === null || at < next)) next = at;
    }
    return next;
  }

  addWorker(worker: number): void {
    this.workers.add(worker);
  }

  /** Adds or updates a machine. A new epoch voids every slot of the old one. */
  setMachine(machine: LedgerMachine): LedgerEffect[] {
    const key = keyOf(machine);
    let entry = this.slots.get(key);
    if (entry === undefined || entry.machine.epoch !== machine.epoch) {
      const previous = entry;
      entry = { machine, leased: new Map(), used: new Map(), leasedTotal: 0 };
      if (previous !== undefined) {
        machine.load = 0;
        // Waiters excluded the process that failed them; its successor is a new chance.
        for (const want of this.queues.get(machine.app) ?? []) forgive(want, machine.id);
      }
      this.slots.set(key, entry);
    } else {
      const load = entry.machine.load;
      entry.machine = machine;
      machine.load = load;
    }
    return this.pump(machine.app);
  }

  removeMachine(key: string): void {
    this.slots.delete(key);
  }

  machine(key: string): LedgerMachine | undefined {
    return this.slots.get(key)?.machine;
  }

  leasedTo(worker: number, key: string): number {
    return this.slots.get(key)?.leased.get(worker) ?? 0;
  }

  queued(app: string): number {
    return this.queues.get(app)?.length ?? 0;
  }

  /** A worker's count of in-flight load on a machine. */
  report(worker: number, key: string, epoch: number, used: number): void {
    const entry = this.slots.get(key);
    if (entry === undefined || entry.machine.epoch !== epoch) return;
    const before = entry.used.get(worker) ?? 0;
    entry.used.set(worker, used);
    entry.machine.load += used - before;
  }

  /** A worker's load on a machine as it last reported it (plus grants since). */
  usedBy(worker: number, key: string): number {
    return this.slots.get(key)?.used.get(worker) ?? 0;
  }

  /** Total load of a machine as the workers last reported it. */
  loadOf(key: string): number {
    return this.slots.get(key)?.machine.load ?? 0;
  }

  want(want: Want): LedgerEffect[] {
    if (this.spillGraceMs > 0) this.spillAt.set(want, this.now() + this.spillGraceMs);
    const candidates = this.appMachines(want.app);
    // A retry excludes the machines that refused it; one that is no longer running will be a new process when it runs again.
    for (const machine of candidates) if (!machine.routable) forgive(want, machine.id);
    if (want.steering.forceInstance !== null && !candidates.some((machine) => machine.id === want.steering.forceInstance)) {
      return [{ to: want.worker, msg: { t: 'reject', seq: want.seq, code: 'PR02' } }];
    }
    const effects: LedgerEffect[] = [];
    if (this.tryGrant(want, candidates, effects)) return effects;
    const ranked = rankCandidates(candidates, this.regions, want.steering, want.exclude);
    if (ranked.length === 0 && !this.comingFor(want, candidates)) return [{ to: want.worker, msg: { t: 'reject', seq: want.seq, code: 'PR01' } }];
    const queue = this.queueOf(want.app);
    if (queue.length >= (this.policies.get(want.app)?.queueLength ?? Infinity)) {
      return [{ to: want.worker, msg: { t: 'reject', seq: want.seq, code: 'PR04' } }];
    }
    queue.push(want);
    this.wait(want, effects);
    return effects;
  }

  /**
   * A want that could not be granted waits. When a better machine's slots are
   * all leased but some lie idle at a worker, that worker is asked for one
   * (a recall: one round trip, nobody else disturbed). Only when no slot lies
   * idle, or a recall brought none back, does the route go into contention:
   * every worker then returns its spare and each freed slot, so the oldest
   * waiter, whichever worker it is on, gets the next one.
   */
  private wait(want: Want, effects: LedgerEffect[]): void {
    const recalledAt = this.recalledAt.get(want);
    if (recalledAt === undefined && this.idleHolder !== null) {
      this.recalledAt.set(want, this.now());
      effects.push({ to: this.idleHolder.worker, msg: { t: 'recall', machine: this.idleHolder.key, count: 1 } });
      return;
    }
    // The slot a recall asked for comes back within a round trip, unless it was in use after all.
    if (recalledAt !== undefined && this.now() - recalledAt < RECALL_PATIENCE_MS) return;
    if (!this.contended.has(want.app)) {
      this.contended.add(want.app);
      effects.push({ to: 'all', msg: { t: 'contention', app: want.app, on: true } });
    }
  }

  /** A worker's fair part of a machine's hard_limit: what it may keep while idle. */
  shareOf(machine: LedgerMachine): number {
    return machine.hard === null ? 0 : Math.ceil(machine.hard / Math.max(1, this.workers.size));
  }

  /** A waiting request gave up (timeout, client gone). */
  cancel(worker: number, seq: number, app: string): LedgerEffect[] {
    const queue = this.queues.get(app);
    if (queue === undefined) return [];
    const index = queue.findIndex((want) => want.worker === worker && want.seq === seq);
    if (index !== -1) queue.splice(index, 1);
    return this.settle(app);
  }

  /** A worker gives slots back. */
  release(worker: number, key: string, epoch: number, count: number): LedgerEffect[] {
    const entry = this.slots.get(key);
    if (entry === undefined || entry.machine.epoch !== epoch) return [];
    const held = entry.leased.get(worker) ?? 0;
    const returned = Math.min(held, count);
    entry.leased.set(worker, held - returned);
    entry.leasedTotal -= returned;
    // A worker gives back only slots it does not use: its load there is at most what it keeps
    // (its last report may be older than the release and must not make the machine look full).
    const used = entry.used.get(worker) ?? 0;
    const kept = held - returned;
    if (entry.machine.hard !== null && used > kept) {
      entry.used.set(worker, kept);
      entry.machine.load -= used - kept;
    }
    return this.pump(entry.machine.app);
  }

  /** A worker died: everything it held or waited for is void. */
  workerGone(worker: number): LedgerEffect[] {
    this.workers.delete(worker);
    const apps = new Set<string>();
    for (const entry of this.slots.values()) {
      entry.leasedTotal -= entry.leased.get(worker) ?? 0;
      entry.leased.delete(worker);
      entry.machine.load -= entry.used.get(worker) ?? 0;
      entry.used.delete(worker);
      apps.add(entry.machine.app);
    }
    for (const [app, queue] of this.queues) {
      this.queues.set(app, queue.filter((want) => want.worker !== worker));
      apps.add(app);
    }
    return [...apps].flatMap((app) => this.pump(app));
  }

  /** Grants what can be granted to waiting requests, oldest first. */
  pump(app: string): LedgerEffect[] {
    const queue = this.queues.get(app);
    const effects: LedgerEffect[] = [];
    if (queue !== undefined && queue.length > 0) {
      const candidates = this.appMachines(app);
      const waiting: Want[] = [];
      for (const want of queue) {
        if (this.tryGrant(want, candidates, effects)) continue;
        const alive = rankCandidates(candidates, this.regions, want.steering, want.exclude).length > 0 || this.comingFor(want, candidates);
        if (!alive) {
          effects.push({ to: want.worker, msg: { t: 'reject', seq: want.seq, code: 'PR01' } });
          continue;
        }
        waiting.push(want);
        this.wait(want, effects);
      }
      this.queues.set(app, waiting);
    }
    return effects.concat(this.settle(app));
  }

  private settle(app: string): LedgerEffect[] {
    if (this.contended.has(app) && this.queued(app) === 0) {
      this.contended.delete(app);
      return [{ to: 'all', msg: { t: 'contention', app, on: false } }];
    }
    return [];
  }

  private tryGrant(want: Want, candidates: LedgerMachine[], effects: LedgerEffect[]): boolean {
    // Region key of the best machine with no free slot. Its slots may be leased but idle, or
    // freed a moment ago and not yet reported: a want leaves that region (or steering
    // preference) only once it has waited `spillGraceMs` for them to come back.
    let full = Infinity;
    this.idleHolder = null;
    const mayLeave = this.now() >= (this.spillAt.get(want) ?? 0);
    // Fullness is judged here by leases, which are exact; reported load may lag.
    for (const machine of rankCandidates(candidates, this.regions, want.steering, want.exclude, false)) {
      const key = regionKey(machine, this.regions, want.steering);
      if (key > full && !mayLeave) return false;
      const entry = this.slots.get(keyOf(machine))!;
      let slots = 0;
      if (machine.hard !== null) {
        const free = machine.hard - entry.leasedTotal;
        if (free <= 0) {
          if (key < full) this.idleHolder = idleHolderOf(entry, want.worker);
          full = Math.min(full, key);
          continue;
        }
        // While the route is quiet, top the worker up to its share, so it needs no round trip for the next ones.
        const held = entry.leased.get(want.worker) ?? 0;
        const topUp = this.queued(want.app) === 0 ? Math.max(0, Math.min(this.shareOf(machine) - held - 1, free - 1)) : 0;
        slots = 1 + topUp;
        entry.leased.set(want.worker, held + slots);
        entry.leasedTotal += slots;
      }
      // Counted at once, so the next choice sees it before the worker reports.
      entry.used.set(want.worker, (entry.used.get(want.worker) ?? 0) + 1);
      machine.load++;
      effects.push({ to: want.worker, msg: { t: 'grant', seq: want.seq, machine: keyOf(machine), epoch: machine.epoch, slots, share: this.shareOf(machine) } });
      return true;
    }
    return false;
  }

  /** Whether a machine the want may use (steering, exclude) is on its way. */
  private comingFor(want: Want, candidates: LedgerMachine[]): boolean {
    const coming = candidates.filter((machine) => machine.coming).map((machine) => ({ ...machine, routable: true }));
    return rankCandidates(coming, this.regions, want.steering, want.exclude).length > 0;
  }

  private appMachines(app: string): LedgerMachine[] {
    const machines: LedgerMachine[] = [];
    for (const entry of this.slots.values()) if (entry.machine.app === app) machines.push(entry.machine);
    return machines;
  }

  private queueOf(app: string): Want[] {
    let queue = this.queues.get(app);
    if (queue === undefined) {
      queue = [];
      this.queues.set(app, queue);
    }
    return queue;
  }
}
