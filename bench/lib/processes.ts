// Starting and stopping the processes a bench run needs. Every child is
// registered so one stopAll() (called from a finally and from the SIGINT
// handler) ends all of them by PID, with their descendants.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTree } from './proc.ts';

export interface StartOptions {
  /** Short name, used in messages and the log file name. */
  name: string;
  command: string;
  args: readonly string[];
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Pin the process (and everything it forks) with taskset: one core, or a
   * core list such as "0,1". Unset, a child inherits the runner's own
   * affinity (run.ts pins itself to core 1), so "anywhere" must be said as a list.
   */
  core?: number | string;
  /** Where stdout and stderr go; a file, so a chatty process never blocks on a pipe the bench must drain. */
  logFile: string;
}

export class RunningProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #exited: Promise<void>;

  constructor(name: string, child: ChildProcess, logFile: string) {
    if (child.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.name = name;
    this.pid = child.pid;
    this.logFile = logFile;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve();
      });
    });
  }

  /** Resolves when the process has exited, however it ended. */
  get exited(): Promise<void> {
    return this.#exited;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** How it ended, for error messages. */
  get exitDescription(): string {
    if (this.#exit === undefined) return 'still running';
    return this.#exit.signal !== null ? `killed by ${this.#exit.signal}` : `exited with code ${this.#exit.code}`;
  }

  /** Everything the process wrote so far. */
  output(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Polls the log until a line satisfies `match`; rejects when the process
   * exits first or the time is up. Returns the first non-undefined match.
   */
  async waitFor<T>(match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.output().split('\n')) {
        const found = match(line);
        if (found !== undefined) return found;
      }
      if (!this.running) throw new Error(`${this.exitDescription}: ${failureReason(this.output())}`);
      if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms: ${failureReason(this.output())}`);
      await sleep(50);
    }
  }

  /** SIGTERM (or `signal`), wait up to graceMs, then SIGKILL it and any descendant left. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    const tree = processTree(this.pid);
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
    const timedOut = await Promise.race([this.#exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) process.stderr.write(`bench: ${this.name} (pid ${this.pid}) ignored ${signal} for ${graceMs} ms; killing it\n`);
    for (const pid of tree) {
      if (!existsSync(`/proc/${pid}`)) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    await this.#exited;
  }
}

/** Keeps track of every process the bench starts, so none outlives it. */
export class ProcessRegistry {
  readonly #running = new Set<RunningProcess>();

  start(options: StartOptions): RunningProcess {
    const [command, args] =
      options.core === undefined
        ? [options.command, options.args]
        : // taskset execs the command, so the PID we get is the command's own.
          ['taskset', ['-c', String(options.core), options.command, ...options.args]];
    const fd = openSync(options.logFile, 'w');
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd); // the child holds its own copy
    }
    // A failed spawn (command not found) reports through 'error'; the missing
    // PID below turns it into an exception the caller sees.
    child.once('error', () => {});
    const running = new RunningProcess(options.name, child, options.logFile);
    this.#running.add(running);
    child.once('exit', () => this.#running.delete(running));
    return running;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#running].map((p) => p.stop()));
  }
}

/**
 * A short reason from a process's output: the first thrown error's line
 * ("Error [ERR_…]: …"), else the last error-level JSON log line (pino level
 * ≥ 50), else the last few lines.
 */
export function failureReason(text: string, count = 3): string {
  const lines = text.split('\n');
  const thrown = lines.find((l) => /^[A-Za-z]*Error\b.*: /.test(l));
  if (thrown !== undefined) return clip(thrown.trim());
  for (const line of lines.toReversed()) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number | string; msg?: string; err?: { message?: string } };
      // pino writes levels as numbers (50 error, 60 fatal) or, with a formatter, as names.
      if (typeof entry.level === 'number' ? entry.level >= 50 : entry.level === 'error' || entry.level === 'fatal') return clip([entry.msg, entry.err?.message].filter(Boolean).join(': ') || line);
    } catch {
      // not JSON after all
    }
  }
  return tail(text, count);
}

function clip(text: string): string {
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

function tail(text: string, count: number): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const last = lines.slice(-count).join(' | ');
  return last === '' ? '(no output)' : last.length > 400 ? `…${last.slice(-400)}` : last;
}
