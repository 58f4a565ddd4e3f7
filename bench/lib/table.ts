// Markdown table rendering and number formatting for the report.

export interface Table {
  headers: readonly string[];
  rows: readonly (readonly string[])[];
  /** Per column: right-align numbers. Defaults to left for the first column, right for the rest. */
  align?: readonly ('left' | 'right')[];
}

export function renderMarkdownTable(table: Table): string {
  const align = table.headers.map((_, i) => table.align?.[i] ?? (i === 0 ? 'left' : 'right'));
  const widths = table.headers.map((h, i) => Math.max(h.length, 3, ...table.rows.map((r) => (r[i] ?? '').length)));
  const pad = (cell: string, i: number): string =>
    align[i] === 'right' ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number);
  const line = (cells: readonly string[]): string => `| ${table.headers.map((_, i) => pad(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (align[i] === 'right' ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(table.headers), rule, ...table.rows.map(line)].join('\n');
}

/** A number with a sensible number of digits for a table cell; '—' when missing. */
export function formatNumber(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A ratio as "1.23×"; '—' when missing. */
export function formatRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return `${value.toFixed(2)}×`;
}
