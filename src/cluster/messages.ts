// What the primary and the workers say to each other over the cluster IPC
// channel. Every message is a plain object with a `t` tag.
import type { PerchConfig } from '../config/model.ts';
import type { MachineView } from '../machines/machine.ts';
import type { Steering } from '../routing/rank.ts';
import type { RejectCode } from '../routing/slot-ledger.ts';
import type { MetricsSnapshot } from '../metrics/snapshot.ts';

// In the load protocol, `app` names a route (an app's HTTP service, or one of
// its [[services]]: see routeKey) and `machine` a machine within a route
// (see targetKey): load is counted per route.
export type PrimaryMessage =
  /** `ticketKeys`: TLS session-ticket keys (base64) shared by every worker, so a resumed session may land on any. */
  | { t: 'config'; config: PerchConfig; ticketKeys: string }
  /** Every machine, and regions in order of closeness (own first). */
  | { t: 'machines'; gen: number; machines: MachineView[]; regions: string[] }
  /** The load other workers have on each machine: [machine id, load]. */
  | { t: 'others'; loads: [string, number][] }
  /** `share`: the slots of the machine this worker may keep while idle (its fair part of hard_limit). */
  | { t: 'grant'; seq: number; machine: string; epoch: number; slots: number; share: number }
  /** Give back up to `count` slots of the machine you hold but do not use. */
  | { t: 'recall'; machine: string; count: number }
  | { t: 'reject'; seq: number; code: RejectCode }
  | { t: 'contention'; app: string; on: boolean }
  /** Requests of the route wait for machines to wake: their bound is now the wake timeout (PM03). */
  | { t: 'waking'; app: string }
  /** `handoverMs`: how long to keep serving with Connection: close first (a reload). */
  | { t: 'drain'; deadlineMs: number; handoverMs?: number }
  /** A metrics scrape: answer with this worker's snapshot (see src/metrics/hub.ts). */
  | { t: 'metrics'; seq: number };

export type WorkerMessage =
  | { t: 'ready'; http: string[]; https: string[] }
  | { t: 'drained'; cut: number }
  /** This worker's load on machines that changed: [machine id, epoch, load]. */
  | { t: 'load'; gen: number; loads: [string, number, number][] }
  | { t: 'want'; seq: number; app: string; steering: Steering; exclude: string[] | null }
  | { t: 'cancel'; seq: number; app: string }
  | { t: 'release'; machine: string; epoch: number; count: number }
  /** Live traffic could not connect to the machine, several times in a row. */
  | { t: 'passive'; machine: string; epoch: number }
  /** The answer to a metrics scrape: everything this worker counted since it started. */
  | { t: 'metrics'; seq: number; snapshot: MetricsSnapshot };

function tagged(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}

export const isPrimaryMessage = tagged as (value: unknown) => value is PrimaryMessage;
export const isWorkerMessage = tagged as (value: unknown) => value is WorkerMessage;
