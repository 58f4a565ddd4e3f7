// What the primary and the workers say to each other over the cluster IPC
// channel. Every message is a plain object with a `t` tag.
import type { PerchConfig } from '../config/model.ts';
import type { MachineView } from '../machines/machine.ts';

export type PrimaryMessage =
  | { t: 'config'; config: PerchConfig }
  | { t: 'machines'; machines: MachineView[] }
  | { t: 'drain'; deadlineMs: number };

export type WorkerMessage =
  | { t: 'ready'; http: string[] }
  | { t: 'drained'; cut: number };

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}

export const isWorkerMessage = isPrimaryMessage as unknown as (value: unknown) => value is WorkerMessage;
