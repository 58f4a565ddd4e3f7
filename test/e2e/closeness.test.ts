// Closeness from measured RTT: machines behind a delaying relay look far
// away, and perch prefers the near ones, within a region and between regions.
import t, { type Test } from 'tap';
import { machines } from '../support/admin.ts';
import { helloApp } from '../support/apps.ts';
import { startDelayRelay } from '../support/delay-relay.ts';
import { agent, ask, json, sleep } from '../support/http.ts';
import { startBackend, startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

const CHECK = ['[[http_service.checks]]', 'grace_period = "0s"', 'interval = "150ms"', 'timeout = "1s"', 'path = "/healthz"'].join('\n');

async function far(t: Test, name: string, delayMs: number): Promise<string> {
  const backend = await startBackend(t, { FLY_MACHINE_ID: name });
  const relay = await startDelayRelay({ targetHost: '127.0.0.1', targetPort: backend.port, delayMs });
  t.teardown(() => relay.close());
  return `127.0.0.1:${relay.port}`;
}

async function near(t: Test, name: string): Promise<string> {
  const backend = await startBackend(t, { FLY_MACHINE_ID: name });
  return `127.0.0.1:${backend.port}`;
}

/** Waits until every machine has an RTT estimate and `settled` holds for them (the estimate converges over several checks). */
async function rttsMeasured(adminOrigin: string, app: string, count: number, settled: (rtts: Record<string, number>) => boolean = () => true): Promise<Record<string, number>> {
  let last: Record<string, number | null> = {};
  for (let i = 0; i < 100; i++) {
    const list = await machines(adminOrigin, app);
    last = Object.fromEntries(list.map((machine) => [machine.id, (machine as unknown as { rtt_ms: number | null }).rtt_ms]));
    const measured = Object.values(last).filter((rtt) => typeof rtt === 'number').length === count;
    if (measured && settled(last as Record<string, number>)) return last as Record<string, number>;
    await sleep(100);
  }
  throw new Error(`RTTs did not settle: ${JSON.stringify(last)}`);
}

t.test('within a region: the closest machine under soft_limit first, then the farther one', async (t) => {
  const perch = await startPerch(t, {
    apps: {
      close: helloApp({
        name: 'close',
        staticMachines: [['ams', await far(t, 'far', 50)], ['ams', await near(t, 'near')]],
        concurrency: 'type = "requests"\nsoft_limit = 2',
        tables: CHECK,
      }),
    },
  });
  const rtts = await rttsMeasured(perch.adminOrigin, 'close', 2, (rtt) => rtt['close-ams-1']! > rtt['close-ams-2']! + 60);
  t.pass(`the relayed machine measures farther (${JSON.stringify(rtts)})`);
  await sleep(300);

  const seen: string[] = [];
  for (let i = 0; i < 10; i++) seen.push(String((await ask(`${perch.origin}/`, { host: 'close.localhost' })).headers['x-machine-id']));
  t.same([...new Set(seen)], ['near'], 'every request goes to the near machine while it is under soft_limit');

  // A response can reach the client a moment before perch counts its request as done.
  await sleep(200);
  const holding = [ask(`${perch.origin}/sleep?ms=1500`, { host: 'close.localhost' }), ask(`${perch.origin}/sleep?ms=1500`, { host: 'close.localhost' })];
  await sleep(200);
  const spilled = await ask(`${perch.origin}/`, { host: 'close.localhost' });
  const held = (await Promise.all(holding)).map((reply) => json<{ machine: string }>(reply).machine);
  t.same(held, ['near', 'near'], 'the first two went to the near machine');
  t.equal(spilled.headers['x-machine-id'], 'far', 'with the near machine at soft_limit, the far one takes the next');
});

t.test('between regions: the next-closest region by measured RTT, not by name', async (t) => {
  const perch = await startPerch(t, {
    apps: {
      regions: helloApp({
        name: 'regions',
        staticMachines: [['ams', await near(t, 'home')], ['cdg', await far(t, 'cdg-far', 50)], ['lhr', await near(t, 'lhr-near')]],
        concurrency: 'type = "requests"\nsoft_limit = 1\nhard_limit = 1',
        tables: CHECK,
      }),
    },
  });
  const rtts = await rttsMeasured(perch.adminOrigin, 'regions', 3, (rtt) => rtt['regions-cdg-1']! > rtt['regions-lhr-1']! + 60);
  t.pass(`cdg measures farther than lhr (${JSON.stringify(rtts)})`);
  await sleep(300);
  const holding = ask(`${perch.origin}/sleep?ms=1500`, { host: 'regions.localhost' });
  await sleep(200);
  const next = await ask(`${perch.origin}/`, { host: 'regions.localhost' });
  t.equal(next.headers['x-machine-id'], 'lhr-near', 'the own region at hard_limit: lhr (near) before cdg (far, first by name)');
  t.equal(json<{ machine: string }>(await holding).machine, 'home', 'the own region took the first');
});
