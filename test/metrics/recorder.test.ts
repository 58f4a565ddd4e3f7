// The worker's hot-path recorder and what it renders to: observations in,
// Prometheus series out (parsed with a real text-format parser), every
// expected figure computed by hand from the bucket bounds:
//   response time  0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 +Inf
//   connect time   0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 +Inf
import t from 'tap';
import { FixedHistogram, RESPONSE_TIME_BUCKETS } from '../../src/metrics/histogram.ts';
import { WorkerMetrics, type FinishedExchange } from '../../src/metrics/recorder.ts';
import { renderMetrics, type PrimaryGauges } from '../../src/metrics/render.ts';
import { histogram, parseMetrics, seriesOf, value } from '../support/prometheus.ts';

const NO_GAUGES: PrimaryGauges = { machines: [], queues: [], workers: { answered: 1, missed: 0 } };

/** Routes are objects (the recorder keys its per-route structures by identity); two routes may share an app. */
const routes = {
  web: { config: { name: 'web' } },
  webTcp: { config: { name: 'web' } },
  api: { config: { name: 'api' } },
};

interface Observation {
  route: keyof typeof routes;
  status: number;
  ms: number;
  bytes?: number;
  code?: string;
}

function record(metrics: WorkerMetrics, observations: readonly Observation[]): void {
  for (const o of observations) {
    const exchange: FinishedExchange = { app: routes[o.route], status: o.status, bytesOut: o.bytes ?? 0, elapsedMs: o.ms, error: o.code === undefined ? null : { code: o.code } };
    metrics.exchange(exchange);
  }
}

t.test('a value on a bound falls in that bucket (le is ≤), above every bound in +Inf', async (t) => {
  const cases: [value: number, bucketIndex: number][] = [
    [0, 0],
    [0.001, 0],
    [0.0010001, 1],
    [0.0025, 1],
    [0.7, 9],
    [60, 14],
    [60.5, 15],
    [1e9, 15],
  ];
  for (const [observed, index] of cases) {
    const h = new FixedHistogram(RESPONSE_TIME_BUCKETS);
    h.observe(observed);
    const expected = new Array(RESPONSE_TIME_BUCKETS.length + 1).fill(0);
    expected[index] = 1;
    t.same(Array.from(h.counts), expected, `${observed} s → bucket ${index}`);
    t.equal(h.count, 1);
    t.equal(h.sum, observed);
  }
});

interface Case {
  name: string;
  observations: Observation[];
  unrouted?: string[];
  responses: Record<string, number>;
  /** Histogram per "app,status": count, sum (seconds) and cumulative buckets that differ from 0 or the count (checked in full). */
  times: Record<string, { count: number; sum: number; buckets: Record<string, number> }>;
  dataOut: Record<string, number>;
  errors: Record<string, number>;
}

const ALL_BOUNDS = [...RESPONSE_TIME_BUCKETS.map(String), '+Inf'];

/** Cumulative buckets from the few that are given: each bound takes the value of the nearest given bound at or below it. */
function cumulative(given: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  let current = 0;
  for (const le of ALL_BOUNDS) {
    if (given[le] !== undefined) current = given[le]!;
    out[le] = current;
  }
  return out;
}

const CASES: Case[] = [
  {
    name: 'nothing recorded: no series',
    observations: [],
    responses: {},
    times: {},
    dataOut: {},
    errors: {},
  },
  {
    name: 'statuses counted per app; times in their buckets; bytes summed',
    observations: [
      { route: 'web', status: 200, ms: 0.5, bytes: 100 },
      { route: 'web', status: 200, ms: 3, bytes: 100 },
      { route: 'web', status: 200, ms: 3, bytes: 50 },
      { route: 'web', status: 200, ms: 70_000 },
      { route: 'web', status: 404, ms: 20, bytes: 9 },
      { route: 'api', status: 503, ms: 1000, code: 'PR04' },
    ],
    responses: { 'app=web,status=200': 4, 'app=web,status=404': 1, 'app=api,status=503': 1 },
    times: {
      // 0.0005 → le 0.001; 0.003 ×2 → le 0.005; 70 → +Inf
      'web,200': { count: 4, sum: 70.0065, buckets: cumulative({ '0.001': 1, '0.005': 3, '+Inf': 4 }) },
      // 0.02 → le 0.025
      'web,404': { count: 1, sum: 0.02, buckets: cumulative({ '0.025': 1 }) },
      // exactly 1 s → le 1
      'api,503': { count: 1, sum: 1, buckets: cumulative({ '1': 1 }) },
    },
    dataOut: { 'app=web': 259, 'app=api': 0 },
    errors: { 'app=api,code=PR04': 1 },
  },
  {
    name: 'two routes of one app are one app; a retried error that succeeded keeps its code (as the log does)',
    observations: [
      { route: 'web', status: 200, ms: 1, bytes: 10 },
      { route: 'webTcp', status: 200, ms: 1, bytes: 5 },
      { route: 'webTcp', status: 200, ms: 1, code: 'PC01' },
      { route: 'web', status: 502, ms: 7, code: 'PC07' },
      { route: 'web', status: 502, ms: 7, code: 'PC07' },
    ],
    unrouted: ['PH02', 'PH02'],
    responses: { 'app=web,status=200': 3, 'app=web,status=502': 2 },
    times: {
      'web,200': { count: 3, sum: 0.003, buckets: cumulative({ '0.001': 3 }) },
      'web,502': { count: 2, sum: 0.014, buckets: cumulative({ '0.01': 2 }) },
    },
    dataOut: { 'app=web': 15 },
    errors: { 'app=web,code=PC01': 1, 'app=web,code=PC07': 2, 'app=,code=PH02': 2 },
  },
  {
    name: 'a client that went away (499) and an odd status are counted under their code',
    observations: [
      { route: 'api', status: 499, ms: 5 },
      { route: 'api', status: 0, ms: 5 },
    ],
    responses: { 'app=api,status=499': 1, 'app=api,status=0': 1 },
    times: {
      'api,499': { count: 1, sum: 0.005, buckets: cumulative({ '0.005': 1 }) },
      'api,0': { count: 1, sum: 0.005, buckets: cumulative({ '0.005': 1 }) },
    },
    dataOut: { 'app=api': 0 },
    errors: {},
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const metrics = new WorkerMetrics();
    record(metrics, c.observations);
    for (const code of c.unrouted ?? []) metrics.unrouted(code);
    const families = parseMetrics(await renderMetrics(metrics.snapshot(), NO_GAUGES, 'ams'));
    t.same(seriesOf(families, 'fly_edge_http_responses_count', ['app', 'status']), c.responses, 'fly_edge_http_responses_count');
    t.same(seriesOf(families, 'fly_edge_data_out', ['app']), c.dataOut, 'fly_edge_data_out');
    t.same(seriesOf(families, 'perch_errors_total', ['app', 'code']), c.errors, 'perch_errors_total');
    for (const [key, expected] of Object.entries(c.times)) {
      const [app, status] = key.split(',');
      const got = histogram(families, 'fly_edge_http_response_time_seconds', { app: app!, status: status!, region: 'ams' });
      t.ok(got, `a histogram for ${key}`);
      t.equal(got!.count, expected.count, `${key} count`);
      t.ok(Math.abs(got!.sum - expected.sum) < 1e-9, `${key} sum ${got!.sum} ≈ ${expected.sum}`);
      t.same(got!.buckets, expected.buckets, `${key} buckets`);
    }
    t.equal(value(families, 'perch_metrics_workers', { result: 'answered' }), 1);
  });
}

t.test('connect and TLS handshake times: per machine and per (app, version)', async (t) => {
  const metrics = new WorkerMetrics();
  metrics.connected('web', 'web-ams-1', 'ams', 0.0004);
  metrics.connected('web', 'web-ams-1', 'ams', 0.003);
  metrics.connected('web', 'web-fra-1', 'fra', 0.03);
  metrics.tlsHandshake('web', 'TLSv1.3', 0.004);
  metrics.tlsHandshake('', 'TLSv1.2', 0.2);
  const families = parseMetrics(await renderMetrics(metrics.snapshot(), NO_GAUGES, 'ams'));
  const ams = histogram(families, 'fly_app_connect_time_seconds', { app: 'web', instance: 'web-ams-1', region: 'ams' });
  t.same(ams?.buckets, { '0.0005': 1, '0.001': 1, '0.0025': 1, '0.005': 2, '0.01': 2, '0.025': 2, '0.05': 2, '0.1': 2, '0.25': 2, '0.5': 2, '1': 2, '2.5': 2, '5': 2, '+Inf': 2 });
  t.equal(ams?.count, 2);
  const fra = histogram(families, 'fly_app_connect_time_seconds', { app: 'web', instance: 'web-fra-1', region: 'fra' });
  t.equal(fra?.buckets['0.025'], 0);
  t.equal(fra?.buckets['0.05'], 1, 'the machine\'s own region labels fly_app_ series');
  t.equal(histogram(families, 'fly_edge_tls_handshake_time_seconds', { app: 'web', version: 'TLSv1.3' })?.buckets['0.005'], 1);
  t.equal(histogram(families, 'fly_edge_tls_handshake_time_seconds', { app: '', version: 'TLSv1.2' })?.buckets['0.1'], 0);
  t.equal(histogram(families, 'fly_edge_tls_handshake_time_seconds', { app: '', version: 'TLSv1.2' })?.buckets['0.25'], 1);
});

t.test('a snapshot is a copy: counting goes on after it is taken', async (t) => {
  const metrics = new WorkerMetrics();
  record(metrics, [{ route: 'web', status: 200, ms: 1 }]);
  const before = metrics.snapshot();
  record(metrics, [{ route: 'web', status: 200, ms: 1 }]);
  t.equal(before.apps[0]!.responses[0]!.time.count, 1);
  t.equal(metrics.snapshot().apps[0]!.responses[0]!.time.count, 2);
});
