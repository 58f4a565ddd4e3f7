// Where a worker's access lines go: gathered into writes of at most
// PIPE_BUF bytes, so that lines from several processes sharing one stdout
// pipe or socket never interleave (the kernel keeps such writes whole), and
// one system call carries a dozen lines or more. When stdout is a regular
// file, any write is kept whole (the file's lock), so chunks are larger. The write is a plain
// synchronous one (a few µs, no thread-pool round trip); only when stdout
// is a full non-blocking pipe do chunks wait in a bounded queue. sonic-boom,
// pino's own destination, measures the UTF-8 length of everything it holds
// on every line, which for a busy worker costs more than formatting it.
import fs from 'node:fs';

/** POSIX's guarantee for atomic pipe writes on Linux. */
const PIPE_BUF = 4096;
/** Chunk size when stdout is a regular file. */
const FILE_CHUNK = 64 * 1024;
/** Lines kept while stdout cannot take them; past this they are dropped and counted. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const RETRY_MS = 10;

export class LineBatcher {
  private pending = '';
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly fd: number;
  private readonly flushMs: number;
  /** Largest write, bytes. */
  private readonly chunkBytes: number;
  /** Lines dropped because stdout could not keep up. */
  dropped = 0;

  constructor(fd: number, flushMs: number) {
    this.fd = fd;
    this.flushMs = flushMs;
    this.chunkBytes = isRegularFile(fd) ? FILE_CHUNK : PIPE_BUF;
  }

  /** pino's destination interface: one whole line, newline included. */
  write(line: string): void {
    if (this.pending.length + line.length > this.chunkBytes - 64) this.cut();
    if (line.length > this.chunkBytes - 64) {
      // A line this long (a huge URL) is written on its own.
      this.enqueue(Buffer.from(line));
      return;
    }
    this.pending += line;
    if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Sends what is pending now. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.cut();
  }

  /** Writes everything synchronously (before the process exits). */
  flushSync(): void {
    this.flush();
    for (const chunk of this.queue.splice(0)) {
      try {
        fs.writeSync(this.fd, chunk);
      } catch {
        break;
      }
    }
    this.queuedBytes = 0;
  }

  private cut(): void {
    if (this.pending === '') return;
    let chunk = Buffer.from(this.pending);
    this.pending = '';
    // Multi-byte characters can make a chunk longer in bytes than in characters.
    while (chunk.length > this.chunkBytes) {
      const end = chunk.lastIndexOf(10, this.chunkBytes - 1) + 1 || this.chunkBytes;
      this.enqueue(chunk.subarray(0, end));
      chunk = chunk.subarray(end);
    }
    this.enqueue(chunk);
  }

  private enqueue(chunk: Buffer): void {
    if (this.queue.length === 0 && this.tryWrite(chunk)) return;
    if (this.queuedBytes + chunk.length > MAX_QUEUED_BYTES) {
      this.dropped += chunk.reduce((lines, byte) => lines + (byte === 10 ? 1 : 0), 0);
      return;
    }
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    if (!this.writing) {
      this.writing = true;
      setTimeout(() => this.drainQueue(), RETRY_MS).unref();
    }
  }

  /** True when the chunk went out whole; false when stdout is a full non-blocking pipe. */
  private tryWrite(chunk: Buffer): boolean {
    try {
      let offset = 0;
      while (offset < chunk.length) offset += fs.writeSync(this.fd, chunk, offset);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
      // stdout is gone (closed pipe): nothing more can be said there.
      return true;
    }
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const chunk = this.queue[0]!;
      if (!this.tryWrite(chunk)) {
        setTimeout(() => this.drainQueue(), RETRY_MS).unref();
        return;
      }
      this.queue.shift();
      this.queuedBytes -= chunk.length;
    }
    this.writing = false;
  }
}

function isRegularFile(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isFile();
  } catch {
    return false;
  }
}
