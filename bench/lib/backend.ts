// The backend every target forwards to: perch's demo app (src/demo/hello.ts),
// which serves GET /bytes/<n>.
import path from 'node:path';
import { freePort, waitForPort } from './ports.ts';
import type { ProcessRegistry, RunningProcess } from './processes.ts';

export interface Backend {
  port: number;
  process: RunningProcess;
}

export async function startBackend(
  registry: ProcessRegistry,
  options: { repoRoot: string; tmpDir: string; core: number | undefined },
): Promise<Backend> {
  const port = await freePort();
  const process = registry.start({
    name: 'backend',
    command: globalThis.process.execPath,
    args: [path.join(options.repoRoot, 'src/demo/hello.ts')],
    cwd: options.repoRoot,
    env: { PORT: String(port), HOST: '127.0.0.1', FLY_MACHINE_ID: 'bench-backend', FLY_REGION: 'bench' },
    core: options.core,
    logFile: path.join(options.tmpDir, 'backend.log'),
  });
  try {
    await process.waitFor((line) => (line.includes('listening on') ? true : undefined), 10_000);
    await waitForPort(port, 5_000);
  } catch (err) {
    await process.stop();
    throw new Error(`backend did not start: ${(err as Error).message}`);
  }
  return { port, process };
}
