// Which machines to start for the demand a route sees (SPEC §4). When no
// machine is started, or every started machine of the nearest region is at
// or over soft_limit, start stopped or suspended machines there (suspended
// first: they wake faster), at least one, and as many as it takes for
//   (started + starting) × soft_limit >= in-flight + queued;
// when the nearest region runs out of machines to start, go on to the next
// closest one with what is left. Pure.

export type StartableState = 'started' | 'starting' | 'stopped' | 'suspended' | 'other';

export interface AutostartMachine {
  id: string;
  region: string;
  state: StartableState;
  /** Can perch start it now (a machine perch runs, not one that failed to start moments ago). */
  startable: boolean;
  load: number;
  softLimit: number;
}

/**
 * `regions`: closeness order, own region first. `queued`: requests waiting for
 * a machine of this route. Returns the machines to start, in order.
 */
export function autostartChoices(machines: readonly AutostartMachine[], regions: readonly string[], queued: number): string[] {
  const order = [...regions];
  for (const machine of machines) if (!order.includes(machine.region)) order.push(machine.region);
  const chosen: string[] = [];
  let remaining = queued;
  let nearest = true;
  for (const region of order) {
    const here = machines.filter((machine) => machine.region === region);
    if (here.length === 0) continue;
    const started = here.filter((machine) => machine.state === 'started');
    const starting = here.filter((machine) => machine.state === 'starting');
    let minimum = 0;
    if (nearest) {
      nearest = false;
      // Room left on a started machine of the nearest region: nothing to wake.
      if (started.some((machine) => machine.load < machine.softLimit)) return chosen;
      if (started.length > 0 && starting.length === 0) minimum = 1;
    }
    const demand = remaining + started.reduce((sum, machine) => sum + machine.load, 0);
    if (demand === 0 && minimum === 0) return chosen;
    let capacity = [...started, ...starting].reduce((sum, machine) => sum + machine.softLimit, 0);
    const wakeable = here
      .filter((machine) => machine.startable && (machine.state === 'suspended' || machine.state === 'stopped'))
      .sort((a, b) => (a.state === b.state ? a.id.localeCompare(b.id) : a.state === 'suspended' ? -1 : 1));
    let woken = 0;
    for (const machine of wakeable) {
      if (woken >= minimum && capacity >= demand) break;
      chosen.push(machine.id);
      capacity += machine.softLimit;
      woken++;
    }
    if (capacity >= demand) return chosen;
    remaining = demand - capacity;
  }
  return chosen;
}
