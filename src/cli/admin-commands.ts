// The CLI commands that talk to a running perch through its admin API:
//
//   perch status [path/to/perch.toml] [--admin host:port] [--token t]
//   perch machines list [--app name]
//   perch machines start|stop|suspend <id> [--app name]
//   perch reload [path/to/perch.toml]
//
// (machines take --config path/to/perch.toml, --admin and --token too.)
import { parseArgs } from 'node:util';
import { adminCall, CliError, listApps, listMachines, resolveAdmin, type AdminTarget, type MachineReply } from './admin-client.ts';
import { formatTable, type Column } from './table.ts';

export const ADMIN_USAGE = `  status [path/to/perch.toml]  apps and machines of a running perch: state, region, load vs limits, health, RTT
  machines list [--app name]   the machines of every app (or one)
  machines start|stop|suspend <id> [--app name]
                               a machine transition (stop and suspend drain first)
  reload [path/to/perch.toml]  a running perch re-reads its config and applies it (like SIGHUP)

options of status and machines:
  --admin host:port            where perch's admin API listens (default: [admin] listen of the config)
  --token token                the admin API's bearer token (default: PERCH_ADMIN_TOKEN, or the config's)
  -c, --config path            the config to read the admin address from (machines; status takes it as argument)
`;

/** A mistake in the command line (exit 2). */
class UsageError extends CliError {}

const ACTIONS = ['start', 'stop', 'suspend'] as const;
type Action = (typeof ACTIONS)[number];

/** Runs `status`, `machines` or `reload`; returns the exit code. */
export async function runAdminCommand(command: 'status' | 'machines' | 'reload', argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    const { positionals, values } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        admin: { type: 'string' },
        token: { type: 'string' },
        app: { type: 'string', short: 'a' },
        config: { type: 'string', short: 'c' },
      },
    });
    if (command === 'reload') {
      if (positionals.length > 1) throw new UsageError(`reload: unexpected arguments: ${positionals.slice(1).join(' ')}`);
      const target = await resolveAdmin({ admin: values.admin, token: values.token, config: positionals[0] ?? values.config });
      const reply = await adminCall<{ ok: boolean; error?: string; problems: { severity: string; file: string; path: string; expected: string; found: string }[]; added?: string[]; removed?: string[] }>(target, 'POST', '/v1/reload');
      const { ok, error, problems, added = [], removed = [] } = reply.body;
      for (const p of problems) out.write(`${p.severity.padEnd(8)} ${p.file}  ${p.path}  expected ${p.expected}, found ${p.found}\n`);
      if (!ok) throw new CliError(`reload refused${error === undefined ? ': the config has errors; the running one stays' : `: ${error}`}`);
      out.write(`reloaded${added.length > 0 ? `; machines added: ${added.join(', ')}` : ''}${removed.length > 0 ? `; removed: ${removed.join(', ')}` : ''}\n`);
      return 0;
    }
    if (command === 'status') {
      if (positionals.length > 1) throw new UsageError(`status: unexpected arguments: ${positionals.slice(1).join(' ')}`);
      const target = await resolveAdmin({ admin: values.admin, token: values.token, config: positionals[0] ?? values.config });
      out.write(`${await statusText(target)}\n`);
      return 0;
    }
    const target = await resolveAdmin({ admin: values.admin, token: values.token, config: values.config });
    const [sub, id, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`machines: unexpected arguments: ${rest.join(' ')}`);
    if (sub === 'list' || sub === undefined) {
      if (id !== undefined) throw new UsageError(`machines list takes no machine id (--app name picks an app)`);
      out.write(`${await machinesText(target, values.app)}\n`);
      return 0;
    }
    if (!(ACTIONS as readonly string[]).includes(sub)) throw new UsageError(`machines: unknown subcommand ${sub} (list, start, stop, suspend)`);
    if (id === undefined) throw new UsageError(`machines ${sub}: which machine? perch machines ${sub} <id>`);
    const line = await transition(target, sub as Action, id, values.app);
    out.write(`${line}\n`);
    return 0;
  } catch (error) {
    if (error instanceof CliError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      err.write(`perch ${command}: ${(error as Error).message}\n`);
      // A usage mistake exits 2 (like the other commands); a failure at perch's end 1.
      return error instanceof CliError && !(error instanceof UsageError) ? 1 : 2;
    }
    throw error;
  }
}

function rtt(ms: number | null): string {
  return ms === null ? '-' : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

function health(machine: MachineReply): string {
  if (machine.state !== 'started') return '-';
  const checks = machine.checks ?? [];
  const passing = checks.filter((check) => check.status === 'passing').length;
  return `${machine.healthy ? 'healthy' : 'unhealthy'}${checks.length > 0 ? ` (${passing}/${checks.length} checks)` : ''}`;
}

const STATUS_COLUMNS: Column[] = [
  { title: 'APP' },
  { title: 'MACHINE' },
  { title: 'REGION' },
  { title: 'STATE' },
  { title: 'HEALTH' },
  { title: 'LOAD', align: 'right' },
  { title: 'SOFT', align: 'right' },
  { title: 'HARD', align: 'right' },
  { title: 'TYPE' },
  { title: 'RTT', align: 'right' },
];

/** What `perch status` prints: one row per machine, a summary line per app. */
export async function statusText(target: AdminTarget): Promise<string> {
  const apps = await listApps(target);
  const rows: string[][] = [];
  const summaries: string[] = [];
  for (const app of apps.apps) {
    const machines = await listMachines(target, app.name);
    for (const machine of machines) {
      rows.push([
        app.name,
        machine.id,
        machine.region,
        machine.state,
        health(machine),
        machine.load === undefined ? '-' : String(machine.load),
        machine.soft_limit === undefined ? '-' : String(machine.soft_limit),
        machine.hard_limit === undefined || machine.hard_limit === null ? '-' : String(machine.hard_limit),
        machine.concurrency?.[0]?.type ?? '-',
        rtt(machine.rtt_ms),
      ]);
    }
    const load = machines.reduce((sum, machine) => sum + (machine.load ?? 0), 0);
    summaries.push(`${app.name}: ${app.started}/${app.machine_count} started, load ${load}, ${app.queued} queued`);
  }
  const header = `perch edge ${apps.region} (admin ${target.origin.slice('http://'.length)}): ${apps.total_apps} app${apps.total_apps === 1 ? '' : 's'}`;
  return [header, '', formatTable(STATUS_COLUMNS, rows), '', ...summaries].join('\n');
}

const MACHINE_COLUMNS: Column[] = [
  { title: 'ID' },
  { title: 'APP' },
  { title: 'STATE' },
  { title: 'REGION' },
  { title: 'PROCESS' },
  { title: 'DRIVER' },
  { title: 'ADDRESS' },
  { title: 'PID', align: 'right' },
  { title: 'HEALTH' },
];

export async function machinesText(target: AdminTarget, only: string | undefined): Promise<string> {
  const names = only !== undefined ? [only] : (await listApps(target)).apps.map((app) => app.name);
  const rows: string[][] = [];
  for (const name of names) {
    for (const machine of await listMachines(target, name)) {
      const port = Object.values(machine.ports)[0];
      const host = machine.private_ip.includes(':') ? `[${machine.private_ip}]` : machine.private_ip;
      rows.push([machine.id, name, machine.state, machine.region, machine.process_group, machine.driver, port === undefined ? host : `${host}:${port}`, machine.pid === null ? '-' : String(machine.pid), health(machine)]);
    }
  }
  return formatTable(MACHINE_COLUMNS, rows);
}

/** The app a machine id belongs to: --app when given, else the one that lists it. */
async function appOf(target: AdminTarget, id: string, app: string | undefined): Promise<string> {
  if (app !== undefined) return app;
  for (const { name } of (await listApps(target)).apps) {
    if ((await listMachines(target, name)).some((machine) => machine.id === id)) return name;
  }
  throw new CliError(`no machine ${id} in any app`);
}

async function transition(target: AdminTarget, action: Action, id: string, app: string | undefined): Promise<string> {
  const name = await appOf(target, id, app);
  const path = `/v1/apps/${encodeURIComponent(name)}/machines/${encodeURIComponent(id)}/${action}`;
  const reply = await adminCall<{ ok?: boolean; previous_state?: string; state?: string; error?: string }>(target, 'POST', path);
  if (reply.status !== 200 || reply.body.ok !== true) {
    throw new CliError(`${action} ${id} failed: ${reply.body.error ?? `HTTP ${reply.status}`}${reply.body.state === undefined ? '' : ` (now ${reply.body.state})`}`);
  }
  return `${id} (${name}): ${reply.body.previous_state} → ${reply.body.state}`;
}
