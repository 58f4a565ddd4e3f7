// Fly's excess-capacity rule, table-driven. Each row: the machines of one
// app (id, region, peak load during the interval; soft_limit 10 unless
// given), the policy, and what the pass must stop. Expected values follow
// SPEC §4: per region, excess = started - (over_soft + 1) >= 1 stops the
// least loaded; a lone machine only at zero load; min_machines_running
// holds in the primary region only; machines perch does not run are counted
// but never chosen.
import t from 'tap';
import { autostopChoices, type AutostopMachine, type AutostopPolicy } from '../../src/autoscale/autostop.ts';

type Row = [id: string, region: string, peak: number, opts?: { soft?: number; started?: boolean; stoppable?: boolean }];

function fleet(rows: Row[]): AutostopMachine[] {
  return rows.map(([id, region, peak, opts]) => ({ id, region, peakLoad: peak, softLimit: opts?.soft ?? 10, started: opts?.started ?? true, stoppable: opts?.stoppable ?? true }));
}

const stop = (min = 0, primary = 'ams'): AutostopPolicy => ({ mode: 'stop', primaryRegion: primary, minMachinesRunning: min });

const cases: [name: string, rows: Row[], policy: AutostopPolicy, expected: string[]][] = [
  ['autostop off stops nothing', [['a', 'ams', 0], ['b', 'ams', 0]], { mode: 'off', primaryRegion: 'ams', minMachinesRunning: 0 }, []],
  ['two idle machines: one excess, stop exactly one, the least loaded (tie: by id)', [['a', 'ams', 0], ['b', 'ams', 0]], stop(), ['a']],
  ['three idle machines: still one per pass', [['a', 'ams', 0], ['b', 'ams', 0], ['c', 'ams', 0]], stop(), ['a']],
  ['the least loaded goes first', [['a', 'ams', 5], ['b', 'ams', 2], ['c', 'ams', 7]], stop(), ['b']],
  ['two machines, one over soft: 2 - (1 + 1) = 0, nothing', [['a', 'ams', 10], ['b', 'ams', 3]], stop(), []],
  ['three machines, one over soft: 3 - 2 = 1, stop the least loaded', [['a', 'ams', 15], ['b', 'ams', 3], ['c', 'ams', 1]], stop(), ['c']],
  ['three machines, two over soft: 3 - 3 = 0, nothing', [['a', 'ams', 15], ['b', 'ams', 10], ['c', 'ams', 1]], stop(), []],
  ['peak at exactly soft counts as over', [['a', 'ams', 10], ['b', 'ams', 10], ['c', 'ams', 0]], stop(), []],
  ['a lone machine with load stays', [['a', 'ams', 1]], stop(), []],
  ['a lone machine at zero load stops', [['a', 'ams', 0]], stop(), ['a']],
  ['each region on its own: one per region', [['a', 'ams', 0], ['b', 'ams', 0], ['c', 'fra', 0], ['d', 'fra', 0]], stop(), ['a', 'c']],
  ['a busy region does not shield an idle one', [['a', 'ams', 12], ['b', 'ams', 11], ['c', 'fra', 0]], stop(), ['c']],
  ['stopped machines do not count', [['a', 'ams', 0], ['b', 'ams', 0, { started: false }]], stop(), ['a']],
  ['min_machines_running 1 keeps the last one in the primary region', [['a', 'ams', 0]], stop(1), []],
  ['min_machines_running 2 keeps two of two', [['a', 'ams', 0], ['b', 'ams', 0]], stop(2), []],
  ['min_machines_running 2 lets a third go', [['a', 'ams', 0], ['b', 'ams', 0], ['c', 'ams', 0]], stop(2), ['a']],
  ['min_machines_running applies to the primary region only', [['a', 'fra', 0]], stop(5), ['a']],
  ['machines perch does not run count but are never chosen', [['a', 'ams', 0, { stoppable: false }], ['b', 'ams', 4]], stop(), ['b']],
  ['nothing stoppable: nothing', [['a', 'ams', 0, { stoppable: false }], ['b', 'ams', 0, { stoppable: false }]], stop(), []],
  ['soft_limit per machine', [['a', 'ams', 3, { soft: 3 }], ['b', 'ams', 2, { soft: 3 }], ['c', 'ams', 1, { soft: 3 }]], stop(), ['c']],
];

for (const [name, rows, policy, expected] of cases) {
  t.test(name, async (t) => {
    t.same(autostopChoices(fleet(rows), policy).map((choice) => choice.id), expected);
  });
}

t.test('suspend mode says suspend', async (t) => {
  t.same(autostopChoices(fleet([['a', 'ams', 0], ['b', 'ams', 1]]), { mode: 'suspend', primaryRegion: 'ams', minMachinesRunning: 0 }), [{ id: 'a', action: 'suspend' }]);
});
