// The request headers that steer routing (SPEC §3.5), parsed only when a
// request carries one of them.
//   fly-prefer-region / fly-force-region: ordered, comma-separated regions;
//     aliases: "primary" (the app's primary region), "local" or "edge"
//     (this edge's region), "any" (no constraint).
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

function regionList(value: string | undefined, primaryRegion: string, edgeRegion: string): string[] | null {
  if (value === undefined) return null;
  const regions: string[] = [];
  for (const raw of value.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '') continue;
    if (token === 'any') return null;
    const region = token === 'primary' ? primaryRegion : token === 'local' || token === 'edge' ? edgeRegion : token;
    if (!regions.includes(region)) regions.push(region);
  }
  return regions.length === 0 ? null : regions;
}

function instance(value: string | undefined): string | null {
  const id = value?.trim();
  return id === undefined || id === '' ? null : id;
}

export function parseSteering(head: SteeringHeaders, primaryRegion: string, edgeRegion: string): Steering {
  if (!hasSteering(head)) return NO_STEERING;
  return {
    preferRegions: regionList(head.preferRegion, primaryRegion, edgeRegion),
    forceRegions: regionList(head.forceRegion, primaryRegion, edgeRegion),
    preferInstance: instance(head.preferInstance),
    forceInstance: instance(head.forceInstance),
  };
}
