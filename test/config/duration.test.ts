// parseDuration: Fly's duration formats (Go duration strings, bare numbers in
// milliseconds, or seconds for the keys Fly documents in seconds).
import t from 'tap';
import { formatDuration, parseDuration, type BareUnit } from '../../src/config/duration.ts';

const good: [input: unknown, bare: BareUnit, ms: number][] = [
  ['10s', 'ms', 10_000],
  ['500ms', 'ms', 500],
  ['1m30s', 'ms', 90_000],
  ['1.5s', 'ms', 1500],
  ['.5s', 'ms', 500],
  ['2h', 'ms', 7_200_000],
  ['1h2m3s4ms', 'ms', 3_723_004],
  ['100us', 'ms', 0.1],
  ['100µs', 'ms', 0.1],
  ['100μs', 'ms', 0.1],
  ['2500000ns', 'ms', 2.5],
  ['0', 'ms', 0],
  ['+5s', 'ms', 5000],
  [' 10s ', 'ms', 10_000],
  [250, 'ms', 250],
  [0, 'ms', 0],
  [1.5, 'ms', 1.5],
  // kill_timeout = 5, http_options.idle_timeout = 600: seconds
  [5, 's', 5000],
  [600, 's', 600_000],
  [0.5, 's', 500],
  // a string carries its own unit whatever the key's bare unit
  ['5s', 's', 5000],
  ['250ms', 's', 250],
];

for (const [input, bare, ms] of good) {
  t.test(`${JSON.stringify(input)} (bare ${bare})`, async (t) => {
    const result = parseDuration(input, bare);
    if (!('ms' in result)) return t.fail(`unexpected error: ${result.error}`);
    t.ok(Math.abs(result.ms - ms) < 1e-9, `${result.ms} ≈ ${ms}`);
  });
}

const bad: [input: unknown, error: RegExp][] = [
  ['10', /^no unit: write "10ms" or "10s", or 10 without quotes for milliseconds$/],
  ['1.5', /^no unit/],
  ['-1s', /cannot be negative/],
  [-1, /cannot be negative/],
  ['', /empty/],
  ['   ', /empty/],
  ['1d', /^unknown unit "d"; units are ns, us, ms, s, m, h \(there is no day unit: use "24h"\)$/],
  ['10S', /^unknown unit "S"/],
  ['10 seconds', /not a number followed by a unit/],
  ['1 s', /not a number followed by a unit/],
  ['ten', /not a number followed by a unit/],
  ['1h-5m', /not a number followed by a unit/],
  ['s', /not a number followed by a unit/],
  [Infinity, /not a finite number/],
  [true, /not a boolean$/],
  [{}, /not a table$/],
  [[1], /not a list$/],
  [new Date('2026-01-01'), /not a date$/],
];

for (const [input, error] of bad) {
  t.test(`${JSON.stringify(input) ?? String(input)} is refused`, async (t) => {
    const result = parseDuration(input);
    if (!('error' in result)) return t.fail(`parsed as ${result.ms} ms`);
    t.match(result.error, error);
  });
}

t.test('formatDuration uses the largest unit that divides the value', async (t) => {
  const cases: [number, string][] = [[0, '0s'], [300_000, '5m'], [7_200_000, '2h'], [1500, '1500ms'], [30_000, '30s'], [90_000, '90s']];
  for (const [ms, text] of cases) t.equal(formatDuration(ms), text, `${ms} ms`);
});
