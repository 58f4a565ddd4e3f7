// The pure health state, driven step by step on a fake clock. Each scenario
// is data: the machine's checks, then steps (take what is due, report a
// probe's result, a passive failure, an outside RTT sample) with the events
// each must produce and what must hold afterwards.
import t from 'tap';
import type { ServiceCheck } from '../../src/config/model.ts';
import { Ewma, rttChanged } from '../../src/checks/ewma.ts';
import { checksFor, type CheckPlan, type CheckScope } from '../../src/checks/plan.ts';
import { DEFAULT_POLICY, MachineHealth, type CheckStatus, type HealthEvent, type HealthPolicy, type Task } from '../../src/checks/state.ts';

function check(name: string, over: Partial<ServiceCheck> = {}): ServiceCheck {
  return {
    kind: 'http',
    name,
    port: 8080,
    gracePeriodMs: 0,
    intervalMs: 100,
    timeoutMs: 50,
    method: 'GET',
    path: '/healthz',
    protocol: 'http',
    headers: {},
    tlsSkipVerify: false,
    tlsServerName: null,
    ...over,
  };
}
const svc = (name: string, over: Partial<ServiceCheck> = {}): CheckPlan => ({ scope: 'service', check: check(name, over) });
const top = (name: string, over: Partial<ServiceCheck> = {}): CheckPlan => ({ scope: 'top', check: check(name, over) });

type Step = { at: number; events?: string[]; expect?: Expect } & (
  | { take: string[] }
  | { done: 'check'; index?: number; ok: boolean; started?: number; rtt?: number }
  | { done: 'rtt' | 'passive'; ok: boolean; started?: number; rtt?: number }
  | { passiveFailure: true }
  | { observe: number }
);

interface Expect {
  healthy?: boolean;
  status?: CheckStatus[];
  wake?: number | null;
  rtt?: number | null;
  passiveDown?: boolean;
}

interface Scenario {
  name: string;
  plans: CheckPlan[];
  policy?: Partial<HealthPolicy>;
  initial: { healthy: boolean; wake: number | null };
  steps: Step[];
}

/** A check run: due at `at`, answered 1 ms later. */
function run(at: number, ok: boolean, events?: string[], expect?: Expect, index = 0): Step[] {
  return [
    { at, take: [`check:${index}`] },
    { at: at + 1, done: 'check', index, ok, started: at, ...(events !== undefined ? { events } : {}), ...(expect !== undefined ? { expect } : {}) },
  ];
}

const taskName = (task: Task): string => (task.type === 'check' ? `check:${task.index}` : task.type);
const eventName = (event: HealthEvent): string => {
  if (event.type === 'health') return `health:${event.healthy}`;
  if (event.type === 'rtt') return `rtt:${Math.round(event.ms * 1000) / 1000}`;
  return `${event.name}:${event.status}`;
};

const scenarios: Scenario[] = [
  {
    name: 'no service checks: healthy once started, only RTT probes run',
    plans: [],
    initial: { healthy: true, wake: 0 },
    steps: [
      { at: 0, take: ['rtt'], expect: { wake: null } },
      { at: 3, done: 'rtt', ok: true, started: 0, rtt: 3, events: ['rtt:3'], expect: { wake: 2003, rtt: 3, healthy: true } },
      { at: 2002, take: ['rtt'] }, // due within the 1 ms slack
      { at: 2010, done: 'rtt', ok: false, started: 2002, events: [], expect: { wake: 4010, rtt: 3 } },
    ],
  },
  {
    name: 'grace period: the first run waits for it, and routing waits for the first pass',
    plans: [svc('c0', { gracePeriodMs: 1000, intervalMs: 500 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['rtt'] },
      { at: 1, done: 'rtt', ok: true, started: 0, rtt: 1, events: ['rtt:1'], expect: { wake: 1000, status: ['warning'] } },
      { at: 998, take: [] },
      { at: 1000, take: ['check:0'], expect: { wake: 2001 } },
      { at: 1010, done: 'check', ok: true, started: 1000, rtt: 10, events: ['c0:passing', 'rtt:2.125', 'health:true'], expect: { healthy: true, wake: 1500 } },
      { at: 1500, take: ['check:0'] },
    ],
  },
  {
    name: 'default thresholds: the first failure is critical and unroutable, one pass restores',
    plans: [svc('c0')],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 5, done: 'check', ok: false, started: 0, events: ['c0:critical'], expect: { healthy: false, status: ['critical'] } },
      { at: 6, done: 'rtt', ok: true, started: 0, rtt: 1, events: ['rtt:1'] },
      ...run(100, true, ['c0:passing', 'health:true'], { healthy: true, status: ['passing'] }),
      ...run(200, false, ['c0:critical', 'health:false'], { healthy: false, status: ['critical'] }),
      ...run(300, false, [], { healthy: false, status: ['critical'] }),
      ...run(400, true, ['c0:passing', 'health:true'], { healthy: true }),
    ],
  },
  {
    name: 'thresholds 3 down / 2 up: warning between the stable states, routing follows the stable state',
    plans: [svc('c0')],
    policy: { failuresToCritical: 3, passesToPassing: 2 },
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 1, done: 'check', ok: true, started: 0, events: [], expect: { healthy: false, status: ['warning'] } },
      ...run(100, true, ['c0:passing', 'health:true'], { healthy: true }),
      ...run(200, false, ['c0:warning'], { healthy: true }),
      ...run(300, false, [], { healthy: true, status: ['warning'] }),
      ...run(400, false, ['c0:critical', 'health:false'], { healthy: false }),
      ...run(500, true, ['c0:warning'], { healthy: false }),
      ...run(600, false, ['c0:critical'], { healthy: false }),
      ...run(700, true, ['c0:warning'], { healthy: false }),
      ...run(800, true, ['c0:passing', 'health:true'], { healthy: true }),
    ],
  },
  {
    name: 'top-level checks are reported but never gate routing',
    plans: [top('t0')],
    initial: { healthy: true, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 1, done: 'check', ok: false, started: 0, events: ['t0:critical'], expect: { healthy: true, status: ['critical'] } },
      ...run(100, true, ['t0:passing'], { healthy: true }),
    ],
  },
  {
    name: 'a failing top-level check beside a passing service check: healthy; the service check decides',
    plans: [svc('s0'), top('t0', { intervalMs: 1000 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'check:1', 'rtt'] },
      { at: 1, done: 'check', index: 1, ok: false, started: 0, events: ['t0:critical'], expect: { healthy: false } },
      { at: 2, done: 'check', index: 0, ok: true, started: 0, events: ['s0:passing', 'health:true'], expect: { healthy: true, status: ['passing', 'critical'] } },
      ...run(100, false, ['s0:critical', 'health:false'], { healthy: false }, 0),
    ],
  },
  {
    name: 'every service check must pass',
    plans: [svc('a', { intervalMs: 100 }), svc('b', { kind: 'tcp', intervalMs: 200 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'check:1', 'rtt'] },
      { at: 1, done: 'check', index: 0, ok: true, started: 0, events: ['a:passing'], expect: { healthy: false, wake: 100 } },
      { at: 2, done: 'check', index: 1, ok: true, started: 0, events: ['b:passing', 'health:true'], expect: { healthy: true } },
      { at: 100, take: ['check:0'] },
      { at: 101, done: 'check', index: 0, ok: true, started: 100, events: [], expect: { wake: 200 } },
      { at: 200, take: ['check:0', 'check:1'] },
      { at: 201, done: 'check', index: 1, ok: false, started: 200, events: ['b:critical', 'health:false'], expect: { healthy: false } },
    ],
  },
  {
    name: 'a run that outlasts its interval is followed at once by the next, never overlapped',
    plans: [svc('c0', { intervalMs: 100, timeoutMs: 500 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 1, done: 'rtt', ok: false, started: 0 },
      { at: 150, take: [] }, // still running: not taken twice
      { at: 350, done: 'check', ok: false, started: 0, expect: { wake: 350 } },
      { at: 350, take: ['check:0'], expect: { wake: 2001 } },
    ],
  },
  {
    name: 'before its first pass a service check is retried every second, not every 15 s; afterwards the interval rules',
    plans: [svc('c0', { gracePeriodMs: 1000, intervalMs: 15_000 }), top('t0', { gracePeriodMs: 1000, intervalMs: 15_000 })],
    policy: { rttProbeIntervalMs: 600_000 },
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['rtt'] },
      { at: 1, done: 'rtt', ok: false, started: 0 },
      { at: 1000, take: ['check:0', 'check:1'] },
      { at: 1001, done: 'check', index: 1, ok: false, started: 1000, expect: { wake: 16_000 } }, // top-level: interval
      { at: 1010, done: 'check', index: 0, ok: false, started: 1000, events: ['c0:critical'], expect: { wake: 2000 } },
      ...run(2000, false, [], { wake: 3000 }),
      ...run(3000, true, ['c0:passing', 'health:true'], { wake: 16_000 }),
      { at: 16_000, take: ['check:1'] },
      { at: 16_001, done: 'check', index: 1, ok: false, started: 16_000, expect: { wake: 18_000 } },
      { at: 18_000, take: ['check:0'] },
      { at: 18_001, done: 'check', index: 0, ok: false, started: 18_000, events: ['c0:critical', 'health:false'], expect: { wake: 31_000 } },
    ],
  },
  {
    name: 'a zero interval is raised to the floor and cannot spin',
    plans: [svc('c0', { intervalMs: 0 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 1, done: 'check', ok: true, started: 0, expect: { wake: 50 } },
    ],
  },
  {
    name: 'passive failure with service checks: out at once; a run already in flight cannot restore; the recheck is pulled forward',
    plans: [svc('c0', { intervalMs: 1000 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 1, done: 'rtt', ok: true, started: 0, rtt: 1 },
      { at: 1, done: 'check', ok: true, started: 0, events: ['c0:passing', 'health:true'], expect: { healthy: true, wake: 1000 } },
      { at: 1000, take: ['check:0'] },
      { at: 1001, passiveFailure: true, events: ['health:false'], expect: { healthy: false, passiveDown: true, wake: 2001 } },
      { at: 1010, done: 'check', ok: true, started: 1000, events: [], expect: { healthy: false, passiveDown: true, wake: 1501 } },
      { at: 1501, take: ['check:0'] },
      { at: 1505, done: 'check', ok: true, started: 1501, events: ['health:true'], expect: { healthy: true, passiveDown: false, wake: 2001 } },
    ],
  },
  {
    name: 'passive failure with a passing check and a long interval: one early recheck, then the interval again',
    plans: [svc('c0', { intervalMs: 30_000 })],
    policy: { rttProbeIntervalMs: 60_000 },
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 1, done: 'check', ok: true, started: 0, events: ['c0:passing', 'health:true'] },
      { at: 1, done: 'rtt', ok: true, started: 0, rtt: 1 },
      { at: 5000, passiveFailure: true, events: ['health:false'], expect: { wake: 5500 } },
      { at: 5500, take: ['check:0'] },
      // A run that started after the failure and failed: no more pulling forward.
      { at: 5510, done: 'check', ok: false, started: 5500, events: ['c0:critical'], expect: { healthy: false, wake: 35_500 } },
      ...run(35_500, true, ['c0:passing', 'health:true'], { healthy: true, passiveDown: false }),
    ],
  },
  {
    name: 'passive failure during the grace period does not run the check early',
    plans: [svc('c0', { gracePeriodMs: 3000 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['rtt'] },
      { at: 1, done: 'rtt', ok: true, started: 0, rtt: 1 },
      { at: 100, passiveFailure: true, events: [], expect: { healthy: false, wake: 2001 } },
      { at: 2001, take: ['rtt'], expect: { wake: 3000 } },
      { at: 3000, take: ['check:0'] },
      { at: 3001, done: 'check', ok: true, started: 3000, events: ['c0:passing', 'health:true'], expect: { healthy: true } },
    ],
  },
  {
    name: 'passive failure without service checks: connect probes every 500 ms until one connects',
    plans: [],
    initial: { healthy: true, wake: 0 },
    steps: [
      { at: 0, take: ['rtt'] },
      { at: 1, done: 'rtt', ok: true, started: 0, rtt: 1, events: ['rtt:1'], expect: { wake: 2001 } },
      { at: 100, passiveFailure: true, events: ['health:false'], expect: { healthy: false, wake: 600 } },
      { at: 300, passiveFailure: true, events: [], expect: { wake: 600 } }, // already down: the probe cadence is kept
      { at: 600, take: ['passive'] },
      { at: 601, done: 'passive', ok: false, started: 600, events: [], expect: { healthy: false, wake: 1100 } },
      { at: 1100, take: ['passive'] },
      { at: 1102, done: 'passive', ok: true, started: 1100, rtt: 2, events: ['health:true'], expect: { healthy: true, passiveDown: false, rtt: 1.125, wake: 3102 } },
    ],
  },
  {
    name: 'passive failure on a machine with only top-level checks uses the connect probe',
    plans: [top('t0', { intervalMs: 10_000 })],
    initial: { healthy: true, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 1, done: 'check', ok: true, started: 0, events: ['t0:passing'] },
      { at: 1, done: 'rtt', ok: true, started: 0, rtt: 1 },
      { at: 50, passiveFailure: true, events: ['health:false'], expect: { wake: 550 } },
      { at: 550, take: ['passive'] },
      { at: 551, done: 'passive', ok: true, started: 550, events: ['health:true'], expect: { healthy: true } },
    ],
  },
  {
    name: 'RTT probes only run when nothing else gave a sample for rttProbeIntervalMs',
    plans: [svc('c0', { intervalMs: 500 })],
    initial: { healthy: false, wake: 0 },
    steps: [
      { at: 0, take: ['check:0', 'rtt'] },
      { at: 2, done: 'check', ok: true, started: 0, rtt: 2, events: ['c0:passing', 'rtt:2', 'health:true'] },
      // A lower sample weighs more (α 1/2 going down): 2 → 1.5, a change worth telling.
      { at: 3, done: 'rtt', ok: true, started: 0, rtt: 1, events: ['rtt:1.5'], expect: { rtt: 1.5, wake: 500 } },
      // Checks that answer keep giving samples: no connect probe.
      ...[500, 1000, 1500, 2000, 2500].flatMap((at): Step[] => [{ at, take: ['check:0'] }, { at: at + 1, done: 'check', ok: true, started: at, rtt: 2 }]),
      // A refused check measures nothing: 2 s after the last sample the connect probe runs.
      ...[3000, 3500, 4000].flatMap((at): Step[] => [{ at, take: ['check:0'] }, { at: at + 1, done: 'check', ok: false, started: at }]),
      { at: 4500, take: ['check:0', 'rtt'] },
    ],
  },
  {
    name: 'RTT: EWMA with α = 1/8 going up, told only on a meaningful change; outside samples count',
    plans: [],
    initial: { healthy: true, wake: 0 },
    steps: [
      { at: 0, observe: 10, events: ['rtt:10'], expect: { rtt: 10, wake: 2000 } },
      { at: 1, observe: 10.4, events: [], expect: { rtt: 10.05 } }, // Δ 0.05 ms: not told
      { at: 2, observe: 20, events: ['rtt:11.294'], expect: { rtt: 11.29375 } },
      { at: 3, observe: 13, events: [], expect: { rtt: 11.507031 } }, // Δ 0.2 from what was told
      { at: 4, observe: -5, events: [], expect: { rtt: 11.507031 } }, // nonsense ignored
      { at: 5, observe: 1, events: ['rtt:6.254'], expect: { rtt: 6.253516 } }, // going down weighs α 1/2
    ],
  },
];

for (const scenario of scenarios) {
  t.test(scenario.name, async (t) => {
    const policy: HealthPolicy = { ...DEFAULT_POLICY, ...scenario.policy };
    const health = new MachineHealth('m1', scenario.plans, 0, policy);
    t.same(health.initialEvents().map(eventName), [`health:${scenario.initial.healthy}`], 'initial health announced');
    t.equal(health.nextWakeAt(), scenario.initial.wake, 'first wake');

    scenario.steps.forEach((step, i) => {
      const label = `step ${i} at ${step.at}`;
      let events: HealthEvent[] = [];
      if ('take' in step) {
        t.same(health.takeDue(step.at).map(taskName).sort(), [...step.take].sort(), `${label}: due ${JSON.stringify(step.take)}`);
      } else if ('done' in step) {
        const result = { ok: step.ok, output: step.ok ? 'ok' : 'failed', startedAt: step.started ?? step.at - 1, finishedAt: step.at, rttMs: step.rtt ?? null };
        if (step.done === 'check') events = health.checkDone(step.index ?? 0, result);
        else if (step.done === 'rtt') events = health.rttProbeDone(result);
        else events = health.passiveProbeDone(result);
      } else if ('passiveFailure' in step) {
        events = health.passiveFailure(step.at);
      } else {
        events = health.observeRtt(step.observe, step.at);
      }
      if (step.events !== undefined) t.same(events.map(eventName), step.events, `${label}: events`);
      const expect = step.expect ?? {};
      const snap = health.snapshot();
      if (expect.healthy !== undefined) t.equal(health.healthy, expect.healthy, `${label}: healthy ${expect.healthy} (${health.reason})`);
      if (expect.status !== undefined) t.same(snap.checks.map((c) => c.status), expect.status, `${label}: statuses`);
      if (expect.wake !== undefined) t.equal(health.nextWakeAt(), expect.wake, `${label}: next wake`);
      if (expect.rtt !== undefined) t.equal(health.rttMs === null ? null : Math.round(health.rttMs * 1e6) / 1e6, expect.rtt, `${label}: rtt`);
      if (expect.passiveDown !== undefined) t.equal(snap.passiveDown, expect.passiveDown, `${label}: passive`);
    });
  });
}

t.test('reasons and snapshot say why a machine is out', async (t) => {
  const health = new MachineHealth('m1', [svc('web', { gracePeriodMs: 500 })], 0);
  t.match(health.reason, /waiting for the first pass of check web/);
  health.takeDue(500);
  health.checkDone(0, { ok: false, output: 'HTTP 503 Service Unavailable', startedAt: 500, finishedAt: 510, rttMs: 3 });
  t.match(health.reason, /check web is critical: HTTP 503/);
  const snap = health.snapshot();
  t.match(snap.checks[0], { name: 'web', kind: 'http', scope: 'service', status: 'critical', output: 'HTTP 503 Service Unavailable', lastRunAt: 510, failures: 1 });
  t.equal(snap.rttMs, 3, 'an HTTP answer of any status measures the distance');
  health.passiveFailure(600);
  t.match(health.reason, /passive/);
});

t.test('EWMA math', async (t) => {
  const cases: [alpha: number, samples: number[], expected: number][] = [
    [0.25, [10], 10],
    [0.25, [10, 20], 12.5],
    [0.25, [10, 20, 20], 14.375],
    [0.5, [0, 8], 4],
    [1, [5, 9, 3], 3],
    [0.25, [4, Number.NaN, 4], 4],
  ];
  for (const [alpha, samples, expected] of cases) {
    const ewma = new Ewma(alpha);
    for (const sample of samples) ewma.add(sample);
    t.equal(ewma.value, expected, `α=${alpha} ${JSON.stringify(samples)} → ${expected}`);
  }
  t.equal(new Ewma().value, null, 'no estimate before a sample');
  t.throws(() => new Ewma(0), RangeError);
  t.throws(() => new Ewma(1.5), RangeError);

  const told: [told: number | null, now: number, changed: boolean][] = [
    [null, 0.2, true],
    [10, 10.4, false],
    [10, 11, true],
    [0.2, 0.6, false], // under 0.5 ms
    [100, 105, false], // under 10 %
    [100, 89, true],
  ];
  for (const [before, now, changed] of told) t.equal(rttChanged(before, now, 0.5, 0.1), changed, `${before} → ${now}: ${changed}`);
});

t.test('which checks a machine runs: its services by process group, top-level ones by processes', async (t) => {
  const serviceCheck = (name: string): ServiceCheck => check(name);
  const app = {
    name: 'a',
    httpService: { processes: ['web'], checks: [serviceCheck('hs')] },
    services: [{ processes: ['worker'], checks: [serviceCheck('svc')] }, { processes: ['web', 'worker'], checks: [serviceCheck('both')] }],
    checks: [{ ...serviceCheck('top-web'), processes: ['web'] }, { ...serviceCheck('top-all'), processes: ['web', 'worker'] }],
  };
  const names = (group: string): [string, CheckScope][] =>
    checksFor({ spec: { id: 'x', processGroup: group }, app }).map((plan) => [plan.check.name, plan.scope]);
  t.same(names('web'), [['hs', 'service'], ['both', 'service'], ['top-web', 'top'], ['top-all', 'top']]);
  t.same(names('worker'), [['svc', 'service'], ['both', 'service'], ['top-all', 'top']]);
  t.same(names('other'), []);
});
