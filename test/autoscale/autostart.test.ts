// Which machines wake for a route's demand, table-driven. Rules (SPEC §4):
// nothing wakes while a started machine of the nearest region is under
// soft_limit; otherwise wake in the nearest region, suspended before
// stopped, at least one when machines are started there but all at/over
// soft_limit, and enough that (started + starting) × soft_limit covers
// in-flight + queued; then the next closest region for what is left.
import t from 'tap';
import { autostartChoices, type AutostartMachine, type StartableState } from '../../src/autoscale/autostart.ts';

type Row = [id: string, region: string, state: StartableState, load?: number, opts?: { soft?: number; startable?: boolean }];

function fleet(rows: Row[]): AutostartMachine[] {
  return rows.map(([id, region, state, load, opts]) => ({ id, region, state, load: load ?? 0, softLimit: opts?.soft ?? 20, startable: opts?.startable ?? true }));
}

const REGIONS = ['ams', 'fra', 'lhr'];

const cases: [name: string, rows: Row[], queued: number, expected: string[]][] = [
  ['an idle app with nothing queued wakes nothing', [['a', 'ams', 'stopped'], ['b', 'ams', 'stopped']], 0, []],
  ['one request at zero machines wakes one', [['a', 'ams', 'stopped'], ['b', 'ams', 'stopped']], 1, ['a']],
  ['suspended before stopped', [['a', 'ams', 'stopped'], ['b', 'ams', 'suspended']], 1, ['b']],
  ['a burst of 100 at soft 20 wakes 5 at once', [['m1', 'ams', 'stopped'], ['m2', 'ams', 'stopped'], ['m3', 'ams', 'stopped'], ['m4', 'ams', 'stopped'], ['m5', 'ams', 'stopped'], ['m6', 'ams', 'stopped'], ['m7', 'ams', 'stopped']], 100, ['m1', 'm2', 'm3', 'm4', 'm5']],
  ['101 needs 6', [['m1', 'ams', 'stopped'], ['m2', 'ams', 'stopped'], ['m3', 'ams', 'stopped'], ['m4', 'ams', 'stopped'], ['m5', 'ams', 'stopped'], ['m6', 'ams', 'stopped'], ['m7', 'ams', 'stopped']], 101, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']],
  ['a started machine under soft_limit in the nearest region: nothing wakes', [['a', 'ams', 'started', 5], ['b', 'ams', 'stopped']], 3, []],
  ['the started machine at soft_limit: wake one more', [['a', 'ams', 'started', 20], ['b', 'ams', 'stopped'], ['c', 'ams', 'stopped']], 0, ['b']],
  ['over soft_limit with a queue: enough for load + queue', [['a', 'ams', 'started', 25], ['b', 'ams', 'stopped'], ['c', 'ams', 'stopped'], ['d', 'ams', 'stopped']], 20, ['b', 'c']],
  ['machines already starting count as capacity', [['a', 'ams', 'starting'], ['b', 'ams', 'stopped']], 15, []],
  ['starting capacity short of the queue: wake more', [['a', 'ams', 'starting'], ['b', 'ams', 'stopped'], ['c', 'ams', 'stopped']], 30, ['b']],
  ['the nearest region first even if another region has stopped machines', [['f', 'fra', 'stopped'], ['a', 'ams', 'stopped']], 1, ['a']],
  ['the own region has no machines: the next closest', [['f', 'fra', 'stopped'], ['l', 'lhr', 'stopped']], 1, ['f']],
  ['nearest region exhausted: go on to the next for what is left', [['a', 'ams', 'stopped'], ['f', 'fra', 'stopped'], ['g', 'fra', 'stopped']], 50, ['a', 'f', 'g']],
  ['machines that cannot be started are skipped', [['a', 'ams', 'stopped', 0, { startable: false }], ['b', 'ams', 'stopped']], 1, ['b']],
  ['a started machine of another region under soft does not stop the nearest from waking', [['a', 'ams', 'stopped'], ['f', 'fra', 'started', 0]], 1, ['a']],
  ['the next region\'s spare capacity covers the rest', [['a', 'ams', 'started', 20], ['f', 'fra', 'started', 0]], 5, []],
  ['regions not in the closeness list come last', [['x', 'syd', 'stopped'], ['a', 'ams', 'stopped', 0, { startable: false }]], 1, ['x']],
];

for (const [name, rows, queued, expected] of cases) {
  t.test(name, async (t) => {
    t.same(autostartChoices(fleet(rows), REGIONS, queued), expected);
  });
}
