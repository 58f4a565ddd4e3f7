// /metrics on a real perch with 2 workers: requests with known statuses to
// two apps (half while one worker is frozen, half while the other is, so both serve) come
// out as exactly those counts, summed across the workers, read with a real
// Prometheus text-format parser; each response-time histogram's _count is its
// number of requests. A worker killed just before a scrape does not fail it,
// and its counts stay in the sums after its replacement starts counting.
import t from 'tap';
import { Agent, request } from 'undici';
import { helloApp } from '../support/apps.ts';
import { h2connect, h2request } from '../support/clients.ts';
import { agent, ask, sleep } from '../support/http.ts';
import { startPerch, type Perch } from '../support/perch.ts';
import { histogram, parseMetrics, seriesOf, value, type Metrics } from '../support/prometheus.ts';

t.teardown(() => agent.close());

/** One round: [app, status, how many]. */
const ROUND: [app: string, status: number, n: number][] = [
  ['alpha', 200, 12],
  ['alpha', 404, 5],
  ['alpha', 503, 3],
  ['beta', 200, 7],
  ['beta', 418, 4],
];
const UNKNOWN_HOST_PER_ROUND = 2;

async function scrape(perch: Perch): Promise<{ status: number; metrics: Metrics; text: string; ms: number }> {
  const started = performance.now();
  const reply = await ask(`${perch.adminOrigin}/metrics`);
  return { status: reply.status, metrics: parseMetrics(reply.text), text: reply.text, ms: performance.now() - started };
}

async function get(dispatcher: Agent, url: string, host: string): Promise<number> {
  const response = await request(url, { dispatcher, headers: { host }, headersTimeout: 10_000, bodyTimeout: 10_000 });
  await response.body.dump();
  return response.statusCode;
}

/** Worker pids that logged a proxied request so far. */
function servingPids(perch: Perch): Set<number> {
  return new Set(perch.logs.filter((line) => line.msg === 'request' && typeof line.app === 'string').map((line) => line.pid as number));
}

t.test('exact counts across workers; a killed worker fails no scrape and keeps its counts', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    https: true,
    apps: {
      alpha: helloApp({ name: 'alpha', machines: [['ams', 2]] }),
      beta: helloApp({ name: 'beta', machines: [['ams', 1]] }),
    },
  });

  const expected: Record<string, number> = {};
  let unknown = 0;
  // Both workers serve: every round opens fresh connections, which the kernel spreads over the workers.
  for (let round = 0; round < 2; round++) {
    const fresh = new Agent({ connections: 64 });
    try {
      const requests: Promise<void>[] = [];
      for (const [app, status, n] of ROUND) {
        const key = `app=${app},status=${status}`;
        expected[key] = (expected[key] ?? 0) + n;
        for (let i = 0; i < n; i++) requests.push(get(fresh, `${perch.origin}/status/${status}`, `${app}.localhost`).then((got) => void t.equal(got, status, `${app} /status/${status}`)));
      }
      for (let i = 0; i < UNKNOWN_HOST_PER_ROUND; i++) {
        unknown++;
        requests.push(get(fresh, `${perch.origin}/`, 'nobody.example').then((got) => void t.equal(got, 404, 'unknown host: 404')));
      }
      await Promise.all(requests);
    } finally {
      await fresh.destroy();
    }
  }
  await sleep(400); // access lines are flushed every 250 ms
  t.equal(servingPids(perch).size, 2, 'both workers served requests');

  // One over HTTPS (HTTP/2): a response like the others, and a TLS handshake.
  const session = await h2connect(perch.httpsPort, 'alpha.localhost', perch.caPem());
  const h2 = await h2request(session, { ':path': '/status/200', ':authority': 'alpha.localhost' });
  session.close();
  t.equal(h2.status, 200);
  expected['app=alpha,status=200']! += 1;
  await sleep(200);

  const first = await scrape(perch);
  t.equal(first.status, 200);
  t.match(first.text, /^# HELP fly_edge_http_responses_count /m, 'Prometheus text format');
  t.same(seriesOf(first.metrics, 'fly_edge_http_responses_count', ['app', 'status']), expected, 'exactly the responses sent, by app and status');
  for (const [key, count] of Object.entries(expected)) {
    const [app, status] = key.split(',').map((part) => part.split('=')[1]!);
    const h = histogram(first.metrics, 'fly_edge_http_response_time_seconds', { app: app!, status: status!, region: 'ams' });
    t.equal(h?.count, count, `response-time histogram _count for ${key}`);
    t.equal(h?.buckets['+Inf'], count, `+Inf bucket for ${key}`);
  }
  t.equal(value(first.metrics, 'perch_errors_total', { app: '', code: 'PH02' }), unknown, 'requests no app took, by code');
  t.equal(value(first.metrics, 'perch_metrics_workers', { result: 'answered' }), 2, 'both workers answered');
  t.ok(value(first.metrics, 'fly_edge_data_out', { app: 'alpha' }) > 0, 'bytes out counted');
  const tls = histogram(first.metrics, 'fly_edge_tls_handshake_time_seconds', { app: 'alpha', version: 'TLSv1.3' });
  t.equal(tls?.count, 1, 'one TLS handshake, for alpha (by SNI)');
  for (const machine of ['alpha-ams-1', 'alpha-ams-2', 'beta-ams-1']) {
    t.equal(value(first.metrics, 'perch_machine_state', { machine, state: 'started' }), 1, `${machine} started`);
    t.equal(value(first.metrics, 'fly_app_concurrency', { instance: machine }), 0, `${machine}: no load left`);
  }
  const connects = histogram(first.metrics, 'fly_app_connect_time_seconds', { app: 'beta', instance: 'beta-ams-1' });
  t.ok(connects !== null && connects.count >= 1, 'connect times to the machine measured');

  // A worker that cannot answer (frozen): skipped after the scrape timeout, its last counts used.
  const [victim, other] = perch.workerPids;
  process.kill(other!, 'SIGSTOP');
  let frozen;
  try {
    frozen = await scrape(perch);
  } finally {
    process.kill(other!, 'SIGCONT');
  }
  t.equal(frozen.status, 200, 'a slow worker fails no scrape');
  t.ok(frozen.ms >= 400 && frozen.ms < 3_000, `it is waited for a short while only (${frozen.ms.toFixed(0)} ms)`);
  t.equal(value(frozen.metrics, 'perch_metrics_workers', { result: 'missed' }), 1, 'one worker missed');
  t.same(seriesOf(frozen.metrics, 'fly_edge_http_responses_count', ['app', 'status']), expected, 'its last counts stand in');

  // Kill a worker, then scrape at once: the scrape answers, with the same counts.
  process.kill(victim!, 'SIGKILL');
  const afterKill = await scrape(perch);
  t.equal(afterKill.status, 200, 'a dead worker fails no scrape');
  t.ok(afterKill.ms < 3_000, `and does not hold it long (${afterKill.ms.toFixed(0)} ms)`);
  t.same(seriesOf(afterKill.metrics, 'fly_edge_http_responses_count', ['app', 'status']), expected, "the dead worker's counts are still there");

  // Its replacement counts from zero; the sums go on from where they were.
  await perch.waitForLog((line) => line.msg === 'worker exited; starting a replacement');
  for (let i = 0; i < 6; i++) t.equal((await ask(`${perch.origin}/status/200`, { host: 'beta.localhost' })).status, 200);
  expected['app=beta,status=200']! += 6;
  const later = await scrape(perch);
  t.same(seriesOf(later.metrics, 'fly_edge_http_responses_count', ['app', 'status']), expected, 'sums never go backwards');
  t.equal(histogram(later.metrics, 'fly_edge_http_response_time_seconds', { app: 'beta', status: '200' })?.count, expected['app=beta,status=200']);
});
