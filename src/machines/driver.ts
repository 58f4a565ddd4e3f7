// Drivers carry out a machine's transitions. The fleet decides when; a
// driver only knows how. Other drivers (containers, a remote Machines API)
// implement the same interface.
import type { Machine } from './machine.ts';

export interface DriverEvents {
  /** The machine went away without being asked to (crash, external kill). */
  onUnexpectedExit(machine: Machine, code: number | null, signal: string | null): void;
  /** A line the machine wrote on stdout or stderr. */
  onOutput(machine: Machine, stream: 'stdout' | 'stderr', line: string): void;
}

export interface MachineDriver {
  readonly kind: string;
  /** Brings the machine up and resolves once it accepts connections, or rejects within `timeoutMs`. */
  start(machine: Machine, timeoutMs: number): Promise<void>;
  /** Sends the app's kill signal, then SIGKILL after its kill timeout; resolves once it is gone. */
  stop(machine: Machine): Promise<void>;
  /** Freezes the machine keeping its memory and sockets. */
  suspend(machine: Machine): Promise<void>;
  resume(machine: Machine): Promise<void>;
}
