// The health of one watched machine as pure state: no timers, no sockets,
// every method takes the time. The monitor (monitor.ts) asks it what is due,
// runs those probes and hands the results back; the state answers with the
// events to announce. Decisions, where Fly is silent:
//
// - A check's status is `warning` until its first result after a (re)start
//   (Fly shows new checks as warning), `passing` after a pass, `critical`
//   after a failure.
// - Flip thresholds: one failure takes a check down, one pass brings it up
//   (`failuresToCritical` = `passesToPassing` = 1). That is Fly's behaviour
//   (critical on the first failure) and Pingora's default; Envoy also needs a
//   single success at startup. Users tune flapping with `interval`, which is
//   theirs in fly.toml; a failing check is the app asking for no traffic. The
//   thresholds are policy knobs; with more than one, a check between the two
//   stable states is shown as `warning` and keeps its previous routing effect.
// - Routing health = every service check up and no passive failure pending.
//   A machine with service checks is not routable until each has passed once
//   after (re)start; one without service checks is healthy once started.
//   Top-level checks are run and reported, never consulted.
// - Scheduling: a check first runs at start + grace_period, then every
//   interval measured start to start; a run that outlasts the interval (its
//   timeout is longer) is followed by the next one as soon as it ends. A check
//   never overlaps itself. Until a service check has passed once after the
//   (re)start it is retried every `startupRetryMs` (1 s) when its interval is
//   longer: fly.toml's default interval is 15 s, and a machine woken for a
//   waiting request whose first check lands a moment too early would
//   otherwise sit unroutable for 15 s (HAProxy's `fastinter` idea, only for
//   the start).
// - Passive failure: the machine is out at once. Only a service check run that
//   *started* after the failure can bring it back (a run already in flight saw
//   the old world), and the next service-check run is pulled forward to
//   `passiveRecheckMs` after the failure (never into the grace period) so a
//   30 s interval does not mean 30 s out. Without service checks, a TCP connect
//   probe to the first port runs every `passiveProbeIntervalMs` until it connects.
// - RTT probes: a machine gets a TCP connect probe when nothing has given it an
//   RTT sample for `rttProbeIntervalMs` (so at once on start, then only for
//   machines without checks or with slow ones). Only probes that got an answer
//   give samples (a connect, or an HTTP response of any status): a timeout or
//   a refused connect is not a distance.
import type { ServiceCheck } from '../config/model.ts';
import { DEFAULT_RTT_ALPHA, Ewma, rttChanged } from './ewma.ts';
import type { CheckPlan, CheckScope } from './plan.ts';

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface HealthPolicy {
  /** Consecutive failures that take a passing check down. */
  failuresToCritical: number;
  /** Consecutive passes that bring a check up (also the first time after start). */
  passesToPassing: number;
  /** Connect probe for RTT when no other sample came in this long. */
  rttProbeIntervalMs: number;
  /** Timeout of an RTT or passive connect probe. */
  probeTimeoutMs: number;
  /** Connect probe cadence while passively down, for machines without service checks. */
  passiveProbeIntervalMs: number;
  /** How soon after a passive failure the service checks run again. */
  passiveRecheckMs: number;
  /** Retry cadence of a service check that has not passed yet since the start (when its interval is longer). */
  startupRetryMs: number;
  rttAlpha: number;
  /** An RTT change is told when it is at least this many ms… */
  rttReportMinMs: number;
  /** …and at least this fraction of the last value told. */
  rttReportRatio: number;
}

export const DEFAULT_POLICY: Readonly<HealthPolicy> = Object.freeze({
  failuresToCritical: 1,
  passesToPassing: 1,
  rttProbeIntervalMs: 2_000,
  probeTimeoutMs: 2_000,
  passiveProbeIntervalMs: 500,
  passiveRecheckMs: 500,
  startupRetryMs: 1_000,
  rttAlpha: DEFAULT_RTT_ALPHA,
  rttReportMinMs: 0.5,
  rttReportRatio: 0.1,
});

/** A check interval below this is raised to it, so a zero in a config cannot spin. */
export const MIN_INTERVAL_MS = 50;
/** Something due within this much of now is due now (timers may fire a hair early). */
export const DUE_SLACK_MS = 1;

export interface ProbeResult {
  ok: boolean;
  /** What a person reads in `perch status`: the status line, or why it failed. */
  output: string;
  startedAt: number;
  finishedAt: number;
  /** The connect time or round trip this probe measured, when it measured one. */
  rttMs: number | null;
}

export type Task = { type: 'check'; index: number } | { type: 'rtt' } | { type: 'passive' };

export type HealthEvent =
  | { type: 'health'; healthy: boolean; reason: string }
  | { type: 'rtt'; ms: number }
  | { type: 'check'; name: string; scope: CheckScope; status: CheckStatus; previous: CheckStatus; output: string };

export interface CheckSnapshot {
  name: string;
  kind: ServiceCheck['kind'];
  scope: CheckScope;
  status: CheckStatus;
  output: string;
  /** When the last run ended (the state's clock), or null before the first. */
  lastRunAt: number | null;
  /** Consecutive passes and failures of the current streak. */
  passes: number;
  failures: number;
}

export interface MachineHealthSnapshot {
  healthy: boolean;
  reason: string;
  passiveDown: boolean;
  checks: CheckSnapshot[];
  rttMs: number | null;
}

interface CheckRecord {
  readonly plan: CheckPlan;
  readonly intervalMs: number;
  readonly graceEndsAt: number;
  /** The stable decision routing uses. */
  up: boolean;
  status: CheckStatus;
  passes: number;
  failures: number;
  output: string;
  lastRunAt: number | null;
  nextRunAt: number;
  running: boolean;
  /** Passed at least once since the start. */
  passed: boolean;
}

export class MachineHealth {
  readonly id: string;
  readonly startedAt: number;
  private readonly policy: HealthPolicy;
  private readonly records: CheckRecord[];
  private readonly serviceCount: number;
  private readonly rtt: Ewma;
  private rttTold: number | null = null;
  /** When the last RTT sample or probe ended; null before any. */
  private rttActivityAt: number | null = null;
  private rttRunning = false;
  /** Time of the latest passive failure while it is pending, else null. */
  private passiveAt: number | null = null;
  private passiveDueAt = 0;
  private passiveRunning = false;
  private healthyNow: boolean;
  private reasonNow: string;

  /**
   * `resumed`: the machine was suspended and runs again with its memory and
   * sockets as they were: its checks keep their last verdict (passing, or it
   * would not have been routed to and suspended) and run again at once, with
   * no grace period, so a frozen machine that did not survive is caught.
   */
  constructor(id: string, plans: readonly CheckPlan[], now: number, policy: HealthPolicy = DEFAULT_POLICY, resumed = false) {
    this.id = id;
    this.startedAt = now;
    this.policy = policy;
    this.rtt = new Ewma(policy.rttAlpha);
    this.records = plans.map((plan) => ({
      plan,
      intervalMs: Math.max(plan.check.intervalMs, MIN_INTERVAL_MS),
      graceEndsAt: resumed ? now : now + Math.max(0, plan.check.gracePeriodMs),
      up: resumed,
      status: resumed ? 'passing' : 'warning',
      passes: 0,
      failures: 0,
      output: resumed ? 'resumed: passing until its next run' : 'waiting for the first run',
      lastRunAt: null,
      nextRunAt: resumed ? now : now + Math.max(0, plan.check.gracePeriodMs),
      running: false,
      passed: resumed,
    }));
    this.serviceCount = plans.filter((plan) => plan.scope === 'service').length;
    const [healthy, reason] = this.evaluate();
    this.healthyNow = healthy;
    this.reasonNow = reason;
  }

  get healthy(): boolean {
    return this.healthyNow;
  }

  get reason(): string {
    return this.reasonNow;
  }

  get hasServiceChecks(): boolean {
    return this.serviceCount > 0;
  }

  get passiveDown(): boolean {
    return this.passiveAt !== null;
  }

  get rttMs(): number | null {
    return this.rtt.value;
  }

  plan(index: number): CheckPlan {
    const record = this.records[index];
    if (record === undefined) throw new RangeError(`machine ${this.id} has no check #${index}`);
    return record.plan;
  }

  /** What to announce when watching begins: the starting routing health. */
  initialEvents(): HealthEvent[] {
    return [{ type: 'health', healthy: this.healthyNow, reason: this.reasonNow }];
  }

  /** The probes due at `now`, marked as running: the caller must report each one's result. */
  takeDue(now: number): Task[] {
    const due = now + DUE_SLACK_MS;
    const tasks: Task[] = [];
    this.records.forEach((record, index) => {
      if (record.running || record.nextRunAt > due) return;
      record.running = true;
      record.nextRunAt = now + record.intervalMs;
      tasks.push({ type: 'check', index });
    });
    if (!this.rttRunning && this.rttDueAt() <= due) {
      this.rttRunning = true;
      tasks.push({ type: 'rtt' });
    }
    if (this.passiveProbing() && !this.passiveRunning && this.passiveDueAt <= due) {
      this.passiveRunning = true;
      tasks.push({ type: 'passive' });
    }
    return tasks;
  }

  /** When something next falls due (ignoring what is running), or null if nothing will. */
  nextWakeAt(): number | null {
    let at = Infinity;
    for (const record of this.records) if (!record.running) at = Math.min(at, record.nextRunAt);
    if (!this.rttRunning) at = Math.min(at, this.rttDueAt());
    if (this.passiveProbing() && !this.passiveRunning) at = Math.min(at, this.passiveDueAt);
    return at === Infinity ? null : at;
  }

  checkDone(index: number, result: ProbeResult): HealthEvent[] {
    const record = this.records[index];
    if (record === undefined) throw new RangeError(`machine ${this.id} has no check #${index}`);
    const events: HealthEvent[] = [];
    const previous = record.status;
    record.running = false;
    record.lastRunAt = result.finishedAt;
    record.output = result.output;
    if (result.ok) {
      record.passes++;
      record.failures = 0;
      if (!record.up && record.passes >= this.policy.passesToPassing) record.up = true;
    } else {
      record.failures++;
      record.passes = 0;
      if (record.up && record.failures >= this.policy.failuresToCritical) record.up = false;
    }
    record.status = record.up ? (record.failures > 0 ? 'warning' : 'passing') : record.passes > 0 ? 'warning' : 'critical';
    record.nextRunAt = Math.max(record.nextRunAt, result.finishedAt);
    if (result.ok) record.passed = true;
    else if (!record.passed && record.plan.scope === 'service') {
      record.nextRunAt = Math.min(record.nextRunAt, Math.max(result.startedAt + this.policy.startupRetryMs, result.finishedAt));
    }
    if (record.status !== previous) {
      events.push({ type: 'check', name: record.plan.check.name, scope: record.plan.scope, status: record.status, previous, output: record.output });
    }

    if (record.plan.scope === 'service' && this.passiveAt !== null) {
      if (result.startedAt < this.passiveAt) {
        // Started before the failure, so it could not clear it: the next run comes soon.
        record.nextRunAt = Math.min(record.nextRunAt, Math.max(result.finishedAt, this.passiveAt + this.policy.passiveRecheckMs, record.graceEndsAt));
      } else if (result.ok) {
        this.passiveAt = null;
      }
    }
    if (result.rttMs !== null) this.sample(result.rttMs, result.finishedAt, events);
    this.reevaluate(events);
    return events;
  }

  rttProbeDone(result: ProbeResult): HealthEvent[] {
    const events: HealthEvent[] = [];
    this.rttRunning = false;
    this.rttActivityAt = Math.max(this.rttActivityAt ?? -Infinity, result.finishedAt);
    if (result.rttMs !== null) this.sample(result.rttMs, result.finishedAt, events);
    return events;
  }

  passiveProbeDone(result: ProbeResult): HealthEvent[] {
    const events: HealthEvent[] = [];
    this.passiveRunning = false;
    if (result.rttMs !== null) this.sample(result.rttMs, result.finishedAt, events);
    if (this.passiveAt === null) return events;
    if (result.ok && result.startedAt >= this.passiveAt) {
      this.passiveAt = null;
      this.reevaluate(events, 'connect probe after passive failure succeeded');
    } else {
      this.passiveDueAt = Math.max(result.startedAt + this.policy.passiveProbeIntervalMs, result.finishedAt);
    }
    return events;
  }

  /** Live traffic saw consecutive connect failures: out of rotation now, until a check says otherwise. */
  passiveFailure(now: number): HealthEvent[] {
    const events: HealthEvent[] = [];
    const already = this.passiveAt !== null;
    this.passiveAt = now;
    if (this.serviceCount > 0) {
      const recheckAt = now + this.policy.passiveRecheckMs;
      for (const record of this.records) {
        if (record.plan.scope !== 'service' || record.running) continue;
        record.nextRunAt = Math.min(record.nextRunAt, Math.max(recheckAt, record.graceEndsAt));
      }
    } else if (!already) {
      this.passiveDueAt = now + this.policy.passiveProbeIntervalMs;
    }
    this.reevaluate(events);
    return events;
  }

  /** An RTT sample measured elsewhere (a worker's connect time to this machine). */
  observeRtt(ms: number, now: number): HealthEvent[] {
    const events: HealthEvent[] = [];
    this.sample(ms, now, events);
    return events;
  }

  snapshot(): MachineHealthSnapshot {
    return {
      healthy: this.healthyNow,
      reason: this.reasonNow,
      passiveDown: this.passiveAt !== null,
      checks: this.records.map((record) => ({
        name: record.plan.check.name,
        kind: record.plan.check.kind,
        scope: record.plan.scope,
        status: record.status,
        output: record.output,
        lastRunAt: record.lastRunAt,
        passes: record.passes,
        failures: record.failures,
      })),
      rttMs: this.rtt.value,
    };
  }

  private passiveProbing(): boolean {
    return this.passiveAt !== null && this.serviceCount === 0;
  }

  private rttDueAt(): number {
    return this.rttActivityAt === null ? this.startedAt : this.rttActivityAt + this.policy.rttProbeIntervalMs;
  }

  private sample(ms: number, at: number, events: HealthEvent[]): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const value = this.rtt.add(ms);
    this.rttActivityAt = Math.max(this.rttActivityAt ?? -Infinity, at);
    if (rttChanged(this.rttTold, value, this.policy.rttReportMinMs, this.policy.rttReportRatio)) {
      this.rttTold = value;
      events.push({ type: 'rtt', ms: value });
    }
  }

  private evaluate(): [healthy: boolean, reason: string] {
    if (this.passiveAt !== null) return [false, 'connect failures on live traffic (passive check)'];
    for (const record of this.records) {
      if (record.plan.scope !== 'service' || record.up) continue;
      const name = record.plan.check.name;
      if (record.lastRunAt === null) return [false, `waiting for the first pass of check ${name}`];
      return [false, `check ${name} is ${record.status}: ${record.output}`];
    }
    return [true, this.serviceCount > 0 ? 'service checks passing' : 'started (no service checks)'];
  }

  /** Recomputes routing health; adds a health event when it flipped. */
  private reevaluate(events: HealthEvent[], recoveredBecause?: string): void {
    const [healthy, reason] = this.evaluate();
    const flipped = healthy !== this.healthyNow;
    this.healthyNow = healthy;
    this.reasonNow = healthy && recoveredBecause !== undefined ? recoveredBecause : reason;
    if (flipped) events.push({ type: 'health', healthy, reason: this.reasonNow });
  }
}
