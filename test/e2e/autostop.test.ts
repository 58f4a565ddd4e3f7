// Autostop and autostart with real process machines: idle machines stop
// (or suspend) down to the minimum, requests wake them without failing, a
// burst wakes enough at once, and a suspended machine resumes as it was.
import t from 'tap';
import { machines } from '../support/admin.ts';
import { helloApp } from '../support/apps.ts';
import { agent, ask, eventually, json, sleep } from '../support/http.ts';
import { startPerch, type Perch } from '../support/perch.ts';

t.teardown(() => agent.close());

const FAST_AUTOSTOP = 'autostop_interval = "200ms"';

async function states(perch: Perch, app: string): Promise<Record<string, string>> {
  return Object.fromEntries((await machines(perch.adminOrigin, app)).map((machine) => [machine.id, machine.state]));
}


const started = (s: Record<string, string>): string[] => Object.keys(s).filter((id) => s[id] === 'started').sort();

t.test('idle machines stop down to min_machines_running; the next request wakes exactly one', async (t) => {
  const perch = await startPerch(t, {
    perchToml: FAST_AUTOSTOP,
    apps: {
      auto: helloApp({
        name: 'auto',
        machines: [['ams', 3], ['fra', 1]],
        httpService: 'auto_stop_machines = "stop"\nauto_start_machines = true\nmin_machines_running = 1',
      }),
    },
  });
  t.same(started(await states(perch, 'auto')), ['auto-ams-1'], 'at start only min_machines_running machines run, in the primary region');

  // Wake everything through the Machines API, then let it go idle.
  for (const id of ['auto-ams-2', 'auto-ams-3', 'auto-fra-1']) {
    const reply = await ask(`${perch.adminOrigin}/v1/apps/auto/machines/${id}/start`, { method: 'POST' });
    t.equal(reply.status, 200, `${id} started through the admin API`);
  }
  t.equal(perch.logs.filter((line) => line.msg === 'machine state' && line.to === 'started').length, 4, 'all four ran');
  t.ok(await eventually(async () => Object.values(await states(perch, 'auto')).filter((state) => state === 'stopped').length === 3), 'idle: stopped down to one');
  const left = await states(perch, 'auto');
  t.same(started(left).length, 1);
  t.match(started(left)[0], /^auto-ams-/, 'the one left is in the primary region');
  t.equal(left['auto-fra-1'], 'stopped', 'fra, not the primary region, goes to zero');
  await sleep(600);
  t.equal(started(await states(perch, 'auto')).length, 1, 'and min_machines_running holds over further passes');
  const transitions = perch.logs.filter((line) => line.msg === 'machine state' && line.to === 'stopping').length;
  t.equal(transitions, 3, 'each stop was logged');

  const reply = await ask(`${perch.origin}/`, { host: 'auto.localhost' });
  t.equal(reply.status, 200, 'the running machine answers');
});

t.test('from zero machines: the first request gets 200 and wakes exactly one', async (t) => {
  const perch = await startPerch(t, {
    perchToml: FAST_AUTOSTOP,
    apps: { zero: helloApp({ name: 'zero', machines: [['ams', 3]], httpService: 'auto_stop_machines = "stop"\nmin_machines_running = 0' }) },
  });
  t.same(started(await states(perch, 'zero')), [], 'min_machines_running 0: nothing runs at start');
  const reply = await ask(`${perch.origin}/`, { host: 'zero.localhost' });
  t.equal(reply.status, 200, 'the first request is served');
  t.equal(started(await states(perch, 'zero')).length, 1, 'exactly one machine woke');
  t.ok(await eventually(async () => started(await states(perch, 'zero')).length === 0), 'and it stops again once idle');
  const again = await ask(`${perch.origin}/`, { host: 'zero.localhost' });
  t.equal(again.status, 200, 'a stopped machine wakes again');
});

t.test('suspend keeps the process: same PID, same memory', async (t) => {
  const perch = await startPerch(t, {
    perchToml: FAST_AUTOSTOP,
    apps: { frozen: helloApp({ name: 'frozen', machines: [['ams', 1]], httpService: 'auto_stop_machines = "suspend"\nmin_machines_running = 0' }) },
  });
  const first = json<{ pid: number; counter: number; machine: string }>(await ask(`${perch.origin}/counter`, { host: 'frozen.localhost' }));
  const second = json<{ pid: number; counter: number }>(await ask(`${perch.origin}/counter`, { host: 'frozen.localhost' }));
  t.equal(second.counter, first.counter + 1);
  t.ok(await eventually(async () => (await states(perch, 'frozen'))['frozen-ams-1'] === 'suspended'), 'idle: suspended');
  const stat = await import('node:fs/promises').then((fs) => fs.readFile(`/proc/${first.pid}/stat`, 'utf8'));
  t.match(stat.split(') ')[1], /^T/, 'the process is frozen (state T), not gone');
  const woken = json<{ pid: number; counter: number }>(await ask(`${perch.origin}/counter`, { host: 'frozen.localhost' }));
  t.equal(woken.pid, first.pid, 'the same process answered after the wake');
  t.equal(woken.counter, second.counter + 1, 'with its in-memory counter intact');
  t.ok(perch.logs.some((line) => line.msg === 'machine state' && line.from === 'suspended' && line.to === 'started'), 'the resume is logged');
});

t.test('a burst of 100 at zero machines, soft_limit 20: five start at once and all succeed', async (t) => {
  const perch = await startPerch(t, {
    perchToml: 'autostop_interval = "30s"',
    apps: {
      burst: helloApp({
        name: 'burst',
        machines: [['ams', 7]],
        httpService: 'auto_stop_machines = "stop"\nmin_machines_running = 0',
        concurrency: 'type = "requests"\nsoft_limit = 20',
      }),
    },
  });
  const replies = await Promise.all(Array.from({ length: 100 }, () => ask(`${perch.origin}/sleep?ms=300`, { host: 'burst.localhost' })));
  t.same([...new Set(replies.map((reply) => reply.status))], [200], 'all 100 succeeded');
  const woke = perch.logs.filter((line) => line.msg === 'machine state' && line.to === 'starting').map((line) => line.machine);
  t.equal(woke.length, 5, `five machines started (${woke.join(', ')})`);
  const transitions = perch.logs.filter((line) => line.msg === 'machine state');
  const lastStarting = transitions.findLastIndex((line) => line.to === 'starting');
  const firstStarted = transitions.findIndex((line) => line.to === 'started');
  t.ok(lastStarting < firstStarted, 'all five were starting before the first one was ready: they started at once');
});

t.test('auto_start_machines = false never starts anything: 503 with a clear code', async (t) => {
  const perch = await startPerch(t, {
    apps: { manual: helloApp({ name: 'manual', machines: [['ams', 2]], httpService: 'auto_stop_machines = "stop"\nauto_start_machines = false\nmin_machines_running = 0' }) },
  });
  const reply = await ask(`${perch.origin}/`, { host: 'manual.localhost' });
  t.equal(reply.status, 503);
  t.match(reply.text, /PR01/, 'no started machine');
  t.same(started(await states(perch, 'manual')), [], 'and nothing was started');
});

t.test('a machine that crashed is started again by the next request that needs it', async (t) => {
  const perch = await startPerch(t, {
    apps: { phoenix: helloApp({ name: 'phoenix', machines: [['ams', 1]], httpService: 'auto_stop_machines = "off"\nauto_start_machines = true' }) },
  });
  await ask(`${perch.origin}/exit?code=9`, { host: 'phoenix.localhost' }).catch(() => undefined);
  await perch.waitForLog((line) => line.msg === 'machine exited unexpectedly');
  const reply = await ask(`${perch.origin}/`, { host: 'phoenix.localhost' });
  t.equal(reply.status, 200, 'served by the restarted machine');
  t.equal((await states(perch, 'phoenix'))['phoenix-ams-1'], 'started');
});

t.test('a wake that does not become ready in time: 503 PM03', async (t) => {
  const perch = await startPerch(t, {
    apps: {
      sluggish: helloApp({
        name: 'sluggish',
        machines: [['ams', 1]],
        env: { HELLO_START_DELAY_MS: '3000' },
        httpService: 'auto_stop_machines = "stop"\nmin_machines_running = 0',
        tables: '[limits]\nwake_timeout = "800ms"',
      }),
    },
  });
  const startedAt = Date.now();
  const reply = await ask(`${perch.origin}/`, { host: 'sluggish.localhost' });
  t.equal(reply.status, 503);
  t.match(reply.text, /PM03/);
  t.ok(Date.now() - startedAt < 2_500, 'answered at the wake timeout, not later');
});

t.test('a suspend that cannot drain promptly is abandoned and the machine stays in service', async (t) => {
  const perch = await startPerch(t, {
    apps: { busy: helloApp({ name: 'busy', machines: [['ams', 1]], httpService: 'auto_stop_machines = "off"' }) },
  });
  const long = ask(`${perch.origin}/sleep?ms=3500`, { host: 'busy.localhost' });
  await sleep(200);
  const suspend = await ask(`${perch.adminOrigin}/v1/apps/busy/machines/busy-ams-1/suspend`, { method: 'POST' });
  t.equal(json<{ state: string }>(suspend).state, 'started', 'the machine is back in service');
  t.ok(perch.logs.some((line) => line.msg === 'machine state' && line.from === 'suspending' && line.to === 'started' && /abandoned/.test(String(line.reason))), 'the abandoned suspend is logged');
  t.equal((await long).status, 200, 'the request in flight finished');
  t.equal((await ask(`${perch.origin}/`, { host: 'busy.localhost' })).status, 200, 'and new requests are served');
});
