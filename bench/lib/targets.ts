// What the load generator can be pointed at: the backend itself ("direct") or a
// proxy in front of it. Each proxy runs in its own process tree, pinned to the
// proxy core, and is probed once before it counts as started.
import type { Backend } from './backend.ts';
import type { ProcessRegistry, RunningProcess } from './processes.ts';
import { probe } from './probe.ts';
import { startPerch } from './perch.ts';
import { startNginx } from './nginx.ts';
import { startPeer } from './peers.ts';

export const TARGET_NAMES = ['direct', 'perch', 'bare-forwarder', 'http-proxy-3', 'nginx'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface Target {
  name: TargetName;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** Headers every request carries (perch routes on Host). */
  headers: Record<string, string>;
  /** Root of the proxy's process tree; undefined for "direct" (no proxy). */
  process: RunningProcess | undefined;
  /** Anything worth keeping in the JSON (config used, PIDs, versions). */
  details: Record<string, unknown>;
}

export type TargetStart = { ok: true; target: Target } | { ok: false; name: TargetName; reason: string };

export interface TargetEnvironment {
  registry: ProcessRegistry;
  repoRoot: string;
  tmpDir: string;
  backend: Backend;
  /** Core the proxy under test is pinned to; undefined = not pinned. */
  proxyCore: number | undefined;
  perchWorkers: number;
  perchCli: string;
}

/** Starts a target and checks it serves `probePath` (expecting `probeBytes`); never throws. */
export async function startTarget(
  name: TargetName,
  env: TargetEnvironment,
  probePath: string,
  probeBytes: number,
): Promise<TargetStart> {
  let target: Target;
  try {
    target = await startUnprobed(name, env);
  } catch (err) {
    return { ok: false, name, reason: `${name} did not start: ${(err as Error).message}` };
  }
  try {
    await probe(target.origin, probePath, target.headers, probeBytes);
  } catch (err) {
    await target.process?.stop();
    return { ok: false, name, reason: `${name} started but does not forward: ${(err as Error).message}` };
  }
  return { ok: true, target };
}

async function startUnprobed(name: TargetName, env: TargetEnvironment): Promise<Target> {
  switch (name) {
    case 'direct':
      return { name, origin: `http://127.0.0.1:${env.backend.port}`, headers: {}, process: undefined, details: {} };
    case 'perch': {
      const perch = await startPerch(env);
      return { name, origin: perch.origin, headers: { host: 'bench.local' }, process: perch.process, details: perch.details };
    }
    case 'bare-forwarder':
    case 'http-proxy-3': {
      const peer = await startPeer(name, env);
      return { name, origin: peer.origin, headers: {}, process: peer.process, details: {} };
    }
    case 'nginx': {
      const nginx = await startNginx(env);
      return { name, origin: nginx.origin, headers: {}, process: nginx.process, details: nginx.details };
    }
  }
}
