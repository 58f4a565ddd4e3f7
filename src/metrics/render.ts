// Turns the summed worker snapshot and the primary's gauges into the
// Prometheus text format — through prom-client, never by hand.
//
// How: each series family is a small metric object registered in a fresh
// prom-client Registry; its get() returns the values already aggregated
// (the `MetricObjectWithValues` shape prom-client's own metrics return), and
// Registry.metrics() does the escaping, label formatting and layout.
//
// Why not prom-client's cluster support: AggregatorRegistry.clusterMetrics()
// fails the whole scrape when one worker is slow or dead (hard-coded 5 s),
// leaks a pending request on each failure in 15.1.3, needs a prom-client
// Registry (label validation and hashing on every observation) in every
// worker, and loses a dead worker's counts. Why not its static aggregate():
// it regroups every label set of every source by hashing at each scrape; we
// sum compact number snapshots instead (snapshot.ts), which also lets the
// primary keep a dead worker's last counts so counters never go backwards.
// What is left for prom-client is what it is good at: the exposition format.
import { Registry, type Metric } from 'prom-client';
import type { MachineState } from '../machines/machine.ts';
import { CONNECT_TIME_BUCKETS, RESPONSE_TIME_BUCKETS, TLS_HANDSHAKE_BUCKETS, type HistogramData } from './histogram.ts';
import { MACHINE_STATES, type RouteQueue } from './primary-view.ts';
import type { MetricsSnapshot } from './snapshot.ts';

export interface MachineGauge {
  app: string;
  machine: string;
  region: string;
  state: MachineState;
  healthy: boolean;
  rttMs: number | null;
  /** In-flight load on the machine (all its routes), from the primary's ledger. */
  load: number;
}

export interface PrimaryGauges {
  machines: MachineGauge[];
  queues: RouteQueue[];
  /** Workers that answered this scrape, and those that did not in time (their last counts were used). */
  workers: { answered: number; missed: number };
}

type Labels = Record<string, string | number>;
interface Value {
  value: number;
  labels: Labels;
  metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

class Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly aggregator = 'sum';
  readonly values: Value[] = [];

  constructor(name: string, help: string, type: MetricType) {
    this.name = name;
    this.help = help;
    this.type = type;
  }

  add(labels: Labels, value: number): void {
    this.values.push({ value, labels });
  }

  /** A histogram's series: cumulative buckets (+Inf last), then _sum and _count, as prom-client's Histogram lays them out. */
  addHistogram(labels: Labels, bounds: readonly number[], data: HistogramData): void {
    let cumulative = 0;
    for (let i = 0; i <= bounds.length; i++) {
      cumulative += data.counts[i] ?? 0;
      this.values.push({ value: cumulative, labels: { ...labels, le: i < bounds.length ? bounds[i]! : '+Inf' }, metricName: `${this.name}_bucket` });
    }
    this.values.push({ value: data.sum, labels, metricName: `${this.name}_sum` });
    this.values.push({ value: data.count, labels, metricName: `${this.name}_count` });
  }

  get(): { name: string; help: string; type: MetricType; aggregator: string; values: Value[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values };
  }
}

/** The Prometheus text exposition of everything perch measures. */
export async function renderMetrics(snapshot: MetricsSnapshot, gauges: PrimaryGauges, edgeRegion: string): Promise<string> {
  return registryOf(snapshot, gauges, edgeRegion).metrics();
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export function registryOf(snapshot: MetricsSnapshot, gauges: PrimaryGauges, edgeRegion: string): Registry {
  const responses = new Family('fly_edge_http_responses_count', 'HTTP responses perch sent, by app and status code.', 'counter');
  const responseTime = new Family('fly_edge_http_response_time_seconds', 'Time from a request\'s arrival to the end of its response, by app and status code.', 'histogram');
  const dataOut = new Family('fly_edge_data_out', 'Response body bytes relayed from machines to clients.', 'counter');
  const tls = new Family('fly_edge_tls_handshake_time_seconds', 'TLS handshake time on the HTTPS listeners, from TCP accept to handshake done, by negotiated version and the app the SNI name routes to.', 'histogram');
  const concurrency = new Family('fly_app_concurrency', 'In-flight load per machine (requests or connections, as the service counts it), from the primary\'s exact ledger.', 'gauge');
  const connectTime = new Family('fly_app_connect_time_seconds', 'TCP connect time of new connections from perch to a machine (pooled connections are reused, so this counts connections, not requests).', 'histogram');
  const errors = new Family('perch_errors_total', 'Requests that carried an error code (the access log\'s `code`), by app and code; app "" is a request no app took.', 'counter');
  const state = new Family('perch_machine_state', 'Machine state: 1 for the state it is in, 0 for the others.', 'gauge');
  const healthy = new Family('perch_machine_healthy', '1 when the machine takes traffic (started, checks passing), else 0.', 'gauge');
  const rtt = new Family('perch_machine_rtt_seconds', 'Closeness: EWMA of the connect and check round trips to the machine.', 'gauge');
  const queue = new Family('perch_queue_length', 'Requests waiting at the primary for a free slot or a waking machine, per route.', 'gauge');
  const workers = new Family('perch_metrics_workers', 'Workers whose counts this scrape holds: answered now, or missed (slow or gone: their last counts were used).', 'gauge');

  for (const app of snapshot.apps) {
    if (app.app !== '') {
      for (const response of app.responses) {
        const labels = { app: app.app, region: edgeRegion, status: response.status };
        responses.add(labels, response.time.count);
        responseTime.addHistogram(labels, RESPONSE_TIME_BUCKETS, response.time);
      }
      dataOut.add({ app: app.app, region: edgeRegion }, app.dataOut);
    }
    for (const error of app.errors) errors.add({ app: app.app, region: edgeRegion, code: error.code }, error.count);
  }
  for (const series of snapshot.tls) tls.addHistogram({ app: series.app, region: edgeRegion, version: series.version }, TLS_HANDSHAKE_BUCKETS, series.time);
  for (const series of snapshot.connect) connectTime.addHistogram({ app: series.app, region: series.region, instance: series.machine }, CONNECT_TIME_BUCKETS, series.time);
  for (const machine of gauges.machines) {
    concurrency.add({ app: machine.app, region: machine.region, instance: machine.machine }, machine.load);
    for (const candidate of MACHINE_STATES) state.add({ app: machine.app, region: machine.region, machine: machine.machine, state: candidate }, candidate === machine.state ? 1 : 0);
    healthy.add({ app: machine.app, region: machine.region, machine: machine.machine }, machine.healthy ? 1 : 0);
    if (machine.rttMs !== null) rtt.add({ app: machine.app, region: machine.region, machine: machine.machine }, machine.rttMs / 1000);
  }
  for (const route of gauges.queues) queue.add({ app: route.app, route: route.route, service: route.service }, route.queued);
  workers.add({ result: 'answered' }, gauges.workers.answered);
  workers.add({ result: 'missed' }, gauges.workers.missed);

  const registry = new Registry();
  for (const family of [responses, responseTime, dataOut, tls, concurrency, connectTime, errors, state, healthy, rtt, queue, workers]) {
    // A metric object in the shape prom-client's registry reads (name, help, type, get()); not one of its classes.
    registry.registerMetric(family as unknown as Metric);
  }
  return registry;
}
