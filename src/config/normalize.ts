// From parsed TOML to PerchConfig, with no I/O of its own: validate each file
// against its schema, check what a schema cannot (references between keys
// and between files), and map the result onto the runtime model. Tests call
// buildConfig directly with parsed objects.
//
// Every problem is collected; nothing stops at the first. A file with schema
// errors is left out of the later checks (its data cannot be trusted), but the
// other files still get all of theirs.
import path from 'node:path';
import type {
  AppConfig, AppLimits, AutoStop, ConfigProblem, Concurrency, EdgeLimits, HttpOptions, HttpServiceConfig,
  ListenAddress, LoadResult, MachineSpec, NamedCheck, PerchConfig, PortSpec, ServiceCheck, ServiceCommon,
  ServiceConfig, Signal, TlsOptions,
} from './model.ts';
import {
  defaultLimits, validateAppToml, validatePerchToml,
  type AppToml, type AutoStopToml, type ConcurrencyToml, type HttpCheckToml, type HttpOptionsToml,
  type PerchLimitsToml, type PerchToml, type ServiceToml, type TcpCheckToml, type TlsOptionsToml,
} from './schema.ts';
import { keyPath } from './format.ts';

/** What the build needs from the machine it runs on, injected so tests are repeatable. */
export interface BuildEnv {
  /** Default for `workers` (os.availableParallelism()). */
  cpuCount: number;
  /** What `~` means in paths. */
  homeDir: string;
  fileExists: (file: string) => boolean;
}

export interface ParsedFile {
  /** Absolute path. */
  file: string;
  /** What the TOML parser gave. */
  data: unknown;
}

export interface BuildInput {
  perchFile: string;
  /** undefined when perch.toml could not be read or parsed (that problem is already reported). */
  perch: unknown;
  /** App files that parsed; the others are already reported. */
  apps: ParsedFile[];
}

type Segment = string | number;

/** Reports one problem in one file. */
type Report = (at: Segment[], expected: string, found: string, options?: { warning?: boolean; message?: string }) => void;

/** `dropped`: paths of bad values left out to salvage the file; problems at, above or below them are not reported again. */
function reporter(file: string, problems: ConfigProblem[], dropped: readonly string[] = []): Report {
  return (at, expected, found, options = {}) => {
    const path = keyPath(at);
    if (dropped.some((bad) => related(bad, path))) return;
    const problem: ConfigProblem = { severity: options.warning === true ? 'warning' : 'error', file, path, expected, found };
    if (options.message !== undefined) problem.message = options.message;
    problems.push(problem);
  };
}

/** Whether one key path is the other, or lies inside it. */
function related(a: string, b: string): boolean {
  const inside = (outer: string, inner: string): boolean => inner === outer || inner.startsWith(`${outer}.`) || inner.startsWith(`${outer}[`);
  return a === '' || b === '' || inside(a, b) || inside(b, a);
}

/** Where things came from in an app file, for problems found across files. */
interface Origins {
  hostnames: { name: string; at: Segment[] }[];
  /** Parallel to AppConfig.machines. */
  machines: Segment[][];
  ports: { at: Segment[]; protocol: 'tcp' | 'udp'; start: number; end: number }[];
}

interface AppDraft extends Origins {
  app: AppConfig;
  report: Report;
}

/** What an app inherits from perch.toml (or stand-ins when perch.toml itself is broken). */
interface EdgeDefaults {
  region: string;
  limits: PerchLimitsToml;
}

export function buildConfig(input: BuildInput, env: BuildEnv): LoadResult {
  const problems: ConfigProblem[] = [];
  const perchReport = reporter(input.perchFile, problems);

  let perch: PerchToml | null = null;
  if (input.perch !== undefined) {
    const validated = validatePerchToml(input.perch, input.perchFile);
    problems.push(...validated.problems);
    // With bad values dropped, the checks across keys still run; the config is refused either way.
    perch = validated.value ?? validated.salvaged;
  }
  const edge: EdgeDefaults = perch === null ? { region: 'unknown', limits: defaultLimits() } : { region: perch.region, limits: perch.limits };

  const drafts: AppDraft[] = [];
  for (const { file, data } of input.apps) {
    const validated = validateAppToml(data, file);
    problems.push(...validated.problems);
    const usable = validated.value ?? validated.salvaged;
    if (usable !== null) drafts.push(normalizeApp(usable, file, edge, reporter(file, problems, validated.dropped)));
  }
  // A second file with the same app name is reported once, then left out
  // of the other cross-file checks (its hostnames and ids would all clash too).
  const unique = checkAppNames(drafts);
  checkHostnames(unique);
  checkMachineIds(unique);
  checkServicePorts(unique);

  let config: PerchConfig | null = null;
  if (perch !== null) {
    const apps = unique.map((d) => d.app);
    const edgeConfig = normalizePerch(perch, input.perchFile, env, perchReport);
    checkListenerPorts(edgeConfig, unique, perchReport);
    config = { ...edgeConfig, regions: regionOrder(perch, apps, perchReport), apps };
  }
  const refused = problems.some((p) => p.severity === 'error');
  return { config: refused ? null : config, problems };
}

// ---------------------------------------------------------------- perch.toml

function normalizePerch(raw: PerchToml, file: string, env: BuildEnv, report: Report): Omit<PerchConfig, 'regions' | 'apps'> {
  const dir = path.dirname(file);
  const certificates = raw.https.certificates.map((c, i) => {
    const cert = resolvePath(c.cert, dir, env.homeDir);
    const key = resolvePath(c.key, dir, env.homeDir);
    if (!env.fileExists(cert)) report(['https', 'certificates', i, 'cert'], 'an existing certificate file', cert, { message: 'no such file' });
    if (!env.fileExists(key)) report(['https', 'certificates', i, 'key'], 'an existing key file', key, { message: 'no such file' });
    return { hostnames: c.hostnames.map((h) => h.toLowerCase()), cert, key };
  });
  const token = raw.admin.token ?? null;
  if (token === null && !isLoopback(raw.admin.listen.host)) {
    report(['admin', 'token'], 'a token, because admin.listen is not a loopback address', 'nothing',
      { message: `the admin API on ${formatAddress(raw.admin.listen)} would be open to the network` });
  }
  const edge: EdgeLimits = {
    requestHeadBytes: raw.limits.request_head_size,
    requestHeadTimeoutMs: raw.limits.request_head_timeout,
    shutdownTimeoutMs: raw.limits.shutdown_timeout,
  };
  return {
    source: file,
    region: raw.region,
    workers: raw.workers ?? env.cpuCount,
    autostopIntervalMs: raw.autostop_interval,
    http: { listen: raw.http.listen },
    https: {
      listen: raw.https.listen,
      certificates,
      defaultSelfSigned: raw.https.default_self_signed,
      caDir: resolvePath(raw.https.ca_dir, dir, env.homeDir),
    },
    admin: { listen: raw.admin.listen, token },
    edge,
  };
}

/** `~` is the home directory; relative paths are relative to perch.toml's directory. */
function resolvePath(file: string, dir: string, homeDir: string): string {
  if (file === '~') return homeDir;
  if (file.startsWith('~/')) return path.join(homeDir, file.slice(2));
  return path.resolve(dir, file);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function formatAddress(address: ListenAddress): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/**
 * Closeness before any RTT is measured: perch's own region first, then the
 * configured `regions`, then any other region that has machines, alphabetically.
 */
function regionOrder(raw: PerchToml, apps: AppConfig[], report: Report): string[] {
  const own = raw.region;
  const configured = raw.regions ?? [];
  if (configured.includes(own) && configured[0] !== own) {
    report(['regions'], `a list starting with perch's own region "${own}"`, JSON.stringify(configured));
  }
  const order = [own, ...configured.filter((r) => r !== own)];
  const machineRegions = [...new Set(apps.flatMap((a) => a.machines.map((m) => m.region)))].sort();
  for (const region of machineRegions) if (!order.includes(region)) order.push(region);
  return order;
}

/** Perch's own listeners must not share a port, nor take one an app service listens on. */
function checkListenerPorts(edge: Omit<PerchConfig, 'regions' | 'apps'>, drafts: AppDraft[], report: Report): void {
  const listeners: { at: Segment[]; address: ListenAddress }[] = [
    ...edge.http.listen.map((address, i) => ({ at: ['http', 'listen', i], address })),
    ...edge.https.listen.map((address, i) => ({ at: ['https', 'listen', i], address })),
    { at: ['admin', 'listen'], address: edge.admin.listen },
  ];
  listeners.forEach((listener, i) => {
    if (listener.address.port === 0) return; // ephemeral: never collides
    const earlier = listeners.slice(0, i).find((other) => other.address.port === listener.address.port && hostsOverlap(other.address.host, listener.address.host));
    if (earlier !== undefined) {
      report(listener.at, `a port no other perch listener uses (${keyPath(earlier.at)} is ${formatAddress(earlier.address)})`, JSON.stringify(formatAddress(listener.address)));
    }
  });
  for (const draft of drafts) {
    for (const port of draft.ports) {
      if (port.protocol !== 'tcp') continue;
      const taken = listeners.find((l) => l.address.port !== 0 && l.address.port >= port.start && l.address.port <= port.end);
      if (taken !== undefined) {
        draft.report(port.at, `a port perch itself does not listen on (perch.toml ${keyPath(taken.at)} is ${formatAddress(taken.address)})`, portText(port));
      }
    }
  }
}

function hostsOverlap(a: string, b: string): boolean {
  const wildcard = (host: string): boolean => host === '' || host === '0.0.0.0' || host === '::';
  return a === b || wildcard(a) || wildcard(b);
}

function portText(port: { start: number; end: number }): string {
  return port.start === port.end ? String(port.start) : `${port.start}-${port.end}`;
}

// ---------------------------------------------------------------- app files

function normalizeApp(raw: AppToml, file: string, edge: EdgeDefaults, report: Report): AppDraft {
  const origins: Origins = { hostnames: [], machines: [], ports: [] };
  const groups = Object.keys(raw.processes);
  // Fly's default process group is "app" when [processes] is absent.
  const knownGroups = groups.length > 0 ? groups : ['app'];
  const primaryRegion = raw.primary_region ?? edge.region;

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw.env)) {
    // Fly's rule: FLY_* is the runtime's namespace (perch sets FLY_APP_NAME and friends).
    if (key.startsWith('FLY_')) report(['env', key], 'a name that does not start with FLY_ (perch sets those)', JSON.stringify(key));
    env[key] = String(value);
  }

  const hostnames: string[] = [];
  raw.hostnames.forEach((name, i) => {
    const lower = name.toLowerCase();
    if (!hostnames.includes(lower)) hostnames.push(lower);
    origins.hostnames.push({ name: lower, at: ['hostnames', i] });
  });
  const implicit = `${raw.app}.localhost`;
  if (!hostnames.includes(implicit)) hostnames.push(implicit);

  const groupsOf = (listed: string[] | undefined, at: Segment[]): string[] => {
    if (listed === undefined) return knownGroups;
    listed.forEach((group, i) => {
      if (!knownGroups.includes(group)) report([...at, i], `a process group of this app (${knownGroups.map((g) => JSON.stringify(g)).join(', ')})`, JSON.stringify(group));
    });
    return listed;
  };
  const common = (service: HttpServiceLike, at: Segment[]): Omit<ServiceCommon, 'checks'> => ({
    internalPort: service.internal_port,
    processes: groupsOf(service.processes, [...at, 'processes']),
    concurrency: concurrency(service.concurrency, [...at, 'concurrency'], report),
    autoStopMachines: autoStop(service.auto_stop_machines),
    autoStartMachines: service.auto_start_machines,
    minMachinesRunning: service.min_machines_running,
  });

  let httpService: HttpServiceConfig | null = null;
  if (raw.http_service !== undefined) {
    const hs = raw.http_service;
    httpService = {
      ...common(hs, ['http_service']),
      checks: hs.checks.map((c, i) => serviceCheck('http', c, keyPath(['http_service', 'checks', i]), hs.internal_port)),
      forceHttps: hs.force_https,
      httpOptions: httpOptions(hs.http_options),
      tlsOptions: tlsOptions(hs.tls_options),
    };
  }

  const services: ServiceConfig[] = raw.services.map((service, i) => {
    const at: Segment[] = ['services', i];
    return {
      ...common(service, at),
      protocol: service.protocol,
      ports: service.ports.map((port, j) => portSpec(service, port, [...at, 'ports', j], report, origins)),
      checks: [
        ...service.tcp_checks.map((c, k) => serviceCheck('tcp', c, keyPath([...at, 'tcp_checks', k]), service.internal_port)),
        ...service.http_checks.map((c, k) => serviceCheck('http', c, keyPath([...at, 'http_checks', k]), service.internal_port)),
      ],
    };
  });

  const checks: NamedCheck[] = Object.entries(raw.checks).map(([name, c]) => ({
    ...serviceCheck(c.type, c, name, c.port),
    processes: groupsOf(c.processes, ['checks', name, 'processes']),
  }));

  const app: AppConfig = {
    name: raw.app,
    file,
    dir: path.dirname(file),
    primaryRegion,
    killSignal: raw.kill_signal as Signal,
    killTimeoutMs: raw.kill_timeout,
    env,
    processes: { ...raw.processes },
    hostnames,
    httpService,
    services,
    checks,
    machines: machines(raw, primaryRegion, groups, knownGroups, report, origins),
    limits: appLimits(raw.limits, edge.limits),
  };
  return { app, report, ...origins };
}

type HttpServiceLike = Pick<ServiceToml, 'internal_port' | 'processes' | 'concurrency' | 'auto_stop_machines' | 'auto_start_machines' | 'min_machines_running'>;

function concurrency(raw: ConcurrencyToml, at: Segment[], report: Report): Concurrency {
  const hardLimit = raw.hard_limit ?? null;
  if (hardLimit !== null && hardLimit < raw.soft_limit) {
    report([...at, 'hard_limit'], `an integer ≥ soft_limit (${raw.soft_limit})`, String(hardLimit), { message: 'hard_limit is below soft_limit' });
  }
  return { type: raw.type, softLimit: raw.soft_limit, hardLimit };
}

function autoStop(raw: AutoStopToml): AutoStop {
  if (raw === true) return 'stop';
  if (raw === false) return 'off';
  return raw;
}

function httpOptions(raw: HttpOptionsToml): HttpOptions {
  const responseHeaders: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(raw.response.headers)) {
    // false removes the header; several values become one comma-separated value.
    responseHeaders[name.toLowerCase()] = value === false ? null : Array.isArray(value) ? value.join(', ') : value;
  }
  return {
    idleTimeoutMs: raw.idle_timeout,
    h2Backend: raw.h2_backend,
    pristine: raw.response.pristine,
    responseHeaders,
    replayCache: raw.replay_cache.map((rule) => ({
      pathPrefix: rule.path_prefix,
      ttlSeconds: rule.ttl_seconds,
      type: rule.type,
      name: rule.name,
      allowBypass: rule.allow_bypass,
    })),
  };
}

function tlsOptions(raw: TlsOptionsToml): TlsOptions {
  return { alpn: [...raw.alpn], versions: [...raw.versions], defaultSelfSigned: raw.default_self_signed };
}

function portSpec(service: ServiceToml, raw: ServiceToml['ports'][number], at: Segment[], report: Report, origins: Origins): PortSpec {
  let start = 0;
  let end = 0;
  if (raw.port !== undefined) {
    if (raw.start_port !== undefined || raw.end_port !== undefined) {
      report([...at, 'port'], 'either port, or start_port and end_port', 'both', { message: 'a single port and a range cannot be mixed' });
    }
    start = end = raw.port;
  } else if (raw.start_port !== undefined && raw.end_port !== undefined) {
    start = raw.start_port;
    end = raw.end_port;
    if (start > end) report([...at, 'end_port'], `a port ≥ start_port (${start})`, String(end));
  } else {
    const found = raw.start_port !== undefined ? 'start_port without end_port' : raw.end_port !== undefined ? 'end_port without start_port' : 'nothing';
    report(at, 'port, or start_port and end_port', found);
  }
  if (service.protocol === 'udp' && raw.handlers.length > 0) {
    report([...at, 'handlers'], 'no handlers: UDP is passed through as it is', JSON.stringify(raw.handlers));
  }
  if (start > 0 && start <= end) origins.ports.push({ at: [...at, raw.port !== undefined ? 'port' : 'start_port'], protocol: service.protocol, start, end });
  return {
    startPort: start,
    endPort: end,
    handlers: [...raw.handlers],
    forceHttps: raw.force_https,
    tlsOptions: tlsOptions(raw.tls_options),
    httpOptions: httpOptions(raw.http_options),
    proxyProtoVersion: raw.proxy_proto_options.version === 'v2' ? 2 : 1,
  };
}

function serviceCheck(kind: 'http' | 'tcp', raw: HttpCheckToml | TcpCheckToml, name: string, defaultPort: number): ServiceCheck {
  // A TCP check only connects; the HTTP fields keep their defaults.
  const http: Partial<HttpCheckToml> = kind === 'http' ? (raw as HttpCheckToml) : {};
  return {
    kind,
    name,
    port: raw.port ?? defaultPort,
    gracePeriodMs: raw.grace_period,
    intervalMs: raw.interval,
    timeoutMs: raw.timeout,
    method: (http.method ?? 'GET').toUpperCase(),
    path: http.path ?? '/',
    protocol: http.protocol ?? 'http',
    headers: { ...(http.headers ?? {}) },
    tlsSkipVerify: http.tls_skip_verify ?? false,
    tlsServerName: http.tls_server_name ?? null,
  };
}

/** [[machines]] blocks → one MachineSpec per machine, ids `<app>-<region>-<n>` counted per region. */
function machines(raw: AppToml, primaryRegion: string, groups: string[], knownGroups: string[], report: Report, origins: Origins): MachineSpec[] {
  const specs: MachineSpec[] = [];
  const counters = new Map<string, number>();
  raw.machines.forEach((block, i) => {
    const at: Segment[] = ['machines', i];
    const region = block.region ?? primaryRegion;
    // Default group: the only one, else Fly's default "app".
    const group = block.process ?? (groups.length === 1 ? groups[0] : 'app');
    const address = block.address ?? null;
    if (!knownGroups.includes(group)) {
      report([...at, 'process'], `a process group of this app (${knownGroups.map((g) => JSON.stringify(g)).join(', ')})`,
        block.process === undefined ? 'nothing' : JSON.stringify(group),
        block.process === undefined ? { message: 'with several process groups, say which one' } : {});
    } else if (address === null && raw.processes[group] === undefined) {
      report(at, `a command for process group "${group}" in [processes], or an address`, 'no [processes] table',
        { message: 'perch has nothing to run for this machine' });
    }
    // An id names one machine: with count > 1 it is reported, and ids are generated instead.
    const explicitId = block.count === 1 ? block.id : undefined;
    if (block.id !== undefined && block.count !== 1) report([...at, 'id'], 'no id when count > 1 (ids are generated then)', JSON.stringify(block.id));
    if (address !== null && block.count !== 1) report([...at, 'count'], '1 for a machine with an address', String(block.count));
    for (let n = 0; n < block.count; n++) {
      let id = explicitId;
      if (id === undefined) {
        const next = (counters.get(region) ?? 0) + 1;
        counters.set(region, next);
        id = `${raw.app}-${region}-${next}`;
      }
      specs.push({ id, region, processGroup: group, address });
      origins.machines.push(explicitId !== undefined ? [...at, 'id'] : at);
    }
  });
  if (specs.length === 0) {
    report(['machines'], 'at least one [[machines]] block', 'none', { warning: true, message: 'requests for this app will find no machine' });
  }
  return specs;
}

function appLimits(raw: AppToml['limits'], edge: PerchLimitsToml): AppLimits {
  return {
    upstreamConnectTimeoutMs: raw.upstream_connect_timeout ?? edge.upstream_connect_timeout,
    upstreamResponseTimeoutMs: raw.upstream_response_timeout ?? edge.upstream_response_timeout,
    upstreamIdleTimeoutMs: raw.upstream_idle_timeout ?? edge.upstream_idle_timeout,
    retryAttempts: raw.retry_attempts ?? edge.retry_attempts,
    queueTimeoutMs: raw.queue_timeout ?? edge.queue_timeout,
    queueLength: raw.queue_length ?? edge.queue_length ?? null,
    wakeTimeoutMs: raw.wake_timeout ?? edge.wake_timeout,
    bodyBufferBytes: raw.body_buffer_size ?? edge.body_buffer_size,
  };
}

// ---------------------------------------------------------------- across files

/** The drafts whose app name is the first of its kind. */
function checkAppNames(drafts: AppDraft[]): AppDraft[] {
  const seen = new Map<string, string>();
  return drafts.filter((draft) => {
    const other = seen.get(draft.app.name);
    if (other !== undefined) {
      draft.report(['app'], `a name no other app file uses (${path.basename(other)} has it)`, JSON.stringify(draft.app.name));
      return false;
    }
    seen.set(draft.app.name, draft.app.file);
    return true;
  });
}

/** A host name routes to one app. `<app>.localhost` belongs to its app; a listed name to the first file that lists it. */
function checkHostnames(drafts: AppDraft[]): void {
  const owner = new Map<string, string>();
  for (const draft of drafts) owner.set(`${draft.app.name}.localhost`, draft.app.name);
  for (const draft of drafts) {
    for (const { name, at } of draft.hostnames) {
      const claimed = owner.get(name);
      if (claimed === undefined) owner.set(name, draft.app.name);
      else if (claimed !== draft.app.name) draft.report(at, `a host name no other app claims (app "${claimed}" has it)`, JSON.stringify(name));
    }
  }
}

function checkMachineIds(drafts: AppDraft[]): void {
  const seen = new Map<string, string>();
  for (const draft of drafts) {
    draft.app.machines.forEach((machine, i) => {
      const other = seen.get(machine.id);
      if (other !== undefined) draft.report(draft.machines[i], `a machine id used once (app "${other}" already has ${machine.id})`, JSON.stringify(machine.id));
      else seen.set(machine.id, draft.app.name);
    });
  }
}

/** Two services cannot listen on the same port with the same protocol, in one app or across apps. */
function checkServicePorts(drafts: AppDraft[]): void {
  const taken: { app: string; at: Segment[]; protocol: string; start: number; end: number }[] = [];
  for (const draft of drafts) {
    for (const port of draft.ports) {
      const clash = taken.find((t) => t.protocol === port.protocol && t.start <= port.end && port.start <= t.end);
      if (clash !== undefined) {
        draft.report(port.at, `a port no other service uses (app "${clash.app}" ${keyPath(clash.at)} has ${portText(clash)})`, portText(port));
      } else {
        taken.push({ app: draft.app.name, ...port });
      }
    }
  }
}
