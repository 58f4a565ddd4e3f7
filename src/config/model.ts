// The normalized, validated configuration every other part of perch reads.
// It is plain data (JSON-serializable) because the primary hands it to each
// worker over IPC. Durations are milliseconds, sizes are bytes.

export type Signal = 'SIGINT' | 'SIGTERM' | 'SIGQUIT' | 'SIGUSR1' | 'SIGUSR2' | 'SIGKILL' | 'SIGSTOP' | 'SIGHUP';

export interface ListenAddress {
  /** "" means all interfaces (":8080" in the config), which is what Node's listen() does with no host. */
  host: string;
  port: number;
}

export interface PerchConfig {
  /** Absolute path of perch.toml; for the built-in default, the config/perch.toml shipped with perch. */
  source: string;
  region: string;
  workers: number;
  autostopIntervalMs: number;
  http: { listen: ListenAddress[] };
  https: HttpsConfig;
  admin: { listen: ListenAddress; token: string | null };
  /** Edge-wide bounds (SPEC §8) that do not belong to one app. */
  edge: EdgeLimits;
  /** Regions in order of closeness as perch sees them before any RTT is measured (own region first). */
  regions: string[];
  apps: AppConfig[];
}

export interface HttpsConfig {
  listen: ListenAddress[];
  certificates: CertificateFile[];
  defaultSelfSigned: boolean;
  /** Where the local CA and generated certificates live. */
  caDir: string;
}

export interface CertificateFile {
  hostnames: string[];
  cert: string;
  key: string;
}

export interface EdgeLimits {
  requestHeadBytes: number;
  requestHeadTimeoutMs: number;
  shutdownTimeoutMs: number;
}

/** Bounds that may be set per app (SPEC §8); app files override perch.toml's [limits]. */
export interface AppLimits {
  upstreamConnectTimeoutMs: number;
  upstreamResponseTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  retryAttempts: number;
  queueTimeoutMs: number;
  /** null: 10 × the sum of the app's hard limits. */
  queueLength: number | null;
  wakeTimeoutMs: number;
  bodyBufferBytes: number;
}

export type AutoStop = 'off' | 'stop' | 'suspend';

export interface AppConfig {
  name: string;
  /** Absolute path of the app file. */
  file: string;
  /** Directory process commands run in. */
  dir: string;
  primaryRegion: string;
  killSignal: Signal;
  killTimeoutMs: number;
  env: Record<string, string>;
  /** Process group name → command line. */
  processes: Record<string, string>;
  /** Lower-case host names routed to this app (always includes `<app>.localhost`). */
  hostnames: string[];
  httpService: HttpServiceConfig | null;
  services: ServiceConfig[];
  /** Top-level [checks]: run and reported, never used for routing. */
  checks: NamedCheck[];
  machines: MachineSpec[];
  limits: AppLimits;
}

export interface Concurrency {
  type: 'connections' | 'requests';
  softLimit: number;
  hardLimit: number | null;
}

export interface HttpOptions {
  idleTimeoutMs: number;
  h2Backend: boolean;
  pristine: boolean;
  /** Header name (lower case) → value to set, or null to remove. */
  responseHeaders: Record<string, string | null>;
  replayCache: ReplayCacheRule[];
}

export interface ReplayCacheRule {
  pathPrefix: string;
  ttlSeconds: number;
  type: 'cookie' | 'header';
  name: string;
  allowBypass: boolean;
}

export interface TlsOptions {
  alpn: string[];
  versions: ('TLSv1.2' | 'TLSv1.3')[];
  defaultSelfSigned: boolean;
}

export interface ServiceCheck {
  kind: 'http' | 'tcp';
  name: string;
  port: number;
  gracePeriodMs: number;
  intervalMs: number;
  timeoutMs: number;
  method: string;
  path: string;
  protocol: 'http' | 'https';
  headers: Record<string, string>;
  tlsSkipVerify: boolean;
  tlsServerName: string | null;
}

export interface NamedCheck extends ServiceCheck {
  /** Process groups whose machines run this check (default: all of the app's groups). */
  processes: string[];
}

/** What every service kind shares: where it goes and how its machines are run. */
export interface ServiceCommon {
  internalPort: number;
  processes: string[];
  concurrency: Concurrency;
  autoStopMachines: AutoStop;
  autoStartMachines: boolean;
  minMachinesRunning: number;
  checks: ServiceCheck[];
}

export interface HttpServiceConfig extends ServiceCommon {
  forceHttps: boolean;
  httpOptions: HttpOptions;
  tlsOptions: TlsOptions;
}

export type Handler = 'http' | 'tls' | 'proxy_proto';

export interface PortSpec {
  startPort: number;
  endPort: number;
  handlers: Handler[];
  forceHttps: boolean;
  tlsOptions: TlsOptions;
  httpOptions: HttpOptions;
  proxyProtoVersion: 1 | 2;
}

export interface ServiceConfig extends ServiceCommon {
  protocol: 'tcp' | 'udp';
  ports: PortSpec[];
}

export interface MachineSpec {
  /** Stable id, `<app>-<region>-<n>` unless the file names it. */
  id: string;
  region: string;
  processGroup: string;
  /** Set for a machine someone else runs (static driver). */
  address: ListenAddress | null;
}

/** One thing wrong (error) or doubtful (warning) in a config file, as `perch check` lists it. */
export interface ConfigProblem {
  severity: 'error' | 'warning';
  /** Absolute path of the file the problem is in. */
  file: string;
  /** Key path, like http_service.concurrency.hard_limit or services[0].ports[1].handlers; "" for the whole file. */
  path: string;
  expected: string;
  found: string;
  message?: string;
  /** Where in the file, for TOML syntax errors (1-based). */
  line?: number;
  column?: number;
}

/** What loading a config gives: the config, or null when any problem is an error. */
export interface LoadResult {
  config: PerchConfig | null;
  problems: ConfigProblem[];
}
