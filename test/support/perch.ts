// Starts a real perch (primary + workers) on a config written for the test,
// in front of real machine processes, and stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = path.join(REPO, 'src/cli.ts');
export const HELLO = path.join(REPO, 'src/demo/hello.ts');

export interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

export interface PerchOptions {
  /** Lines added to the generated perch.toml (after region/workers/listeners). */
  perchToml?: string;
  /** App file name (without .toml) → its content. */
  apps: Record<string, string>;
  workers?: number;
  region?: string;
  /** Extra files to write beside perch.toml: relative path → content. */
  files?: Record<string, string>;
  /** How long to wait for "perch ready". */
  readyTimeoutMs?: number;
  /**
   * An HTTPS listener on 127.0.0.1:0 with the local CA in `<dir>/ca`
   * (default_self_signed on unless said otherwise); `toml` is added inside [https]
   * (e.g. [[https.certificates]] blocks, paths relative to perch.toml).
   */
  https?: boolean | { defaultSelfSigned?: boolean; toml?: string };
}

export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Perch {
  readonly dir: string;
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  ready: LogLine | null = null;
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<ExitStatus>;

  constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch {
        this.logs.push({ msg: 'raw', line });
      }
      for (const wake of this.waiters) wake();
    });
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (process.env.PERCH_TEST_VERBOSE) process.stderr.write(`[perch stderr] ${line}\n`);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get httpPort(): number {
    const http = (this.ready?.http as string[])[0]!;
    return Number(http.slice(http.lastIndexOf(':') + 1));
  }

  get origin(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get httpsPort(): number {
    const https = (this.ready?.https as string[])[0]!;
    return Number(https.slice(https.lastIndexOf(':') + 1));
  }

  get httpsOrigin(): string {
    return `https://127.0.0.1:${this.httpsPort}`;
  }

  /** The local CA's certificate (PEM), for clients to verify perch's generated certificates with. */
  caPem(): string {
    return readFileSync(path.join(this.dir, 'ca', 'ca.pem'), 'utf8');
  }

  get adminOrigin(): string {
    return `http://${this.ready?.admin as string}`;
  }

  get workerPids(): number[] {
    return (this.ready?.pids as { workers: number[] }).workers;
  }

  /** Resolves with the first log line (already seen or to come) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      let scanned = from;
      const check = (): boolean => {
        for (; scanned < this.logs.length; scanned++) {
          const line = this.logs[scanned]!;
          if (match(line)) {
            cleanup();
            resolve(line);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching log line within ${timeoutMs} ms; last lines: ${this.logs.slice(-6).map((line) => JSON.stringify(line)).join(' | ')}; stderr: ${this.stderr.slice(-5).join(' | ')}`));
      }, timeoutMs);
      const onExit = (): void => {
        if (check()) return;
        cleanup();
        reject(new Error(`perch exited before a matching log line; stderr: ${this.stderr.slice(-10).join(' | ')}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        this.child.off('exit', onExit);
      };
      const wake = (): void => {
        check();
      };
      if (check()) return;
      this.waiters.add(wake);
      this.child.once('exit', onExit);
    });
  }

  /** The machines perch started, PID → machine id, from its state-change log lines. */
  private loggedMachines(): Map<number, string> {
    const found = new Map<number, string>();
    for (const line of this.logs) {
      if (line.msg === 'machine state' && typeof line.machine_pid === 'number') found.set(line.machine_pid, String(line.machine));
    }
    return found;
  }

  /** PIDs of the machines perch started. */
  machinePids(): number[] {
    return [...this.loggedMachines().keys()];
  }

  /**
   * Machines this perch logged whose process still runs without it: orphaned
   * (parent gone) and still carrying the machine's id, so a PID reused by
   * another process is never taken for one.
   */
  orphanedMachines(): { id: string; pid: number }[] {
    const orphans: { id: string; pid: number }[] = [];
    for (const [pid, id] of this.loggedMachines()) {
      try {
        const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        if (ppid === 1 && env.includes(`FLY_MACHINE_ID=${id}`)) orphans.push({ id, pid });
      } catch {
        // Gone, or not ours to read.
      }
    }
    return orphans;
  }

  /** Sends a signal and waits for perch to exit; SIGKILLs everything it started if it does not. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitStatus> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.kill(), timeoutMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  /** Last resort: kill perch's process group and every machine it logged. */
  kill(): void {
    for (const pid of this.machinePids()) killQuietly(-pid);
    killQuietly(-this.pid);
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function writeConfig(options: PerchOptions): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'perch-test-'));
  mkdirSync(path.join(dir, 'apps'));
  const perchToml = [
    `region = "${options.region ?? 'ams'}"`,
    `workers = ${options.workers ?? 2}`,
    `apps = ["apps/*.toml"]`,
    options.perchToml ?? '',
    '',
    '[http]',
    'listen = ["127.0.0.1:0"]',
    '',
    '[https]',
    ...httpsToml(options.https),
    '',
    '[admin]',
    'listen = "127.0.0.1:0"',
    '',
  ].join('\n');
  writeFileSync(path.join(dir, 'perch.toml'), perchToml);
  for (const [name, content] of Object.entries(options.apps)) writeFileSync(path.join(dir, 'apps', `${name}.toml`), content);
  for (const [name, content] of Object.entries(options.files ?? {})) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

function httpsToml(https: PerchOptions['https']): string[] {
  if (https === undefined || https === false) return ['listen = []'];
  const options = https === true ? {} : https;
  return [
    'listen = ["127.0.0.1:0"]',
    `default_self_signed = ${options.defaultSelfSigned ?? true}`,
    'ca_dir = "ca"',
    options.toml ?? '',
  ];
}

/** Starts perch on a generated config; the test's teardown stops it (and removes the config). */
export async function startPerch(t: TeardownHost, options: PerchOptions): Promise<Perch> {
  const dir = writeConfig(options);
  const child = spawn(process.execPath, [CLI, 'start', path.join(dir, 'perch.toml')], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, PERCH_LOG_LEVEL: process.env.PERCH_LOG_LEVEL ?? 'info', PERCH_EXIT_WITH_PARENT: '1' },
  });
  const perch = new Perch(dir, child);
  t.teardown(async () => {
    const status = await perch.stop();
    if (status.code !== 0) process.stderr.write(`perch exited ${JSON.stringify(status)}; its stderr ends: ${perch.stderr.slice(-10).join(' | ')}\n`);
    // perch stops its machines before it exits; one still running here is reported and stopped, so a
    // test run never leaves a process behind.
    const left = perch.orphanedMachines();
    if (left.length > 0) {
      process.stderr.write(`perch (exit ${JSON.stringify(status)}) left machines ${left.map(({ id, pid }) => `${id} (pid ${pid})`).join(', ')} running; killing them\n`);
      for (const { pid } of left) killQuietly(-pid);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  perch.ready = await perch.waitForLog((line) => line.msg === 'perch ready', options.readyTimeoutMs ?? 20_000);
  return perch;
}

/** A hello process perch does not run (for static machines); stopped at teardown. */
export async function startBackend(t: TeardownHost, env: Record<string, string> = {}): Promise<{ port: number; pid: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [HELLO], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    killQuietly(child.pid!, 'SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /listening on .*:(\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`backend exited with ${code}`)));
  });
  return { port, pid: child.pid!, child };
}
