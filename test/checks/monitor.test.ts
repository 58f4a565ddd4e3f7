// The real monitor against real servers on 127.0.0.1: the hello demo app as
// a child process, a port nobody listens on, and a delaying TCP relay.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { HealthMonitor, type HealthMonitorOptions } from '../../src/checks/monitor.ts';
import { startDelayRelay } from '../support/delay-relay.ts';
import { check, closedPort, machine, sleep, startHello, until, type Hello } from './fixtures.ts';

let hello: Hello;

t.before(async () => {
  hello = await startHello(t);
});

interface Host {
  teardown(fn: () => unknown): void;
  fail(message: string): boolean;
}

function monitorFor(t: Host, options: HealthMonitorOptions = {}): HealthMonitor {
  const monitor = new HealthMonitor({ onListenerError: (err) => t.fail(`listener threw: ${String(err)}`), ...options });
  t.teardown(() => monitor.close());
  return monitor;
}

/** Records health events per machine as "true"/"false". */
function healthLog(monitor: HealthMonitor): Map<string, boolean[]> {
  const log = new Map<string, boolean[]>();
  monitor.on('health', (id, healthy) => {
    const list = log.get(id) ?? [];
    list.push(healthy);
    log.set(id, list);
  });
  return log;
}

t.test('HTTP check: healthy after the first pass, out on /health/fail, back on /health/ok', async (t) => {
  const monitor = monitorFor(t);
  const log = healthLog(monitor);
  const bad = await closedPort();
  monitor.watch(machine('m1', {
    ports: [[8080, hello.port], [9999, bad]],
    serviceChecks: [check('http_service.checks[0]', { intervalMs: 100 })],
    topChecks: [check('side', { kind: 'tcp', port: 9999 })],
  }));
  t.equal(monitor.isHealthy('m1'), false, 'not routable before the first pass');

  const firstPass = await until('healthy', () => monitor.isHealthy('m1') === true);
  t.comment(`first pass after ${firstPass.toFixed(0)} ms`);
  let [snap] = monitor.snapshot();
  t.match(snap, { id: 'm1', app: 'test', healthy: true, reason: 'service checks passing' });
  t.match(snap!.checks[0], { name: 'http_service.checks[0]', kind: 'http', scope: 'service', status: 'passing', output: 'HTTP 200 OK' });
  t.type(snap!.checks[0]!.lastRunAt, 'string', 'lastRunAt is a date');
  t.ok(!Number.isNaN(Date.parse(snap!.checks[0]!.lastRunAt!)), 'lastRunAt parses');
  await until('the top-level check to fail', () => monitor.snapshot()[0]!.checks[1]!.status === 'critical');
  t.equal(monitor.isHealthy('m1'), true, 'a failing top-level check does not gate routing');

  await hello.setHealthy(false);
  t.teardown(() => hello.setHealthy(true));
  const down = await until('unhealthy', () => monitor.isHealthy('m1') === false);
  t.comment(`out ${down.toFixed(0)} ms after /health/fail`);
  [snap] = monitor.snapshot();
  t.match(snap!.checks[0], { status: 'critical', output: 'HTTP 503 Service Unavailable' });
  t.match(snap!.reason, /critical: HTTP 503/);

  await hello.setHealthy(true);
  const up = await until('healthy again', () => monitor.isHealthy('m1') === true);
  t.comment(`back ${up.toFixed(0)} ms after /health/ok`);
  t.same(log.get('m1'), [false, true, false, true], 'health events: initial, pass, fail, pass');
});

t.test('HTTP check with a timeout shorter than the response fails with the timeout', async (t) => {
  const monitor = monitorFor(t);
  monitor.watch(machine('slow', { ports: [[8080, hello.port]], serviceChecks: [check('slow', { path: '/sleep?ms=1000', timeoutMs: 150, intervalMs: 200 })] }));
  await until('the check to fail', () => monitor.snapshot()[0]!.checks[0]!.status === 'critical');
  t.match(monitor.snapshot()[0]!.checks[0]!.output, /timed out after 150 ms/);
  t.equal(monitor.isHealthy('slow'), false);
});

t.test('TCP checks: pass on connect, fail against a closed port', async (t) => {
  const monitor = monitorFor(t);
  const bad = await closedPort();
  monitor.watch(machine('open', { ports: [[8080, hello.port]], serviceChecks: [check('tcp', { kind: 'tcp' })] }));
  monitor.watch(machine('closed', { ports: [[8080, bad]], serviceChecks: [check('tcp', { kind: 'tcp' })] }));
  await until('both checks to run', () => monitor.snapshot().every((m) => m.checks[0]!.lastRunAt !== null));
  await sleep(250);
  const byId = new Map(monitor.snapshot().map((m) => [m.id, m]));
  t.match(byId.get('open'), { healthy: true, checks: [{ kind: 'tcp', status: 'passing', output: /connected to 127\.0\.0\.1/ }] });
  t.match(byId.get('closed'), { healthy: false, checks: [{ kind: 'tcp', status: 'critical', output: /ECONNREFUSED/ }] });
  t.equal(monitor.rttOf('closed'), null, 'a refused connect measures no distance');
  t.ok((monitor.rttOf('open') ?? -1) >= 0, 'connects give an RTT');
});

t.test('passive failure', async (t) => {
  t.test('without service checks: out at once, back when a connect probe succeeds', async (t) => {
    const monitor = monitorFor(t);
    const bad = await closedPort();
    monitor.watch(machine('up', { ports: [[8080, hello.port]] }));
    monitor.watch(machine('gone', { ports: [[8080, bad]] }));
    t.equal(monitor.isHealthy('up'), true, 'healthy once started');
    t.equal(monitor.isHealthy('gone'), true, 'healthy once started, even if nothing listens');
    monitor.passiveFailure('up');
    monitor.passiveFailure('gone');
    t.equal(monitor.isHealthy('up'), false, 'out of rotation at once');
    t.equal(monitor.isHealthy('gone'), false);
    const back = await until('the connect probe to restore it', () => monitor.isHealthy('up') === true, 2_000);
    t.ok(back >= 400 && back < 1_500, `back after one probe period (${back.toFixed(0)} ms)`);
    t.match(monitor.snapshot().find((m) => m.id === 'up'), { reason: /connect probe/, passiveDown: false });
    await sleep(700);
    t.equal(monitor.isHealthy('gone'), false, 'stays out while nothing accepts');
  });

  t.test('with a service check: out until the check passes again, sooner than its interval', async (t) => {
    const monitor = monitorFor(t, { policy: { passiveRecheckMs: 200 } });
    monitor.watch(machine('m', { ports: [[8080, hello.port]], serviceChecks: [check('hc', { intervalMs: 30_000 })] }));
    await until('first pass', () => monitor.isHealthy('m') === true);
    monitor.passiveFailure('m');
    t.equal(monitor.isHealthy('m'), false, 'out at once');
    t.match(monitor.snapshot()[0], { passiveDown: true, reason: /passive/ });
    const back = await until('the recheck to pass', () => monitor.isHealthy('m') === true, 2_000);
    t.ok(back >= 150 && back < 1_000, `back after the early recheck (${back.toFixed(0)} ms), not the 30 s interval`);
  });
});

t.test('RTT through a delaying relay is measurably larger than direct', async (t) => {
  const delayMs = 25;
  const relay = await startDelayRelay({ targetHost: '127.0.0.1', targetPort: hello.port, delayMs });
  t.teardown(() => relay.close());
  // Connect probes only where checks give no samples: a connect to the relay is local (the
  // kernel accepts it), only data is delayed, so HTTP round trips are what measure it here.
  const monitor = monitorFor(t, { policy: { rttProbeIntervalMs: 300 } });
  const rttEvents: [string, number][] = [];
  monitor.on('rtt', (id, ms) => rttEvents.push([id, ms]));
  monitor.watch(machine('near', { ports: [[8080, hello.port]], serviceChecks: [check('hc', { intervalMs: 100 })] }));
  monitor.watch(machine('far', { ports: [[8080, relay.port]], serviceChecks: [check('hc', { intervalMs: 100 })] }));
  monitor.watch(machine('unchecked', { ports: [[8080, hello.port]] }));

  await until('the far estimate to converge', () => (monitor.rttOf('far') ?? 0) > 1.5 * delayMs, 5_000);
  await sleep(300);
  const near = monitor.rttOf('near')!;
  const far = monitor.rttOf('far')!;
  t.comment(`RTT direct ${near.toFixed(2)} ms, through a ${delayMs} ms relay ${far.toFixed(2)} ms`);
  t.ok(near < delayMs / 2, `direct is close (${near.toFixed(2)} ms)`);
  t.ok(far > near + delayMs, `relay is farther by more than one delay (${far.toFixed(2)} vs ${near.toFixed(2)})`);
  t.ok(relay.accepted >= 1, 'checks went through the relay');
  t.ok(rttEvents.some(([id]) => id === 'far'), 'rtt events announced');
  t.ok(monitor.rttOf('unchecked') !== null, 'a machine without checks gets an estimate from connect probes');
  t.equal(monitor.snapshot().find((m) => m.id === 'far')!.rttMs, far, 'the snapshot carries the estimate');
});

t.test('unwatch and close: announced, and nothing runs afterwards', async (t) => {
  const monitor = new HealthMonitor({ policy: { rttProbeIntervalMs: 50 } });
  const log = healthLog(monitor);
  let events = 0;
  monitor.on('rtt', () => events++);
  monitor.on('check', () => events++);
  monitor.watch(machine('a', { ports: [[8080, hello.port]] }));
  monitor.watch(machine('b', { ports: [[8080, hello.port]], serviceChecks: [check('hc', { intervalMs: 50 })] }));
  await until('b healthy', () => monitor.isHealthy('b') === true);
  monitor.unwatch('a');
  t.same(log.get('a'), [true, false], 'unwatching a healthy machine announces it unhealthy');
  t.equal(monitor.isWatching('a'), false);
  t.equal(monitor.isHealthy('a'), null);
  monitor.unwatch('a');
  monitor.passiveFailure('a');
  t.same(log.get('a'), [true, false], 'calls for a machine not watched are ignored');

  // Re-watching starts over: not routable until the check passes again.
  monitor.watch(machine('b', { ports: [[8080, hello.port]], serviceChecks: [check('hc', { intervalMs: 50 })] }));
  t.equal(monitor.isHealthy('b'), false, 'a restart is not routable before its first pass');
  await until('b healthy again', () => monitor.isHealthy('b') === true);

  await monitor.close();
  const after = events;
  const healthAfter = log.get('b')!.length;
  await sleep(300);
  t.equal(events, after, 'no events after close');
  t.equal(log.get('b')!.length, healthAfter, 'no health events after close');
  t.same(monitor.snapshot(), [], 'nothing watched');
  monitor.watch(machine('c', { ports: [[8080, hello.port]] }));
  t.equal(monitor.isWatching('c'), false, 'a closed monitor watches nothing');
});

t.test('HTTPS checks honour tls_skip_verify and tls_server_name', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'perch-checks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=check.example',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  } catch {
    t.comment('skipped: openssl is not available to make a certificate');
    return;
  }
  // Answers 200 only when the client sent SNI check.example.
  const server = https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => {
    const sni = (req.socket as TLSSocket).servername;
    res.writeHead(sni === 'check.example' ? 200 : 421).end(String(sni));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  const port = (server.address() as AddressInfo).port;

  const monitor = monitorFor(t);
  const https_ = { protocol: 'https' as const, path: '/' };
  monitor.watch(machine('skip+sni', { ports: [[8080, port]], serviceChecks: [check('c', { ...https_, tlsSkipVerify: true, tlsServerName: 'check.example' })] }));
  monitor.watch(machine('skip', { ports: [[8080, port]], serviceChecks: [check('c', { ...https_, tlsSkipVerify: true })] }));
  monitor.watch(machine('verify', { ports: [[8080, port]], serviceChecks: [check('c', { ...https_, tlsServerName: 'check.example' })] }));
  await until('all three checks to run', () => monitor.snapshot().every((m) => m.checks[0]!.lastRunAt !== null));
  const byId = new Map(monitor.snapshot().map((m) => [m.id, m]));
  t.match(byId.get('skip+sni'), { healthy: true, checks: [{ status: 'passing', output: 'HTTP 200 OK' }] }, 'self-signed accepted, SNI sent');
  t.match(byId.get('skip'), { healthy: false, checks: [{ status: 'critical', output: /HTTP 421/ }] }, 'no SNI for an IP host unless tls_server_name');
  t.match(byId.get('verify'), { healthy: false, checks: [{ status: 'critical', output: /self.signed|certificate/i }] }, 'verification on by default');
});

t.test('outside RTT samples, machines without ports, and a listener that throws', async (t) => {
  const errors: unknown[] = [];
  const monitor = new HealthMonitor({ onListenerError: (err) => errors.push(err), policy: { rttProbeIntervalMs: 50 } });
  t.teardown(() => monitor.close());
  monitor.on('rtt', () => {
    throw new Error('listener bug');
  });
  monitor.watch(machine('portless', { ports: [] }));
  monitor.observeRtt('portless', 12);
  t.equal(monitor.rttOf('portless'), 12, 'a worker-measured connect time feeds the estimate');
  t.equal(errors.length, 1, 'the throwing listener was reported, not thrown at the caller');
  monitor.passiveFailure('portless');
  t.equal(monitor.isHealthy('portless'), false);
  await until('a portless machine to recover (nothing can have failed on it)', () => monitor.isHealthy('portless') === true, 2_000);
  await sleep(150);
  t.equal(monitor.rttOf('portless'), 12, 'no probes, no samples');
});
