// The cluster and the machines over time: a worker that crashes is replaced
// while the others serve; SIGTERM drains, stops every machine and exits 0
// with nothing left behind; a machine that dies is recorded.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { agent, ask, json, sleep } from '../support/http.ts';
import { isAlive, startPerch } from '../support/perch.ts';
import { WORKER_MMAP_THRESHOLD_BYTES, WORKER_V8_FLAGS } from '../../src/cluster/worker-flags.ts';

t.teardown(() => agent.close());

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

t.test('a crashed worker is replaced and the listener keeps serving', async (t) => {
  const perch = await startPerch(t, { workers: 2, apps: { hello: helloApp({ name: 'hello', machines: [['ams', 2]] }) } });
  const [victim, survivor] = perch.workerPids;
  t.ok(victim && survivor, 'two workers');
  for (const pid of [victim!, survivor!]) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const { flag } of WORKER_V8_FLAGS) t.ok(argv.includes(flag), `worker ${pid} runs with ${flag}`);
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const cacheDir = env.find((entry) => entry.startsWith('NODE_COMPILE_CACHE='))?.slice('NODE_COMPILE_CACHE='.length);
    t.ok(cacheDir, `worker ${pid} is given the compile cache`);
    // A ready worker has written its modules there: the next worker reads them instead of stripping types again.
    const entries = readdirSync(cacheDir!, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
    t.ok(entries.length > 0, `the compile cache ${cacheDir} holds compiled modules`);
    const tunables = env.find((entry) => entry.startsWith('GLIBC_TUNABLES='))?.slice('GLIBC_TUNABLES='.length).split(':') ?? [];
    t.ok(tunables.includes(`glibc.malloc.mmap_threshold=${WORKER_MMAP_THRESHOLD_BYTES}`), `worker ${pid} has malloc's mmap threshold fixed`);
  }

  let ok = 0;
  let failed = 0;
  let stop = false;
  const load = (async () => {
    while (!stop) {
      try {
        const reply = await ask(`${perch.origin}/`, { host: 'hello.localhost' });
        if (reply.status === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  })();

  await sleep(200);
  process.kill(victim!, 'SIGKILL');
  const replaced = await perch.waitForLog((line) => line.msg === 'worker exited; starting a replacement');
  t.equal(replaced.signal, 'SIGKILL', 'the primary saw the worker die');
  const okAtKill = ok;
  await sleep(1_000);
  stop = true;
  await load;
  t.ok(ok - okAtKill > 20, `requests kept succeeding after the crash (${ok - okAtKill})`);
  t.ok(failed <= 2, `at most the requests on the dead worker's connection failed (${failed})`);

  const workers = childrenOf(perch.pid).filter((pid) => !perch.machinePids().includes(pid));
  t.equal(workers.length, 2, 'two workers again');
  t.notOk(workers.includes(victim!), 'the dead one is not among them');
  t.ok(workers.includes(survivor!), 'the survivor still is');
});

t.test('SIGTERM drains in-flight requests, stops machines, exits 0, leaves nothing behind', async (t) => {
  const perch = await startPerch(t, { workers: 2, apps: { hello: helloApp({ name: 'hello', machines: [['ams', 2], ['fra', 1]] }) } });
  const machines = perch.machinePids();
  t.equal(machines.length, 3, 'three machine processes');
  const workers = perch.workerPids;

  const slow = ask(`${perch.origin}/sleep?ms=1500`, { host: 'hello.localhost' });
  await sleep(300);
  const exit = perch.stop('SIGTERM');
  const reply = await slow;
  t.equal(reply.status, 200, 'the in-flight request finished');
  t.same(await exit, { code: 0, signal: null }, 'perch exited 0');
  for (const pid of [...machines, ...workers]) t.notOk(isAlive(pid), `process ${pid} is gone`);
  t.ok(perch.logs.some((line) => line.msg === 'perch stopped'));
  const stopped = perch.logs.filter((line) => line.msg === 'machine state' && line.to === 'stopped').map((line) => line.machine);
  t.same(stopped.sort(), ['hello-ams-1', 'hello-ams-2', 'hello-fra-1'], 'each machine went to stopped');
});

t.test('a machine that exits on its own is recorded and logged; others take its traffic', async (t) => {
  const perch = await startPerch(t, { apps: { hello: helloApp({ name: 'hello', machines: [['ams', 2]] }) } });
  const list = json<{ id: string; state: string; pid: number }[]>(await ask(`${perch.adminOrigin}/v1/apps/hello/machines`));
  t.equal(list.length, 2);
  t.ok(list.every((machine) => machine.state === 'started'));

  // Ask machines to exit until one has; which one answers is the balancer's choice.
  await ask(`${perch.origin}/exit?code=7`, { host: 'hello.localhost' }).catch(() => undefined);
  const exited = await perch.waitForLog((line) => line.msg === 'machine exited unexpectedly');
  t.equal(exited.code, 7, 'exit code recorded');
  const after = json<{ id: string; state: string; last_exit: { code: number; expected: boolean } | null }[]>(await ask(`${perch.adminOrigin}/v1/apps/hello/machines`));
  const dead = after.find((machine) => machine.id === exited.machine)!;
  t.equal(dead.state, 'stopped');
  t.same(dead.last_exit && { code: dead.last_exit.code, expected: dead.last_exit.expected }, { code: 7, expected: false });

  for (let i = 0; i < 5; i++) {
    const reply = await ask(`${perch.origin}/`, { host: 'hello.localhost' });
    t.equal(reply.status, 200);
    t.notMatch(reply.text, exited.machine as string, 'served by the other machine');
  }
});
