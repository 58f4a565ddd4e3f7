// The request headers that steer routing (SPEC §3.5), parsed only when a
// request carries one of them.
//   fly-prefer-region / fly-force-region: ordered, comma-separated regions;
//     aliases: "primary" (the app's primary region), "local" or "edge"
//     (this edge's region), "any" (every region from here on: "lhr,any"
//     prefers lhr; a forced list ending in "any" only prefers its regions).
//   fly-prefer-instance-id / fly-force-instance-id: one machine id.
import { NO_STEERING, type Steering } from './rank.ts';

export interface SteeringHeaders {
  preferRegion?: string;
  forceRegion?: string;
  preferInstance?: string;
  forceInstance?: string;
}

export function hasSteering(head: SteeringHeaders): boolean {
  return head.preferRegion !== undefined || head.forceRegion !== undefined || head.preferInstance !== undefined || head.forceInstance !== undefined;
}

/**
 * The listed regions in order, aliases resolved, duplicates dropped. "any"
 * ends the list: every other region may follow (`open`), as in Fly's
 * "lhr,any"; what comes after it adds nothing.
 */
function regionList(value: string | undefined, primaryRegion: string, edgeRegion: string): { regions: string[]; open: boolean } {
  const regions: string[] = [];
  if (value === undefined) return { regions, open: true };
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '') continue;
    if (token === 'any') return { regions, open: true };
    const region = token === 'primary' ? primaryRegion : token === 'local' || token === 'edge' ? edgeRegion : token;
    if (!regions.includes(region)) regions.push(region);
  }
  return { regions, open: regions.length === 0 };
}

function instance(value: string | undefined): string | null {
  const id = value?.trim();
  return id === undefined || id === '' ? null : id;
}

export function parseSteering(head: SteeringHeaders, primaryRegion: string, edgeRegion: string): Steering {
  if (!hasSteering(head)) return NO_STEERING;
  const prefer = regionList(head.preferRegion, primaryRegion, edgeRegion);
  const force = regionList(head.forceRegion, primaryRegion, edgeRegion);
  // A forced list that ends in "any" forces nothing: its regions are preferences, before the preferred ones.
  const preferred = force.open ? [...new Set([...force.regions, ...prefer.regions])] : prefer.regions;
  return {
    preferRegions: preferred.length === 0 ? null : preferred,
    forceRegions: force.open ? null : force.regions,
    preferInstance: instance(head.preferInstance),
    forceInstance: instance(head.forceInstance),
  };
}
