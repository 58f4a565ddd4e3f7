// Reads CPU time and memory of a process tree from /proc (Linux only).
// A proxy may be several processes (perch's cluster workers, nginx's master and
// worker), so every figure covers the root PID and all of its descendants.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
export const clockTicksPerSecond: number = (() => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

interface StatLine {
  ppid: number;
  /** utime, in clock ticks. */
  userTicks: number;
  /** stime, in clock ticks. */
  systemTicks: number;
  /** Page faults served without I/O (minflt). */
  minorFaults: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited between listing and reading
  }
  // The command name (field 2) is in parentheses and may contain spaces, so
  // split only what follows the last ')'. There, index 0 is field 3 (state).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), minorFaults: Number(fields[7]), userTicks: Number(fields[11]), systemTicks: Number(fields[12]) };
}

/** The root PID and every live descendant, found by walking ppid links. */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat === undefined) continue;
    const siblings = children.get(stat.ppid);
    if (siblings === undefined) children.set(stat.ppid, [pid]);
    else siblings.push(pid);
  }
  const tree: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** What a process has used so far. */
export interface ProcessCounters {
  /** CPU time, user + system, µs. */
  cpuMicros: number;
  /** The system (kernel) part of it, µs. */
  systemMicros: number;
  minorFaults: number;
}

/** Counters of each PID so far (a PID that is gone is left out). */
export function processCounters(pids: readonly number[]): Map<number, ProcessCounters> {
  const result = new Map<number, ProcessCounters>();
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat === undefined) continue;
    result.set(pid, {
      cpuMicros: ((stat.userTicks + stat.systemTicks) * 1_000_000) / clockTicksPerSecond,
      systemMicros: (stat.systemTicks * 1_000_000) / clockTicksPerSecond,
      minorFaults: stat.minorFaults,
    });
  }
  return result;
}

/**
 * Resident memory of one process in bytes, or undefined if it is gone: all of it (VmRSS) and its
 * private part (RssAnon: heap and stacks, without file pages such as the Node binary's code, which
 * every process running that binary shares).
 */
export function residentBytes(pid: number): { rss: number; anon: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    const anon = /^RssAnon:\s+(\d+) kB$/m.exec(status);
    return rss === null ? undefined : { rss: Number(rss[1]) * 1024, anon: anon === null ? NaN : Number(anon[1]) * 1024 };
  } catch {
    return undefined;
  }
}

/** Busy CPU time of the whole machine so far (every core: user, nice, system, irq, softirq, steal), µs. */
export function hostBusyMicros(): number {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return ((user + nice + system + irq + softirq + steal) * 1_000_000) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
}

/**
 * CPU used so far by this process and every descendant, µs: the live tree
 * plus what reaped children used (cutime + cstime of this process), so a
 * child that started and exited in between (the load generator) counts too.
 */
export function ownTreeMicros(): number {
  let total = 0;
  for (const counters of processCounters(processTree(process.pid)).values()) total += counters.cpuMicros;
  try {
    const text = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 (cutime, cstime) are at 13 and 14 here (index 0 is field 3).
    total += ((Number(fields[13]) + Number(fields[14])) * 1_000_000) / clockTicksPerSecond;
  } catch {
    return NaN;
  }
  return total;
}
