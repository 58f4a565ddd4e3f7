// hard_limit is never exceeded across all workers: the machine's own count
// of concurrent requests proves it, and every queued request still completes.
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { agent, ask, json } from '../support/http.ts';
import { directOrigins } from '../support/admin.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());


t.test('4 workers, hard_limit 3, 60 concurrent slow requests: the machine never sees more than 3', async (t) => {
  const perch = await startPerch(t, {
    workers: 4,
    apps: {
      limited: helloApp({
        name: 'limited',
        machines: [['ams', 1]],
        concurrency: 'type = "requests"\nsoft_limit = 2\nhard_limit = 3',
        // The default bound, 10 × the sum of hard limits, is 30: room for all 57 waiters is asked for.
        tables: '[limits]\nqueue_length = 100',
      }),
    },
  });
  const direct = (await directOrigins(perch.adminOrigin, 'limited')).get('limited-ams-1')!;
  await ask(`${direct}/inflight/reset`);

  const started = Date.now();
  const replies = await Promise.all(
    Array.from({ length: 60 }, () => ask(`${perch.origin}/sleep?ms=150`, { host: 'limited.localhost' })),
  );
  const elapsed = Date.now() - started;
  const statuses = replies.map((reply) => reply.status);
  t.same([...new Set(statuses)], [200], 'every request completed with 200');

  const seen = json<{ peak: number }>(await ask(`${direct}/inflight`));
  t.ok(seen.peak <= 3, `the machine saw at most 3 at once (peak ${seen.peak})`);
  t.ok(seen.peak >= 2, `and the limit was used (peak ${seen.peak})`);
  // 60 requests of 150 ms through 3 slots take at least 20 rounds.
  t.ok(elapsed >= 20 * 150 - 100, `requests were queued, not run at once (${elapsed} ms)`);
});

t.test('the queue has a time bound: 503 PR04', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    apps: {
      limited: helloApp({
        name: 'limited',
        machines: [['ams', 1]],
        concurrency: 'type = "requests"\nsoft_limit = 1\nhard_limit = 1',
        tables: '[limits]\nqueue_timeout = "300ms"',
      }),
    },
  });
  const slow = ask(`${perch.origin}/sleep?ms=1500`, { host: 'limited.localhost' });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const started = Date.now();
  const queued = await ask(`${perch.origin}/sleep?ms=10`, { host: 'limited.localhost' });
  t.equal(queued.status, 503, 'the queued request gave up');
  t.match(queued.text, /PR04/);
  t.ok(Date.now() - started < 1_200, 'after about its queue timeout');
  t.equal((await slow).status, 200, 'the request holding the slot finished');
});

t.test('the queue has a length bound: 503 at once', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    apps: {
      limited: helloApp({
        name: 'limited',
        machines: [['ams', 1]],
        concurrency: 'type = "requests"\nsoft_limit = 1\nhard_limit = 1',
        tables: '[limits]\nqueue_length = 2\nqueue_timeout = "5s"',
      }),
    },
  });
  const replies = await Promise.all(Array.from({ length: 6 }, () => ask(`${perch.origin}/sleep?ms=400`, { host: 'limited.localhost' })));
  const ok = replies.filter((reply) => reply.status === 200).length;
  const refused = replies.filter((reply) => reply.status === 503 && /PR04/.test(reply.text)).length;
  t.equal(ok + refused, 6, 'each request either ran or was refused');
  t.equal(ok, 3, 'one ran and two waited');
  t.equal(refused, 3, 'the rest were refused at once');
});
