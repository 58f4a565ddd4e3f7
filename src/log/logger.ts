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

function make(destination: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export function logger(): Logger {
  if (events === null) events = make(pino.destination({ fd: 1, sync: true }));
  return events;
}

export function accessLogger(): Logger {
  if (access === null) {
    const destination = pino.destination({ fd: 1, sync: false, minLength: 8 * 1024 });
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
