// SIGHUP (and perch reload) re-read the config and apply it without
// dropping a request; a bad config is refused and the running one stays.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { machines } from '../support/admin.ts';
import { helloApp } from '../support/apps.ts';
import { agent, ask, eventually, sleep } from '../support/http.ts';
import { CLI, isAlive, REPO, startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

t.test('a reload under load: new settings, a new app, a removed machine, no failed request', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    apps: { alpha: helloApp({ name: 'alpha', machines: [['ams', 2]] }) },
  });
  const oldWorkers = perch.workerPids;

  let ok = 0;
  const failures: string[] = [];
  let stop = false;
  const loops = Array.from({ length: 4 }, async () => {
    while (!stop) {
      try {
        const reply = await ask(`${perch.origin}/`, { host: 'alpha.localhost' });
        if (reply.status === 200) ok++;
        else failures.push(`${reply.status} ${reply.text.trim()}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  await sleep(300);

  writeFileSync(path.join(perch.dir, 'apps', 'alpha.toml'), helloApp({
    name: 'alpha',
    machines: [['ams', 1]],
    tables: '[http_service.http_options.response.headers]\nx-version = "2"',
  }));
  writeFileSync(path.join(perch.dir, 'apps', 'beta.toml'), helloApp({ name: 'beta', machines: [['ams', 1]] }));
  const before = perch.logs.length;
  process.kill(perch.pid, 'SIGHUP');
  const reloaded = await perch.waitForLog((line) => line.msg === 'config reloaded', 20_000, before);
  t.same(reloaded.added, ['beta-ams-1'], 'the new app’s machine was added');
  t.same(reloaded.removed, ['alpha-ams-2'], 'the machine gone from the config was removed');
  await sleep(2_500);
  stop = true;
  await Promise.all(loops);
  t.same(failures, [], `no request failed across the reload (${ok} succeeded)`);

  const alpha = await ask(`${perch.origin}/`, { host: 'alpha.localhost' });
  t.equal(alpha.headers['x-version'], '2', 'the new response headers apply');
  const beta = await ask(`${perch.origin}/`, { host: 'beta.localhost' });
  t.equal(beta.status, 200, 'the new app is served');
  t.equal(beta.text, 'hello from beta-ams-1 in ams\n');
  t.same((await machines(perch.adminOrigin, 'alpha')).map((machine) => machine.id), ['alpha-ams-1'], 'alpha has one machine left');
  const stopped = perch.logs.find((line) => line.msg === 'machine state' && line.machine === 'alpha-ams-2' && line.to === 'stopped');
  t.ok(stopped, 'the removed machine was stopped');
  // The old workers serve a short handover (Connection: close), then drain and exit.
  t.ok(await eventually(async () => oldWorkers.every((pid) => !isAlive(pid)), 10_000), 'the old workers drained and exited');
});

t.test('a bad config is refused with every problem listed; the running one stays', async (t) => {
  const perch = await startPerch(t, { apps: { alpha: helloApp({ name: 'alpha', machines: [['ams', 1]] }) } });
  writeFileSync(path.join(perch.dir, 'apps', 'alpha.toml'), 'app = "alpha"\n[http_service]\ninternal_port = "eighty"\n[[machines]]\ncount = 0\n');

  const result = spawnSync(process.execPath, [CLI, 'reload', '--admin', perch.adminOrigin.slice('http://'.length)], { cwd: REPO, encoding: 'utf8', timeout: 20_000 });
  t.equal(result.status, 1, 'perch reload exits 1');
  t.match(result.stdout, /http_service\.internal_port/, 'it lists the problems');
  t.match(result.stdout, /machines\[0\]\.count/);
  t.match(result.stderr, /reload refused/);
  const refused = await perch.waitForLog((line) => line.msg === 'reload refused: the config has errors; the running one stays');
  t.ok(Array.isArray(refused.problems) && (refused.problems as string[]).some((line) => line.includes('internal_port')), 'the log says why');

  const reply = await ask(`${perch.origin}/`, { host: 'alpha.localhost' });
  t.equal(reply.status, 200, 'the running config still serves');
});
