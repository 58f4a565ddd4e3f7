// One structured logger for every process: JSON lines (pino) on stdout.
// Events (state changes, errors) are written at once. Per-request access
// lines are gathered (see line-batcher.ts) and flushed on a short timer, so a
// request never waits on the terminal.
import { pino, type Logger, type DestinationStream } from 'pino';
import { AccessLog } from './access-log.ts';
import { LineBatcher } from './line-batcher.ts';

export type { Logger };

const level = process.env.PERCH_LOG_LEVEL ?? 'info';
const ACCESS_FLUSH_MS = 250;

let events: Logger | null = null;
let access: Logger | null = null;
let accessDestination: LineBatcher | null = null;

// pino's own line format: `level` is a number (30 info, 40 warn, 50 error),
// `time` is milliseconds since the epoch. Label and ISO-time formatters cost
// about 2 µs a line, which the per-request access log cannot afford.
function make(destination: DestinationStream): Logger {
  return pino({ level, base: { pid: process.pid } }, destination);
}

export function logger(): Logger {
  if (events === null) events = make(pino.destination({ fd: 1, sync: true }));
  return events;
}

function accessBatcher(): LineBatcher {
  return (accessDestination ??= new LineBatcher(1, ACCESS_FLUSH_MS));
}

/** pino for the rarer per-request and per-connection lines; they share the access destination. */
export function accessLogger(): Logger {
  if (access === null) access = make(accessBatcher() as unknown as DestinationStream);
  return access;
}

let requests: AccessLog | null = null;

/** The hot-path request line (see access-log.ts). */
export function requestLog(): AccessLog {
  return (requests ??= new AccessLog(accessBatcher(), process.pid));
}

/** Writes what is buffered; called before a process exits. */
export function flushLogs(): void {
  try {
    accessDestination?.flushSync();
  } catch {
    // A destination that is still opening has nothing buffered worth a crash.
  }
}
