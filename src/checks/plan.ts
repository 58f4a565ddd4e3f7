// Which checks run on a machine. A service's checks (`[[http_service.checks]]`,
// `[[services.tcp_checks]]`, `[[services.http_checks]]`) run on the machines
// of the process groups the service serves and decide routing; a top-level
// `[checks]` entry runs on the machines of its `processes` and is only reported.
import type { AppConfig, MachineSpec, ServiceCheck } from '../config/model.ts';
import type { Machine } from '../machines/machine.ts';
import { serves } from '../routing/service-route.ts';

/** `service` checks gate routing; `top` checks (top-level `[checks]`) are run and reported only. */
export type CheckScope = 'service' | 'top';

export interface CheckPlan {
  readonly scope: CheckScope;
  readonly check: ServiceCheck;
}

/** The part of an app the checker reads. */
export interface CheckedApp {
  readonly name: string;
  readonly httpService: Pick<NonNullable<AppConfig['httpService']>, 'processes' | 'checks'> | null;
  readonly services: readonly Pick<AppConfig['services'][number], 'processes' | 'checks'>[];
  readonly checks: AppConfig['checks'];
}

/**
 * The part of a machine the checker reads: a `Machine` is one. `host` and
 * `ports` are read at every probe, so a driver may fill them in after `watch`.
 */
export interface CheckedMachine {
  readonly spec: Pick<MachineSpec, 'id' | 'processGroup'>;
  readonly app: CheckedApp;
  readonly host: Machine['host'];
  readonly ports: Machine['ports'];
}

export function checksFor(machine: Pick<CheckedMachine, 'spec' | 'app'>): CheckPlan[] {
  const group = machine.spec.processGroup;
  const plans: CheckPlan[] = [];
  const services = machine.app.httpService === null ? machine.app.services : [machine.app.httpService, ...machine.app.services];
  for (const service of services) {
    if (!serves(service, group)) continue;
    for (const check of service.checks) plans.push({ scope: 'service', check });
  }
  for (const check of machine.app.checks) {
    if (check.processes.includes(group)) plans.push({ scope: 'top', check });
  }
  return plans;
}

/**
 * The port perch connects to for an internal port. A port the machine's
 * services do not map (a top-level check on a side port) is tried as is on
 * the machine's host, which is what the static driver does for such ports.
 */
export function reachablePort(machine: Pick<CheckedMachine, 'ports'>, internal: number): number {
  return machine.ports.get(internal) ?? internal;
}

/** The first port the machine serves (its first service's), for passive and RTT probes. */
export function firstPort(machine: Pick<CheckedMachine, 'ports'>): number | null {
  for (const port of machine.ports.values()) return port;
  return null;
}
