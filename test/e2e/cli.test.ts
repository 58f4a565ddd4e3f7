// The perch command line: check validates and lists every problem with
// file, key, expected and found (exit 1 on any error); start refuses a bad
// config before anything runs.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { rmSync } from 'node:fs';
import { CLI, REPO, writeConfig } from '../support/perch.ts';

function perch(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

t.test('perch check on the embedded default config: ok, exit 0', async (t) => {
  const result = perch('check');
  t.equal(result.status, 0);
  t.match(result.stdout, /config\/perch\.toml: ok \(1 app, 3 machines\)/);
});

t.test('perch check lists every problem with file, key path, expected and found; exit 1', async (t) => {
  const dir = writeConfig({
    apps: {
      broken: [
        'app = "broken"',
        'kill_timeout = "soon"',
        'mystery = 1',
        '[http_service]',
        'internal_port = 8080',
        'force_https = "yes"',
        '[http_service.concurrency]',
        'soft_limit = 10',
        'hard_limit = 5',
      ].join('\n'),
    },
  });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const result = perch('check', path.join(dir, 'perch.toml'));
  t.equal(result.status, 1, 'exit code 1 on errors');
  const lines = result.stdout.split('\n');
  const line = (key: string): string | undefined => lines.find((candidate) => candidate.includes(` ${key} `));
  t.match(line('kill_timeout'), /^error\s+\S*apps\/broken\.toml\s+kill_timeout\s+expected .*duration.*found "soon"/, 'a bad duration: file, key, expected, found');
  t.match(line('http_service.force_https'), /^error .*expected true or false, found "yes"/, 'a wrong type');
  t.match(line('http_service.concurrency.hard_limit'), /^error .*soft_limit/, 'and, despite those, a check across keys: hard_limit below soft_limit');
  t.match(line('mystery'), /^warning .*unknown key "mystery"/, 'an unknown key is a warning');
  t.match(line('machines'), /^warning .*at least one \[\[machines\]\] block/, 'an app without machines is warned about');
  t.match(result.stdout, /3 errors, 2 warnings: the config is refused/, 'a summary');
});

t.test('perch start refuses a bad config before anything starts', async (t) => {
  const dir = writeConfig({ apps: { broken: 'app = "broken"\n[http_service]\ninternal_port = "eighty"\n' } });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const result = perch('start', path.join(dir, 'perch.toml'));
  t.equal(result.status, 1);
  t.match(result.stderr, /http_service\.internal_port/);
  t.match(result.stderr, /not starting/);
  t.notMatch(result.stdout, /perch ready/);
});

t.test('usage errors', async (t) => {
  t.equal(perch('frobnicate').status, 2, 'unknown command');
  t.match(perch('--help').stdout, /start \[path\/to\/perch\.toml\]/);
});
