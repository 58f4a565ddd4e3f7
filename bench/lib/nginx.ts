// nginx as the non-Node reference, when it is installed: one worker process,
// keep-alive to the upstream, everything (pid, logs, temp files) in a temp dir.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { freePort, waitForPort } from './ports.ts';
import type { TargetEnvironment } from './targets.ts';
import type { RunningProcess } from './processes.ts';

/** The nginx binary, or undefined when it is not installed. */
export function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'];
  for (const dir of dirs) {
    if (dir !== '' && existsSync(path.join(dir, 'nginx'))) return path.join(dir, 'nginx');
  }
  return undefined;
}

/** A TLS listener (ssl + http2) next to the plain one, proxying to the same upstream. */
export interface NginxTls {
  port: number;
  /** PEM file holding the certificate and its key (nginx reads both from one file). */
  certFile: string;
}

export function nginxConfig(dir: string, listenPort: number, backendPort: number, tls?: NginxTls): string {
  const tlsServer =
    tls === undefined
      ? ''
      : `
  server {
    listen 127.0.0.1:${tls.port} ssl http2;
    ssl_certificate ${tls.certFile};
    ssl_certificate_key ${tls.certFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
`;
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${process.getuid?.() === 0 ? '# Running as root: keep the worker as root so it can use the temp dir.\nuser root;\n' : ''}
events {
  worker_connections 1024;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # nginx closes a keep-alive connection after 1000 requests by default; the
  # Node peers never do, so lift it on both sides to compare like with like.
  keepalive_requests 1000000;

  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 128;
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
${tlsServer}}
`;
}

/**
 * nginx on `nginxConfig` in <tmpDir>/<name>/ (plain listener, and TLS when
 * `tls` is given), started through `start` (a registry or context start), probed
 * by TCP connect on every port it listens on.
 */
export async function launchNginx(options: {
  start: (o: { name: string; command: string; args: readonly string[]; core: number | undefined }) => RunningProcess;
  tmpDir: string;
  name: string;
  backendPort: number;
  core: number | undefined;
  tls?: Omit<NginxTls, 'port'>;
}): Promise<{ origin: string; tlsPort: number | null; process: RunningProcess; details: Record<string, unknown> }> {
  const binary = findNginx();
  if (binary === undefined) throw new Error('not installed');
  const version = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr.trim();
  const dir = path.join(options.tmpDir, options.name);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const tls = options.tls === undefined ? undefined : { ...options.tls, port: await freePort() };
  const conf = nginxConfig(dir, port, options.backendPort, tls);
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const process = options.start({
    name: options.name,
    command: binary,
    args: ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    core: options.core,
  });
  try {
    await waitForPort(port, 10_000);
    if (tls !== undefined) await waitForPort(tls.port, 10_000);
  } catch (err) {
    await process.stop();
    throw new Error(`${(err as Error).message}: ${process.output().trim() || process.exitDescription}`);
  }
  return { origin: `http://127.0.0.1:${port}`, tlsPort: tls?.port ?? null, process, details: { binary, version, config: conf } };
}

export async function startNginx(
  env: TargetEnvironment,
): Promise<{ origin: string; process: RunningProcess; details: Record<string, unknown> }> {
  const binary = findNginx();
  if (binary === undefined) throw new Error('not installed');
  const version = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr; // nginx -v prints to stderr

  const dir = path.join(env.tmpDir, 'nginx');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = nginxConfig(dir, port, env.backend.port);
  writeFileSync(path.join(dir, 'nginx.conf'), conf);

  const process = env.registry.start({
    name: 'nginx',
    command: binary,
    // -p and -e keep nginx away from /var/log/nginx and /etc/nginx entirely.
    args: ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'],
    core: env.proxyCore,
    logFile: path.join(env.tmpDir, 'nginx.log'),
  });
  try {
    await waitForPort(port, 10_000);
  } catch (err) {
    await process.stop();
    throw new Error(`${(err as Error).message}: ${process.output().trim() || process.exitDescription}`);
  }
  return { origin: `http://127.0.0.1:${port}`, process, details: { binary, version: version.trim(), config: conf } };
}
