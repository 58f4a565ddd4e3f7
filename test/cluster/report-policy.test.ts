import t from 'tap';
import { REPORT_STALE_MS, reportDue, type ReportState } from '../../src/cluster/report-policy.ts';

const base: ReportState = { reported: 0, others: 0, soft: 25, hard: null };

const cases: { name: string; figure: number; state: Partial<ReportState>; staleMs?: number; due: boolean }[] = [
  { name: 'unchanged: nothing to say, however old', figure: 7, state: { reported: 7 }, staleMs: 10 * REPORT_STALE_MS, due: false },
  { name: 'busy after idle', figure: 1, state: { reported: 0 }, due: true },
  { name: 'idle after busy (autostop and drains wait for it)', figure: 0, state: { reported: 40 }, due: true },
  { name: 'small figures: every step counts', figure: 4, state: { reported: 3 }, due: true },
  { name: 'one less of seven', figure: 6, state: { reported: 7 }, due: true },
  { name: 'within an eighth of 48: waits', figure: 43, state: { reported: 48, soft: 1000 }, due: false },
  { name: 'an eighth of 48 or more: goes', figure: 54, state: { reported: 48, soft: 1000 }, due: true },
  { name: 'within an eighth, but old enough', figure: 45, state: { reported: 48, soft: 1000 }, staleMs: REPORT_STALE_MS, due: true },
  { name: 'within an eighth, not quite old enough', figure: 45, state: { reported: 48, soft: 1000 }, staleMs: REPORT_STALE_MS - 1, due: false },
  { name: 'reaches the soft limit with the others', figure: 41, state: { reported: 40, others: 9, soft: 50 }, due: true },
  { name: 'drops below the soft limit with the others', figure: 39, state: { reported: 40, others: 10, soft: 50 }, due: true },
  { name: 'stays above the soft limit', figure: 41, state: { reported: 40, others: 20, soft: 50 }, due: false },
  { name: 'hard limit: every figure', figure: 41, state: { reported: 40, soft: 1000, hard: 100 }, due: true },
  { name: 'hard limit: even an unchanged one (the primary adjusts its counts on grants)', figure: 40, state: { reported: 40, soft: 1000, hard: 100 }, due: true },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.equal(reportDue(c.figure, { ...base, ...c.state }, c.staleMs ?? 0), c.due);
  });
}
