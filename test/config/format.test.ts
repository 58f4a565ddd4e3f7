// What `perch check` prints: one aligned line per problem and a summary.
import t from 'tap';
import { closest, describeValue, formatProblems, keyPath } from '../../src/config/format.ts';
import type { ConfigProblem } from '../../src/config/model.ts';

t.test('formatProblems lists each problem, then a summary', async (t) => {
  const problems: ConfigProblem[] = [
    { severity: 'error', file: '/srv/perch/config/apps/hello.toml', path: 'http_service.concurrency.soft_limit', expected: 'an integer ≥ 1', found: '"twenty"' },
    { severity: 'warning', file: '/srv/perch/config/perch.toml', path: 'http.lisen', expected: 'one of the keys listen', found: 'unknown key "lisen"', message: 'ignored; did you mean "listen"?' },
    { severity: 'error', file: '/elsewhere/apps/b.toml', path: '', expected: 'valid TOML', found: 'illegal character in key', line: 2, column: 14 },
  ];
  t.equal(formatProblems(problems, { cwd: '/srv/perch' }), [
    'error    config/apps/hello.toml       http_service.concurrency.soft_limit  expected an integer ≥ 1, found "twenty"',
    'warning  config/perch.toml            http.lisen                           expected one of the keys listen, found unknown key "lisen" — ignored; did you mean "listen"?',
    'error    /elsewhere/apps/b.toml:2:14  (file)                               expected valid TOML, found illegal character in key',
    '2 errors, 1 warning: the config is refused',
  ].join('\n'));
});

t.test('summary lines', async (t) => {
  const warning: ConfigProblem = { severity: 'warning', file: '/a/perch.toml', path: 'x', expected: 'y', found: 'z' };
  t.equal(formatProblems([]), 'config OK');
  t.match(formatProblems([warning], { cwd: '/a' }), /\nconfig OK, with 1 warning$/);
  t.match(formatProblems([warning, warning], { cwd: '/a' }), /\nconfig OK, with 2 warnings$/);
});

t.test('keyPath writes TOML-style key paths', async (t) => {
  const cases: [(string | number)[], string][] = [
    [['http_service', 'concurrency', 'hard_limit'], 'http_service.concurrency.hard_limit'],
    [['services', 0, 'ports', 1, 'handlers'], 'services[0].ports[1].handlers'],
    [['env', 'MY.VAR'], 'env."MY.VAR"'],
    [['http_service', 'http_options', 'response', 'headers', 'X-Frame-Options'], 'http_service.http_options.response.headers.X-Frame-Options'],
    [[], ''],
  ];
  for (const [segments, text] of cases) t.equal(keyPath(segments), text);
});

t.test('describeValue shows what was found', async (t) => {
  const cases: [unknown, string][] = [
    ['twenty', '"twenty"'],
    [42, '42'],
    [false, 'false'],
    [undefined, 'nothing'],
    [{ a: 1 }, 'a table'],
    [['http', 'http'], '["http","http"]'],
    [new Date('2026-01-02T03:04:05Z'), 'a date (2026-01-02T03:04:05.000Z)'],
    ['x'.repeat(100), `"${'x'.repeat(56)}...`],
  ];
  for (const [value, text] of cases) t.equal(describeValue(value), text);
});

t.test('closest suggests near misses only', async (t) => {
  t.equal(closest('concurency', ['type', 'concurrency']), 'concurrency');
  t.equal(closest('stpo', ['off', 'stop', 'suspend']), 'stop', 'a swap counts as one edit');
  t.equal(closest('REQUESTS', ['connections', 'requests']), 'requests', 'case alone is a near miss');
  t.equal(closest('telemetry', ['region', 'workers', 'http']), undefined);
});
