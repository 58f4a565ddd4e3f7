// A worker's side of the load protocol with the primary: reports its load
// per machine (coalesced), asks for a slot when it cannot decide alone, and
// applies what the primary answers. See src/routing/slot-ledger.ts.
import type { ServiceRoute, LoadListener, MachineTarget } from '../routing/service-route.ts';
import type { Steering } from '../routing/rank.ts';
import type { RejectCode } from '../routing/slot-ledger.ts';
import type { PrimaryMessage, WorkerMessage } from './messages.ts';
import { reportDue } from './report-policy.ts';

/** How long load changes gather before the worker looks at which are worth a report (report-policy.ts). */
export const REPORT_INTERVAL_MS = 20;

export interface Waiter {
  granted(target: MachineTarget): void;
  rejected(code: RejectCode): void;
  /** It now waits for a machine to wake. */
  waking(): void;
}

export class LoadChannel implements LoadListener {
  private readonly send: (message: WorkerMessage) => void;
  private readonly routes: ReadonlyMap<string, ServiceRoute>;
  private readonly dirty = new Set<MachineTarget>();
  private readonly waiting = new Map<number, { waiter: Waiter; app: ServiceRoute }>();
  private reportTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  /** The latest machines broadcast applied here, acknowledged in each report. */
  private gen = 0;

  constructor(send: (message: WorkerMessage) => void, routes: ReadonlyMap<string, ServiceRoute>) {
    this.send = send;
    this.routes = routes;
  }

  loadChanged(target: MachineTarget): void {
    if (target.local > target.peak) target.peak = target.local;
    this.dirty.add(target);
    if (this.reportTimer === null) this.reportTimer = setTimeout(() => this.report(), REPORT_INTERVAL_MS);
  }

  returnSlots(target: MachineTarget, count: number): void {
    this.send({ t: 'release', machine: target.key, epoch: target.epoch, count });
  }

  reportPassiveFailure(target: MachineTarget): void {
    this.send({ t: 'passive', machine: target.key, epoch: target.epoch });
  }

  /** Asks the primary for a machine; returns a ticket to cancel with. */
  want(app: ServiceRoute, steering: Steering, exclude: string[] | null, waiter: Waiter): number {
    const seq = ++this.seq;
    this.waiting.set(seq, { waiter, app });
    this.send({ t: 'want', seq, app: app.key, steering, exclude });
    return seq;
  }

  cancel(seq: number): void {
    const entry = this.waiting.get(seq);
    if (entry === undefined) return;
    this.waiting.delete(seq);
    this.send({ t: 'cancel', seq, app: entry.app.key });
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  handle(message: PrimaryMessage): void {
    switch (message.t) {
      case 'others':
        for (const [id, others] of message.loads) {
          for (const route of this.routes.values()) {
            const target = route.target(id);
            if (target === undefined) continue;
            target.others = others;
            target.load = others + target.local;
          }
        }
        break;
      case 'grant':
        this.granted(message.seq, message.machine, message.epoch, message.slots, message.share);
        break;
      case 'recall':
        for (const route of this.routes.values()) {
          const target = route.target(message.machine);
          if (target !== undefined) route.giveBack(target, message.count);
        }
        break;
      case 'reject': {
        const entry = this.waiting.get(message.seq);
        if (entry === undefined) return;
        this.waiting.delete(message.seq);
        entry.waiter.rejected(message.code);
        break;
      }
      case 'contention':
        this.routes.get(message.app)?.setContended(message.on);
        break;
      case 'waking':
        for (const entry of this.waiting.values()) if (entry.app.key === message.app) entry.waiter.waking();
        break;
    }
  }

  private granted(seq: number, machine: string, epoch: number, slots: number, share: number): void {
    const entry = this.waiting.get(seq);
    const route = entry?.app ?? this.routeOf(machine);
    const target = route?.target(machine);
    if (target === undefined || target.epoch !== epoch) {
      // The machine is gone or restarted since: the slots are void on both sides.
      if (entry !== undefined) {
        this.waiting.delete(seq);
        entry.waiter.rejected('PR01');
      }
      return;
    }
    target.lease += slots;
    target.share = share;
    if (entry === undefined) {
      // The waiter gave up meanwhile: the slot is spare; give it back if others wait.
      if (route!.contended) route!.giveBack(target);
      return;
    }
    this.waiting.delete(seq);
    route!.take(target);
    entry.waiter.granted(target);
  }

  private routeOf(machine: string): ServiceRoute | undefined {
    for (const route of this.routes.values()) if (route.target(machine) !== undefined) return route;
    return undefined;
  }

  /**
   * A machines broadcast was applied: report at once, so the primary knows
   * this worker's load as of that change (it waits for that before it stops
   * or suspends a machine it took out of rotation).
   */
  applied(gen: number): void {
    this.gen = gen;
    if (this.reportTimer !== null) clearTimeout(this.reportTimer);
    this.report(true);
  }

  /** `always`: every changed figure goes, and a message goes even when none changed. */
  private report(always = false): void {
    this.reportTimer = null;
    const now = performance.now();
    const loads: [string, number, number][] = [];
    for (const target of this.dirty) {
      // A broadcast's acknowledgement carries exact figures: the primary may stop a machine on them.
      const figure = always || target.hard !== null ? target.local : target.peak;
      target.peak = target.local;
      if (!always && !reportDue(figure, target, now - target.reportedAt)) {
        // Back where it was when last reported: nothing to say.
        if (figure === target.reported && target.local === figure) this.dirty.delete(target);
        continue;
      }
      loads.push([target.key, target.epoch, figure]);
      target.reported = figure;
      target.reportedAt = now;
      // A peak above the load now: the next look reports what it fell to.
      if (target.local === figure) this.dirty.delete(target);
    }
    if (loads.length > 0 || always) this.send({ t: 'load', gen: this.gen, loads });
    // What was not worth a message yet is looked at again until it is, or is undone.
    if (this.dirty.size > 0) this.reportTimer = setTimeout(() => this.report(), REPORT_INTERVAL_MS);
  }
}
