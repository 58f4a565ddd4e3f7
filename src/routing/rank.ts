// Which machine takes a request (SPEC §3). Pure: the same functions order
// machines in a worker's hot path (on its load estimate) and in the
// primary's grants (on exact counts).
//
// Order: steering first (forced sets restrict, preferences go first), then
// region closeness (own region first, leaving it only when every machine
// there is unhealthy or at hard_limit), then within a region machines under
// soft_limit (closest first, random among equally close), then those over
// soft_limit (least loaded first). A machine at hard_limit takes nothing.

export interface Candidate {
  readonly id: string;
  readonly region: string;
  /** Started, healthy and serving the service. */
  routable: boolean;
  /** In-flight load counted across all workers (an estimate in workers). */
  load: number;
  soft: number;
  hard: number | null;
  rttMs: number | null;
}

export interface Steering {
  preferRegions: readonly string[] | null;
  forceRegions: readonly string[] | null;
  preferInstance: string | null;
  forceInstance: string | null;
}

export const NO_STEERING: Steering = Object.freeze({ preferRegions: null, forceRegions: null, preferInstance: null, forceInstance: null });

/**
 * Machines whose RTTs fall in the same bucket count as equally close. Buckets
 * grow with distance: [0, 20) ms, [20, 60), [60, 140), [140, 300)… so machines on
 * one host or network (where RTT differences are noise) share the first, and
 * far ones are told apart by their relative distance.
 */
export const RTT_NEAR_MS = 20;

export function rttBucket(ms: number): number {
  return Math.floor(Math.log2(1 + ms / RTT_NEAR_MS));
}

/** The smallest RTT in bucket n. */
export function rttBucketStart(n: number): number {
  return RTT_NEAR_MS * (2 ** n - 1);
}
const UNRANKED_REGION = 1_000;

/** Region closeness rank: 0 for the edge's own region, then by measured closeness. */
export type RegionRanks = ReadonlyMap<string, number>;

/** Region rank under steering (lower goes first); NaN when the steering rules the machine out. */
export function regionKey(c: Candidate, regions: RegionRanks, steering: Steering): number {
  if (steering.forceInstance !== null && c.id !== steering.forceInstance) return NaN;
  const forced = steering.forceRegions === null ? -1 : steering.forceRegions.indexOf(c.region);
  if (steering.forceRegions !== null && forced === -1) return NaN;
  // Within what the forced sets allow, preferences go first.
  if (steering.preferInstance !== null && c.id === steering.preferInstance) return -2 * UNRANKED_REGION;
  if (steering.preferRegions !== null) {
    const index = steering.preferRegions.indexOf(c.region);
    if (index !== -1) return index - UNRANKED_REGION;
  }
  return steering.forceRegions !== null ? forced : (regions.get(c.region) ?? UNRANKED_REGION);
}

export function atHardLimit(c: Candidate): boolean {
  return c.hard !== null && c.load >= c.hard;
}

function withinKey(c: Candidate): number {
  return c.load < c.soft ? (c.rttMs === null ? 0 : rttBucket(c.rttMs)) : c.load;
}

/** Whether `a` is as good a choice as `b` under the same steering (equal region rank, tier and closeness or load). */
export function equallyGood(a: Candidate, b: Candidate, regions: RegionRanks, steering: Steering): boolean {
  return compare(a, regionKey(a, regions, steering), b, regionKey(b, regions, steering)) === 0;
}

/** Negative when a should take the request before b; 0 for equals. */
function compare(a: Candidate, ak: number, b: Candidate, bk: number): number {
  if (ak !== bk) return ak - bk;
  const at = a.load < a.soft ? 0 : 1;
  const bt = b.load < b.soft ? 0 : 1;
  if (at !== bt) return at - bt;
  return withinKey(a) - withinKey(b);
}

/**
 * The machine that should take the next request, or null when none can
 * (none routable under the steering, or all at hard_limit). Ties are broken
 * at random so that workers with the same view do not herd onto one machine.
 * With `skipFull` false, machines at hard_limit are ranked like the others
 * (by load): a worker whose view of the load is stale must not leave a
 * region on that view alone, so it asks the primary instead.
 */
export function bestCandidate<C extends Candidate>(candidates: readonly C[], regions: RegionRanks, steering: Steering, exclude: readonly string[] | null, skipFull = true): C | null {
  let best: C | null = null;
  let bestKey = 0;
  let ties = 0;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (!c.routable || (skipFull && atHardLimit(c)) || (exclude !== null && exclude.includes(c.id))) continue;
    const key = regionKey(c, regions, steering);
    if (Number.isNaN(key)) continue;
    if (best === null) {
      best = c;
      bestKey = key;
      ties = 1;
      continue;
    }
    const order = compare(c, key, best, bestKey);
    if (order < 0) {
      best = c;
      bestKey = key;
      ties = 1;
    } else if (order === 0 && Math.random() * ++ties < 1) {
      best = c;
      bestKey = key;
    }
  }
  return best;
}

/**
 * Every machine the steering allows that is routable, best first; those at
 * hard_limit come last (they can take the request once a slot frees) unless
 * `fullLast` is false: then load only orders machines within their region,
 * for callers that judge fullness themselves (the ledger, by its leases).
 */
export function rankCandidates<C extends Candidate>(candidates: readonly C[], regions: RegionRanks, steering: Steering, exclude: readonly string[] | null, fullLast = true): C[] {
  const keyed: { c: C; key: number; full: boolean; tie: number }[] = [];
  for (const c of candidates) {
    if (!c.routable || (exclude !== null && exclude.includes(c.id))) continue;
    const key = regionKey(c, regions, steering);
    if (Number.isNaN(key)) continue;
    keyed.push({ c, key, full: fullLast && atHardLimit(c), tie: Math.random() });
  }
  keyed.sort((a, b) => {
    if (a.full !== b.full) return a.full ? 1 : -1;
    if (a.full) return a.key - b.key || a.c.load - b.c.load;
    return compare(a.c, a.key, b.c, b.key) || a.tie - b.tie;
  });
  return keyed.map((entry) => entry.c);
}

/** Region closeness ranks: own region 0, then regions by their closest machine's RTT, then the configured order. */
export function regionRanks(ownRegion: string, configuredOrder: readonly string[], rttByRegion: ReadonlyMap<string, number>): Map<string, number> {
  const others = new Set<string>([...configuredOrder, ...rttByRegion.keys()]);
  others.delete(ownRegion);
  const configuredIndex = (region: string): number => {
    const index = configuredOrder.indexOf(region);
    return index === -1 ? configuredOrder.length : index;
  };
  const ordered = [...others].sort((a, b) => {
    const ra = rttByRegion.get(a);
    const rb = rttByRegion.get(b);
    if (ra !== undefined && rb !== undefined && rttBucket(ra) !== rttBucket(rb)) return ra - rb;
    if (ra !== undefined && rb === undefined) return -1;
    if (ra === undefined && rb !== undefined) return 1;
    return configuredIndex(a) - configuredIndex(b) || a.localeCompare(b);
  });
  const ranks = new Map<string, number>([[ownRegion, 0]]);
  ordered.forEach((region, index) => ranks.set(region, index + 1));
  return ranks;
}
