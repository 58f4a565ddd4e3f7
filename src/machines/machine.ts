// A machine as the primary tracks it: its spec from the config, where it
// listens, its state with Fly's names, and what the driver needs to remember.
import type { AppConfig, MachineSpec } from '../config/model.ts';

export type MachineState =
  | 'created'
  | 'starting'
  | 'started'
  | 'stopping'
  | 'stopped'
  | 'suspending'
  | 'suspended'
  | 'failed'
  | 'destroyed';

export interface ExitRecord {
  code: number | null;
  signal: string | null;
  at: string;
  expected: boolean;
}

export interface Machine {
  readonly spec: MachineSpec;
  /** Replaced by a config reload; a running process keeps what it started with until its next start. */
  app: AppConfig;
  state: MachineState;
  /** Host the machine's ports are reached on. */
  host: string;
  /** Internal port (as the app file names it) → port perch connects to. */
  ports: Map<number, number>;
  pid: number | null;
  lastExit: ExitRecord | null;
  /** Why the last start failed, when state is `failed`. */
  failure: string | null;
  /** When the last start failed (ms since the epoch). */
  failedAt: number | null;
  updatedAt: string;
  /** Counts starts; load counted against an older epoch belongs to a process that is gone. */
  epoch: number;
  /** Service checks pass (or there are none), and no passive failure since. */
  healthy: boolean;
  /** Started, with service checks none of which has answered yet: requests wait for it rather than fail. */
  awaitingCheck: boolean;
  /** Closeness: EWMA of connect and check round trips. */
  rttMs: number | null;
}

/** What workers learn about a machine: enough to route and forward, nothing to manage it. */
export interface MachineView {
  id: string;
  app: string;
  region: string;
  processGroup: string;
  state: MachineState;
  host: string;
  /** [internal port, reachable port] pairs. */
  ports: [number, number][];
  epoch: number;
  healthy: boolean;
  rttMs: number | null;
}

export function viewOf(machine: Machine): MachineView {
  return {
    id: machine.spec.id,
    app: machine.app.name,
    region: machine.spec.region,
    processGroup: machine.spec.processGroup,
    state: machine.state,
    host: machine.host,
    ports: [...machine.ports],
    epoch: machine.epoch,
    healthy: machine.healthy,
    rttMs: machine.rttMs,
  };
}

/** The internal ports an app's services reach on its machines, first the HTTP service's. */
export function internalPortsOf(app: AppConfig): number[] {
  const ports: number[] = [];
  if (app.httpService !== null) ports.push(app.httpService.internalPort);
  for (const service of app.services) if (!ports.includes(service.internalPort)) ports.push(service.internalPort);
  return ports;
}
