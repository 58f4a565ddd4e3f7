// Which machine takes each request as load rises through soft and hard
// limits in two regions, read from the machines' own in-flight counts; and
// the steering headers.
import t from 'tap';
import { directOrigins } from '../support/admin.ts';
import { helloApp } from '../support/apps.ts';
import { agent, ask, json, sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

async function inflight(origins: Map<string, string>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [id, origin] of origins) counts[id] = json<{ inflight: number }>(await ask(`${origin}/inflight`)).inflight;
  return counts;
}

t.test('load rises: own region under soft, then over soft to hard, then the next region, then the queue', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    apps: {
      spill: helloApp({
        name: 'spill',
        machines: [['ams', 2], ['fra', 1]],
        concurrency: 'type = "requests"\nsoft_limit = 2\nhard_limit = 3',
        tables: '[limits]\nqueue_timeout = "10s"',
      }),
    },
  });
  const origins = await directOrigins(perch.adminOrigin, 'spill');
  const sum = (counts: Record<string, number>, prefix: string): number =>
    Object.entries(counts).filter(([id]) => id.startsWith(prefix)).reduce((total, [, n]) => total + n, 0);

  // [requests sent so far, what each machine must hold then]
  const expected: [number, (c: Record<string, number>) => boolean, string][] = [
    [1, (c) => sum(c, 'spill-ams') === 1 && c['spill-fra-1'] === 0, 'the first goes to the own region'],
    [2, (c) => sum(c, 'spill-ams') === 2 && c['spill-fra-1'] === 0, 'the second too'],
    [4, (c) => c['spill-ams-1'] === 2 && c['spill-ams-2'] === 2 && c['spill-fra-1'] === 0, 'both local machines fill to soft_limit first'],
    [5, (c) => sum(c, 'spill-ams') === 5 && c['spill-fra-1'] === 0, 'over soft_limit, the region is not left'],
    [6, (c) => c['spill-ams-1'] === 3 && c['spill-ams-2'] === 3 && c['spill-fra-1'] === 0, 'both local machines reach hard_limit'],
    [7, (c) => c['spill-fra-1'] === 1, 'only then the next region'],
    [9, (c) => c['spill-fra-1'] === 3 && sum(c, 'spill-ams') === 6, 'which fills to its hard_limit'],
    [10, (c) => sum(c, 'spill-') === 9, 'then requests wait: no machine goes over hard_limit'],
  ];
  const pending: Promise<unknown>[] = [];
  let sent = 0;
  for (const [upTo, check, what] of expected) {
    while (sent < upTo) {
      pending.push(ask(`${perch.origin}/sleep?ms=4000`, { host: 'spill.localhost' }));
      sent++;
      await sleep(150);
    }
    const counts = await inflight(origins);
    t.ok(check(counts), `${what}: ${JSON.stringify(counts)}`);
  }
  const replies = (await Promise.all(pending)) as { status: number }[];
  t.same([...new Set(replies.map((reply) => reply.status))], [200], 'every request, the queued one included, got 200');
});

t.test('steering headers', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    apps: {
      steer: helloApp({
        name: 'steer',
        machines: [['ams', 2], ['fra', 1]],
        concurrency: 'type = "requests"\nsoft_limit = 1\nhard_limit = 1',
        tables: '[limits]\nqueue_timeout = "500ms"',
      }),
    },
  });
  const go = async (headers: Record<string, string>, path = '/headers') => {
    const reply = await ask(`${perch.origin}${path}`, { host: 'steer.localhost', headers });
    return { status: reply.status, text: reply.text, seen: reply.status === 200 ? json<{ machine: string; headers: Record<string, string> }>(reply) : null };
  };

  for (let i = 0; i < 4; i++) t.match((await go({}))?.seen?.machine, /^steer-ams-/, 'unsteered requests stay in the own region');
  const preferFra = await go({ 'fly-prefer-region': 'fra' });
  t.equal(preferFra.seen?.machine, 'steer-fra-1', `fly-prefer-region (${preferFra.status} ${preferFra.text.slice(0, 80)})`);
  const preferList = await go({ 'fly-prefer-region': 'syd, fra' });
  t.equal(preferList.seen?.machine, 'steer-fra-1', `fly-prefer-region: a list in order (${preferList.status} ${preferList.text.slice(0, 60)})`);
  t.match((await go({ 'fly-prefer-region': 'syd' })).seen?.machine, /^steer-ams-/, 'a preferred region with no machine falls back to the closest');
  t.equal((await go({ 'fly-force-region': 'FRA' })).seen?.machine, 'steer-fra-1', 'fly-force-region');
  const forcedNowhere = await go({ 'fly-force-region': 'syd' });
  t.equal(forcedNowhere.status, 503, 'fly-force-region never falls back');
  t.match(forcedNowhere.text, /PR01/);
  t.equal((await go({ 'fly-prefer-instance-id': 'steer-ams-2' })).seen?.machine, 'steer-ams-2', 'fly-prefer-instance-id');
  t.equal((await go({ 'fly-force-instance-id': 'steer-fra-1' })).seen?.machine, 'steer-fra-1', 'fly-force-instance-id');
  const unknown = await go({ 'fly-force-instance-id': 'steer-nope-9' });
  t.equal(unknown.status, 503, 'a forced instance that does not exist');
  t.match(unknown.text, /PR02/);
  t.equal((await go({ 'fly-prefer-region': 'primary' })).seen?.machine?.startsWith('steer-ams-'), true, 'the "primary" alias');

  // ams-1 busy at its hard_limit of 1: a preference for it falls back and says so.
  const busy = ask(`${perch.origin}/sleep?ms=1500`, { host: 'steer.localhost', headers: { 'fly-force-instance-id': 'steer-ams-1' } });
  await sleep(200);
  const fallback = await go({ 'fly-prefer-instance-id': 'steer-ams-1' });
  t.not(fallback.seen?.machine, 'steer-ams-1', 'the preferred machine was full');
  t.equal(fallback.seen?.headers['fly-preferred-instance-unavailable'], 'steer-ams-1', 'the machine is told which preference failed');
  const forcedFull = await go({ 'fly-force-instance-id': 'steer-ams-1' }, '/');
  t.equal(forcedFull.status, 503, 'a forced machine that stays full: the request waits, then 503');
  t.match(forcedFull.text, /PR04/);
  t.equal((await busy).status, 200);
});
