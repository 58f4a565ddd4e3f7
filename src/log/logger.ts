// One structured logger for every process: JSON lines (pino) on stdout.
// Events (state changes, errors) are written at once. Per-request access
// lines go through a buffered destination flushed on a short timer, so a
// request never waits on the terminal.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const level = process.env.PERCH_LOG_LEVEL ?? 'info';
const ACCESS_FLUSH_MS = 250;

let events: Logger | null = null;
let access: Logger | null = null;
let accessDestination: (DestinationStream & { flushSync(): void; flush(): void }) | null = null;

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

export function accessLogger(): Logger {
  if (access === null) {
    // Lines gather into 32 KiB writes (one system call per ~100 requests); a
    // quiet worker's lines still leave within ACCESS_FLUSH_MS.
    const destination = pino.destination({ fd: 1, sync: false, minLength: 32 * 1024, maxWrite: 64 * 1024 });
    accessDestination = destination;
    setInterval(() => destination.flush(), ACCESS_FLUSH_MS).unref();
    access = make(destination);
  }
  return access;
}

/** Writes what is buffered; called before a process exits. */
export function flushLogs(): void {
  try {
    accessDestination?.flushSync();
  } catch {
    // A destination that is still opening has nothing buffered worth a crash.
  }
}
