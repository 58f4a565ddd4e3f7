// bench/results/latest.md and latest.json: one entry per scenario name, each
// with the run it came from, so a run of some scenarios replaces theirs and
// keeps the others'.
import { readFileSync } from 'node:fs';
import type { ScenarioReport } from './context.ts';
import { renderMarkdownTable } from './table.ts';

/** One scenario's result as latest.json keeps it: with the run it came from, so results of separate runs can sit side by side. */
export interface StoredScenario extends ScenarioReport {
  name: string;
  date: string;
  command: string;
  machine: Record<string, unknown>;
  options: unknown;
}

export function renderReport(date: string, command: string, info: Record<string, unknown>, scenarios: StoredScenario[]): string {
  const parts = [
    `# perch bench, ${date}`,
    '',
    `- machine: ${info.cpu} × ${info.cores} cores, ${info.platform}, Node ${info.node}`,
    `- command: \`${command}\``,
  ];
  for (const scenario of scenarios) {
    parts.push('', `## ${scenario.title}`, '');
    if (scenario.date !== date || scenario.command !== command) parts.push(`(from an earlier run: ${scenario.date}, \`${scenario.command}\`)`, '');
    parts.push(scenario.description, '', renderMarkdownTable(scenario.table));
    if (scenario.notes.length > 0) parts.push('', ...scenario.notes.map((n) => `- ${n}`));
  }
  return `${parts.join('\n')}\n`;
}

/**
 * The scenarios of latest.json from earlier runs, so a run of some scenarios
 * replaces theirs and keeps the others' (older files without per-scenario
 * run facts get the file's own).
 */
export function previousScenarios(file: string): StoredScenario[] {
  try {
    const old = JSON.parse(readFileSync(file, 'utf8')) as {
      date?: string;
      command?: string;
      machine?: Record<string, unknown>;
      options?: unknown;
      scenarios?: Partial<StoredScenario>[];
    };
    return (old.scenarios ?? [])
      .filter((s) => typeof s.name === 'string' && typeof s.title === 'string' && s.table !== undefined)
      .map((s) => ({
        ...(s as StoredScenario),
        date: s.date ?? old.date ?? 'unknown',
        command: s.command ?? old.command ?? 'unknown',
        machine: s.machine ?? old.machine ?? {},
        options: s.options ?? old.options,
      }));
  } catch {
    return [];
  }
}

/** Earlier results in their order, each replaced by this run's result of the same name; new names at the end. */
export function mergeScenarios(previous: StoredScenario[], current: StoredScenario[]): StoredScenario[] {
  const merged = previous.map((old) => current.find((s) => s.name === old.name) ?? old);
  for (const scenario of current) if (!previous.some((old) => old.name === scenario.name)) merged.push(scenario);
  return merged;
}
