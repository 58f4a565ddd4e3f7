// The primary's aggregation: workers' snapshots summed at each scrape; a
// worker that does not answer in time is never waited for beyond the timeout
// and its last counts stand in; a worker that exits leaves its last counts
// behind, so sums never go backwards; the primary's own gauges (ledger load,
// machine states, health, queues) join them. Expected figures are by hand.
import t from 'tap';
import type { Machine } from '../../src/machines/machine.ts';
import { MetricsHub, type WorkerLike } from '../../src/metrics/hub.ts';
import type { RouteLoad, RouteQueue } from '../../src/metrics/primary-view.ts';
import { WorkerMetrics } from '../../src/metrics/recorder.ts';
import { sumSnapshots } from '../../src/metrics/snapshot.ts';
import { histogram, parseMetrics, seriesOf, value } from '../support/prometheus.ts';

const web = { config: { name: 'web' } };
const api = { config: { name: 'api' } };

class FakeWorker implements WorkerLike {
  readonly metrics = new WorkerMetrics();
  answers = true;
  connected = true;
  asked = 0;
  readonly id: number;
  readonly hub: () => MetricsHub;
  constructor(id: number, hub: () => MetricsHub) {
    this.id = id;
    this.hub = hub;
  }
  isConnected(): boolean {
    return this.connected;
  }
  send(message: { t: 'metrics'; seq: number }, _handle: undefined, _options: undefined, callback: (error: Error | null) => void): boolean {
    this.asked++;
    if (this.answers) setImmediate(() => this.hub().answer(this.id, message.seq, this.metrics.snapshot()));
    callback(null);
    return true;
  }
  /** `n` responses of `status` for `route`, each taking `ms`. */
  serve(route: { config: { name: string } }, status: number, n: number, ms = 2): void {
    for (let i = 0; i < n; i++) this.metrics.exchange({ app: route, status, bytesOut: 10, elapsedMs: ms, error: status >= 500 ? { code: 'PR04' } : null });
  }
}

interface Setup {
  hub: MetricsHub;
  workers: Map<number, FakeWorker>;
  add(id: number): FakeWorker;
}

function setup(options: { timeoutMs?: number; machines?: Machine[]; loads?: Record<string, RouteLoad[]>; queues?: RouteQueue[] } = {}): Setup {
  const workers = new Map<number, FakeWorker>();
  const hub: MetricsHub = new MetricsHub({
    region: 'ams',
    workers,
    fleet: { machines: new Map((options.machines ?? []).map((machine) => [machine.spec.id, machine])) },
    loads: {
      routeLoads: (machine) => options.loads?.[machine.spec.id] ?? [],
      queues: () => options.queues ?? [],
    },
    timeoutMs: options.timeoutMs ?? 2_000,
  });
  return {
    hub,
    workers,
    add(id) {
      const worker = new FakeWorker(id, () => hub);
      workers.set(id, worker);
      return worker;
    },
  };
}

async function scrape(hub: MetricsHub): Promise<ReturnType<typeof parseMetrics>> {
  return parseMetrics(await hub.render());
}

t.test('table: counts of every worker summed per (app, status)', async (t) => {
  const cases: { name: string; perWorker: [route: typeof web, status: number, n: number][][]; expected: Record<string, number> }[] = [
    { name: 'one worker', perWorker: [[[web, 200, 3]]], expected: { 'app=web,status=200': 3 } },
    {
      name: 'two workers, same and different series',
      perWorker: [
        [[web, 200, 3], [web, 404, 1]],
        [[web, 200, 4], [api, 503, 2]],
      ],
      expected: { 'app=web,status=200': 7, 'app=web,status=404': 1, 'app=api,status=503': 2 },
    },
    {
      name: 'three workers, one idle',
      perWorker: [[[api, 200, 1]], [], [[api, 200, 2], [api, 201, 5]]],
      expected: { 'app=api,status=200': 3, 'app=api,status=201': 5 },
    },
  ];
  for (const c of cases) {
    const { hub, add } = setup();
    c.perWorker.forEach((served, i) => {
      const worker = add(i + 1);
      for (const [route, status, n] of served) worker.serve(route, status, n);
    });
    const metrics = await scrape(hub);
    t.same(seriesOf(metrics, 'fly_edge_http_responses_count', ['app', 'status']), c.expected, c.name);
    for (const [key, count] of Object.entries(c.expected)) {
      const [app, status] = key.split(',').map((part) => part.split('=')[1]!);
      const h = histogram(metrics, 'fly_edge_http_response_time_seconds', { app: app!, status: status! });
      t.equal(h?.count, count, `${c.name}: ${key} histogram _count`);
      t.equal(h?.buckets['+Inf'], count, `${c.name}: ${key} +Inf bucket`);
      t.equal(h?.buckets['0.0025'], count, `${c.name}: ${key} every 2 ms response ≤ 0.0025`);
      t.equal(h?.buckets['0.001'], 0, `${c.name}: ${key} none ≤ 0.001`);
    }
    t.equal(value(metrics, 'perch_metrics_workers', { result: 'answered' }), c.perWorker.length);
  }
});

t.test('a worker that does not answer is skipped after the timeout; its last counts stand in', async (t) => {
  const { hub, add } = setup({ timeoutMs: 100 });
  const a = add(1);
  const b = add(2);
  a.serve(web, 200, 2);
  b.serve(web, 200, 5);
  t.equal(value(await scrape(hub), 'fly_edge_http_responses_count', { app: 'web', status: '200' }), 7, 'both answered');

  b.answers = false;
  b.serve(web, 200, 100); // counted in b, but b does not answer now
  a.serve(web, 200, 1);
  const started = performance.now();
  const metrics = await scrape(hub);
  const took = performance.now() - started;
  t.ok(took >= 90 && took < 1_000, `the scrape waited for the timeout only (${took.toFixed(0)} ms)`);
  t.equal(value(metrics, 'fly_edge_http_responses_count', { app: 'web', status: '200' }), 8, "a's fresh 3 + b's last 5");
  t.equal(value(metrics, 'perch_metrics_workers', { result: 'answered' }), 1);
  t.equal(value(metrics, 'perch_metrics_workers', { result: 'missed' }), 1);

  b.answers = true;
  t.equal(value(await scrape(hub), 'fly_edge_http_responses_count', { app: 'web', status: '200' }), 108, 'b answers again: all of it');
});

t.test('a worker that exits keeps its last counts; a replacement adds to them', async (t) => {
  const { hub, add, workers } = setup({ timeoutMs: 100 });
  const a = add(1);
  const b = add(2);
  a.serve(web, 200, 2);
  b.serve(web, 200, 5);
  b.serve(api, 502, 1);
  await scrape(hub);

  workers.delete(2);
  hub.workerGone(2);
  const c = add(3);
  c.serve(web, 200, 1);
  const metrics = await scrape(hub);
  t.equal(value(metrics, 'fly_edge_http_responses_count', { app: 'web', status: '200' }), 8, '2 (a) + 5 (b, gone) + 1 (c)');
  t.equal(value(metrics, 'fly_edge_http_responses_count', { app: 'api', status: '502' }), 1, "b's only series is still there");
  t.equal(value(metrics, 'perch_errors_total', { app: 'api', code: 'PR04' }), 1);
  t.equal(value(metrics, 'fly_edge_data_out', { app: 'web' }), 80, '8 responses of 10 bytes');

  // Gone twice, or gone without ever answering: nothing changes.
  hub.workerGone(2);
  hub.workerGone(99);
  t.equal(value(await scrape(hub), 'fly_edge_http_responses_count', { app: 'web', status: '200' }), 8);
});

t.test('a worker that dies during a scrape ends the wait for it at once', async (t) => {
  const { hub, add, workers } = setup({ timeoutMs: 5_000 });
  add(1).serve(web, 200, 1);
  const silent = add(2);
  silent.answers = false;
  const started = performance.now();
  const pending = hub.collect();
  setTimeout(() => {
    workers.delete(2);
    silent.connected = false;
    hub.workerGone(2);
  }, 20);
  const result = await pending;
  t.ok(performance.now() - started < 1_000, 'did not wait for the timeout');
  t.equal(result.answered, 1);
  t.equal(result.missed, 0, 'a dead worker is not a missed one');
});

t.test('no worker (or none connected): the scrape answers at once', async (t) => {
  const { hub, add } = setup();
  add(1).connected = false;
  const result = await hub.collect();
  t.same(result, { snapshot: sumSnapshots([]), answered: 0, missed: 0 });
});

t.test("the primary's gauges: ledger load, machine state, health, RTT, queues", async (t) => {
  const machine = (id: string, app: string, region: string, state: Machine['state'], healthy: boolean, rttMs: number | null): Machine =>
    ({ spec: { id, region, processGroup: 'app', address: null }, app: { name: app }, state, healthy, rttMs }) as unknown as Machine;
  const route = (load: number): RouteLoad => ({ route: 'web', service: 'http_service', type: 'requests', load, soft_limit: 20, hard_limit: 25 });
  const { hub } = setup({
    machines: [machine('web-ams-1', 'web', 'ams', 'started', true, 1.5), machine('web-fra-1', 'web', 'fra', 'suspended', false, null)],
    // web-ams-1 serves two routes (the HTTP service and a [[services]] entry): its concurrency is the sum.
    loads: { 'web-ams-1': [route(3), { ...route(4), route: 'web#0', service: 'services[0]' }], 'web-fra-1': [route(0)] },
    queues: [{ app: 'web', route: 'web', service: 'http_service', queued: 2 }],
  });
  const metrics = await scrape(hub);
  t.same(seriesOf(metrics, 'fly_app_concurrency', ['app', 'region', 'instance']), { 'app=web,region=ams,instance=web-ams-1': 7, 'app=web,region=fra,instance=web-fra-1': 0 });
  const states = seriesOf(metrics, 'perch_machine_state', ['machine', 'state']);
  t.equal(Object.keys(states).length, 18, 'nine states per machine');
  t.equal(states['machine=web-ams-1,state=started'], 1);
  t.equal(states['machine=web-fra-1,state=suspended'], 1);
  t.equal(Object.values(states).reduce((a, b) => a + b, 0), 2, 'one state each');
  t.same(seriesOf(metrics, 'perch_machine_healthy', ['machine']), { 'machine=web-ams-1': 1, 'machine=web-fra-1': 0 });
  t.same(seriesOf(metrics, 'perch_machine_rtt_seconds', ['machine']), { 'machine=web-ams-1': 0.0015 }, 'no RTT, no series');
  t.same(seriesOf(metrics, 'perch_queue_length', ['route', 'service']), { 'route=web,service=http_service': 2 });
});
