// How the CLI reaches a running perch: its admin API. The address comes from
// --admin host:port, else from the config's [admin] listen (the config given,
// or the embedded default); the token from --token, else PERCH_ADMIN_TOKEN,
// else the config's [admin] token.
import { request } from 'undici';
import { EMBEDDED_CONFIG_PATH, loadConfig } from '../config/load.ts';

const REQUEST_TIMEOUT_MS = 30_000;

export class CliError extends Error {}

export interface AdminTarget {
  /** http://host:port */
  origin: string;
  token: string | null;
}

export interface AdminOptions {
  admin?: string;
  token?: string;
  config?: string;
}

/** "host:port" as the CLI takes it: a bare port means loopback; an all-interfaces address means loopback too. */
export function adminOrigin(address: string): string {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address) ?? /^()()(\d{1,5})$/.exec(address);
  if (match === null) throw new CliError(`--admin: expected host:port, found ${JSON.stringify(address)}`);
  const host = connectHost(match[1] ?? match[2] ?? '');
  return `http://${host.includes(':') ? `[${host}]` : host}:${Number(match[3])}`;
}

function connectHost(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

export async function resolveAdmin(options: AdminOptions, env: NodeJS.ProcessEnv = process.env): Promise<AdminTarget> {
  let token = options.token ?? env.PERCH_ADMIN_TOKEN ?? null;
  if (options.admin !== undefined) return { origin: adminOrigin(options.admin), token };
  const path = options.config ?? EMBEDDED_CONFIG_PATH;
  const { config } = await loadConfig(path);
  if (config === null) throw new CliError(`${path} has errors (perch check ${path}); say where perch's admin API is with --admin host:port`);
  const { host, port } = config.admin.listen;
  if (port === 0) throw new CliError(`${path} lets the admin API pick its port ([admin] listen port 0); say which with --admin host:port`);
  token ??= config.admin.token;
  const connect = connectHost(host);
  return { origin: `http://${connect.includes(':') ? `[${connect}]` : connect}:${port}`, token };
}

export interface AdminReply<T> {
  status: number;
  body: T;
}

/** One admin API call; a connection failure or a refused token becomes a CliError that says what to do. */
export async function adminCall<T>(target: AdminTarget, method: 'GET' | 'POST', path: string): Promise<AdminReply<T>> {
  let response;
  try {
    response = await request(`${target.origin}${path}`, {
      method,
      headers: target.token === null ? {} : { authorization: `Bearer ${target.token}` },
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot reach perch's admin API at ${target.origin} (${code ?? (err as Error).message}): is perch running? (--admin host:port says where)`);
  }
  const text = await response.body.text();
  if (response.statusCode === 401) throw new CliError(`the admin API at ${target.origin} wants a token: --token or PERCH_ADMIN_TOKEN`);
  let body: T;
  try {
    body = JSON.parse(text) as T;
  } catch {
    throw new CliError(`${method} ${path}: HTTP ${response.statusCode}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.statusCode, body };
}

/** The fields of GET /v1/apps the CLI reads. */
export interface AppsReply {
  region: string;
  total_apps: number;
  apps: { name: string; machine_count: number; started: number; queued: number }[];
}

/** The fields of a machine (GET /v1/apps/{app}/machines) the CLI reads. */
export interface MachineReply {
  id: string;
  state: string;
  region: string;
  process_group: string;
  driver: string;
  private_ip: string;
  ports: Record<string, number>;
  pid: number | null;
  healthy: boolean;
  health_reason: string | null;
  rtt_ms: number | null;
  checks: { name: string; status: string }[];
  load?: number;
  soft_limit?: number;
  hard_limit?: number | null;
  concurrency?: { type: string }[];
}

export async function listApps(target: AdminTarget): Promise<AppsReply> {
  const reply = await adminCall<AppsReply>(target, 'GET', '/v1/apps');
  if (reply.status !== 200) throw new CliError(`GET /v1/apps: HTTP ${reply.status}`);
  return reply.body;
}

export async function listMachines(target: AdminTarget, app: string): Promise<MachineReply[]> {
  const reply = await adminCall<MachineReply[] | { error: string }>(target, 'GET', `/v1/apps/${encodeURIComponent(app)}/machines`);
  if (reply.status !== 200) throw new CliError((reply.body as { error?: string }).error ?? `GET machines of ${app}: HTTP ${reply.status}`);
  return reply.body as MachineReply[];
}
