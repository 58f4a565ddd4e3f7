// Load rising and falling for 20 s while autostop runs every 250 ms: machines
// wake and stop under traffic, and not one request fails because of it.
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { agent, ask, sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

for (const mode of ['stop', 'suspend'] as const) {
  t.test(`auto_stop_machines = "${mode}": 20 s of rising and falling load, no failed request`, async (t) => {
    const perch = await startPerch(t, {
      workers: 2,
      perchToml: 'autostop_interval = "250ms"',
      apps: {
        wave: helloApp({
          name: 'wave',
          machines: [['ams', 4]],
          concurrency: 'type = "requests"\nsoft_limit = 4',
          httpService: `auto_stop_machines = "${mode}"\nmin_machines_running = 0`,
        }),
      },
    });
    const durationMs = 20_000;
    const peak = 16;
    const startedAt = Date.now();
    // A triangle: concurrency climbs to `peak` over half the run, then falls back to 1.
    const wanted = (): number => {
      const phase = (Date.now() - startedAt) / durationMs;
      return Math.max(1, Math.round(peak * (1 - Math.abs(2 * phase - 1))));
    };
    const failures: string[] = [];
    let ok = 0;
    const loops = Array.from({ length: peak }, async (_, index) => {
      while (Date.now() - startedAt < durationMs) {
        if (index >= wanted()) {
          await sleep(50);
          continue;
        }
        try {
          const reply = await ask(`${perch.origin}/sleep?ms=40`, { host: 'wave.localhost' });
          if (reply.status === 200) ok++;
          else failures.push(`${reply.status} ${reply.text.trim().split('\n')[0]}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    });
    await Promise.all(loops);
    const transitions = perch.logs.filter((line) => line.msg === 'machine state');
    const woke = transitions.filter((line) => line.to === 'starting' || (line.from === 'suspended' && line.to === 'started')).length;
    const slept = transitions.filter((line) => line.to === 'stopped' || line.to === 'suspended').length;
    t.same(failures, [], `no request failed (${ok} succeeded)`);
    t.ok(ok > 500, `traffic flowed (${ok} requests)`);
    t.ok(woke >= 3, `machines woke as load rose (${woke})`);
    t.ok(slept >= 2, `and went to ${mode === 'stop' ? 'stopped' : 'suspended'} as it fell (${slept})`);
  });
}
