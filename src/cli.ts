// perch's command line: `perch start [config]`, `perch check [config]`,
// and against a running perch's admin API `perch status`, `perch machines …` (src/cli/).
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatProblems } from './config/format.ts';
import { loadConfig } from './config/load.ts';
import { ADMIN_USAGE, runAdminCommand } from './cli/admin-commands.ts';

export const DEFAULT_CONFIG = fileURLToPath(new URL('../config/perch.toml', import.meta.url));

const USAGE = `usage: perch <command> [options]

commands:
  start [path/to/perch.toml]   run perch (the embedded default config without a path)
  check [path/to/perch.toml]   validate a config: every problem with file, key, expected and found
${ADMIN_USAGE}
options:
  -h, --help                   this text
`;

async function main(argv: string[]): Promise<number | null> {
  const [first] = argv;
  if ((first === 'status' || first === 'machines' || first === 'reload') && !argv.includes('--help') && !argv.includes('-h')) return runAdminCommand(first, argv.slice(1));
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: 'boolean', short: 'h' } },
  });
  const [command, configArg, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (rest.length > 0) {
    process.stderr.write(`perch ${command}: unexpected arguments: ${rest.join(' ')}\n${USAGE}`);
    return 2;
  }
  const configPath = configArg ?? DEFAULT_CONFIG;
  switch (command) {
    case 'check':
      return check(configPath);
    case 'start':
      return start(configPath);
    default:
      process.stderr.write(`perch: unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

async function check(configPath: string): Promise<number> {
  const { config, problems } = await loadConfig(configPath);
  if (problems.length > 0) process.stdout.write(`${formatProblems(problems)}\n`);
  if (config === null) return 1;
  const machines = config.apps.reduce((sum, app) => sum + app.machines.length, 0);
  process.stdout.write(`${configPath}: ok (${config.apps.length} app${config.apps.length === 1 ? '' : 's'}, ${machines} machine${machines === 1 ? '' : 's'})\n`);
  return 0;
}

async function start(configPath: string): Promise<number | null> {
  const { config, problems } = await loadConfig(configPath);
  if (problems.length > 0) process.stderr.write(`${formatProblems(problems)}\n`);
  if (config === null) {
    process.stderr.write(`perch: not starting: ${configPath} has errors\n`);
    return 1;
  }
  const { runPrimary } = await import('./cluster/primary.ts');
  await runPrimary(config);
  return null;
}

if (cluster.isPrimary) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== null) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`perch: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
