// Starts perch itself (bin/perch.js start, as npm start does) on a generated config: by default one
// app, "bench", routed by Host bench.local to one static machine (the backend,
// which perch does not run). perch reports readiness with one JSON log line
// {"msg":"perch ready","http":["127.0.0.1:PORT"],"admin":"…","pids":{…}}.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TargetEnvironment } from './targets.ts';
import type { ProcessRegistry, RunningProcess } from './processes.ts';

export interface PerchReady {
  http: string[];
  /** HTTPS listeners ("127.0.0.1:PORT"); empty without `[https] listen`. */
  https: string[];
  admin: string;
  pids: { primary: number; workers: number[] };
}

/**
 * perch.toml: one region, `workers` workers, HTTP and admin on loopback ports the OS picks;
 * `autostopInterval` when a scenario must keep autostop from running during its windows.
 */
export function perchToml(workers: number, autostopInterval?: string): string {
  // Top-level keys first: in TOML, keys after a [table] header belong to it.
  return `region = "bench"
workers = ${workers}
${autostopInterval === undefined ? '' : `autostop_interval = "${autostopInterval}"\n`}apps = ["apps/*.toml"]

[http]
listen = ["127.0.0.1:0"]

[https]
listen = []

[admin]
listen = "127.0.0.1:0"
`;
}

/**
 * apps/<app>.toml: an app of static machines (one per backend port, perch
 * neither starts nor stops them) with `type = "requests"` concurrency.
 */
export function benchAppToml(options: { app: string; hostname: string; backendPorts: readonly number[]; softLimit: number; hardLimit?: number }): string {
  const lines = [
    `app = "${options.app}"`,
    `hostnames = ["${options.hostname}"]`,
    '',
    '[http_service]',
    // Static machines: the address's port is what the internal port maps to.
    `internal_port = ${options.backendPorts[0] ?? 8080}`,
    '',
    '[http_service.concurrency]',
    'type = "requests"',
    `soft_limit = ${options.softLimit}`,
  ];
  if (options.hardLimit !== undefined) lines.push(`hard_limit = ${options.hardLimit}`);
  for (const port of options.backendPorts) lines.push('', '[[machines]]', `address = "127.0.0.1:${port}"`);
  return `${lines.join('\n')}\n`;
}

/** The perch.toml and apps/bench.toml the forwarding bench runs perch with. */
export function perchConfig(backendPort: number, workers: number): Record<string, string> {
  return {
    'perch.toml': perchToml(workers),
    'apps/bench.toml': benchAppToml({ app: 'bench', hostname: 'bench.local', backendPorts: [backendPort], softLimit: 1000 }),
  };
}

export interface LaunchedPerch {
  /** http://127.0.0.1:PORT of the first HTTP listener. */
  origin: string;
  /** http://127.0.0.1:PORT of the admin listener. */
  adminOrigin: string;
  process: RunningProcess;
  ready: PerchReady;
  details: Record<string, unknown>;
}

/**
 * Writes `files` (perch.toml and apps/*.toml, paths relative to the config
 * dir) into <tmpDir>/<name>/ and starts perch on them, logging to
 * <tmpDir>/<name>.log, pinned with taskset to `core` when given.
 */
export async function launchPerch(options: {
  registry: ProcessRegistry;
  repoRoot: string;
  tmpDir: string;
  perchCli: string;
  name: string;
  files: Record<string, string>;
  core: number | string | undefined;
  env?: Record<string, string>;
}): Promise<LaunchedPerch> {
  const cli = path.resolve(options.repoRoot, options.perchCli);
  if (!existsSync(cli)) throw new Error(`${options.perchCli} does not exist`);

  const dir = path.join(options.tmpDir, options.name);
  for (const [name, text] of Object.entries(options.files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }

  const process = options.registry.start({
    name: options.name,
    command: globalThis.process.execPath,
    args: [cli, 'start', path.join(dir, 'perch.toml')],
    cwd: options.repoRoot,
    env: options.env,
    core: options.core,
    logFile: path.join(options.tmpDir, `${options.name}.log`),
  });
  try {
    const ready = await process.waitFor((line) => {
      if (!line.includes('"perch ready"')) return undefined;
      const parsed = JSON.parse(line) as Partial<PerchReady> & { msg?: string };
      return parsed.msg === 'perch ready' ? parsed : undefined;
    }, 20_000);
    const address = ready.http?.[0];
    if (address === undefined) throw new Error('"perch ready" line has no http address');
    if (ready.admin === undefined) throw new Error('"perch ready" line has no admin address');
    const complete: PerchReady = { http: ready.http ?? [], https: ready.https ?? [], admin: ready.admin, pids: ready.pids ?? { primary: process.pid, workers: [] } };
    return {
      origin: `http://${address}`,
      adminOrigin: `http://${ready.admin}`,
      process,
      ready: complete,
      details: { config: options.files, ready: complete },
    };
  } catch (err) {
    await process.stop();
    throw err;
  }
}

export async function startPerch(
  env: TargetEnvironment,
): Promise<{ origin: string; process: RunningProcess; details: Record<string, unknown> }> {
  const perch = await launchPerch({
    registry: env.registry,
    repoRoot: env.repoRoot,
    tmpDir: env.tmpDir,
    perchCli: env.perchCli,
    name: 'perch',
    files: perchConfig(env.backend.port, env.perchWorkers),
    core: env.proxyCore,
  });
  return { origin: perch.origin, process: perch.process, details: perch.details };
}
