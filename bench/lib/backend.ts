// The backend every target forwards to: perch's demo app (src/demo/hello.ts),
// which serves GET /bytes/<n>.
import { existsSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort } from './ports.ts';
import type { ProcessRegistry, RunningProcess } from './processes.ts';

export interface Backend {
  port: number;
  process: RunningProcess;
}

export async function startBackend(
  registry: ProcessRegistry,
  options: { repoRoot: string; tmpDir: string; core: number | undefined; name?: string },
): Promise<Backend> {
  const port = await freePort();
  const name = options.name ?? 'backend';
  // Run through a symlink in the run's temp dir: the same file, but a command line of the
  // bench's own, so a `pkill -f src/demo/hello.ts` meant for some test's strays (seen on
  // the shared machine) does not end the bench's backends mid-run.
  const entry = path.join(options.tmpDir, 'bench-backend.ts');
  if (!existsSync(entry)) symlinkSync(path.join(options.repoRoot, 'src/demo/hello.ts'), entry);
  const process = registry.start({
    name,
    command: globalThis.process.execPath,
    args: [entry],
    cwd: options.repoRoot,
    env: { PORT: String(port), HOST: '127.0.0.1', FLY_MACHINE_ID: `bench-${name}`, FLY_REGION: 'bench' },
    core: options.core,
    logFile: path.join(options.tmpDir, `${name}.log`),
  });
  try {
    await process.waitFor((line) => (line.includes('listening on') ? true : undefined), 10_000);
    await waitForPort(port, 5_000);
  } catch (err) {
    await process.stop();
    throw new Error(`${name} did not start: ${(err as Error).message}`);
  }
  return { port, process };
}
