// A worker's metrics, recorded on the hot path with plain numbers: no
// prom-client call, no label hashing, no allocation per request. Each app
// gets its structures once (on its first request); a response is an array
// index by status code, a bucket scan and a few additions. The primary asks
// for a snapshot at scrape time (see hub.ts) and sums the workers'.
//
//   recordExchange(exchange)          at the end of every proxied request (http-proxy.ts finished())
//   recordUnrouted(code)              a request no app took (PH02)
//   recordConnect(app, machine, …)    a new upstream connection (worker-hooks.ts)
//   recordTlsHandshake(app, version, seconds)   a TLS handshake done (worker-hooks.ts)
import { CONNECT_TIME_BUCKETS, FixedHistogram, RESPONSE_TIME_BUCKETS, TLS_HANDSHAKE_BUCKETS } from './histogram.ts';
import type { AppSeries, ConnectSeries, MetricsSnapshot, TlsSeries } from './snapshot.ts';

/** What a finished exchange tells the recorder (Exchange has these; tests pass plain objects). */
export interface FinishedExchange {
  readonly app: object & { readonly config: { readonly name: string } };
  readonly status: number;
  readonly bytesOut: number;
  /** Milliseconds from the request's arrival to its end. */
  readonly elapsedMs: number;
  readonly error: { readonly code: string } | null;
}

/** Status codes are 100–999 (Node refuses others); anything else counts under 0. */
const STATUS_SLOTS = 1000;

class AppRecorder {
  readonly app: string;
  /** Response-time histogram per status code, indexed by the code; null until the code is first seen. */
  readonly byStatus: (FixedHistogram | null)[] = new Array<FixedHistogram | null>(STATUS_SLOTS).fill(null);
  /** The codes seen, for snapshots. */
  readonly statuses: number[] = [];
  dataOut = 0;
  readonly errors = new Map<string, number>();

  constructor(app: string) {
    this.app = app;
  }

  statusHistogram(index: number): FixedHistogram {
    const histogram = new FixedHistogram(RESPONSE_TIME_BUCKETS);
    this.byStatus[index] = histogram;
    this.statuses.push(index);
    return histogram;
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  series(): AppSeries {
    return {
      app: this.app,
      responses: this.statuses.map((status) => ({ status, time: this.byStatus[status]!.data() })),
      dataOut: this.dataOut,
      errors: [...this.errors].map(([code, count]) => ({ code, count })),
    };
  }
}

export class WorkerMetrics {
  private readonly apps = new Map<string, AppRecorder>();
  /** Route object → its app's recorder: one identity lookup per request (routes made again on reload are simply new keys). */
  private readonly byRoute = new WeakMap<object, AppRecorder>();
  private readonly connect = new Map<string, Map<string, { region: string; histogram: FixedHistogram }>>();
  private readonly tls = new Map<string, Map<string, FixedHistogram>>();

  exchange(exchange: FinishedExchange): void {
    const route = exchange.app;
    const app = this.byRoute.get(route) ?? this.routeRecorder(route);
    const status = exchange.status;
    const index = status > 0 && status < STATUS_SLOTS ? status : 0;
    const histogram = app.byStatus[index] ?? app.statusHistogram(index);
    histogram.observe(exchange.elapsedMs / 1000);
    app.dataOut += exchange.bytesOut;
    const error = exchange.error;
    if (error !== null) app.error(error.code);
  }

  /** A request answered with an error before any app took it. */
  unrouted(code: string): void {
    this.appRecorder('').error(code);
  }

  connected(app: string, machine: string, region: string, seconds: number): void {
    let machines = this.connect.get(app);
    if (machines === undefined) {
      machines = new Map();
      this.connect.set(app, machines);
    }
    let entry = machines.get(machine);
    if (entry === undefined) {
      entry = { region, histogram: new FixedHistogram(CONNECT_TIME_BUCKETS) };
      machines.set(machine, entry);
    }
    entry.histogram.observe(seconds);
  }

  tlsHandshake(app: string, version: string, seconds: number): void {
    let versions = this.tls.get(app);
    if (versions === undefined) {
      versions = new Map();
      this.tls.set(app, versions);
    }
    let histogram = versions.get(version);
    if (histogram === undefined) {
      histogram = new FixedHistogram(TLS_HANDSHAKE_BUCKETS);
      versions.set(version, histogram);
    }
    histogram.observe(seconds);
  }

  /** Everything counted since this worker started (counters never reset). */
  snapshot(): MetricsSnapshot {
    const connect: ConnectSeries[] = [];
    for (const [app, machines] of this.connect) {
      for (const [machine, { region, histogram }] of machines) connect.push({ app, machine, region, time: histogram.data() });
    }
    const tls: TlsSeries[] = [];
    for (const [app, versions] of this.tls) {
      for (const [version, histogram] of versions) tls.push({ app, version, time: histogram.data() });
    }
    return { apps: [...this.apps.values()].map((app) => app.series()), connect, tls };
  }

  private routeRecorder(route: FinishedExchange['app']): AppRecorder {
    const recorder = this.appRecorder(route.config.name);
    this.byRoute.set(route, recorder);
    return recorder;
  }

  private appRecorder(name: string): AppRecorder {
    let recorder = this.apps.get(name);
    if (recorder === undefined) {
      recorder = new AppRecorder(name);
      this.apps.set(name, recorder);
    }
    return recorder;
  }
}

/** This process's recorder (each worker is a process of its own). */
export const workerMetrics = new WorkerMetrics();

export function recordExchange(exchange: FinishedExchange): void {
  workerMetrics.exchange(exchange);
}

export function recordUnrouted(code: string): void {
  workerMetrics.unrouted(code);
}

export function recordConnect(app: string, machine: string, region: string, seconds: number): void {
  workerMetrics.connected(app, machine, region, seconds);
}

export function recordTlsHandshake(app: string, version: string, seconds: number): void {
  workerMetrics.tlsHandshake(app, version, seconds);
}

export function metricsSnapshot(): MetricsSnapshot {
  return workerMetrics.snapshot();
}
