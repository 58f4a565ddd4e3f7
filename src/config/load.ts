// Reading a config from disk: perch.toml, then every app file its `apps`
// globs match (relative to perch.toml's directory). Every problem is listed:
// a file that cannot be read or parsed is reported with its line and column,
// and loading goes on with the others. The checks and the mapping onto the
// model are in normalize.ts, which does no I/O.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, TomlError } from 'smol-toml';
import { buildConfig, type BuildEnv, type ParsedFile } from './normalize.ts';
import { formatProblems } from './format.ts';
import type { ConfigProblem, LoadResult, PerchConfig } from './model.ts';

export type { ConfigProblem, LoadResult } from './model.ts';

/** The embedded default config perch runs with no config argument (config/perch.toml in the package). */
export const EMBEDDED_CONFIG_PATH = fileURLToPath(new URL('../../config/perch.toml', import.meta.url));

const DEFAULT_APP_GLOBS = ['apps/*.toml'];

export async function loadConfig(perchTomlPath: string, env: Partial<BuildEnv> = {}): Promise<LoadResult> {
  const perchFile = path.resolve(perchTomlPath);
  const problems: ConfigProblem[] = [];
  const perch = await readToml(perchFile, problems);
  const perchData = perch === UNREADABLE || perch === UNPARSABLE ? undefined : perch;

  // Without a readable perch.toml there is no apps list nor directory to look in.
  const appPaths = perch === UNREADABLE ? [] : appFiles(perchData, path.dirname(perchFile), perchFile, problems);
  const apps: ParsedFile[] = [];
  for (const file of appPaths) {
    const data = await readToml(file, problems);
    if (data !== UNREADABLE && data !== UNPARSABLE) apps.push({ file, data });
  }

  const built = buildConfig({ perchFile, perch: perchData, apps }, {
    cpuCount: env.cpuCount ?? os.availableParallelism(),
    homeDir: env.homeDir ?? os.homedir(),
    fileExists: env.fileExists ?? ((file) => fs.existsSync(file)),
  });
  problems.push(...built.problems);
  const refused = problems.some((p) => p.severity === 'error');
  return { config: refused ? null : built.config, problems: byFile(problems, [perchFile, ...appPaths]) };
}

/** For callers that only go on with a good config: the config, or an Error listing every problem. */
export async function loadConfigOrThrow(perchTomlPath: string, env: Partial<BuildEnv> = {}): Promise<{ config: PerchConfig; problems: ConfigProblem[] }> {
  const { config, problems } = await loadConfig(perchTomlPath, env);
  if (config === null) throw new Error(`invalid config ${perchTomlPath}\n${formatProblems(problems)}`);
  return { config, problems };
}

/** Problems grouped by file, perch.toml first, in the order files were read; stable within a file. */
function byFile(problems: ConfigProblem[], order: string[]): ConfigProblem[] {
  const rank = (file: string): number => (order.includes(file) ? order.indexOf(file) : order.length);
  return problems.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p.file) - rank(b.p.file) || a.i - b.i).map(({ p }) => p);
}

const UNREADABLE = Symbol('unreadable');
const UNPARSABLE = Symbol('unparsable');

/** The parsed document, or a marker saying why there is none (after reporting it). */
async function readToml(file: string, problems: ConfigProblem[]): Promise<unknown> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.push({ severity: 'error', file, path: '', expected: 'a readable TOML file', found: code === 'ENOENT' ? 'no such file' : String(code ?? error) });
    return UNREADABLE;
  }
  try {
    return parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml's message is "Invalid TOML document: <reason>\n\n<code excerpt>".
    const reason = error.message.split('\n')[0].replace(/^Invalid TOML document: /, '');
    problems.push({ severity: 'error', file, path: '', expected: 'valid TOML', found: reason, line: error.line, column: error.column });
    return UNPARSABLE;
  }
}

/**
 * The app files `apps` names, in a stable order (sorted per pattern, first
 * match wins). A pattern that matches nothing is a warning: perhaps a typo,
 * perhaps an apps folder not filled yet. When perch.toml is unusable the
 * default pattern is still tried, so app files get checked too.
 */
function appFiles(perch: unknown, dir: string, perchFile: string, problems: ConfigProblem[]): string[] {
  const listed = (perch as { apps?: unknown } | undefined)?.apps;
  const patterns = Array.isArray(listed) && listed.every((p) => typeof p === 'string') ? listed as string[] : DEFAULT_APP_GLOBS;
  const files: string[] = [];
  patterns.forEach((pattern, i) => {
    const matches = fs.globSync(pattern, { cwd: dir }).map((match) => path.resolve(dir, match)).sort();
    if (matches.length === 0) {
      const at = patterns === listed ? `apps[${i}]` : 'apps';
      problems.push({ severity: 'warning', file: perchFile, path: at, expected: 'a pattern matching at least one app file', found: JSON.stringify(pattern) });
    }
    for (const file of matches) if (!files.includes(file)) files.push(file);
  });
  return files;
}
