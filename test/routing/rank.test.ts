// Choosing a machine (SPEC §3), table-driven. Every expected value below is
// derived from the rules, not copied from a run:
//   1. own region first; leave it only when every local machine is unhealthy
//      (not routable) or at hard_limit, then the next-closest region;
//   2. within a region: under soft_limit first, closest RTT bucket first,
//      ties at random; at/over soft_limit: least loaded first;
//   3. a machine at hard_limit is never chosen (bestCandidate) and is ranked
//      last (rankCandidates: it can take the request once a slot frees);
//   5. steering: forced sets restrict (no fallback), preferences go first
//      (with fallback to the usual order).
import t, { type Test } from 'tap';
import { bestCandidate, NO_STEERING, rankCandidates, regionRanks, rttBucketStart, type Candidate, type RegionRanks, type Steering } from '../../src/routing/rank.ts';

/**
 * Machine row: id, region, load, soft, hard, closeness, routable. Closeness is
 * written in bucket units: k.f means the fraction f into RTT bucket k (so 1
 * and 1.9 are equally close, 2 is farther), turned into milliseconds below.
 */
type Row = [id: string, region: string, load: number, soft: number, hard: number | null, closeness: number | null, routable?: boolean];

function rttOf(closeness: number): number {
  const bucket = Math.floor(closeness);
  return rttBucketStart(bucket) + (closeness - bucket) * (rttBucketStart(bucket + 1) - rttBucketStart(bucket));
}

function machines(rows: readonly Row[]): Candidate[] {
  return rows.map(([id, region, load, soft, hard, closeness, routable = true]) => ({ id, region, load, soft, hard, rttMs: closeness === null ? null : rttOf(closeness), routable }));
}

/** The edge is in iad; ord is the next-closest region, lhr after it (syd is not ranked at all). */
const REGIONS: RegionRanks = new Map([
  ['iad', 0],
  ['ord', 1],
  ['lhr', 2],
]);

function steer(s: Partial<Steering>): Steering {
  return { ...NO_STEERING, ...s };
}

interface Case {
  name: string;
  machines: Row[];
  steering?: Steering;
  exclude?: string[];
  /** The one machine that must be chosen (null: none), or the equal machines one of which is chosen at random. */
  best: string | null | string[];
}

const UNDER = 20; // soft_limit used by most rows

const cases: Case[] = [
  // --- region closeness ---------------------------------------------------
  {
    name: 'own region first even when its machine is over soft_limit and a remote one is idle',
    machines: [
      ['ord-1', 'ord', 0, UNDER, null, 0.5],
      ['iad-1', 'iad', 35, UNDER, null, 15],
    ],
    best: 'iad-1',
  },
  {
    name: 'own region first even when it is at soft_limit exactly and far by RTT',
    machines: [
      ['iad-1', 'iad', 20, UNDER, 25, 40],
      ['ord-1', 'ord', 0, UNDER, 25, 0.5],
      ['lhr-1', 'lhr', 0, UNDER, 25, 0.5],
    ],
    best: 'iad-1',
  },
  {
    name: 'leaves the region when every local machine is at hard_limit',
    machines: [
      ['iad-1', 'iad', 5, 3, 5, 0.5],
      ['iad-2', 'iad', 7, 3, 5, 0.5],
      ['ord-1', 'ord', 10, UNDER, null, 10],
    ],
    best: 'ord-1',
  },
  {
    name: 'leaves the region when every local machine is unhealthy',
    machines: [
      ['iad-1', 'iad', 0, UNDER, null, 1, false],
      ['iad-2', 'iad', 0, UNDER, null, 1, false],
      ['ord-1', 'ord', 30, UNDER, null, 10],
    ],
    best: 'ord-1',
  },
  {
    name: 'leaves the region when each local machine is unhealthy or at hard_limit',
    machines: [
      ['iad-1', 'iad', 0, UNDER, 30, 1, false],
      ['iad-2', 'iad', 30, UNDER, 30, 0.5],
      ['ord-1', 'ord', 0, UNDER, 30, 10],
    ],
    best: 'ord-1',
  },
  {
    name: 'stays in the region while one local machine is between soft and hard',
    machines: [
      ['iad-1', 'iad', 0, UNDER, 30, 1, false],
      ['iad-2', 'iad', 30, UNDER, 30, 0.5],
      ['iad-3', 'iad', 29, UNDER, 30, 0.5],
      ['ord-1', 'ord', 0, UNDER, 30, 10],
    ],
    best: 'iad-3',
  },
  {
    name: 'goes to the next-closest region, not the idle farther one',
    machines: [
      ['iad-1', 'iad', 4, 2, 4, 0.5],
      ['lhr-1', 'lhr', 0, UNDER, null, 2.5],
      ['ord-1', 'ord', 25, UNDER, null, 30],
    ],
    best: 'ord-1',
  },
  {
    name: 'a region missing from the ranks comes after every ranked one',
    machines: [
      ['syd-1', 'syd', 0, UNDER, null, 0.5],
      ['lhr-1', 'lhr', 40, UNDER, null, 45],
    ],
    best: 'lhr-1',
  },
  // --- within a region ----------------------------------------------------
  {
    name: 'under soft_limit before over soft_limit, even when farther',
    machines: [
      ['iad-near-busy', 'iad', 21, UNDER, null, 0.5],
      ['iad-far-free', 'iad', 19, UNDER, null, 25],
    ],
    best: 'iad-far-free',
  },
  {
    name: 'load equal to soft_limit counts as over it',
    machines: [
      ['iad-at-soft', 'iad', 20, UNDER, null, 0.5],
      ['iad-under', 'iad', 19, UNDER, null, 20],
    ],
    best: 'iad-under',
  },
  {
    name: 'under soft_limit: the closest RTT bucket wins over the less loaded',
    machines: [
      ['iad-far-idle', 'iad', 0, UNDER, null, 4.5],
      ['iad-near-busier', 'iad', 15, UNDER, null, 0.5],
      ['iad-middle', 'iad', 0, UNDER, null, 2],
    ],
    best: 'iad-near-busier',
  },
  {
    name: 'under soft_limit: RTTs in one bucket are equally close',
    machines: [
      ['iad-a', 'iad', 0, UNDER, null, 2.05],
      ['iad-b', 'iad', 12, UNDER, null, 2.95],
      ['iad-c', 'iad', 0, UNDER, null, 3],
    ],
    best: ['iad-a', 'iad-b'],
  },
  {
    name: 'over soft_limit: the least loaded wins over the closest',
    machines: [
      ['iad-near', 'iad', 28, UNDER, 40, 0.5],
      ['iad-far', 'iad', 23, UNDER, 40, 35],
      ['iad-mid', 'iad', 25, UNDER, 40, 5],
    ],
    best: 'iad-far',
  },
  {
    name: 'over soft_limit: equally loaded machines are equal whatever their RTT',
    machines: [
      ['iad-a', 'iad', 25, UNDER, 40, 0.5],
      ['iad-b', 'iad', 25, UNDER, 40, 35],
      ['iad-c', 'iad', 26, UNDER, 40, 0.5],
    ],
    best: ['iad-a', 'iad-b'],
  },
  {
    name: 'soft limits are per machine',
    machines: [
      ['iad-small', 'iad', 5, 5, null, 0.5],
      ['iad-large', 'iad', 9, 10, null, 15],
    ],
    best: 'iad-large',
  },
  // --- nothing to choose --------------------------------------------------
  { name: 'no machines', machines: [], best: null },
  {
    name: 'nothing routable',
    machines: [
      ['iad-1', 'iad', 0, UNDER, null, 1, false],
      ['ord-1', 'ord', 0, UNDER, null, 1, false],
    ],
    best: null,
  },
  {
    name: 'every machine at hard_limit (or over it)',
    machines: [
      ['iad-1', 'iad', 3, 2, 3, 0.5],
      ['ord-1', 'ord', 9, 2, 3, 0.5],
    ],
    best: null,
  },
  // --- exclude -----------------------------------------------------------
  {
    name: 'exclude skips the best machine',
    machines: [
      ['iad-1', 'iad', 0, UNDER, null, 0.5],
      ['iad-2', 'iad', 0, UNDER, null, 4.5],
    ],
    exclude: ['iad-1'],
    best: 'iad-2',
  },
  {
    name: 'excluding every local machine leaves the region',
    machines: [
      ['iad-1', 'iad', 0, UNDER, null, 0.5],
      ['iad-2', 'iad', 0, UNDER, null, 0.5],
      ['ord-1', 'ord', 30, UNDER, null, 20],
    ],
    exclude: ['iad-2', 'iad-1'],
    best: 'ord-1',
  },
  {
    name: 'excluding every usable machine leaves nothing',
    machines: [
      ['iad-1', 'iad', 0, UNDER, null, 0.5],
      ['ord-1', 'ord', 5, 2, 5, 0.5],
    ],
    exclude: ['iad-1'],
    best: null,
  },
  {
    name: 'an empty exclude list excludes nothing',
    machines: [['iad-1', 'iad', 0, UNDER, null, 0.5]],
    exclude: [],
    best: 'iad-1',
  },
];

// Steering: the same small fleet throughout.
//   iad-1 own region, idle, closest; iad-2 own region, busier
//   ord-1 next region, over soft; ord-2 next region, at hard
//   lhr-1 farthest, idle; lhr-2 farthest, unhealthy
const FLEET: Row[] = [
  ['iad-1', 'iad', 0, UNDER, 30, 0.5],
  ['iad-2', 'iad', 10, UNDER, 30, 1.5],
  ['ord-1', 'ord', 25, UNDER, 30, 10],
  ['ord-2', 'ord', 30, UNDER, 30, 10],
  ['lhr-1', 'lhr', 0, UNDER, 30, 40],
  ['lhr-2', 'lhr', 0, UNDER, 30, 80, false],
];

const steeringCases: Case[] = [
  { name: 'no steering', machines: FLEET, best: 'iad-1' },
  // prefer region: list order, then fallback to the usual order
  { name: 'prefer-region takes a farther region first', machines: FLEET, steering: steer({ preferRegions: ['lhr'] }), best: 'lhr-1' },
  { name: 'prefer-region beats soft_limit of the preferred region', machines: FLEET, steering: steer({ preferRegions: ['ord'] }), best: 'ord-1' },
  { name: 'prefer-region list order: first listed first', machines: FLEET, steering: steer({ preferRegions: ['lhr', 'ord'] }), best: 'lhr-1' },
  {
    name: 'prefer-region list order: next listed when the first has nothing usable',
    machines: FLEET,
    steering: steer({ preferRegions: ['lhr', 'ord'] }),
    exclude: ['lhr-1'],
    best: 'ord-1',
  },
  {
    name: 'prefer-region falls back to the own region when no preferred machine is usable',
    machines: FLEET,
    steering: steer({ preferRegions: ['lhr', 'ord'] }),
    exclude: ['lhr-1', 'ord-1'],
    best: 'iad-1',
  },
  { name: 'prefer-region of a region without machines falls back', machines: FLEET, steering: steer({ preferRegions: ['syd'] }), best: 'iad-1' },
  {
    name: 'prefer-region falls back in closeness order (ord before lhr)',
    machines: FLEET,
    steering: steer({ preferRegions: ['syd'] }),
    exclude: ['iad-1', 'iad-2'],
    best: 'ord-1',
  },
  // force region: list order, no fallback
  { name: 'force-region restricts to that region', machines: FLEET, steering: steer({ forceRegions: ['lhr'] }), best: 'lhr-1' },
  { name: 'force-region list order: first listed first', machines: FLEET, steering: steer({ forceRegions: ['ord', 'lhr'] }), best: 'ord-1' },
  {
    name: 'force-region list order: next listed when the first has nothing usable',
    machines: FLEET,
    steering: steer({ forceRegions: ['ord', 'lhr'] }),
    exclude: ['ord-1'],
    best: 'lhr-1',
  },
  {
    name: 'force-region never falls back to the own region',
    machines: FLEET,
    steering: steer({ forceRegions: ['ord', 'lhr'] }),
    exclude: ['ord-1', 'lhr-1'],
    best: null,
  },
  { name: 'force-region of a region without machines gives nothing', machines: FLEET, steering: steer({ forceRegions: ['syd'] }), best: null },
  { name: 'force-region of the own region keeps the usual order in it', machines: FLEET, steering: steer({ forceRegions: ['iad'] }), best: 'iad-1' },
  {
    name: 'force-region and prefer-region: the preferred of the forced regions first',
    machines: FLEET,
    steering: steer({ forceRegions: ['ord', 'lhr'], preferRegions: ['lhr'] }),
    best: 'lhr-1',
  },
  {
    name: 'force-region and prefer-region: a preferred region outside the forced ones is not used',
    machines: FLEET,
    steering: steer({ forceRegions: ['ord'], preferRegions: ['iad'] }),
    best: 'ord-1',
  },
  // prefer instance: first, with fallback
  { name: 'prefer-instance beats region and soft_limit', machines: FLEET, steering: steer({ preferInstance: 'ord-1' }), best: 'ord-1' },
  { name: 'prefer-instance beats prefer-region', machines: FLEET, steering: steer({ preferInstance: 'iad-2', preferRegions: ['lhr'] }), best: 'iad-2' },
  { name: 'prefer-instance at hard_limit falls back', machines: FLEET, steering: steer({ preferInstance: 'ord-2' }), best: 'iad-1' },
  { name: 'prefer-instance unhealthy falls back', machines: FLEET, steering: steer({ preferInstance: 'lhr-2' }), best: 'iad-1' },
  { name: 'prefer-instance excluded falls back', machines: FLEET, steering: steer({ preferInstance: 'lhr-1' }), exclude: ['lhr-1'], best: 'iad-1' },
  { name: 'prefer-instance unknown falls back', machines: FLEET, steering: steer({ preferInstance: 'nope' }), best: 'iad-1' },
  {
    name: 'prefer-instance falling back honours prefer-region',
    machines: FLEET,
    steering: steer({ preferInstance: 'ord-2', preferRegions: ['lhr'] }),
    best: 'lhr-1',
  },
  {
    name: 'prefer-instance inside the forced regions goes first',
    machines: FLEET,
    steering: steer({ preferInstance: 'lhr-1', forceRegions: ['ord', 'lhr'] }),
    best: 'lhr-1',
  },
  {
    name: 'prefer-instance outside the forced regions is not used',
    machines: FLEET,
    steering: steer({ preferInstance: 'iad-1', forceRegions: ['lhr'] }),
    best: 'lhr-1',
  },
  // force instance: that one only
  { name: 'force-instance takes that machine over closer idle ones', machines: FLEET, steering: steer({ forceInstance: 'ord-1' }), best: 'ord-1' },
  { name: 'force-instance at hard_limit gives nothing', machines: FLEET, steering: steer({ forceInstance: 'ord-2' }), best: null },
  { name: 'force-instance unhealthy gives nothing', machines: FLEET, steering: steer({ forceInstance: 'lhr-2' }), best: null },
  { name: 'force-instance excluded gives nothing', machines: FLEET, steering: steer({ forceInstance: 'iad-2' }), exclude: ['iad-2'], best: null },
  { name: 'force-instance unknown gives nothing', machines: FLEET, steering: steer({ forceInstance: 'nope' }), best: null },
  {
    name: 'force-instance ignores preferences elsewhere',
    machines: FLEET,
    steering: steer({ forceInstance: 'iad-2', preferInstance: 'iad-1', preferRegions: ['lhr'] }),
    best: 'iad-2',
  },
  {
    name: 'force-instance inside the forced region',
    machines: FLEET,
    steering: steer({ forceInstance: 'lhr-1', forceRegions: ['lhr'] }),
    best: 'lhr-1',
  },
  {
    name: 'force-instance outside the forced region gives nothing',
    machines: FLEET,
    steering: steer({ forceInstance: 'iad-1', forceRegions: ['lhr'] }),
    best: null,
  },
];

// Deterministic rows are picked many times: a row that is right only by luck fails.
const PICKS = 200;

for (const c of [...cases, ...steeringCases]) {
  t.test(`bestCandidate: ${c.name}`, async (t) => {
    const fleet = machines(c.machines);
    const seen = new Set<string | null>();
    for (let i = 0; i < PICKS; i++) seen.add(bestCandidate(fleet, REGIONS, c.steering ?? NO_STEERING, c.exclude ?? null)?.id ?? null);
    const expected = Array.isArray(c.best) ? c.best : [c.best];
    t.same([...seen].sort(), [...expected].sort(), `chosen over ${PICKS} picks`);
  });
}

// rankCandidates: the full order, as groups whose members may come in any order.
interface RankCase {
  name: string;
  machines: Row[];
  steering?: Steering;
  exclude?: string[];
  order: string[][];
}

const rankCases: RankCase[] = [
  {
    name: 'tiers: region, then under soft by RTT bucket, then over soft by load; hard_limit last',
    machines: [
      ['ord-full', 'ord', 4, 2, 4, 0.5],
      ['iad-over-25', 'iad', 25, UNDER, 30, 0.5],
      ['iad-full', 'iad', 30, UNDER, 30, 0.5],
      ['ord-idle', 'ord', 0, UNDER, 30, 0.5],
      ['iad-near-a', 'iad', 5, UNDER, 30, 0.25],
      ['iad-down', 'iad', 0, UNDER, 30, 0.5, false],
      ['iad-over-22', 'iad', 22, UNDER, 30, 45],
      ['iad-near-b', 'iad', 15, UNDER, 30, 0.75],
      ['iad-far', 'iad', 0, UNDER, 30, 3.5],
      ['lhr-idle', 'lhr', 0, UNDER, null, 0.5],
    ],
    order: [['iad-near-a', 'iad-near-b'], ['iad-far'], ['iad-over-22'], ['iad-over-25'], ['ord-idle'], ['lhr-idle'], ['iad-full'], ['ord-full']],
  },
  {
    name: 'own region over soft still before an idle remote region',
    machines: [
      ['ord-idle', 'ord', 0, UNDER, null, 0.5],
      ['iad-busy', 'iad', 90, UNDER, null, 20],
    ],
    order: [['iad-busy'], ['ord-idle']],
  },
  {
    name: 'machines at hard_limit: own region first among them',
    machines: [
      ['lhr-full', 'lhr', 1, 1, 1, 0.5],
      ['iad-full', 'iad', 3, 1, 3, 0.5],
      ['ord-full', 'ord', 2, 1, 2, 0.5],
    ],
    order: [['iad-full'], ['ord-full'], ['lhr-full']],
  },
  {
    name: 'exclude and unhealthy machines are left out',
    machines: [
      ['iad-1', 'iad', 0, UNDER, null, 0.5],
      ['iad-2', 'iad', 0, UNDER, null, 1, false],
      ['ord-1', 'ord', 0, UNDER, null, 0.5],
    ],
    exclude: ['iad-1'],
    order: [['ord-1']],
  },
  { name: 'nothing routable gives an empty list', machines: [['iad-1', 'iad', 0, UNDER, null, 1, false]], order: [] },
  { name: 'steering: force-region keeps only those regions, in list order', machines: FLEET, steering: steer({ forceRegions: ['lhr', 'ord'] }), order: [['lhr-1'], ['ord-1'], ['ord-2']] },
  {
    name: 'steering: prefer-region puts those first, then the rest by closeness',
    machines: FLEET,
    steering: steer({ preferRegions: ['lhr'] }),
    order: [['lhr-1'], ['iad-1'], ['iad-2'], ['ord-1'], ['ord-2']],
  },
  {
    name: 'steering: prefer-instance first, then the usual order',
    machines: FLEET,
    steering: steer({ preferInstance: 'ord-1' }),
    order: [['ord-1'], ['iad-1'], ['iad-2'], ['lhr-1'], ['ord-2']],
  },
  { name: 'steering: force-instance lists that machine only, even at hard_limit', machines: FLEET, steering: steer({ forceInstance: 'ord-2' }), order: [['ord-2']] },
  { name: 'steering: force-instance unknown lists nothing', machines: FLEET, steering: steer({ forceInstance: 'nope' }), order: [] },
];

for (const c of rankCases) {
  t.test(`rankCandidates: ${c.name}`, async (t) => {
    const fleet = machines(c.machines);
    for (let i = 0; i < 50; i++) {
      const ids = rankCandidates(fleet, REGIONS, c.steering ?? NO_STEERING, c.exclude ?? null).map((m) => m.id);
      const groups: string[][] = [];
      let at = 0;
      for (const group of c.order) {
        groups.push(ids.slice(at, at + group.length).sort());
        at += group.length;
      }
      if (at !== ids.length) groups.push(ids.slice(at));
      t.same(groups, c.order.map((group) => [...group].sort()), `order ${ids.join(' ')}`);
      if (t.passing() === false) break;
    }
  });
}

// Random tie-break: equal machines share the picks, a worse one gets none.
function spread(t: Test, pick: () => string | undefined, equal: string[], worse: string[], picks = 6000): void {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const id = pick() ?? '(none)';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const fair = picks / equal.length;
  for (const id of equal) {
    const n = counts.get(id) ?? 0;
    t.ok(n > fair * 0.75 && n < fair * 1.25, `${id} got ${n} of ${picks} picks (fair share ${fair})`);
  }
  for (const id of worse) t.equal(counts.get(id) ?? 0, 0, `${id} is never picked`);
  t.equal([...counts.values()].reduce((a, b) => a + b, 0), picks);
}

const TIE_FLEET = machines([
  ['iad-a', 'iad', 3, UNDER, 30, 0.5],
  ['iad-slow', 'iad', 0, UNDER, 30, 2.5],
  ['iad-b', 'iad', 10, UNDER, 30, 0.1],
  ['iad-over', 'iad', 20, UNDER, 30, 0.1],
  ['iad-c', 'iad', 0, UNDER, 30, 0.95],
  ['ord-a', 'ord', 0, UNDER, 30, 0.05],
  ['iad-full', 'iad', 30, UNDER, 30, 0.05],
]);

t.test('bestCandidate spreads over equally close machines under soft_limit', async (t) => {
  spread(t, () => bestCandidate(TIE_FLEET, REGIONS, NO_STEERING, null)?.id, ['iad-a', 'iad-b', 'iad-c'], ['iad-slow', 'iad-over', 'ord-a', 'iad-full']);
});

t.test('bestCandidate spreads over equally loaded machines over soft_limit', async (t) => {
  const fleet = machines([
    ['iad-1', 'iad', 24, UNDER, 30, 0.5],
    ['iad-2', 'iad', 22, UNDER, 30, 4.5],
    ['iad-3', 'iad', 22, UNDER, 30, 30],
    ['iad-4', 'iad', 30, UNDER, 30, 0.5],
  ]);
  spread(t, () => bestCandidate(fleet, REGIONS, NO_STEERING, null)?.id, ['iad-2', 'iad-3'], ['iad-1', 'iad-4']);
});

t.test('bestCandidate spreads whatever the order of the list', async (t) => {
  const reversed = [...TIE_FLEET].reverse();
  spread(t, () => bestCandidate(reversed, REGIONS, NO_STEERING, null)?.id, ['iad-a', 'iad-b', 'iad-c'], ['iad-slow', 'iad-over', 'ord-a', 'iad-full']);
});

t.test('rankCandidates puts each of the equal machines first in turn', async (t) => {
  spread(t, () => rankCandidates(TIE_FLEET, REGIONS, NO_STEERING, null)[0]?.id, ['iad-a', 'iad-b', 'iad-c'], ['iad-slow', 'iad-over', 'ord-a', 'iad-full']);
});

// regionRanks: own region 0, then by the RTT bucket of each region's closest
// machine, regions without a measurement after those, then configured order.
const B = rttBucketStart;
const regionCases: [name: string, own: string, configured: string[], rtt: [string, number][], expected: string[]][] = [
  ['configured order without measurements', 'iad', ['iad', 'ord', 'lhr', 'syd'], [], ['iad', 'ord', 'lhr', 'syd']],
  ['own region first even when configured later', 'lhr', ['iad', 'ord', 'lhr'], [], ['lhr', 'iad', 'ord']],
  ['own region first even when not configured and far', 'nrt', ['iad', 'ord'], [['nrt', 100]], ['nrt', 'iad', 'ord']],
  ['RTT buckets reorder the configured order', 'iad', ['iad', 'ord', 'lhr'], [['ord', B(3) + 1], ['lhr', B(1) + 1]], ['iad', 'lhr', 'ord']],
  ['RTTs in one bucket keep the configured order', 'iad', ['iad', 'ord', 'lhr'], [['ord', B(2) - 0.5], ['lhr', B(1)]], ['iad', 'ord', 'lhr']],
  ['adjacent buckets are ordered by RTT', 'iad', ['iad', 'ord', 'lhr'], [['ord', B(2)], ['lhr', B(2) - 0.01]], ['iad', 'lhr', 'ord']],
  ['a measured region before an unmeasured one', 'iad', ['iad', 'ord', 'lhr', 'syd'], [['syd', B(5)]], ['iad', 'syd', 'ord', 'lhr']],
  ['measured but not configured regions are ranked too', 'iad', ['iad', 'ord'], [['fra', B(1) / 2], ['ord', B(2) + 1]], ['iad', 'fra', 'ord']],
  ['unconfigured regions in one bucket: by name', 'iad', ['iad'], [['syd', B(1) - 1], ['nrt', B(1) - 2], ['ams', B(3)]], ['iad', 'nrt', 'syd', 'ams']],
  ['in one bucket a configured region before an unconfigured one', 'iad', ['iad', 'ord'], [['ams', B(2) + 1], ['ord', B(2) + 1.5]], ['iad', 'ord', 'ams']],
];

for (const [name, own, configured, rtt, expected] of regionCases) {
  t.test(`regionRanks: ${name}`, async (t) => {
    const ranks = regionRanks(own, configured, new Map(rtt));
    t.same([...ranks.entries()].sort((a, b) => a[1] - b[1]), expected.map((region, index) => [region, index]));
  });
}
