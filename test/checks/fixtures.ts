// Helpers for the health checker's tests: the hello demo app as a child
// process, a port nobody listens on, hand-built machines, and polling.
import { spawn } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { NamedCheck, ServiceCheck } from '../../src/config/model.ts';
import type { CheckedMachine } from '../../src/checks/plan.ts';

const HELLO = fileURLToPath(new URL('../../src/demo/hello.ts', import.meta.url));

export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

export interface Hello {
  port: number;
  pid: number;
  /** POSTs /health/fail or /health/ok. */
  setHealthy(healthy: boolean): Promise<void>;
}

/** Starts src/demo/hello.ts on 127.0.0.1 and a kernel-chosen port; stopped at the host's teardown. */
export async function startHello(t: TeardownHost, machineId = 'hello'): Promise<Hello> {
  const child = spawn(process.execPath, [HELLO], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', FLY_MACHINE_ID: machineId },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hello did not say where it listens within 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`hello exited (code ${code}) before listening`)));
    lines.on('line', (line) => {
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
  return {
    port,
    pid: child.pid!,
    async setHealthy(healthy) {
      const response = await request(`http://127.0.0.1:${port}/health/${healthy ? 'ok' : 'fail'}`, { method: 'POST', reset: true });
      await response.body.dump();
    },
  };
}

/** A port that refuses connections: bound by the kernel, then released. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function check(name: string, over: Partial<ServiceCheck> = {}): ServiceCheck {
  return {
    kind: 'http',
    name,
    port: 8080,
    gracePeriodMs: 0,
    intervalMs: 100,
    timeoutMs: 500,
    method: 'GET',
    path: '/healthz',
    protocol: 'http',
    headers: {},
    tlsSkipVerify: false,
    tlsServerName: null,
    ...over,
  };
}

export interface MachineOptions {
  /** Checks of the app's HTTP service (internal port 8080). */
  serviceChecks?: ServiceCheck[];
  /** Top-level [checks]. */
  topChecks?: ServiceCheck[];
  /** Internal port → reachable port. */
  ports: [number, number][];
  host?: string;
}

/** A Machine-shaped plain object of app `test`, process group `app`. */
export function machine(id: string, options: MachineOptions): CheckedMachine {
  const topChecks: NamedCheck[] = (options.topChecks ?? []).map((c) => ({ ...c, processes: ['app'] }));
  return {
    spec: { id, processGroup: 'app' },
    app: { name: 'test', httpService: { processes: ['app'], checks: options.serviceChecks ?? [] }, services: [], checks: topChecks },
    host: options.host ?? '127.0.0.1',
    ports: new Map(options.ports),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `cond` every 10 ms; resolves with the elapsed ms, rejects after `timeoutMs` naming `what`. */
export async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<number> {
  const started = performance.now();
  while (!cond()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(10);
  }
  return performance.now() - started;
}
