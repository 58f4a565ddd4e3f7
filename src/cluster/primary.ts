// The primary process: owns what must exist once (config, machines, the
// admin listener) and keeps N workers serving. It replaces a worker that
// dies; on SIGHUP (or POST /v1/reload) it re-reads the config and rolls the
// workers over to it without dropping a request; on SIGTERM/SIGINT it drains
// the workers, stops the machines it started and exits 0.
import cluster, { type Worker } from 'node:cluster';
import { enableCompileCache } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { PerchConfig } from '../config/model.ts';
import { createAdminServer, listenAdmin } from '../admin/server.ts';
import { flushLogs, logger } from '../log/logger.ts';
import { HealthMonitor } from '../checks/monitor.ts';
import { checksFor } from '../checks/plan.ts';
import { Fleet } from '../machines/fleet.ts';
import { Autoscaler } from '../autoscale/autoscaler.ts';
import { prepareCertificates } from '../tls/prepare.ts';
import { formatProblems } from '../config/format.ts';
import { loadConfig } from '../config/load.ts';
import type { ConfigProblem } from '../config/model.ts';
import { settledOf, settlePorts } from './listen.ts';
import { LoadBroker } from './load-broker.ts';
import { workerEnv, workerExecArgv } from './worker-flags.ts';
import { formatAddress } from './worker.ts';
import { generateTicketKeys } from '../tls/server-options.ts';
import { isWorkerMessage, type PrimaryMessage, type WorkerMessage } from './messages.ts';
import { MetricsHub } from '../metrics/hub.ts';
import { LoadView } from '../metrics/primary-view.ts';

const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.ts', import.meta.url));
/** More restarts than this within the window means a crash loop: back off. */
const RESTART_WINDOW_MS = 10_000;
const RESTARTS_PER_WINDOW = 5;
const RESTART_BACKOFF_MS = 1_000;
const WORKER_EXIT_GRACE_MS = 2_000;
const PARENT_POLL_MS = 1_000;
/** How long old workers keep serving (Connection: close) after a reload, for keep-alive clients to move. */
const RELOAD_HANDOVER_MS = 2_000;
/** How long a reload waits for its new workers to listen before it gives up and keeps the old ones. */
const RELOAD_READY_TIMEOUT_MS = 30_000;

export interface ReloadResult {
  ok: boolean;
  problems: ConfigProblem[];
  error?: string;
  added?: string[];
  removed?: string[];
}

export async function runPrimary(loaded: PerchConfig): Promise<void> {
  const log = logger().child({ role: 'primary' });
  let config = await settlePorts(loaded);
  let settled = settledOf(loaded, config);
  const fleet = new Fleet(config, log);
  const workers = new Map<number, Worker>();
  const readyAddresses = new Map<number, { http: string[]; https: string[] }>();
  // TLS session-ticket keys, made once: every worker (and every replacement) encrypts tickets alike.
  const ticketKeys = generateTicketKeys().toString('base64');
  const restarts: number[] = [];
  let shuttingDown = false;
  let announced = false;

  // Workers accept connections themselves (see listen.ts). With Node's default
  // round-robin the primary accepts and hands each connection over, and a
  // connection handed to a worker that dies before taking it stays open in the
  // primary, unanswered; it would also cost the primary work per connection.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS), silent: false });
  const forkEnv = workerEnv(enableCompileCache(), process.env.GLIBC_TUNABLES);

  function send(worker: Worker, message: PrimaryMessage): void {
    if (worker.isConnected()) worker.send(message);
  }

  const broker = new LoadBroker(config, {
    send: (id, message) => {
      const worker = workers.get(id);
      if (worker !== undefined) send(worker, message);
    },
    workers: () => [...workers.keys()],
    passiveFailure: (id) => {
      log.warn({ machine: id }, 'machine refuses connections on live traffic: out of rotation until a check passes');
      health.passiveFailure(id);
    },
  });
  const health = new HealthMonitor({ onListenerError: (err) => log.error({ err }, 'health listener failed') });
  const autoscaler = new Autoscaler(config, fleet, broker, log);
  // The ledger knows every machine from the start, running or not, so a request can wake one.
  for (const machine of fleet.machines.values()) broker.machineChanged(machine);
  fleet.drainer = (machine, deadlineMs) => broker.drain(machine.spec.id, deadlineMs);
  // The exact load per machine (admin API, /metrics) and the workers' counters summed at each scrape.
  const loads = new LoadView(config, broker.ledger);
  const metrics = new MetricsHub({ region: config.region, workers, fleet, loads });

  function machinesMessage(): PrimaryMessage {
    return { t: 'machines', gen: broker.nextGen(), machines: fleet.views(), regions: broker.regions };
  }
  // Workers hear of a change before any grant that depends on it.
  function broadcastMachines(): void {
    const message = machinesMessage();
    for (const worker of workers.values()) send(worker, message);
  }
  fleet.on('change', (machine, from) => {
    if (machine.state !== 'started') machine.healthy = false;
    machine.awaitingCheck = machine.state === 'started' && checksFor(machine).some((plan) => plan.scope === 'service');
    if (from === 'started' && machine.state !== 'started') health.unwatch(machine.spec.id);
    // Routing waits for the first passing check after each start (at once for a machine without
    // checks); a machine resumed from suspend keeps the verdict it had. Watching first, so the
    // ledger never sees a started machine as neither healthy nor on its way.
    if (machine.state === 'started' && from !== 'started') health.watch(machine, { resumed: from === 'suspended' });
    broadcastMachines();
    broker.machineChanged(machine);
    autoscaler.machineChanged(machine);
  });
  health.on('health', (id, healthy, reason) => {
    const machine = fleet.get(id);
    if (machine === undefined || machine.healthy === healthy) return;
    machine.healthy = healthy && machine.state === 'started';
    if (machine.healthy) machine.awaitingCheck = false;
    log.info({ machine: id, app: machine.app.name, healthy: machine.healthy, reason }, 'machine health');
    broadcastMachines();
    broker.machineChanged(machine);
  });
  health.on('rtt', (id, ms) => {
    const machine = fleet.get(id);
    if (machine === undefined) return;
    machine.rttMs = ms;
    broker.updateRegions(fleet);
    broadcastMachines();
    broker.machineChanged(machine);
  });
  health.on('check', (id, change) => {
    log.info({ machine: id, ...change }, 'check status');
    const machine = fleet.get(id);
    if (machine?.awaitingCheck && change.scope === 'service' && change.status === 'critical') {
      // Its first answer was a failure: requests stop waiting for it.
      machine.awaitingCheck = false;
      broker.machineChanged(machine);
    }
  });

  function fork(): Worker {
    const worker = cluster.fork(forkEnv);
    workers.set(worker.id, worker);
    broker.ledger.addWorker(worker.id);
    worker.on('online', () => {
      send(worker, { t: 'config', config, ticketKeys });
      send(worker, machinesMessage());
    });
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      const msg = message as WorkerMessage;
      if (msg.t === 'ready') {
        readyAddresses.set(worker.id, { http: msg.http, https: msg.https });
        maybeAnnounce();
      } else if (msg.t === 'metrics') {
        metrics.answer(worker.id, msg.seq, msg.snapshot);
      } else if (msg.t !== 'drained') {
        broker.handle(worker.id, msg);
      }
    });
    return worker;
  }

  cluster.on('exit', (worker, code, signal) => {
    workers.delete(worker.id);
    readyAddresses.delete(worker.id);
    broker.workerGone(worker.id);
    metrics.workerGone(worker.id);
    // A worker of the previous config, drained after a reload: nothing to replace.
    if (retiring.delete(worker.id) || shuttingDown) return;
    log.warn({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker exited; starting a replacement');
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && restarts[0]! < now - RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length > RESTARTS_PER_WINDOW) setTimeout(() => shuttingDown || fork(), RESTART_BACKOFF_MS);
    else fork();
  });

  const adminDeps = { config, fleet, health, loads, metrics, reload: () => reload('admin API') };
  const admin = createAdminServer(adminDeps);
  const adminAddress = await listenAdmin(admin, config.admin.listen.host, config.admin.listen.port);

  let machinesSettled = false;
  function maybeAnnounce(): void {
    if (announced || !machinesSettled || readyAddresses.size < config.workers) return;
    announced = true;
    const http = [...new Set([...readyAddresses.values()].flatMap((ready) => ready.http))];
    const https = [...new Set([...readyAddresses.values()].flatMap((ready) => ready.https))];
    log.info(
      {
        region: config.region,
        http,
        https,
        admin: formatAddress(adminAddress),
        pids: { primary: process.pid, workers: [...workers.values()].map((worker) => worker.process.pid) },
        machines: fleet.views().map((machine) => `${machine.id}:${machine.state}`),
      },
      'perch ready',
    );
  }

  async function shutdown(signal: string): Promise<void> {
    if (shuttingDown) {
      log.warn({ signal }, 'already shutting down');
      return;
    }
    shuttingDown = true;
    autoscaler.stop();
    log.info({ signal }, 'shutting down: draining workers');
    const deadlineMs = config.edge.shutdownTimeoutMs;
    const exited = [...workers.values()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          send(worker, { t: 'drain', deadlineMs });
        }),
    );
    const killer = setTimeout(() => {
      for (const worker of workers.values()) worker.process.kill('SIGKILL');
    }, deadlineMs + WORKER_EXIT_GRACE_MS);
    await Promise.all(exited);
    clearTimeout(killer);
    log.info('workers stopped; stopping machines');
    await health.close();
    await fleet.stopAll();
    broker.close();
    admin.close();
    admin.closeAllConnections();
    log.info('perch stopped');
    flushLogs();
    process.exit(0);
  }
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGHUP', () => void reload('SIGHUP'));

  /** Workers of the previous config, draining after a reload. */
  const retiring = new Set<number>();
  let reloading: Promise<ReloadResult> | null = null;

  function reload(reason: string): Promise<ReloadResult> {
    if (shuttingDown) return Promise.resolve({ ok: false, problems: [], error: 'perch is shutting down' });
    reloading ??= applyReload(reason).finally(() => {
      reloading = null;
    });
    return reloading;
  }

  async function applyReload(reason: string): Promise<ReloadResult> {
    log.info({ reason, source: config.source }, 'reloading config');
    const { config: reread, problems } = await loadConfig(config.source);
    if (reread === null) {
      log.error({ problems: formatProblems(problems).split('\n') }, 'reload refused: the config has errors; the running one stays');
      return { ok: false, problems };
    }
    if (problems.length > 0) log.warn({ problems: formatProblems(problems).split('\n') }, 'reloaded config has warnings');
    const next = await settlePorts(reread, settled);
    // Machines first: removed ones are drained and stopped, kept ones take their new app config.
    const { added, removed } = await fleet.reconfigure(next);
    for (const id of removed) {
      broker.forget(id);
      health.unwatch(id);
    }
    config = next;
    settled = settledOf(reread, next);
    adminDeps.config = next;
    broker.reconfigure(next);
    autoscaler.reconfigure(next);
    loads.reconfigure(next);
    for (const machine of fleet.machines.values()) {
      broker.machineChanged(machine);
      // New checks (or none) for a running machine: checked again at once, keeping its verdict until then.
      if (machine.state === 'started') health.watch(machine, { resumed: true });
    }
    await prepareCertificates(next, log).catch(() => {});
    void fleet.startInitial(new Set(added));

    // Workers: the new ones start on the new config; the old ones drain once those listen.
    const previous = [...workers.values()];
    const fresh = Array.from({ length: next.workers }, () => fork());
    const ready = await Promise.race([
      Promise.all(fresh.map((worker) => new Promise<boolean>((resolve) => {
        worker.once('exit', () => resolve(false));
        const check = setInterval(() => {
          if (readyAddresses.has(worker.id)) {
            clearInterval(check);
            resolve(true);
          }
        }, 20);
      }))).then((all) => all.every(Boolean)),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), RELOAD_READY_TIMEOUT_MS)),
    ]);
    if (!ready) {
      log.error('reload: the new workers did not start listening; keeping the previous ones');
      for (const worker of fresh) {
        retiring.add(worker.id);
        worker.process.kill('SIGKILL');
      }
      return { ok: false, problems: [], error: 'the new workers did not start listening' };
    }
    for (const worker of previous) {
      retiring.add(worker.id);
      send(worker, { t: 'drain', deadlineMs: next.edge.shutdownTimeoutMs, handoverMs: RELOAD_HANDOVER_MS });
    }
    broadcastMachines();
    log.info({ reason, added, removed, workers: fresh.map((worker) => worker.process.pid) }, 'config reloaded');
    return { ok: true, problems, added, removed };
  }
  // For harnesses that start perch as a child: when they die without stopping it, so does perch.
  if (process.env.PERCH_EXIT_WITH_PARENT === '1') {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) void shutdown('parent exited');
    }, PARENT_POLL_MS).unref();
  }

  await prepareCertificates(config, log).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not prepare local-CA certificates; workers will make them'));
  for (let i = 0; i < config.workers; i++) fork();
  await fleet.startInitial();
  autoscaler.start();
  machinesSettled = true;
  maybeAnnounce();
}
