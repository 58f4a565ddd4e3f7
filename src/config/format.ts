// Human text for config problems: the lines `perch check` prints, and the
// small phrases a problem is made of (a key path, what a schema expects,
// what a value is).
import path from 'node:path';
import type { ConfigProblem } from './model.ts';
import { formatDuration } from './duration.ts';
import type { DurationSpec, AddressSpec } from './schema.ts';

export interface FormatOptions {
  /** File names are shown relative to this directory when inside it (default: process.cwd()). */
  cwd?: string;
}

/**
 * One line per problem, columns aligned, then a summary line:
 *
 *   error    apps/hello.toml  http_service.concurrency.soft_limit  expected an integer ≥ 1, found "twenty"
 *   2 errors, 1 warning: the config is refused
 */
export function formatProblems(problems: readonly ConfigProblem[], options: FormatOptions = {}): string {
  const cwd = options.cwd ?? process.cwd();
  const rows = problems.map((p) => ({
    severity: p.severity,
    where: displayFile(p.file, cwd) + (p.line === undefined ? '' : `:${p.line}:${p.column ?? 1}`),
    path: p.path === '' ? '(file)' : p.path,
    text: `expected ${p.expected}, found ${p.found}${p.message === undefined ? '' : ` — ${p.message}`}`,
  }));
  const whereWidth = Math.min(60, Math.max(0, ...rows.map((r) => r.where.length)));
  const pathWidth = Math.min(48, Math.max(0, ...rows.map((r) => r.path.length)));
  const lines = rows.map((r) => `${r.severity.padEnd(7)}  ${r.where.padEnd(whereWidth)}  ${r.path.padEnd(pathWidth)}  ${r.text}`);
  lines.push(summary(problems));
  return lines.join('\n');
}

function summary(problems: readonly ConfigProblem[]): string {
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.length - errors;
  const counted = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (errors > 0) return `${counted(errors, 'error')}, ${counted(warnings, 'warning')}: the config is refused`;
  if (warnings > 0) return `config OK, with ${counted(warnings, 'warning')}`;
  return 'config OK';
}

function displayFile(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** ["services", 0, "ports", 1, "handlers"] → services[0].ports[1].handlers; odd keys are quoted as TOML does. */
export function keyPath(segments: readonly (string | number)[]): string {
  let text = '';
  for (const segment of segments) {
    if (typeof segment === 'number') {
      text += `[${segment}]`;
    } else {
      const key = /^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment);
      text += text === '' ? key : `.${key}`;
    }
  }
  return text;
}

/** A value as a problem's "found": strings quoted, lists shown, tables named. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (typeof value === 'string' || Array.isArray(value)) return clip(JSON.stringify(value));
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

interface SchemaLike {
  expected?: string;
  perchDuration?: DurationSpec;
  perchSize?: true;
  perchAddress?: AddressSpec;
  const?: unknown;
  enum?: unknown[];
  anyOf?: unknown[];
  type?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
  items?: SchemaLike;
}

/** What a schema accepts, in words: "an integer ≥ 1", "one of "http", "tls"". */
export function describeSchema(schema: unknown): string {
  if (schema === null || typeof schema !== 'object') return 'a value';
  const s = schema as SchemaLike;
  if (s.expected !== undefined) return s.expected;
  if (s.perchDuration !== undefined) return describeDuration(s.perchDuration);
  if (s.perchSize !== undefined) return 'a size like "16KiB" or "1MiB", or a number of bytes';
  if (s.perchAddress !== undefined) {
    return s.perchAddress === 'listen' ? 'an address "host:port" (":8080" for all interfaces)' : 'an address "host:port"';
  }
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (Array.isArray(s.anyOf)) return s.anyOf.map(describeSchema).join(' or ');
  switch (s.type) {
    case 'integer': return describeNumber('an integer', s);
    case 'number': return describeNumber('a number', s);
    case 'string': return (s.minLength ?? 0) > 0 ? 'a non-empty string' : 'a string';
    case 'boolean': return 'true or false';
    case 'array': return describeArray(s);
    case 'object': return 'a table';
    default: return 'a value';
  }
}

function describeDuration(spec: DurationSpec): string {
  const bound = spec.positive === true ? ' > 0' : '';
  const max = spec.maxMs === undefined ? '' : ` up to ${formatDuration(spec.maxMs)}`;
  const bare = spec.bare === 's' ? 'seconds' : 'milliseconds';
  return `a duration${bound}${max} like "10s" or "500ms", or a number of ${bare}`;
}

function describeNumber(noun: string, s: SchemaLike): string {
  if (s.minimum !== undefined && s.maximum !== undefined) return `${noun} from ${s.minimum} to ${s.maximum}`;
  if (s.minimum !== undefined) return `${noun} ≥ ${s.minimum}`;
  if (s.maximum !== undefined) return `${noun} ≤ ${s.maximum}`;
  return noun;
}

function describeArray(s: SchemaLike): string {
  const list = (s.minItems ?? 0) > 0 ? 'a non-empty list' : 'a list';
  const items = s.items;
  if (items === undefined) return list;
  if (items.type === 'object') return `${list} of tables`;
  if (items.type === 'string' && items.expected === undefined && items.enum === undefined) return `${list} of strings`;
  return `${list}, each ${describeSchema(items)}`;
}

/** The option nearest to a misspelt word, if one is near enough to be a likely typo. */
export function closest(word: string, options: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const option of options) {
    const distance = option.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, option);
    if (distance < bestDistance) {
      best = option;
      bestDistance = distance;
    }
  }
  return best;
}

/** Edits between two words, a swap of neighbours counting as one ("stpo" → "stop"). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
