// The two config file formats as TypeBox schemas: perch.toml, and an app file
// in the fly.toml dialect. They are the single source of the files' types,
// defaults and validation (ajv runs them; see validate* below).
//
// Conventions, so the static types describe the data *after* validation:
// - A key with a `default` is declared required. ajv (useDefaults) fills it in
//   before `required` is checked, so it never errors as missing, and
//   Static<> has it as always present.
// - Durations, sizes and addresses use perch keywords (perchDuration,
//   perchSize, perchAddress) that check the value and replace it in place by
//   milliseconds, bytes or { host, port }; their static type is the result.
// - `expected` is an annotation: what `perch check` says was expected there,
//   for schemas whose shape alone does not say it well (patterns, unions).
// - Every table has additionalProperties: false, so unknown keys surface (as
//   warnings, see toProblems).
import Type from 'typebox';
import { Ajv, type AnySchema, type ErrorObject, type SchemaValidateFunction } from 'ajv';
import { formatDuration, parseDuration, type BareUnit } from './duration.ts';
import { parseSize } from './size.ts';
import type { ConfigProblem, ListenAddress } from './model.ts';
import { describeSchema, describeValue, keyPath, closest } from './format.ts';

// ---------------------------------------------------------------- keywords

export interface DurationSpec {
  /** What a bare number means. */
  bare: BareUnit;
  /** Zero is refused (intervals, timeouts that must elapse). */
  positive?: boolean;
  maxMs?: number;
}

/** listen: perch binds it, ":8080" = all interfaces, port 0 = ephemeral. connect: perch dials it, host and port required. */
export type AddressSpec = 'listen' | 'connect';

function duration(defaultValue?: string | number, spec: DurationSpec = { bare: 'ms' }) {
  return Type.Unsafe<number>(defaultValue === undefined ? { perchDuration: spec } : { perchDuration: spec, default: defaultValue });
}

function size(defaultValue?: string | number) {
  return Type.Unsafe<number>(defaultValue === undefined ? { perchSize: true } : { perchSize: true, default: defaultValue });
}

function address(spec: AddressSpec, defaultValue?: string) {
  return Type.Unsafe<ListenAddress>(defaultValue === undefined ? { perchAddress: spec } : { perchAddress: spec, default: defaultValue });
}

/** A TOML table: unknown keys are reported. */
function table<P extends Type.TProperties>(properties: P, options: Type.TObjectOptions = {}) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

// ---------------------------------------------------------------- shared pieces

const RegionCode = Type.String({ pattern: '^[a-z0-9]+$', expected: 'a region code: lower-case letters and digits, like "ams"' });
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const NonEmptyString = Type.String({ minLength: 1 });
const Hostname = Type.String({
  pattern: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$',
  expected: 'a host name like "example.com" or "*.example.com"',
});

const Concurrency = table({
  type: Type.Enum(['connections', 'requests'], { default: 'connections' }),
  soft_limit: Type.Integer({ minimum: 1, default: 20 }),
  hard_limit: Type.Optional(Type.Integer({ minimum: 1 })),
}, { default: {} });

// Fly accepts booleans for the older form: true = "stop", false = "off".
// Fly's documented default when the key is absent is "off".
const AutoStop = Type.Union([Type.Enum(['off', 'stop', 'suspend']), Type.Boolean()], {
  default: 'off',
  expected: '"off", "stop", "suspend", true or false',
});

// Check defaults are Fly's documented default tcp_checks (grace 1s, every 15s,
// 2s timeout) and its HTTP check defaults (GET, http).
const checkTiming = {
  grace_period: duration('1s'),
  interval: duration('15s', { bare: 'ms', positive: true }),
  timeout: duration('2s', { bare: 'ms', positive: true }),
  /** perch addition: a port other than the service's internal_port. */
  port: Type.Optional(Port),
};

const httpCheckFields = {
  method: Type.String({ pattern: '^[A-Za-z]+$', default: 'GET', expected: 'an HTTP method like "GET"' }),
  path: Type.String({ pattern: '^/', default: '/', expected: 'a path starting with "/"' }),
  protocol: Type.Enum(['http', 'https'], { default: 'http' }),
  headers: Type.Record(Type.String(), Type.String(), { default: {} }),
  tls_skip_verify: Type.Boolean({ default: false }),
  tls_server_name: Type.Optional(NonEmptyString),
};

const TcpCheck = table(checkTiming);
const HttpCheck = table({ ...checkTiming, ...httpCheckFields });

const TopLevelCheck = table({
  type: Type.Enum(['http', 'tcp']),
  ...checkTiming,
  port: Port,
  ...httpCheckFields,
  processes: Type.Optional(Type.Array(NonEmptyString)),
});

const ReplayCacheRule = table({
  path_prefix: Type.String({ pattern: '^/', expected: 'a path prefix starting with "/"' }),
  ttl_seconds: Type.Integer({ minimum: 1 }),
  type: Type.Enum(['cookie', 'header']),
  name: NonEmptyString,
  allow_bypass: Type.Boolean({ default: false }),
});

const HttpOptions = table({
  // Fly documents idle_timeout in seconds (idle_timeout = 600).
  idle_timeout: duration(60, { bare: 's', positive: true }),
  h2_backend: Type.Boolean({ default: false }),
  response: table({
    pristine: Type.Boolean({ default: false }),
    // false removes the header; a list sets several values.
    headers: Type.Record(Type.String(), Type.Union([Type.String(), Type.Literal(false), Type.Array(Type.String())], {
      expected: 'a string, a list of strings, or false (remove the header)',
    }), { default: {} }),
  }, { default: {} }),
  replay_cache: Type.Array(ReplayCacheRule, { default: [] }),
}, { default: {} });

const TlsOptions = table({
  alpn: Type.Array(NonEmptyString, { default: ['h2', 'http/1.1'] }),
  versions: Type.Array(Type.Enum(['TLSv1.2', 'TLSv1.3']), { minItems: 1, uniqueItems: true, default: ['TLSv1.2', 'TLSv1.3'] }),
  default_self_signed: Type.Boolean({ default: false }),
}, { default: {} });

const machineLifecycle = {
  auto_stop_machines: AutoStop,
  auto_start_machines: Type.Boolean({ default: true }),
  min_machines_running: Type.Integer({ minimum: 0, default: 0 }),
  processes: Type.Optional(Type.Array(NonEmptyString, { minItems: 1 })),
  concurrency: Concurrency,
};

const HttpService = table({
  internal_port: Port,
  force_https: Type.Boolean({ default: false }),
  ...machineLifecycle,
  checks: Type.Array(HttpCheck, { default: [] }),
  http_options: HttpOptions,
  tls_options: TlsOptions,
});

const ServicePort = table({
  port: Type.Optional(Port),
  start_port: Type.Optional(Port),
  end_port: Type.Optional(Port),
  handlers: Type.Array(Type.Enum(['http', 'tls', 'proxy_proto']), { uniqueItems: true, default: [] }),
  force_https: Type.Boolean({ default: false }),
  tls_options: TlsOptions,
  http_options: HttpOptions,
  proxy_proto_options: table({ version: Type.Enum(['v1', 'v2'], { default: 'v1' }) }, { default: {} }),
});

const Service = table({
  // Fly: "The default is 8080."
  internal_port: Type.Integer({ minimum: 1, maximum: 65535, default: 8080 }),
  protocol: Type.Enum(['tcp', 'udp'], { default: 'tcp' }),
  ...machineLifecycle,
  // Fly: at least one [[services.ports]] per service.
  ports: Type.Array(ServicePort, { minItems: 1 }),
  tcp_checks: Type.Array(TcpCheck, { default: [] }),
  http_checks: Type.Array(HttpCheck, { default: [] }),
});

const Machines = table({
  count: Type.Integer({ minimum: 1, default: 1 }),
  region: Type.Optional(RegionCode),
  process: Type.Optional(NonEmptyString),
  address: Type.Optional(address('connect')),
  id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', expected: 'an id of letters, digits, "-", "_" and "."' })),
});

/**
 * The SPEC §8 bounds an app may set. perch.toml's [limits] carries the
 * defaults; an app's [limits] has none, so it overrides only what it sets.
 */
function appLimitKeys(withDefaults: boolean) {
  const byDefault = <T>(value: T): T | undefined => (withDefaults ? value : undefined);
  const positive = { bare: 'ms', positive: true } as const;
  return {
    upstream_connect_timeout: duration(byDefault('5s'), positive),
    upstream_response_timeout: duration(byDefault('60s'), positive),
    upstream_idle_timeout: duration(byDefault('4s'), positive),
    // Attempts in all, the first one included.
    retry_attempts: Type.Integer({ minimum: 1, ...(withDefaults ? { default: 3 } : {}) }),
    queue_timeout: duration(byDefault('10s')),
    // Absent: 10 × the sum of the app's hard limits.
    queue_length: Type.Optional(Type.Integer({ minimum: 0 })),
    wake_timeout: duration(byDefault('30s'), positive),
    body_buffer_size: size(byDefault('1MiB')),
  };
}

const AppLimitsDefaulted = appLimitKeys(true);
const appLimitsOverrides = appLimitKeys(false);
const AppLimitsOverride = table({
  upstream_connect_timeout: Type.Optional(appLimitsOverrides.upstream_connect_timeout),
  upstream_response_timeout: Type.Optional(appLimitsOverrides.upstream_response_timeout),
  upstream_idle_timeout: Type.Optional(appLimitsOverrides.upstream_idle_timeout),
  retry_attempts: Type.Optional(appLimitsOverrides.retry_attempts),
  queue_timeout: Type.Optional(appLimitsOverrides.queue_timeout),
  queue_length: appLimitsOverrides.queue_length,
  wake_timeout: Type.Optional(appLimitsOverrides.wake_timeout),
  body_buffer_size: Type.Optional(appLimitsOverrides.body_buffer_size),
}, { default: {} });

// ---------------------------------------------------------------- perch.toml

export const PerchTomlSchema = table({
  region: RegionCode,
  /** Default: os.availableParallelism(), filled in by normalize. */
  workers: Type.Optional(Type.Integer({ minimum: 1 })),
  autostop_interval: duration('1m', { bare: 'ms', positive: true }),
  apps: Type.Array(NonEmptyString, { default: ['apps/*.toml'] }),
  regions: Type.Optional(Type.Array(RegionCode, { uniqueItems: true })),
  http: table({
    listen: Type.Array(address('listen'), { default: [':8080'] }),
  }, { default: {} }),
  https: table({
    listen: Type.Array(address('listen'), { default: [':8443'] }),
    default_self_signed: Type.Boolean({ default: false }),
    ca_dir: Type.String({ minLength: 1, default: '~/.local/share/perch/ca' }),
    certificates: Type.Array(table({
      hostnames: Type.Array(Hostname, { minItems: 1 }),
      cert: NonEmptyString,
      key: NonEmptyString,
    }), { default: [] }),
  }, { default: {} }),
  admin: table({
    listen: address('listen', '127.0.0.1:9090'),
    token: Type.Optional(NonEmptyString),
  }, { default: {} }),
  limits: table({
    request_head_size: size('16KiB'),
    request_head_timeout: duration('10s', { bare: 'ms', positive: true }),
    shutdown_timeout: duration('30s'),
    ...AppLimitsDefaulted,
  }, { default: {} }),
});

export type PerchToml = Type.Static<typeof PerchTomlSchema>;
export type PerchLimitsToml = PerchToml['limits'];

// ---------------------------------------------------------------- app file

// Fly's list; SIGHUP is not in it (perch uses SIGHUP for its own reload).
const KillSignal = Type.Enum(['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGKILL', 'SIGSTOP'], { default: 'SIGINT' });

export const AppTomlSchema = table({
  app: Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', expected: 'an app name: lower-case letters, digits and "-"' }),
  primary_region: Type.Optional(RegionCode),
  kill_signal: KillSignal,
  // Fly: a bare number is seconds; at most 300 s.
  kill_timeout: duration(5, { bare: 's', maxMs: 300_000 }),
  env: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()], {
    expected: 'a string (numbers and booleans are turned into strings)',
  }), { default: {} }),
  processes: Type.Record(Type.String(), NonEmptyString, { default: {} }),
  http_service: Type.Optional(HttpService),
  services: Type.Array(Service, { default: [] }),
  checks: Type.Record(Type.String(), TopLevelCheck, { default: {} }),
  // perch additions
  hostnames: Type.Array(Hostname, { default: [] }),
  machines: Type.Array(Machines, { default: [] }),
  limits: AppLimitsOverride,
});

export type AppToml = Type.Static<typeof AppTomlSchema>;
export type ServiceToml = AppToml['services'][number];
export type HttpServiceToml = NonNullable<AppToml['http_service']>;
export type HttpCheckToml = HttpServiceToml['checks'][number];
export type TcpCheckToml = ServiceToml['tcp_checks'][number];
export type TopLevelCheckToml = AppToml['checks'][string];
export type HttpOptionsToml = HttpServiceToml['http_options'];
export type TlsOptionsToml = HttpServiceToml['tls_options'];
export type ConcurrencyToml = HttpServiceToml['concurrency'];
export type AutoStopToml = HttpServiceToml['auto_stop_machines'];
export type AppLimitsToml = AppToml['limits'];

// Keys Fly knows that perch has no use for (builds, volumes, VM sizes…). They
// are still warned about, with a kinder message than a typo gets. `[]` stands
// for any array index.
// Edge-wide bounds that only perch.toml's [limits] may set.
const PERCH_ONLY_LIMITS = new Set(['limits.request_head_size', 'limits.request_head_timeout', 'limits.shutdown_timeout']);

const FLY_KEYS_PERCH_IGNORES = new Set([
  'build', 'deploy', 'mounts', 'vm', 'metrics', 'statics', 'experimental', 'console_command',
  'swap_size_mb', 'restart', 'files', 'host_dedication_id',
  'http_service.machine_checks', 'services[].machine_checks',
  'services[].tcp_checks[].restart_limit', 'services[].http_checks[].restart_limit',
]);

// ---------------------------------------------------------------- validation

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
ajv.addKeyword({ keyword: 'expected', schemaType: 'string' });
addConvertingKeyword('perchDuration', (spec: DurationSpec, value) => {
  const result = parseDuration(value, spec.bare);
  if ('error' in result) return result;
  if (spec.positive === true && result.ms === 0) return { error: 'must be more than zero' };
  if (spec.maxMs !== undefined && result.ms > spec.maxMs) return { error: `${formatDuration(result.ms)} is more than ${formatDuration(spec.maxMs)}` };
  return { value: result.ms };
});
addConvertingKeyword('perchSize', (_spec: true, value) => {
  const result = parseSize(value);
  return 'error' in result ? result : { value: result.bytes };
});
addConvertingKeyword('perchAddress', (spec: AddressSpec, value) => {
  const result = parseAddress(value, spec);
  return 'error' in result ? result : { value: result.address };
});

type Conversion = { value: unknown } | { error: string };

/** A keyword that checks a value and, when it is good, replaces it by its parsed form. */
function addConvertingKeyword<S>(keyword: string, convert: (spec: S, value: unknown) => Conversion): void {
  const validate: SchemaValidateFunction = (spec: S, value: unknown, parentSchema, where) => {
    const result = convert(spec, value);
    if ('error' in result) {
      // ajv's verbose mode does not add parentSchema to a function keyword's errors; toProblems needs it.
      validate.errors = [{ keyword, message: result.error, params: {}, parentSchema }];
      return false;
    }
    if (where?.parentData !== undefined) where.parentData[where.parentDataProperty] = result.value;
    return true;
  };
  ajv.addKeyword({ keyword, modifying: true, errors: true, validate });
}

/** "host:port", ":port" (all interfaces) or "[v6]:port". */
export function parseAddress(value: unknown, spec: AddressSpec): { address: ListenAddress } | { error: string } {
  if (typeof value !== 'string') return { error: 'an address is a string' };
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d+)$/.exec(value.trim());
  if (match === null) return { error: 'not "host:port" (an IPv6 host goes in brackets: "[::1]:8080")' };
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  const minPort = spec === 'listen' ? 0 : 1;
  if (port < minPort || port > 65535) return { error: `port ${port} is outside ${minPort}–65535` };
  if (spec === 'connect' && host === '') return { error: 'no host to connect to' };
  if (host !== '' && match[1] === undefined && !/^[A-Za-z0-9.-]+$/.test(host)) return { error: `"${host}" is not a host name or address` };
  return { address: { host, port } };
}

const validatePerch = ajv.compile(PerchTomlSchema as AnySchema);
const validateApp = ajv.compile(AppTomlSchema as AnySchema);
// Wrapped in a table: ajv does not apply a `default` at the schema root.
const validateLimits = ajv.compile(table({ limits: PerchTomlSchema.properties.limits }) as AnySchema);

export interface Validated<T> {
  /** The data with defaults and conversions applied, or null if it has errors. */
  value: T | null;
  /**
   * When it has errors: the data without its bad values, defaults filled in,
   * so the checks across keys still run and report what else is wrong. Null
   * when that is not possible (a required key is the bad one). Never config.
   */
  salvaged: T | null;
  /** Key paths of the values dropped to salvage: problems found at or around them are their echoes. */
  dropped: string[];
  problems: ConfigProblem[];
}

// Validation works in place: defaults are filled in, and durations, sizes and
// addresses are replaced by their values. Validate a parsed object once only
// (a second pass would read milliseconds as a bare number again).

/** Validates parsed perch.toml data. */
export function validatePerchToml(data: unknown, file: string): Validated<PerchToml> {
  return run(validatePerch, data, file);
}

/** Validates parsed app file data. */
export function validateAppToml(data: unknown, file: string): Validated<AppToml> {
  return run(validateApp, data, file);
}

/** perch.toml's [limits] with nothing set: the built-in bounds (SPEC §8). */
export function defaultLimits(): PerchLimitsToml {
  const holder: { limits?: PerchLimitsToml } = {};
  validateLimits(holder);
  return holder.limits as PerchLimitsToml;
}

function run<T>(validate: ReturnType<typeof ajv.compile>, data: unknown, file: string): Validated<T> {
  const copy = structuredClone(data);
  const ok = validate(data);
  const errors = validate.errors ?? [];
  const problems = ok ? [] : toProblems(errors, data, file);
  const hasError = problems.some((p) => p.severity === 'error');
  const dropped: string[] = [];
  const salvaged = hasError ? (salvage(validate, copy, errors, dropped) as T | null) : null;
  return { value: hasError ? null : (data as T), salvaged, dropped, problems };
}

const SALVAGE_ROUNDS = 4;

/**
 * Drops every value ajv complained about (and unknown keys) and validates
 * again, a few rounds at most. Gives up (null) when a required key or a list
 * element would have to go: a missing element would shift the positions the
 * other problems name.
 */
function salvage(validate: ReturnType<typeof ajv.compile>, data: unknown, errors: ErrorObject[], dropped: string[]): unknown {
  for (let round = 0; round < SALVAGE_ROUNDS; round++) {
    for (const error of errors) {
      if (error.keyword === 'required') return null;
      const at = segmentsOf(error.instancePath, data);
      if (error.keyword === 'additionalProperties') at.push((error.params as { additionalProperty: string }).additionalProperty);
      const last = at.at(-1);
      const parent = valueAt(data, at.slice(0, -1));
      if (last === undefined || typeof last === 'number' || parent === null || typeof parent !== 'object' || Array.isArray(parent)) return null;
      delete (parent as Record<string, unknown>)[last];
      if (error.keyword !== 'additionalProperties') dropped.push(keyPath(at));
    }
    if (validate(data)) return data;
    errors = validate.errors ?? [];
  }
  return null;
}

// ---------------------------------------------------------------- ajv errors → problems

type Segment = string | number;

/**
 * One problem per bad value. ajv can report several errors for one value (a
 * union's failed branches, two failed bounds); the outermost one — the
 * shortest schema path — describes what was expected there as a whole.
 */
function toProblems(errors: ErrorObject[], data: unknown, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const outermost = new Map<string, ErrorObject>();
  for (const error of errors) {
    if (error.keyword === 'additionalProperties') {
      problems.push(unknownKey(error, data, file));
    } else if (error.keyword === 'required') {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      const propertySchema = (error.parentSchema as { properties?: Record<string, unknown> })?.properties?.[missing];
      problems.push({
        severity: 'error', file,
        path: keyPath([...segmentsOf(error.instancePath, data), missing]),
        expected: propertySchema === undefined ? 'a value' : describeSchema(propertySchema),
        found: 'nothing',
        message: 'required',
      });
    } else {
      const seen = outermost.get(error.instancePath);
      if (seen === undefined || error.schemaPath.length < seen.schemaPath.length) outermost.set(error.instancePath, error);
    }
  }
  for (const error of outermost.values()) problems.push(badValue(error, data, file));
  return problems;
}

function badValue(error: ErrorObject, data: unknown, file: string): ConfigProblem {
  const segments = segmentsOf(error.instancePath, data);
  const value = valueAt(data, segments);
  const problem: ConfigProblem = {
    severity: 'error', file,
    path: keyPath(segments),
    expected: describeSchema(error.parentSchema),
    found: describeValue(value),
  };
  const message = detailOf(error, value);
  if (message !== undefined) problem.message = message;
  return problem;
}

/** Extra words only where the expected/found pair does not already say it. */
function detailOf(error: ErrorObject, value: unknown): string | undefined {
  if (error.keyword.startsWith('perch')) return error.message;
  if (error.keyword === 'uniqueItems') return 'listed twice';
  if (error.keyword === 'minItems') return 'the list is too short';
  if ((error.keyword === 'enum' || error.keyword === 'anyOf') && typeof value === 'string') {
    const guess = closest(value, enumStrings(error.parentSchema));
    if (guess !== undefined) return `did you mean "${guess}"?`;
  }
  return undefined;
}

/** The string values a schema (or any branch of a union) allows. */
function enumStrings(schema: unknown): string[] {
  const s = (schema ?? {}) as { enum?: unknown[]; anyOf?: unknown[] };
  const own = (s.enum ?? []).filter((v): v is string => typeof v === 'string');
  return [...own, ...(s.anyOf ?? []).flatMap(enumStrings)];
}

function unknownKey(error: ErrorObject, data: unknown, file: string): ConfigProblem {
  const key = (error.params as { additionalProperty: string }).additionalProperty;
  const segments = [...segmentsOf(error.instancePath, data), key];
  const known = Object.keys((error.parentSchema as { properties?: object })?.properties ?? {});
  const generic = segments.map((s) => (typeof s === 'number' ? '[]' : `.${s}`)).join('').slice(1);
  const base = { severity: 'warning' as const, file, path: keyPath(segments), expected: `one of the keys ${known.join(', ')}` };
  if (FLY_KEYS_PERCH_IGNORES.has(generic)) {
    return { ...base, found: `Fly key "${key}"`, message: 'perch does not use it; ignored' };
  }
  if (PERCH_ONLY_LIMITS.has(generic)) {
    return { ...base, found: `edge-wide key "${key}"`, message: 'only perch.toml [limits] sets it; ignored' };
  }
  const guess = closest(key, known);
  return { ...base, found: `unknown key "${key}"`, message: guess === undefined ? 'ignored' : `ignored; did you mean "${guess}"?` };
}

/** JSON pointer → key path segments; numeric segments under arrays become indexes. */
function segmentsOf(pointer: string, data: unknown): Segment[] {
  if (pointer === '') return [];
  const segments: Segment[] = [];
  let node: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    const segment: Segment = Array.isArray(node) ? Number(key) : key;
    segments.push(segment);
    node = node !== null && typeof node === 'object' ? (node as Record<Segment, unknown>)[segment] : undefined;
  }
  return segments;
}

function valueAt(data: unknown, segments: Segment[]): unknown {
  let node = data;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<Segment, unknown>)[segment];
  }
  return node;
}
