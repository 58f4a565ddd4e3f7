// Which machines the autostop pass stops or suspends (SPEC §4), as Fly does
// it: per app and region, count the started machines and those whose peak
// load during the interval reached soft_limit; when
//   started - (over_soft + 1) >= 1
// one machine is in excess: stop (or suspend) exactly one, the least loaded.
// A region with a single started machine stops it only at zero load. The
// primary region never goes below min_machines_running. Pure.
import type { AutoStop } from '../config/model.ts';

export interface AutostopMachine {
  id: string;
  region: string;
  /** Only started machines count; others are ignored. */
  started: boolean;
  /** Whether perch can stop it (machines perch does not run are counted, never chosen). */
  stoppable: boolean;
  /** Highest load seen during the interval. */
  peakLoad: number;
  softLimit: number;
}

export interface AutostopPolicy {
  mode: AutoStop;
  primaryRegion: string;
  minMachinesRunning: number;
}

export interface AutostopChoice {
  id: string;
  action: 'stop' | 'suspend';
}

export function autostopChoices(machines: readonly AutostopMachine[], policy: AutostopPolicy): AutostopChoice[] {
  if (policy.mode === 'off') return [];
  const byRegion = new Map<string, AutostopMachine[]>();
  for (const machine of machines) {
    if (!machine.started) continue;
    const list = byRegion.get(machine.region);
    if (list === undefined) byRegion.set(machine.region, [machine]);
    else list.push(machine);
  }
  const choices: AutostopChoice[] = [];
  for (const [region, started] of byRegion) {
    const overSoft = started.filter((machine) => machine.peakLoad >= machine.softLimit).length;
    const excess = started.length - (overSoft + 1);
    const lone = started.length === 1 && started[0]!.peakLoad === 0;
    if (excess < 1 && !lone) continue;
    if (region === policy.primaryRegion && started.length - 1 < policy.minMachinesRunning) continue;
    let pick: AutostopMachine | null = null;
    for (const machine of started) {
      if (!machine.stoppable) continue;
      if (pick === null || machine.peakLoad < pick.peakLoad || (machine.peakLoad === pick.peakLoad && machine.id < pick.id)) pick = machine;
    }
    if (pick !== null) choices.push({ id: pick.id, action: policy.mode });
  }
  return choices;
}
