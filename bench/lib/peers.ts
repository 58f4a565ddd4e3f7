// The Node peers perch is compared with (bench/peers/*.ts), each its own process.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TargetEnvironment } from './targets.ts';
import type { RunningProcess } from './processes.ts';

const peersDir = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'peers');

export async function startPeer(
  name: 'bare-forwarder' | 'http-proxy-3',
  env: TargetEnvironment,
): Promise<{ origin: string; process: RunningProcess }> {
  const process = env.registry.start({
    name,
    command: globalThis.process.execPath,
    args: [path.join(peersDir, `${name}.ts`)],
    cwd: env.repoRoot,
    env: { BACKEND: `127.0.0.1:${env.backend.port}` },
    core: env.proxyCore,
    logFile: path.join(env.tmpDir, `${name}.log`),
  });
  try {
    const address = await process.waitFor((line) => {
      if (!line.startsWith('{"listening"')) return undefined;
      return (JSON.parse(line) as { listening: string }).listening;
    }, 10_000);
    return { origin: `http://${address}`, process };
  } catch (err) {
    await process.stop();
    throw err;
  }
}
