// Config loading, tested as data: each folder under cases/ holds a perch.toml
// (and apps/*.toml) beside what loading it must give. The expected files are
// written by hand from SPEC §2/§8 and Fly's configuration reference.
//
//   case.json      { "about": "...", "config"?: "path of perch.toml, default perch.toml" }
//   expected.json  the normalized PerchConfig (the config must load)
//   problems.json  every problem loading must list (default: none)
//
// Without expected.json the config must be refused (config === null).
// Paths in both files are relative to perch.toml's directory, so the files do
// not depend on where the checkout lives; `workers` and `~` are pinned by env.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import type { ConfigProblem } from '../../src/config/model.ts';

const casesDir = fileURLToPath(new URL('./cases/', import.meta.url));
const env = { cpuCount: 4, homeDir: '/home/perch' };

interface CaseSpec {
  about: string;
  config?: string;
}

function readJson<T>(file: string): T | undefined {
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : undefined;
}

/** Every absolute path under `base` becomes relative to it ("." for base itself). */
function relativize<T>(value: T, base: string): T {
  return JSON.parse(JSON.stringify(value), (_key, v: unknown) => {
    if (typeof v !== 'string') return v;
    if (v === base) return '.';
    return v.startsWith(base + path.sep) ? path.relative(base, v) : v;
  }) as T;
}

const problemOrder = (a: ConfigProblem, b: ConfigProblem): number =>
  a.file.localeCompare(b.file) || a.path.localeCompare(b.path) || a.severity.localeCompare(b.severity) || a.found.localeCompare(b.found);

/**
 * Problems compared as sets (the order checks run in is not the contract).
 * `message` is compared only where the expected problem states one.
 */
function comparable(actual: ConfigProblem[], expected: ConfigProblem[]): { actual: ConfigProblem[]; expected: ConfigProblem[] } {
  const a = [...actual].sort(problemOrder);
  const e = [...expected].sort(problemOrder);
  a.forEach((problem, i) => {
    if (e[i]?.message === undefined) delete problem.message;
  });
  return { actual: a, expected: e };
}

for (const name of fs.readdirSync(casesDir).sort()) {
  const dir = path.join(casesDir, name);
  const spec = readJson<CaseSpec>(path.join(dir, 'case.json'));
  if (spec === undefined) throw new Error(`${name}: case.json is missing`);
  const perchFile = path.resolve(dir, spec.config ?? 'perch.toml');
  const base = path.dirname(perchFile);

  t.test(name, async (t) => {
    const result = await loadConfig(perchFile, env);
    const expectedConfig = readJson<unknown>(path.join(dir, 'expected.json'));
    const expectedProblems = readJson<ConfigProblem[]>(path.join(dir, 'problems.json')) ?? [];

    const problems = comparable(relativize(result.problems, base), expectedProblems);
    t.same(problems.actual, problems.expected, `problems: ${spec.about}`);
    if (expectedConfig === undefined) {
      t.equal(result.config, null, 'the config is refused');
    } else {
      t.not(result.config, null, 'the config loads');
      t.same(relativize(result.config, base), expectedConfig, `config: ${spec.about}`);
    }
  });
}
