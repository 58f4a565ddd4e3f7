// When a worker's load on a machine is worth a message to the primary.
//
// Each report wakes the primary, which under load costs more CPU than the
// request work it describes (a sleeping process woken on the proxy's core,
// ~0.2 ms a wake-up). The primary needs exact figures only where it decides
// something: a machine going idle or busy (autostop, drains), the soft limit
// (balancing across workers, autostart), hard limits (slot leases). Away from
// those a figure within an eighth of the last one is as good, and it is sent
// anyway once it is REPORT_STALE_MS old, so metrics and the status page lag
// by at most that much.
//
// The figure is the peak load since the worker last looked, not the load at
// that instant: under steady load the instantaneous count swings with the
// event loop's phase (from 2 to 48 of 50 connections, sampled every 20 ms),
// while the peak holds still; and for balancing against a soft limit the
// peak is the safer reading.

/** The longest a changed figure waits when no decision hangs on it. */
export const REPORT_STALE_MS = 250;

export interface ReportState {
  /** What the primary last heard from this worker. */
  reported: number;
  /** The other workers' load, as the primary last told. */
  others: number;
  soft: number;
  hard: number | null;
}

/** `figure`: the peak load since the worker last looked (its exact load under a hard limit). */
export function reportDue(figure: number, state: ReportState, staleMs: number): boolean {
  const { reported, others, soft } = state;
  // Hard limits: the primary adjusts its own counts on grants and returns and needs every figure to stay exact.
  if (state.hard !== null) return true;
  if (figure === reported) return false;
  if (figure === 0 || reported === 0) return true;
  if (figure + others >= soft !== reported + others >= soft) return true;
  if (Math.abs(figure - reported) >= Math.max(1, reported >> 3)) return true;
  return staleMs >= REPORT_STALE_MS;
}
