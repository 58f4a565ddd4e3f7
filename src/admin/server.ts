// The admin listener, served by the primary: health of perch itself and a
// Machines-API-shaped view of the machines.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PerchConfig } from '../config/model.ts';
import type { Fleet } from '../machines/fleet.ts';
import type { Machine } from '../machines/machine.ts';
import type { HealthMonitor, MachineHealthReport } from '../checks/monitor.ts';

export interface AdminDeps {
  config: PerchConfig;
  fleet: Fleet;
  health: HealthMonitor;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function machineJson(machine: Machine, health?: MachineHealthReport): Record<string, unknown> {
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
  };
}

export function createAdminServer(deps: AdminDeps): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const token = deps.config.admin.token;
    if (token !== null && req.headers.authorization !== `Bearer ${token}`) {
      json(res, 401, { error: 'a bearer token is required' });
      return;
    }
    const parts = url.pathname.split('/').filter(Boolean);
    if (url.pathname === '/healthz') {
      json(res, 200, { status: 'ok' });
    } else if (parts[0] === 'v1' && parts[1] === 'apps' && parts.length === 4 && parts[3] === 'machines' && req.method === 'GET') {
      const app = parts[2]!;
      if (!deps.config.apps.some((candidate) => candidate.name === app)) {
        json(res, 404, { error: `no app ${app}` });
        return;
      }
      const reports = new Map(deps.health.snapshot().map((report) => [report.id, report]));
      json(res, 200, [...deps.fleet.machines.values()].filter((machine) => machine.app.name === app).map((machine) => machineJson(machine, reports.get(machine.spec.id))));
    } else {
      json(res, 404, { error: 'not found' });
    }
  });
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
