// Scenario "tls": what TLS termination and HTTP/2 cost, through perch and
// through nginx, each against its own plain HTTP/1.1 figures measured in the
// same run (SPEC §5, issue 5).
//
// One backend (src/demo/hello.ts, GET /bytes/1024) behind perch (its HTTP and
// HTTPS listeners, local-CA certificate for the app's hostname) and behind
// nginx (a plain and an `ssl http2` listener, the same certificate), each
// pinned to the proxy core; backend and load generator on the other core.
// Six kinds of traffic per target:
//   keep-alive (throughput): HTTP/1.1 plain (the baseline), HTTP/1.1 over TLS,
//     HTTP/2 over TLS with N streams on a few connections;
//   a new connection per request (connection rate): plain TCP (the baseline),
//     TLS with a full handshake every time, TLS resuming the previous
//     connection's session ticket.
// Keep-alive load comes from h2load when installed (nghttp2-client), else from
// bench/tls-load.ts's Node client; new connections always from tls-load.ts.
import { existsSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { LocalCA } from '../../src/tls/local-ca.ts';
import type { BenchContext, ScenarioReport } from '../lib/context.ts';
import { hostNote, type Measurement } from '../lib/loadgen.ts';
import { findNginx, launchNginx } from '../lib/nginx.ts';
import { benchAppToml } from '../lib/perch.ts';
import { probe } from '../lib/probe.ts';
import type { RunningProcess } from '../lib/processes.ts';
import { median, ratio } from '../lib/stats.ts';
import { formatNumber, formatRatio } from '../lib/table.ts';
import type { ConnLoadMode, ConnLoadResult, ConnLoadSpec } from '../tls-load.ts';

const BYTES = 1024;
const PATH = `/bytes/${BYTES}`;
const APP = 'bench';
const HOST = 'bench.local';
/** HTTP/2: this many connections, the run's concurrency spread over them as streams. */
const H2_CONNECTIONS = 5;
const LOAD_SCRIPT = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'tls-load.ts');

type TargetKey = 'perch' | 'nginx';

interface Mode {
  key: string;
  label: string;
  mode: ConnLoadMode;
  tls: boolean;
  resume: boolean;
  /** The plain row this one is compared with (same target, same run). */
  baseline: string;
}

const MODES: readonly Mode[] = [
  { key: 'h1', label: 'HTTP/1.1 plain, keep-alive', mode: 'keepalive-h1', tls: false, resume: false, baseline: 'h1' },
  { key: 'h1-tls', label: 'HTTP/1.1 over TLS, keep-alive', mode: 'keepalive-h1', tls: true, resume: false, baseline: 'h1' },
  { key: 'h2', label: 'HTTP/2 over TLS', mode: 'h2', tls: true, resume: false, baseline: 'h1' },
  { key: 'conn', label: 'new TCP connection per request, plain', mode: 'new-connection', tls: false, resume: false, baseline: 'conn' },
  { key: 'conn-tls', label: 'new TLS connection per request, full handshake', mode: 'new-connection', tls: true, resume: false, baseline: 'conn' },
  { key: 'conn-tls-resumed', label: 'new TLS connection per request, resumed (ticket)', mode: 'new-connection', tls: true, resume: true, baseline: 'conn' },
];

interface Endpoint {
  key: TargetKey;
  process: RunningProcess;
  plainPort: number;
  tlsPort: number;
  details: Record<string, unknown>;
}

interface Sample {
  rep: number;
  target: TargetKey;
  mode: string;
  generator: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  errors: number;
  non2xx: number;
  connectionsOpened: number;
  resumed: number;
  tlsFacts: ConnLoadResult['tlsFacts'];
  errorSamples: string[];
  proxyCpuMicrosPerRequest: number;
  backendCpuMicrosPerRequest: number;
  proxyPeakRssSumBytes: number;
  /** Cores the load core's processes used (load generator + backend + runner): near 1, the client side was the limit. */
  loadCoreBusy: number;
  host: Measurement['host'];
}

function hasH2load(): boolean {
  try {
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function portOf(address: string | undefined, what: string): number {
  const port = Number(address?.split(':').pop());
  if (!Number.isInteger(port) || port <= 0) throw new Error(`perch's "perch ready" line has no ${what} address`);
  return port;
}

/** One GET over TLS (HTTP/1.1 or HTTP/2 by ALPN), verified against the CA, SNI = the app's name. */
async function probeTls(port: number, caPem: string, alpn: 'h2' | 'http/1.1'): Promise<void> {
  if (alpn === 'h2') {
    await new Promise<void>((resolve, reject) => {
      const session = http2.connect(`https://127.0.0.1:${port}`, { ca: caPem, servername: HOST });
      session.once('error', reject);
      const stream = session.request({ ':path': PATH, ':authority': HOST });
      let status = 0;
      let bytes = 0;
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => (bytes += c.length));
      stream.once('error', reject);
      stream.once('end', () => {
        session.close();
        if (status !== 200 || bytes !== BYTES) reject(new Error(`h2 GET ${PATH} answered ${status} with ${bytes} bytes`));
        else resolve();
      });
      stream.end();
    });
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: PATH, servername: HOST, ca: caPem, headers: { host: HOST }, agent: false, timeout: 5000 }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => (res.statusCode === 200 && bytes === BYTES ? resolve() : reject(new Error(`https GET ${PATH} answered ${res.statusCode} with ${bytes} bytes`))));
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}

function perchFiles(backendPort: number, workers: number, caDir: string): Record<string, string> {
  return {
    'perch.toml': `region = "bench"
workers = ${workers}
apps = ["apps/*.toml"]

[http]
listen = ["127.0.0.1:0"]

[https]
listen = ["127.0.0.1:0"]
default_self_signed = true
ca_dir = ${JSON.stringify(caDir)}

[admin]
listen = "127.0.0.1:0"

[limits]
# HTTP/2 streams a load generator cuts at the end of a window can stay in flight in perch
# (see the notes); do not let them hold the scenario's shutdown for the default 30 s.
shutdown_timeout = "2s"
`,
    'apps/bench.toml': benchAppToml({ app: APP, hostname: HOST, backendPorts: [backendPort], softLimit: 1000 }),
  };
}

export async function run(ctx: BenchContext): Promise<ScenarioReport> {
  const { options } = ctx;
  const notes: string[] = [];
  const backend = await ctx.startBackend();
  ctx.log(`tls: backend (src/demo/hello.ts) on 127.0.0.1:${backend.port}, pid ${backend.process.pid}`);

  // One local CA for both servers: perch's own (ca_dir) and the certificate nginx serves, signed by it for the app's name.
  const caDir = path.join(ctx.tmpDir, 'tls-ca');
  const ca = await LocalCA.open(caDir);
  await ca.leaf(HOST);
  const caFile = LocalCA.certPath(caDir);
  const certFile = ca.leafPath(HOST);

  const endpoints: Endpoint[] = [];
  const perch = await ctx.startPerch('perch-tls', perchFiles(backend.port, options.perchWorkers, caDir), ctx.cores.proxy);
  endpoints.push({
    key: 'perch',
    process: perch.process,
    plainPort: portOf(perch.ready.http[0], 'http'),
    tlsPort: portOf(perch.ready.https[0], 'https'),
    details: { ...perch.details, workers: options.perchWorkers },
  });
  ctx.log(`tls: perch http ${perch.ready.http[0]}, https ${perch.ready.https[0]}, pids ${JSON.stringify(perch.ready.pids)}`);

  if (!options.only.includes('nginx')) {
    notes.push('nginx left out (--only).');
  } else if (findNginx() === undefined) {
    notes.push('nginx is not installed (`apt-get install nginx`): perch only.');
  } else {
    try {
      const nginx = await launchNginx({
        start: (o) => ctx.startProcess(o),
        tmpDir: ctx.tmpDir,
        name: 'nginx-tls',
        backendPort: backend.port,
        core: ctx.cores.proxy,
        tls: { certFile },
      });
      endpoints.push({ key: 'nginx', process: nginx.process, plainPort: Number(new URL(nginx.origin).port), tlsPort: nginx.tlsPort as number, details: nginx.details });
      ctx.log(`tls: nginx ${nginx.origin}, tls port ${nginx.tlsPort}, pid ${nginx.process.pid}`);
    } catch (err) {
      notes.push(`nginx did not start: ${(err as Error).message}`);
    }
  }

  const caPem = ca.certPem;
  for (const endpoint of [...endpoints]) {
    try {
      await probe(`http://127.0.0.1:${endpoint.plainPort}`, PATH, { host: HOST }, BYTES);
      await probeTls(endpoint.tlsPort, caPem, 'http/1.1');
      await probeTls(endpoint.tlsPort, caPem, 'h2');
    } catch (err) {
      if (endpoint.key === 'perch') throw new Error(`perch does not serve ${PATH} on all its listeners: ${(err as Error).message}`);
      notes.push(`nginx left out: ${(err as Error).message}`);
      endpoints.splice(endpoints.indexOf(endpoint), 1);
      await endpoint.process.stop();
    }
  }

  const h2load = options.h2Client !== 'node' && hasH2load();
  if (options.h2Client === 'h2load' && !h2load) notes.push('--h2-client h2load asked for, but h2load is not installed (`apt-get install nghttp2-client`): the Node client ran instead.');
  const keepAliveGenerator = h2load ? 'h2load' : 'node';
  const streams = Math.max(1, Math.ceil(options.connections / H2_CONNECTIONS));

  let loads = 0;
  const specFor = (endpoint: Endpoint, mode: Mode, durationSeconds: number): ConnLoadSpec => {
    const port = mode.tls ? endpoint.tlsPort : endpoint.plainPort;
    loads++;
    return {
      url: `${mode.tls ? 'https' : 'http'}://127.0.0.1:${port}${PATH}`,
      connections: mode.mode === 'h2' ? H2_CONNECTIONS : options.connections,
      durationSeconds,
      headers: { host: HOST },
      mode: mode.mode,
      generator: mode.mode === 'new-connection' ? 'node' : keepAliveGenerator,
      connectHost: '127.0.0.1',
      connectPort: port,
      tls: mode.tls ? { servername: HOST, caFile, resume: mode.resume } : null,
      streams,
      h2loadLogFile: path.join(ctx.tmpDir, `h2load-${loads}.tsv`),
    };
  };
  const watchOf = (endpoint: Endpoint): Record<string, number> => ({ proxy: endpoint.process.pid, backend: backend.process.pid });

  for (const endpoint of endpoints) {
    for (const mode of MODES) {
      await ctx.warmUp(`tls ${endpoint.key} ${mode.key}`, (seconds) => ctx.measureLoad(specFor(endpoint, mode, seconds), {}, LOAD_SCRIPT));
    }
  }

  const samples: Sample[] = [];
  let stopped: string | null = null;
  measuring: for (let rep = 0; rep < options.reps; rep++) {
    const order = rep % 2 === 0 ? endpoints : [...endpoints].reverse();
    for (const endpoint of order) {
      for (const mode of MODES) {
        ctx.log(`tls: rep ${rep + 1}/${options.reps} ${endpoint.key} ${mode.key} (${options.durationSeconds} s)`);
        const m = await ctx.measureLoad(specFor(endpoint, mode, options.durationSeconds), watchOf(endpoint), LOAD_SCRIPT);
        const load = m.load as ConnLoadResult;
        const done = load.completed;
        const per = (micros: number | undefined): number => (micros === undefined || done === 0 ? NaN : micros / done);
        const proxyCpu = m.usage.proxy?.cpuMicros ?? NaN;
        const benchMicros = m.host.benchCores * m.host.windowSeconds * 1e6;
        samples.push({
          rep,
          target: endpoint.key,
          mode: mode.key,
          generator: load.generator,
          requestsPerSecond: load.requestsPerSecond,
          p50Ms: load.latencyMs.p50,
          p99Ms: load.latencyMs.p99,
          completed: done,
          errors: load.errors + load.timeouts,
          non2xx: load.non2xx,
          connectionsOpened: load.connectionsOpened,
          resumed: load.resumed,
          tlsFacts: load.tlsFacts,
          errorSamples: load.errorSamples,
          proxyCpuMicrosPerRequest: per(m.usage.proxy?.cpuMicros),
          backendCpuMicrosPerRequest: per(m.usage.backend?.cpuMicros),
          proxyPeakRssSumBytes: m.usage.proxy?.peakRssSumBytes ?? NaN,
          loadCoreBusy: (benchMicros - proxyCpu) / (m.host.windowSeconds * 1e6),
          host: m.host,
        });
        if (load.errors > 0 || load.non2xx > 0) ctx.log(`tls: ${endpoint.key} ${mode.key}: ${load.errors} errors, ${load.non2xx} non-2xx ${load.errorSamples.join(' | ')}`);
        const gone = [backend.process, ...endpoints.map((e) => e.process)].filter((p) => !p.running);
        if (gone.length > 0) {
          stopped = `stopped after rep ${rep + 1} (${endpoint.key} ${mode.key}): ${gone.map((p) => `${p.name} ${p.exitDescription}`).join('; ')}`;
          ctx.log(`tls: ${stopped}`);
          break measuring;
        }
      }
    }
  }

  // perch's own count of requests in flight on its machine, now that no load runs: anything above 0 is a request
  // whose client is gone and that perch still counts (it never finished: no access line, load held).
  let idleInflight: number | null = null;
  let idleInflightError: string | undefined;
  try {
    await sleep(1000);
    const list = (await getJson(`${perch.adminOrigin}/v1/apps/${APP}/machines`)) as { load?: number }[];
    idleInflight = list.reduce((n, m) => n + (m.load ?? 0), 0);
  } catch (err) {
    idleInflightError = (err as Error).message;
  }

  // Per (target, mode): medians over repetitions; ratios per repetition, then their median.
  const find = (target: TargetKey, mode: string, rep: number): Sample | undefined => samples.find((s) => s.target === target && s.mode === mode && s.rep === rep);
  const summaries = endpoints.flatMap((endpoint) =>
    MODES.map((mode) => {
      const mine = samples.filter((s) => s.target === endpoint.key && s.mode === mode.key);
      const perRep = (other: (s: Sample) => Sample | undefined, pick: (s: Sample) => number, how: (a: number, b: number) => number): number =>
        median(
          mine.map((s) => {
            const o = other(s);
            return o === undefined ? NaN : how(pick(s), pick(o));
          }),
        );
      const vsBaseline = (s: Sample): Sample | undefined => find(endpoint.key, mode.baseline, s.rep);
      const vsNginx = (s: Sample): Sample | undefined => (endpoint.key === 'nginx' ? undefined : find('nginx', mode.key, s.rep));
      const opened = mine.reduce((n, s) => n + s.connectionsOpened, 0);
      return {
        target: endpoint.key,
        mode: mode.key,
        label: mode.label,
        kind: mode.mode === 'new-connection' ? 'connections' : 'requests',
        generator: [...new Set(mine.map((s) => s.generator))].join(', '),
        reps: mine.length,
        requestsPerSecond: median(mine.map((s) => s.requestsPerSecond)),
        p50Ms: median(mine.map((s) => s.p50Ms)),
        p99Ms: median(mine.map((s) => s.p99Ms)),
        proxyCpuMicrosPerRequest: median(mine.map((s) => s.proxyCpuMicrosPerRequest)),
        backendCpuMicrosPerRequest: median(mine.map((s) => s.backendCpuMicrosPerRequest)),
        proxyPeakRssSumMiB: Math.max(...mine.map((s) => s.proxyPeakRssSumBytes)) / (1024 * 1024),
        loadCoreBusy: median(mine.map((s) => s.loadCoreBusy)),
        errors: mine.reduce((n, s) => n + s.errors, 0),
        non2xx: mine.reduce((n, s) => n + s.non2xx, 0),
        errorSamples: [...new Set(mine.flatMap((s) => s.errorSamples))].slice(0, 3),
        resumedShare: opened === 0 ? NaN : mine.reduce((n, s) => n + s.resumed, 0) / opened,
        tlsFacts: mine.find((s) => s.tlsFacts !== null)?.tlsFacts ?? null,
        throughputVsPlain: perRep(vsBaseline, (s) => s.requestsPerSecond, ratio),
        cpuVsPlain: perRep(vsBaseline, (s) => s.proxyCpuMicrosPerRequest, ratio),
        /** CPU µs per request (or connection) above the plain row's: what TLS (and h2) add per request, or per handshake. */
        cpuOverPlainMicros: perRep(vsBaseline, (s) => s.proxyCpuMicrosPerRequest, (a, b) => a - b),
        throughputVsNginx: perRep(vsNginx, (s) => s.requestsPerSecond, ratio),
        cpuVsNginx: perRep(vsNginx, (s) => s.proxyCpuMicrosPerRequest, ratio),
        p99VsNginx: perRep(vsNginx, (s) => s.p99Ms, ratio),
      };
    }),
  );

  const rows = summaries.map((s) => {
    const isBaseline = MODES.find((m) => m.key === s.mode)?.baseline === s.mode;
    return [
      s.target,
      s.label,
      s.generator,
      formatNumber(s.requestsPerSecond),
      isBaseline ? '' : formatRatio(s.throughputVsPlain),
      s.target === 'perch' ? formatRatio(s.throughputVsNginx) : '',
      formatNumber(s.p50Ms, 2),
      formatNumber(s.p99Ms, 2),
      formatNumber(s.proxyCpuMicrosPerRequest, 1),
      isBaseline ? '' : `${s.cpuOverPlainMicros >= 0 ? '+' : ''}${formatNumber(s.cpuOverPlainMicros, 1)}`,
      s.target === 'perch' ? formatRatio(s.cpuVsNginx) : '',
      formatNumber(s.loadCoreBusy, 2),
      s.errors === 0 && s.non2xx === 0 ? '0' : `${s.errors} err, ${s.non2xx} non-2xx`,
    ];
  });

  const get = (target: TargetKey, mode: string) => summaries.find((s) => s.target === target && s.mode === mode);
  const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(100 * x)} %` : '—');
  if (stopped !== null) notes.unshift(`Measuring ${stopped}.`);
  const perchFull = get('perch', 'conn-tls');
  const perchResumed = get('perch', 'conn-tls-resumed');
  const perchH2 = get('perch', 'h2');
  const nginxFull = get('nginx', 'conn-tls');
  notes.push(
    `perch, new TLS connections: ${formatNumber(perchFull?.requestsPerSecond)} conn/s with a full handshake (${formatRatio(perchFull?.throughputVsPlain)} of plain new connections), ` +
      `${formatNumber(perchFull?.proxyCpuMicrosPerRequest)} µs of perch CPU per connection, of which ${formatNumber(perchFull?.cpuOverPlainMicros)} µs above a plain one = the handshake; ` +
      `resumed: ${formatNumber(perchResumed?.requestsPerSecond)} conn/s, ${formatNumber(perchResumed?.cpuOverPlainMicros)} µs above plain (${pct(perchResumed?.resumedShare ?? NaN)} of the handshakes resumed).` +
      (nginxFull === undefined ? '' : ` nginx: ${formatNumber(nginxFull.proxyCpuMicrosPerRequest)} µs per full-handshake connection, ${formatNumber(nginxFull.cpuOverPlainMicros)} µs above plain; resumed ${pct(get('nginx', 'conn-tls-resumed')?.resumedShare ?? NaN)}.`),
  );
  notes.push(
    `perch, HTTP/2 over TLS (${H2_CONNECTIONS} connections × ${streams} streams): ${formatNumber(perchH2?.requestsPerSecond)} req/s = ${formatRatio(perchH2?.throughputVsPlain)} of HTTP/1.1 plain keep-alive ` +
      `(${options.connections} connections), ${formatNumber(perchH2?.proxyCpuMicrosPerRequest, 1)} CPU µs/req (${formatRatio(perchH2?.cpuVsPlain)} of plain)` +
      (get('nginx', 'h2') === undefined ? '.' : `; nginx ${formatRatio(get('nginx', 'h2')?.throughputVsPlain)} of its plain; perch ÷ nginx ${formatRatio(perchH2?.throughputVsNginx)} req/s, ${formatRatio(perchH2?.cpuVsNginx)} CPU/req.`),
  );
  const facts = summaries.find((s) => s.tlsFacts !== null)?.tlsFacts;
  if (facts) notes.push(`Negotiated (first TLS connection): ${facts.protocol}, ${facts.cipher}; both servers present the same local-CA certificate (EC P-256) for ${HOST}; the Node client verifies it against ca.pem, h2load does not verify.`);
  const clientBound = summaries.filter((s) => s.loadCoreBusy >= 0.9).map((s) => `${s.target} ${s.mode}`);
  notes.push(
    `"load core" = cores used by the load generator, the backend and the runner (all on core ${ctx.cores.load ?? '?'}); near 1.00 the client side, not the proxy, set the rate, so req/s understates the proxy and its CPU µs/req is the figure to compare` +
      (clientBound.length > 0 ? ` (at ≥ 0.90 here: ${clientBound.join(', ')}).` : '.'),
  );
  const failures = summaries.filter((s) => s.errors > 0 || s.non2xx > 0);
  notes.push(failures.length === 0 ? 'Every response was 2xx and no connection failed.' : `Failures: ${failures.map((s) => `${s.target} ${s.mode}: ${s.errors} errors, ${s.non2xx} non-2xx ${s.errorSamples.join(' | ')}`).join('; ')}.`);
  if (idleInflight === null) notes.push(`perch's in-flight count after the run: not read (${idleInflightError}).`);
  else if (idleInflight > 0)
    notes.push(
      `After the run, with no load, perch's admin API still counts ${idleInflight} request(s) in flight on the machine: requests whose client went away and that never finished ` +
        '(no access line, the load stays counted, and shutdown waits for them until shutdown_timeout). Seen with HTTP/2: h2load closes its connections with streams in flight at the end of each window.',
    );
  else notes.push("After the run perch counts 0 requests in flight (nothing leaked).");
  if (ctx.cores.proxy === undefined) notes.push('Nothing pinned (taskset missing or a single core).');
  if (!existsSync(caFile)) notes.push(`(${caFile} vanished)`);
  notes.push(hostNote(samples.map((s) => ({ label: `${s.target} ${s.mode}`, otherCores: s.host.otherCores })), os.cpus().length));

  return {
    title: 'tls',
    description:
      `GET ${PATH} through perch (${options.perchWorkers} worker${options.perchWorkers === 1 ? '' : 's'}) and nginx (1 worker process), each pinned to core ${ctx.cores.proxy ?? '?'}, to one src/demo/hello.ts; ` +
      `TLS with SNI ${HOST} and a local-CA certificate. Keep-alive rows: ${options.connections} HTTP/1.1 connections with one request in flight each, or HTTP/2 with ${H2_CONNECTIONS} connections × ${streams} streams ` +
      `(load by ${keepAliveGenerator === 'h2load' ? 'h2load, nghttp2\'s C client' : 'bench/tls-load.ts, Node'}); "new connection" rows: ${options.connections} lanes each opening a connection per request ` +
      `(HTTP/1.1, \`Connection: close\`; bench/tls-load.ts, Node), req/s = connections/s, "resumed" offers the previous connection's session ticket. ` +
      `${options.durationSeconds} s per window ${ctx.warmUpNote()}, ${options.reps} repetition(s), targets alternating; medians. "× plain" = this row ÷ the same target's plain row of its kind (keep-alive: HTTP/1.1 plain keep-alive; ` +
      `new connection: plain new connection), per repetition; "CPU over plain" = proxy CPU µs per request (per connection) minus the plain row's, i.e. what TLS adds per request, or per handshake; ` +
      `"perch ÷ nginx" compares the same row. CPU covers every proxy process.`,
    table: {
      headers: ['target', 'traffic', 'load by', 'req/s', '× plain', 'req/s perch ÷ nginx', 'p50 ms', 'p99 ms', 'CPU µs/req', 'CPU over plain µs', 'CPU perch ÷ nginx', 'load core', 'failures'],
      align: ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      rows,
    },
    notes,
    data: {
      path: PATH,
      host: HOST,
      stopped,
      h2: { connections: H2_CONNECTIONS, streamsPerConnection: streams },
      keepAliveGenerator,
      placement: { proxy: ctx.cores.proxy ?? null, backend: ctx.cores.backend ?? null, load: ctx.cores.load ?? null },
      backend: { port: backend.port, pid: backend.process.pid },
      endpoints: endpoints.map((e) => ({ key: e.key, pid: e.process.pid, plainPort: e.plainPort, tlsPort: e.tlsPort, details: e.details })),
      idleInflight,
      summaries,
      samples,
    },
  };
}

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}`);
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}
