// Runs a machine as a local process group: `sh -c "exec <command>"` in the
// app's directory, detached so that suspend and stop reach every process
// the machine started, and so a Ctrl-C at perch's terminal does not hit the
// machines before perch has drained traffic away from them.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import type { DriverEvents, MachineDriver } from './driver.ts';
import { internalPortsOf, type Machine } from './machine.ts';
import { allocatePort, waitUntilAccepting } from './ports.ts';

const LOOPBACK = '127.0.0.1';

/** PATH with the directory of the Node running perch first, so `node` in a command is that Node. */
function childPath(): string {
  return [path.dirname(process.execPath), process.env.PATH ?? ''].join(path.delimiter);
}

export class ProcessDriver implements MachineDriver {
  readonly kind = 'process';
  private readonly children = new Map<string, ChildProcess>();
  private readonly stopping = new Set<string>();
  /** Machines between spawn and accepting connections: an exit then fails the start, it is no crash. */
  private readonly starting = new Set<string>();
  private readonly events: DriverEvents;

  constructor(events: DriverEvents) {
    this.events = events;
  }

  async start(machine: Machine, timeoutMs: number): Promise<void> {
    const { app, spec } = machine;
    const command = app.processes[spec.processGroup];
    if (command === undefined) throw new Error(`app ${app.name} has no process group ${spec.processGroup}`);

    machine.host = LOOPBACK;
    for (const internal of internalPortsOf(app)) {
      if (!machine.ports.has(internal)) machine.ports.set(internal, await allocatePort(LOOPBACK));
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...app.env,
      PATH: childPath(),
      FLY_APP_NAME: app.name,
      FLY_MACHINE_ID: spec.id,
      FLY_REGION: spec.region,
      FLY_PROCESS_GROUP: spec.processGroup,
      PRIMARY_REGION: app.primaryRegion,
    };
    let first = true;
    for (const [internal, port] of machine.ports) {
      if (first) env.PORT = String(port);
      first = false;
      env[`PERCH_PORT_${internal}`] = String(port);
    }

    const child = spawn('/bin/sh', ['-c', `exec ${command}`], {
      cwd: app.dir,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.set(spec.id, child);
    this.stopping.delete(spec.id);
    this.starting.add(spec.id);
    machine.pid = child.pid ?? null;
    this.forwardOutput(machine, child);

    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`exited (code ${code}, signal ${signal}) before accepting connections`)));
      child.once('error', (err) => reject(err));
    });
    exited.catch(() => {});
    child.once('exit', (code, signal) => this.onExit(machine, child, code, signal));

    const deadline = AbortSignal.timeout(timeoutMs);
    const [firstPort] = machine.ports.values();
    try {
      if (firstPort !== undefined) await Promise.race([waitUntilAccepting(LOOPBACK, firstPort, deadline), exited]);
    } catch (err) {
      this.stopping.add(spec.id);
      killGroup(child, 'SIGKILL');
      const reason = deadline.aborted ? new Error(`did not accept connections within ${timeoutMs} ms`) : err;
      throw reason;
    } finally {
      this.starting.delete(spec.id);
    }
  }

  async stop(machine: Machine): Promise<void> {
    const child = this.children.get(machine.spec.id);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping.add(machine.spec.id);
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killGroup(child, machine.app.killSignal);
    // A frozen group only acts on the kill signal once it runs again.
    killGroup(child, 'SIGCONT');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), machine.app.killTimeoutMs);
    await gone;
    clearTimeout(timer);
    // The leader is gone; anything it left in its group goes with it.
    killGroup(child, 'SIGKILL');
  }

  async suspend(machine: Machine): Promise<void> {
    const child = this.children.get(machine.spec.id);
    if (child === undefined) throw new Error(`machine ${machine.spec.id} is not running`);
    killGroup(child, 'SIGSTOP');
  }

  async resume(machine: Machine): Promise<void> {
    const child = this.children.get(machine.spec.id);
    if (child === undefined) throw new Error(`machine ${machine.spec.id} is not running`);
    killGroup(child, 'SIGCONT');
  }

  private onExit(machine: Machine, child: ChildProcess, code: number | null, signal: string | null): void {
    if (this.children.get(machine.spec.id) !== child) return;
    this.children.delete(machine.spec.id);
    machine.pid = null;
    const expected = this.stopping.delete(machine.spec.id) || this.starting.has(machine.spec.id);
    machine.lastExit = { code, signal, at: new Date().toISOString(), expected };
    if (!expected) this.events.onUnexpectedExit(machine, code, signal);
  }

  private forwardOutput(machine: Machine, child: ChildProcess): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      if (source === null) continue;
      const lines = readline.createInterface({ input: source, crlfDelay: Infinity });
      lines.on('line', (line) => this.events.onOutput(machine, stream, line));
    }
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}
