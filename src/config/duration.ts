// Durations as fly.toml writes them. A string is a Go duration ("10s", "500ms",
// "1m30s", "1.5s", "2h", "100us"), because flyctl parses them with Go's
// time.ParseDuration. A bare number is milliseconds ("Times are in
// milliseconds unless units are specified", Fly's configuration reference),
// except for the few keys Fly documents in seconds (`kill_timeout`,
// `http_options.idle_timeout`): callers pass `bareUnit = 's'` for those.
//
// Negative durations are refused: every duration in the config is a wait or
// an interval. The result may be fractional ("100us" is 0.1 ms). An error is
// the reason the value is not a duration, without repeating the value (the
// caller shows it).

export type BareUnit = 'ms' | 's';

export type DurationResult = { ms: number } | { error: string };

const MS_PER_UNIT: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign, accepted by Go
  'μs': 1e-3, // U+03BC Greek mu, accepted by Go
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const UNIT_LIST = 'ns, us, ms, s, m, h';

// One "<number><unit>" term of a Go duration: digits with an optional
// fraction (".5" and "1." are valid in Go), then letters.
const TERM = /^(\d+\.?\d*|\.\d+)([a-zµμ]+)/i;

export function parseDuration(value: unknown, bareUnit: BareUnit = 'ms'): DurationResult {
  if (typeof value === 'number') return fromNumber(value, bareUnit);
  if (typeof value === 'string') return fromString(value.trim());
  return { error: `a duration is a string like "10s" or a number, not ${kindOf(value)}` };
}

function fromNumber(value: number, bareUnit: BareUnit): DurationResult {
  if (!Number.isFinite(value)) return { error: 'not a finite number' };
  if (value < 0) return { error: 'a duration cannot be negative' };
  return { ms: bareUnit === 's' ? value * 1000 : value };
}

function fromString(text: string): DurationResult {
  if (text === '') return { error: 'empty duration' };
  if (text.startsWith('-')) return { error: 'a duration cannot be negative' };
  let rest = text.startsWith('+') ? text.slice(1) : text;
  // Go accepts a lone "0" without a unit; so do we.
  if (rest === '0') return { ms: 0 };
  if (/^\d+(\.\d*)?$/.test(rest)) {
    return { error: `no unit: write "${rest}ms" or "${rest}s", or ${rest} without quotes for milliseconds` };
  }
  let ms = 0;
  while (rest !== '') {
    const term = TERM.exec(rest);
    if (term === null) return { error: 'not a number followed by a unit, like "10s" or "1m30s"' };
    const unit = term[2];
    const factor = MS_PER_UNIT[unit];
    if (factor === undefined) {
      const hint = unit.toLowerCase() === 'd' ? ' (there is no day unit: use "24h")' : '';
      return { error: `unknown unit "${unit}"; units are ${UNIT_LIST}${hint}` };
    }
    ms += Number(term[1]) * factor;
    rest = rest.slice(term[0].length);
  }
  return { ms };
}

/** "1m30s"-style text for messages: the largest units that divide the value. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function kindOf(value: unknown): string {
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return 'a list';
  return value !== null && typeof value === 'object' ? 'a table' : `a ${typeof value}`;
}
