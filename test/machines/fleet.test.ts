// The fleet on its own, with a real process machine: once perch stops its
// machines, nothing starts one again (a late wake or admin call would leave it
// running after perch exits).
import { rmSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { loadConfigOrThrow } from '../../src/config/load.ts';
import { Fleet } from '../../src/machines/fleet.ts';
import { helloApp } from '../support/apps.ts';
import { isAlive, killQuietly, writeConfig } from '../support/perch.ts';

t.test('after stopAll a start is refused and no process is spawned', async (t) => {
  const dir = writeConfig({ apps: { hello: helloApp({ name: 'hello', machines: [['ams', 1]] }) } });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { config } = await loadConfigOrThrow(path.join(dir, 'perch.toml'));
  const fleet = new Fleet(config, pino({ level: 'silent' }));
  const [machine] = [...fleet.machines.values()];
  t.ok(machine, 'one machine');
  const id = machine!.spec.id;
  t.teardown(() => {
    if (machine!.pid !== null) killQuietly(machine!.pid);
  });

  await fleet.start(id);
  t.equal(machine!.state, 'started');
  const pid = machine!.pid!;
  t.ok(isAlive(pid), 'its process runs');

  await fleet.stopAll();
  t.equal(machine!.state, 'stopped');
  t.notOk(isAlive(pid), 'its process is gone');

  await t.rejects(fleet.start(id), /stopping/, 'a start asked for afterwards is refused');
  t.equal(machine!.state, 'stopped', 'and the machine stays stopped');
  t.equal(machine!.pid, null, 'with no process');
});
