// Health checks gate routing: a machine failing its check leaves rotation
// and comes back when it passes; the region is left only when every local
// machine is unhealthy; a killed machine costs only what was on it.
import t from 'tap';
import { directOrigins, machines } from '../support/admin.ts';
import { helloApp } from '../support/apps.ts';
import { agent, ask, eventually, json, sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

const CHECK = ['[[http_service.checks]]', 'grace_period = "0s"', 'interval = "150ms"', 'timeout = "1s"', 'path = "/healthz"'].join('\n');

async function machinesServing(origin: string, host: string, requests: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < requests; i++) {
    const reply = await ask(`${origin}/`, { host });
    if (reply.status === 200) seen.add(String(reply.headers['x-machine-id']));
    else seen.add(`status ${reply.status}`);
  }
  return seen;
}


t.test('a failing check takes a machine out of rotation until it passes; all local down → next region', async (t) => {
  const perch = await startPerch(t, {
    apps: { checked: helloApp({ name: 'checked', machines: [['ams', 2], ['fra', 1]], tables: CHECK }) },
  });
  const direct = await directOrigins(perch.adminOrigin, 'checked');
  const host = 'checked.localhost';
  t.ok(await eventually(async () => (await machines(perch.adminOrigin, 'checked')).every((machine) => machine.healthy)), 'all machines pass their first check');

  // Each change takes a check interval to be seen, and a moment more to reach every worker.
  const servedBy = async (expected: string[]): Promise<boolean> =>
    eventually(async () => [...(await machinesServing(perch.origin, host, 10))].sort().join() === expected.join());

  // Both ams machines share a request at random only once their RTTs fall in the same bucket: a first
  // check or connect slowed by a busy machine can leave one a bucket farther until the next checks.
  t.ok(await servedBy(['checked-ams-1', 'checked-ams-2']), 'traffic stays in ams, on both machines');

  await ask(`${direct.get('checked-ams-1')}/health/fail`, { method: 'POST' });
  await perch.waitForLog((line) => line.msg === 'machine health' && line.machine === 'checked-ams-1' && line.healthy === false);
  t.ok(await servedBy(['checked-ams-2']), 'the failing machine gets nothing');

  await ask(`${direct.get('checked-ams-2')}/health/fail`, { method: 'POST' });
  t.ok(await servedBy(['checked-fra-1']), 'every local machine unhealthy: the next region serves');

  await ask(`${direct.get('checked-ams-1')}/health/ok`, { method: 'POST' });
  t.ok(await servedBy(['checked-ams-1']), 'a machine passing again is back, and the region with it');
  t.ok(perch.logs.some((line) => line.msg === 'machine health' && line.machine === 'checked-ams-1' && line.healthy === true), 'its return is logged');
});

t.test('a machine is not routed to before its first passing check', async (t) => {
  const perch = await startPerch(t, {
    apps: {
      slowcheck: helloApp({
        name: 'slowcheck',
        machines: [['ams', 1]],
        tables: ['[[http_service.checks]]', 'grace_period = "4s"', 'interval = "5s"', 'timeout = "1s"', 'path = "/healthz"'].join('\n'),
      }),
    },
  });
  const sentAt = Date.now();
  const reply = await ask(`${perch.origin}/`, { host: 'slowcheck.localhost' });
  const answeredAt = Date.now();
  t.equal(reply.status, 200, 'the request waited for the check instead of failing');
  const passed = await perch.waitForLog((line) => line.msg === 'machine health' && line.machine === 'slowcheck-ams-1' && line.healthy === true);
  const passedAt = Number(passed.time);
  // A 4 s grace period outlasts perch's start even on a busy machine: the request came first.
  t.ok(sentAt < passedAt, 'the request arrived before the first check passed');
  t.ok(answeredAt >= passedAt, 'and was answered only after it passed');
});

t.test('a killed machine costs no request that had not started on it', async (t) => {
  const perch = await startPerch(t, {
    apps: { victim: helloApp({ name: 'victim', machines: [['ams', 2]]}) },
  });
  const list = await machines(perch.adminOrigin, 'victim');
  const target = list.find((machine) => machine.id === 'victim-ams-1')!;
  const codes: string[] = [];
  let ok = 0;
  let stop = false;
  const loops = Array.from({ length: 8 }, async () => {
    while (!stop) {
      const reply = await ask(`${perch.origin}/sleep?ms=20`, { host: 'victim.localhost' });
      if (reply.status === 200) ok++;
      else codes.push(String(reply.headers['x-perch-error'] ?? reply.status));
    }
  });
  await sleep(500);
  process.kill(target.pid!, 'SIGKILL');
  await perch.waitForLog((line) => line.msg === 'machine exited unexpectedly' && line.machine === 'victim-ams-1');
  const okAtKill = ok;
  await sleep(700);
  stop = true;
  await Promise.all(loops);
  t.ok(ok - okAtKill > 50, `traffic went on on the other machine (${ok - okAtKill} requests)`);
  t.ok(codes.length <= 8, `at most the requests in flight on it failed (${codes.length}: ${codes.join(',')})`);
  t.same(codes.filter((code) => code === 'PC01' || code === 'PC07' || code === 'PR01'), [], 'none that had not reached it');
  const after = await machines(perch.adminOrigin, 'victim');
  t.equal(after.find((machine) => machine.id === 'victim-ams-1')?.state, 'stopped', 'the dead machine is recorded as stopped');
  const served = json<{ machine: string }>(await ask(`${perch.origin}/headers`, { host: 'victim.localhost' }));
  t.equal(served.machine, 'victim-ams-2');
});
