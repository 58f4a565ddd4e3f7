// Starts perch itself (src/cli.ts start) on a generated config: one app,
// "bench", routed by Host bench.local to one static machine (the backend,
// which perch does not run). perch reports readiness with one JSON log line
// {"msg":"perch ready","http":["127.0.0.1:PORT"],"admin":"…","pids":{…}}.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TargetEnvironment } from './targets.ts';
import type { RunningProcess } from './processes.ts';

export interface PerchReady {
  http: string[];
  admin: string;
  pids: { primary: number; workers: number[] };
}

/** The perch.toml and apps/bench.toml the bench runs perch with. */
export function perchConfig(backendPort: number, workers: number): { 'perch.toml': string; 'apps/bench.toml': string } {
  return {
    // Top-level keys first: in TOML, keys after a [table] header belong to it.
    'perch.toml': `region = "bench"
workers = ${workers}
apps = ["apps/*.toml"]

[http]
listen = ["127.0.0.1:0"]

[https]
listen = []

[admin]
listen = "127.0.0.1:0"
`,
    'apps/bench.toml': `app = "bench"
hostnames = ["bench.local"]

[http_service]
internal_port = ${backendPort}

[http_service.concurrency]
type = "requests"
soft_limit = 1000

[[machines]]
address = "127.0.0.1:${backendPort}"
`,
  };
}

export async function startPerch(
  env: TargetEnvironment,
): Promise<{ origin: string; process: RunningProcess; details: Record<string, unknown> }> {
  const cli = path.resolve(env.repoRoot, env.perchCli);
  if (!existsSync(cli)) throw new Error(`${env.perchCli} does not exist`);

  const dir = path.join(env.tmpDir, 'perch');
  mkdirSync(path.join(dir, 'apps'), { recursive: true });
  const files = perchConfig(env.backend.port, env.perchWorkers);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);

  const process = env.registry.start({
    name: 'perch',
    command: globalThis.process.execPath,
    args: [cli, 'start', path.join(dir, 'perch.toml')],
    cwd: env.repoRoot,
    core: env.proxyCore,
    logFile: path.join(env.tmpDir, 'perch.log'),
  });
  try {
    const ready = await process.waitFor((line) => {
      if (!line.includes('"perch ready"')) return undefined;
      const parsed = JSON.parse(line) as Partial<PerchReady> & { msg?: string };
      return parsed.msg === 'perch ready' ? parsed : undefined;
    }, 20_000);
    const address = ready.http?.[0];
    if (address === undefined) throw new Error('"perch ready" line has no http address');
    return {
      origin: `http://${address}`,
      process,
      details: { config: files, ready: { http: ready.http, admin: ready.admin, pids: ready.pids } },
    };
  } catch (err) {
    await process.stop();
    throw err;
  }
}
