// The admin listener, served by the primary: health of perch itself and a
// Machines-API-shaped view and control of the machines:
//   GET  /v1/apps/{app}/machines
//   GET  /v1/apps/{app}/machines/{id}
//   POST /v1/apps/{app}/machines/{id}/start | stop | suspend
//   GET  /v1/apps/{app}/machines/{id}/wait?state=started&timeout=60   (timeout in seconds, as Fly's)
//   GET  /v1/apps                      every app: machine count, services' limits, queues (perch's shape after Fly's list)
//   GET  /metrics                      Prometheus text format, summed across workers (src/metrics/)
//   GET  /                             the live status page (src/admin/status-page.ts)
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthMonitor, MachineHealthReport } from '../checks/monitor.ts';
import type { PerchConfig } from '../config/model.ts';
import type { Fleet } from '../machines/fleet.ts';
import type { Machine, MachineState } from '../machines/machine.ts';
import type { LoadView, RouteLoad } from '../metrics/primary-view.ts';
import { createServer } from '../proxy/node-http.ts';
import { STATUS_PAGE_HTML } from './status-page.ts';

export interface AdminDeps {
  config: PerchConfig;
  fleet: Fleet;
  health: HealthMonitor;
  /** Each machine's load and limits from the primary's ledger. */
  loads?: LoadView;
  /** GET /metrics. */
  metrics?: { readonly contentType: string; render(): Promise<string> };
  /** POST /v1/reload: re-read the config and apply it. */
  reload?: () => Promise<{ ok: boolean; problems: unknown[]; error?: string; added?: string[]; removed?: string[] }>;
}

const STATES: readonly MachineState[] = ['created', 'starting', 'started', 'stopping', 'stopped', 'suspending', 'suspended', 'failed', 'destroyed'];
const WAIT_DEFAULT_S = 60;

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function machineJson(machine: Machine, health?: MachineHealthReport, loads?: RouteLoad[]): Record<string, unknown> {
  // `load` and the limits are those of the app's first service (its HTTP service if it has one); `concurrency` lists every service.
  const main = loads?.[0];
  return {
    id: machine.spec.id,
    name: machine.spec.id,
    state: machine.state,
    region: machine.spec.region,
    process_group: machine.spec.processGroup,
    driver: machine.spec.address === null ? 'process' : 'static',
    private_ip: machine.host,
    ports: Object.fromEntries(machine.ports),
    pid: machine.pid,
    last_exit: machine.lastExit,
    failure: machine.failure,
    updated_at: machine.updatedAt,
    healthy: machine.healthy,
    rtt_ms: machine.rttMs,
    checks: health?.checks ?? [],
    health_reason: health?.reason ?? null,
    ...(main === undefined ? {} : { load: main.load, soft_limit: main.soft_limit, hard_limit: main.hard_limit, concurrency: loads }),
  };
}

/** Resolves when the machine is in `state`, or rejects after `timeoutMs`. */
function waitForState(fleet: Fleet, machine: Machine, state: MachineState, timeoutMs: number): Promise<boolean> {
  if (machine.state === state) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onChange = (changed: Machine): void => {
      if (changed !== machine || changed.state !== state) return;
      done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      fleet.off('change', onChange);
      resolve(ok);
    };
    fleet.on('change', onChange);
  });
}

export function createAdminServer(deps: AdminDeps): http.Server {
  const { fleet, health, loads } = deps;
  return createServer((req, res) => {
    // A reload replaces deps.config: read it per request.
    const config = deps.config;
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/' && req.method === 'GET') {
      // The page holds no data (it asks for the token, if any, and reads the API with it): served without one.
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(STATUS_PAGE_HTML), 'cache-control': 'no-store' });
      res.end(STATUS_PAGE_HTML);
      return;
    }
    const token = config.admin.token;
    if (token !== null && req.headers.authorization !== `Bearer ${token}`) {
      json(res, 401, { error: 'a bearer token is required' });
      return;
    }
    if (url.pathname === '/healthz') {
      json(res, 200, { status: 'ok' });
      return;
    }
    if (url.pathname === '/v1/reload' && req.method === 'POST' && deps.reload !== undefined) {
      deps.reload().then(
        (result) => json(res, result.ok ? 200 : 422, result),
        (err: unknown) => json(res, 500, { ok: false, problems: [], error: (err as Error).message }),
      );
      return;
    }
    if (url.pathname === '/metrics' && deps.metrics !== undefined) {
      const metrics = deps.metrics;
      metrics.render().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        },
        (err: unknown) => json(res, 500, { error: `metrics: ${(err as Error).message}` }),
      );
      return;
    }
    if (url.pathname === '/v1/apps' || url.pathname === '/v1/apps/') {
      json(res, 200, appsJson(config, fleet, loads));
      return;
    }
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'v1' || parts[1] !== 'apps' || parts[3] !== 'machines' || parts.length < 4) {
      json(res, 404, { error: 'not found' });
      return;
    }
    const app = config.apps.find((candidate) => candidate.name === parts[2]);
    if (app === undefined) {
      json(res, 404, { error: `no app ${parts[2]}` });
      return;
    }
    const reports = (): Map<string, MachineHealthReport> => new Map(health.snapshot().map((report) => [report.id, report]));
    if (parts.length === 4) {
      if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
      const snapshot = reports();
      json(res, 200, [...fleet.machines.values()].filter((machine) => machine.app === app).map((machine) => machineJson(machine, snapshot.get(machine.spec.id), loads?.routeLoads(machine))));
      return;
    }
    const machine = fleet.get(parts[4]!);
    if (machine === undefined || machine.app !== app) {
      json(res, 404, { error: `no machine ${parts[4]} in app ${app.name}` });
      return;
    }
    const action = parts[5];
    if (action === undefined && req.method === 'GET') {
      json(res, 200, machineJson(machine, reports().get(machine.spec.id), loads?.routeLoads(machine)));
    } else if ((action === 'start' || action === 'stop' || action === 'suspend') && req.method === 'POST') {
      const previous = machine.state;
      const run = action === 'start' ? fleet.start(machine.spec.id) : action === 'stop' ? fleet.stop(machine.spec.id) : fleet.suspend(machine.spec.id);
      run.then(
        () => json(res, 200, { ok: true, previous_state: previous, state: machine.state }),
        (err: unknown) => json(res, 500, { ok: false, previous_state: previous, state: machine.state, error: (err as Error).message }),
      );
    } else if (action === 'wait' && req.method === 'GET') {
      const state = (url.searchParams.get('state') ?? 'started') as MachineState;
      if (!STATES.includes(state)) return json(res, 400, { error: `unknown state ${state}; one of ${STATES.join(', ')}` });
      const timeoutS = Number(url.searchParams.get('timeout') ?? WAIT_DEFAULT_S);
      if (!(timeoutS > 0)) return json(res, 400, { error: 'timeout is a number of seconds above 0' });
      waitForState(fleet, machine, state, timeoutS * 1000).then((ok) => (ok ? json(res, 200, { ok: true, state }) : json(res, 408, { ok: false, state: machine.state, error: `not ${state} within ${timeoutS} s` })));
    } else {
      json(res, 404, { error: 'not found' });
    }
  });
}

/** GET /v1/apps: Fly's list (`total_apps`, `apps[].name`, `machine_count`) with perch's services, limits and queues. */
function appsJson(config: PerchConfig, fleet: Fleet, loads: LoadView | undefined): Record<string, unknown> {
  const apps = config.apps.map((app) => {
    const machines = [...fleet.machines.values()].filter((machine) => machine.app === app);
    const queues = loads?.queues(app) ?? [];
    return {
      name: app.name,
      primary_region: app.primaryRegion,
      hostnames: app.hostnames,
      machine_count: machines.length,
      started: machines.filter((machine) => machine.state === 'started').length,
      queued: queues.reduce((sum, queue) => sum + queue.queued, 0),
      queues,
    };
  });
  return { region: config.region, total_apps: apps.length, apps };
}

export function listenAdmin(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host === '' ? undefined : host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
