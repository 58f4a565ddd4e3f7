import t from 'tap';
import { isOverdue, SWEEP_MS } from '../../src/proxy/response-deadlines.ts';

// progressAt is the clock of the sweep before the event, so the event itself was up to SWEEP_MS later.
const cases: { name: string; now: number; progressAt: number; timeoutMs: number; overdue: boolean }[] = [
  { name: 'just heard of', now: 1_000, progressAt: 1_000, timeoutMs: 500, overdue: false },
  { name: 'the bound since the sweep before the event: the event may be a sweep later, not yet', now: 1_500, progressAt: 1_000, timeoutMs: 500, overdue: false },
  { name: 'the bound plus a sweep: overdue whenever in that sweep the event came', now: 1_500 + SWEEP_MS, progressAt: 1_000, timeoutMs: 500, overdue: true },
  { name: 'one millisecond short of it', now: 1_499 + SWEEP_MS, progressAt: 1_000, timeoutMs: 500, overdue: false },
  { name: 'long past', now: 90_000, progressAt: 1_000, timeoutMs: 60_000, overdue: true },
  { name: 'the default bound, a minute in', now: 61_000, progressAt: 1_000, timeoutMs: 60_000, overdue: false },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.equal(isOverdue(c.now, c.progressAt, c.timeoutMs), c.overdue);
  });
}
