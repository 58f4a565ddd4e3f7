// type = "connections": a client connection is the unit of load, pinned to
// one machine for its life, and hard_limit counts connections.
import t from 'tap';
import { Client } from 'undici';
import { helloApp } from '../support/apps.ts';
import { sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

async function machineOf(client: Client, path = '/'): Promise<string> {
  const response = await client.request({ path, method: 'GET', headers: { host: 'conn.localhost' } });
  await response.body.text();
  return String(response.headers['x-machine-id']);
}

t.test('each connection sticks to one machine and hard_limit counts connections', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    apps: {
      conn: helloApp({
        name: 'conn',
        machines: [['ams', 2]],
        concurrency: 'type = "connections"\nsoft_limit = 1\nhard_limit = 1',
        tables: '[limits]\nqueue_timeout = "5s"',
      }),
    },
  });
  const first = new Client(perch.origin, { pipelining: 1 });
  const second = new Client(perch.origin, { pipelining: 1 });
  const third = new Client(perch.origin, { pipelining: 1 });
  t.teardown(async () => {
    await Promise.allSettled([first.destroy(), second.destroy(), third.destroy()]);
  });

  const a = await machineOf(first);
  for (let i = 0; i < 5; i++) t.equal(await machineOf(first), a, 'the first connection keeps its machine');
  const b = await machineOf(second);
  t.not(b, a, 'the second connection got the other machine');
  for (let i = 0; i < 5; i++) t.equal(await machineOf(second), b, 'and keeps it');

  // Both machines hold a connection each: a third one waits until one closes.
  let thirdMachine: string | null = null;
  const waiting = machineOf(third).then((machine) => {
    thirdMachine = machine;
  });
  await sleep(400);
  t.equal(thirdMachine, null, 'the third connection waits while both machines are at hard_limit');
  await first.close();
  await waiting;
  t.equal(thirdMachine, a, 'and gets the machine the closed connection freed');
});
