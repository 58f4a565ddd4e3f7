// `npm run bench`: starts what each scenario needs, measures, prints a markdown
// table and writes bench/results/latest.md and latest.json (a scenario's
// result replaces that scenario's earlier one; others' are kept). Every process it
// starts is stopped by PID before it exits, on error and on Ctrl-C too.
//
// Scenarios are files: bench/scenarios/<name>.ts exporting
// `run(context: BenchContext): Promise<ScenarioReport>`; `--scenario <name>`
// picks them, so adding one needs no change here.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BenchContext, type CoreLayout, type ScenarioModule, type ScenarioReport } from './lib/context.ts';
import { parseOptions, USAGE, type BenchOptions } from './lib/options.ts';
import { ProcessRegistry } from './lib/processes.ts';
import { mergeScenarios, previousScenarios, renderReport, type StoredScenario } from './lib/results.ts';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const resultsDir = path.join(benchDir, 'results');

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Proxy alone on core 0; backend, load generator and this runner on core 1. */
function coreLayout(): CoreLayout {
  if (os.availableParallelism() < 2 || !hasTaskset()) return { proxy: undefined, backend: undefined, load: undefined, all: undefined };
  // The cores this process may use before it pins itself (children inherit the pin).
  const all = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' }).split(':').pop()?.trim();
  // -a: every thread of this process, so the runner's /proc sampling stays off the proxy's core.
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  return { proxy: 0, backend: 1, load: 1, all: all === '' ? undefined : all };
}

function machine(): Record<string, unknown> {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}

async function loadScenario(name: string): Promise<ScenarioModule> {
  const file = path.join(benchDir, 'scenarios', `${name}.ts`);
  if (!existsSync(file)) {
    const known = readdirSync(path.join(benchDir, 'scenarios')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
    throw new Error(`no scenario "${name}"; known: ${known.join(', ')}`);
  }
  return (await import(pathToFileURL(file).href)) as ScenarioModule;
}

async function main(options: BenchOptions): Promise<void> {
  const command = process.argv.map((arg, i) => (i === 0 ? path.relative(repoRoot, arg) || arg : i === 1 ? path.relative(repoRoot, arg) : arg)).join(' ');
  const date = new Date().toISOString();
  const info = machine();
  const registry = new ProcessRegistry();
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'perch-bench-'));

  // Ctrl-C or a kill: stop every child by PID, then leave.
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping everything it started\n`);
    void registry.stopAll().finally(() => {
      if (!options.keep) rmSync(tmpDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const reports: { name: string; report: ScenarioReport }[] = [];
  try {
    const cores = coreLayout();
    if (!process.version.startsWith('v24.')) process.stderr.write(`bench: running on Node ${process.version}; use node_modules/.bin/node (24)\n`);
    for (const name of options.scenarios) {
      const scenario = await loadScenario(name);
      const context = new BenchContext({ options, cores, repoRoot, tmpDir, registry });
      reports.push({ name, report: await scenario.run(context) });
      await registry.stopAll(); // each scenario starts from nothing
    }
  } finally {
    await registry.stopAll();
    if (options.keep) process.stderr.write(`bench: configs and process logs kept in ${tmpDir}\n`);
    else rmSync(tmpDir, { recursive: true, force: true });
  }

  const current: StoredScenario[] = reports.map((r) => ({ name: r.name, date, command, machine: info, options, ...r.report }));
  const merged = mergeScenarios(previousScenarios(path.join(resultsDir, 'latest.json')), current);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, 'latest.md'), renderReport(date, command, info, merged));
  const json = { date, command, machine: info, options, scenarios: merged };
  writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify(json, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  // The terminal gets this run's scenarios only; the files keep earlier runs' other scenarios too.
  process.stdout.write(renderReport(date, command, info, current));
  const kept = merged.filter((s) => !current.includes(s)).map((s) => s.name);
  process.stderr.write(
    `bench: wrote ${path.relative(process.cwd(), path.join(resultsDir, 'latest.md'))} and latest.json` +
      `${kept.length > 0 ? ` (kept earlier results of: ${kept.join(', ')})` : ''}\n`,
  );
}

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
} else {
  try {
    await main(options);
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
