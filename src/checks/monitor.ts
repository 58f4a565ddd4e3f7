// The primary's health checker: runs each started machine's checks on
// timers, keeps the pure per-machine state (state.ts) and announces what
// routing needs — health flips and closeness (RTT) changes.
//
//   monitor.watch(machine)          when the machine becomes `started`
//   monitor.unwatch(id)             when it leaves `started`
//   monitor.passiveFailure(id)      when live traffic saw consecutive connect failures
//   monitor.on('health', (id, healthy, reason) => …)
//   monitor.on('rtt', (id, ms) => …)
//   await monitor.close()           at shutdown
//
// One timer per machine, armed for the earliest thing due; each probe is
// bounded by its timeout and aborted when the machine is unwatched. All
// timers are unref'd: health checks never keep a process alive. A result
// that comes back after its machine was unwatched (or re-watched) is dropped.
import { EventEmitter } from 'node:events';
import type { Client } from 'undici';
import { checksFor, firstPort, reachablePort, type CheckScope, type CheckedMachine } from './plan.ts';
import { createHttpClient, httpClientKey, httpProbe, tcpProbe, type Clock } from './probes.ts';
import { DEFAULT_POLICY, MachineHealth, type CheckStatus, type HealthEvent, type HealthPolicy, type ProbeResult, type Task } from './state.ts';

export interface CheckChange {
  name: string;
  scope: CheckScope;
  status: CheckStatus;
  previous: CheckStatus;
  output: string;
}

export interface HealthMonitorEvents {
  /** The machine's routing health changed (and once when watching begins, with its starting value). */
  health: [machineId: string, healthy: boolean, reason: string];
  /** The machine's RTT estimate changed meaningfully (see `rttChanged`). */
  rtt: [machineId: string, ms: number];
  /** A check's status changed: for the log. */
  check: [machineId: string, change: CheckChange];
}

export interface HealthMonitorOptions {
  policy?: Partial<HealthPolicy>;
  /** Milliseconds on a monotonic clock near the epoch (lastRunAt is shown as a date). */
  now?: Clock;
  /** Where an exception thrown by an event listener goes (default: a process warning). */
  onListenerError?: (err: unknown) => void;
}

export interface CheckReport {
  name: string;
  kind: 'http' | 'tcp';
  scope: CheckScope;
  status: CheckStatus;
  output: string;
  /** ISO time the last run ended, or null before the first. */
  lastRunAt: string | null;
}

export interface MachineHealthReport {
  id: string;
  app: string;
  healthy: boolean;
  reason: string;
  passiveDown: boolean;
  checks: CheckReport[];
  rttMs: number | null;
}

interface Watched {
  readonly machine: CheckedMachine;
  readonly state: MachineHealth;
  timer: NodeJS.Timeout | null;
  readonly clients: Map<string, Client>;
  /** In-flight probes, aborted on unwatch. */
  readonly probes: Set<AbortController>;
}

const monotonic: Clock = () => performance.timeOrigin + performance.now();

export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  readonly policy: Readonly<HealthPolicy>;
  private readonly now: Clock;
  private readonly onListenerError: (err: unknown) => void;
  private readonly watched = new Map<string, Watched>();
  private closed = false;

  constructor(options: HealthMonitorOptions = {}) {
    super();
    this.policy = Object.freeze({ ...DEFAULT_POLICY, ...options.policy });
    this.now = options.now ?? monotonic;
    this.onListenerError = options.onListenerError ?? ((err) => process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'HealthMonitorListenerError'));
  }

  /**
   * Starts checking a machine that just became `started`; a machine already
   * watched starts over. `resumed`: it was suspended, not restarted (see MachineHealth).
   */
  watch(machine: CheckedMachine, options: { resumed?: boolean } = {}): void {
    if (this.closed) return;
    const id = machine.spec.id;
    const previous = this.watched.get(id);
    if (previous !== undefined) this.forget(previous);
    const entry: Watched = {
      machine,
      state: new MachineHealth(id, checksFor(machine), this.now(), this.policy, options.resumed ?? false),
      timer: null,
      clients: new Map(),
      probes: new Set(),
    };
    this.watched.set(id, entry);
    this.announce(id, entry.state.initialEvents());
    this.arm(entry);
  }

  /** Stops checking a machine that left `started`; announces it unhealthy if it was healthy. */
  unwatch(id: string): void {
    const entry = this.watched.get(id);
    if (entry === undefined) return;
    this.forget(entry);
    if (entry.state.healthy) this.announce(id, [{ type: 'health', healthy: false, reason: 'not started' }]);
  }

  /** Live traffic saw consecutive connect failures to this machine: out of rotation until a check passes. */
  passiveFailure(id: string): void {
    const entry = this.watched.get(id);
    if (entry === undefined) return;
    this.announce(id, entry.state.passiveFailure(this.now()));
    this.arm(entry);
  }

  /** An RTT sample measured elsewhere, such as a worker's upstream connect time. */
  observeRtt(id: string, ms: number): void {
    const entry = this.watched.get(id);
    if (entry === undefined) return;
    this.announce(id, entry.state.observeRtt(ms, this.now()));
    this.arm(entry);
  }

  rttOf(id: string): number | null {
    return this.watched.get(id)?.state.rttMs ?? null;
  }

  /** Routing health of a watched machine; null when it is not watched. */
  isHealthy(id: string): boolean | null {
    return this.watched.get(id)?.state.healthy ?? null;
  }

  isWatching(id: string): boolean {
    return this.watched.has(id);
  }

  snapshot(): MachineHealthReport[] {
    return [...this.watched.values()].map((entry) => {
      const snap = entry.state.snapshot();
      return {
        id: entry.state.id,
        app: entry.machine.app.name,
        healthy: snap.healthy,
        reason: snap.reason,
        passiveDown: snap.passiveDown,
        checks: snap.checks.map((check) => ({
          name: check.name,
          kind: check.kind,
          scope: check.scope,
          status: check.status,
          output: check.output,
          lastRunAt: check.lastRunAt === null ? null : new Date(check.lastRunAt).toISOString(),
        })),
        rttMs: snap.rttMs,
      };
    });
  }

  /** Stops every timer, probe and client. Nothing is announced afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.watched.values()];
    this.watched.clear();
    await Promise.allSettled(entries.map((entry) => this.forget(entry)));
  }

  private forget(entry: Watched): Promise<unknown> {
    if (this.watched.get(entry.state.id) === entry) this.watched.delete(entry.state.id);
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    for (const probe of entry.probes) probe.abort(new Error('machine no longer checked'));
    entry.probes.clear();
    const clients = [...entry.clients.values()];
    entry.clients.clear();
    return Promise.allSettled(clients.map((client) => client.destroy()));
  }

  private current(entry: Watched): boolean {
    return !this.closed && this.watched.get(entry.state.id) === entry;
  }

  private arm(entry: Watched): void {
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
    if (!this.current(entry)) return;
    const at = entry.state.nextWakeAt();
    if (at === null) return;
    const delay = Math.max(0, Math.ceil(at - this.now()));
    entry.timer = setTimeout(() => this.tick(entry), delay);
    entry.timer.unref();
  }

  private tick(entry: Watched): void {
    entry.timer = null;
    if (!this.current(entry)) return;
    for (const task of entry.state.takeDue(this.now())) this.run(entry, task);
    this.arm(entry);
  }

  private run(entry: Watched, task: Task): void {
    const timeoutMs = task.type === 'check' ? entry.state.plan(task.index).check.timeoutMs : this.policy.probeTimeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${timeoutMs} ms`)), Math.max(timeoutMs, 1));
    timer.unref();
    entry.probes.add(controller);
    this.probe(entry, task, controller.signal)
      .then((result) => {
        if (!this.current(entry)) return;
        const state = entry.state;
        const events = task.type === 'check' ? state.checkDone(task.index, result) : task.type === 'rtt' ? state.rttProbeDone(result) : state.passiveProbeDone(result);
        this.announce(state.id, events);
        this.arm(entry);
      })
      .catch((err: unknown) => this.onListenerError(err))
      .finally(() => {
        clearTimeout(timer);
        entry.probes.delete(controller);
      });
  }

  private probe(entry: Watched, task: Task, signal: AbortSignal): Promise<ProbeResult> {
    const { machine } = entry;
    if (task.type === 'check') {
      const { check } = entry.state.plan(task.index);
      const port = reachablePort(machine, check.port);
      if (check.kind === 'tcp') return tcpProbe(machine.host, port, signal, this.now);
      const key = httpClientKey(check, machine.host, port);
      let client = entry.clients.get(key);
      if (client === undefined) {
        client = createHttpClient(check, machine.host, port);
        entry.clients.set(key, client);
      }
      return httpProbe(client, check, signal, this.now);
    }
    const port = firstPort(machine);
    if (port === null) {
      // Nothing to connect to: no distance to learn, and no traffic can have failed on it.
      const at = this.now();
      return Promise.resolve({ ok: task.type === 'passive', output: 'machine has no ports', startedAt: at, finishedAt: at, rttMs: null });
    }
    return tcpProbe(machine.host, port, signal, this.now);
  }

  private announce(id: string, events: HealthEvent[]): void {
    for (const event of events) {
      try {
        if (event.type === 'health') this.emit('health', id, event.healthy, event.reason);
        else if (event.type === 'rtt') this.emit('rtt', id, event.ms);
        else this.emit('check', id, { name: event.name, scope: event.scope, status: event.status, previous: event.previous, output: event.output });
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
