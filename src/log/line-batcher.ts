// Where a worker's access lines go: encoded straight into one reusable
// buffer and written out in chunks of whole lines, so one system call
// carries a dozen lines or more. Into a pipe or socket a chunk is at most
// PIPE_BUF bytes, so that lines from several processes sharing one stdout
// never interleave (the kernel keeps such writes whole); into a regular file
// any write is kept whole (the file's lock), so chunks are larger. The write
// is a plain synchronous one (a few µs, no thread-pool round trip); only when
// stdout is a full non-blocking pipe do chunks wait in a bounded queue.
// sonic-boom, pino's own destination, measures the UTF-8 length of
// everything it holds on every line, and concatenating lines into one string
// costs a flatten and a copy at write time: both cost more than formatting.
import fs from 'node:fs';

/** POSIX's guarantee for atomic pipe writes on Linux. */
const PIPE_BUF = 4096;
/** Chunk size when stdout is a regular file. */
const FILE_CHUNK = 64 * 1024;
/** UTF-8 takes at most 3 bytes per UTF-16 code unit. */
const MAX_BYTES_PER_CHAR = 3;
/** Lines kept while stdout cannot take them; past this they are dropped and counted. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const RETRY_MS = 10;

export class LineBatcher {
  /** Lines not yet written, encoded: `chunk[0, used)`. */
  private readonly chunk: Buffer;
  private used = 0;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly fd: number;
  private readonly flushMs: number;
  /** Lines dropped because stdout could not keep up. */
  dropped = 0;

  constructor(fd: number, flushMs: number) {
    this.fd = fd;
    this.flushMs = flushMs;
    this.chunk = Buffer.allocUnsafeSlow(isRegularFile(fd) ? FILE_CHUNK : PIPE_BUF);
  }

  /** pino's destination interface: one whole line, newline included. */
  write(line: string): void {
    const room = this.chunk.length;
    if (line.length * MAX_BYTES_PER_CHAR > room) {
      // Perhaps too long for one chunk (a huge URL): encoded on its own, split at line ends if need be.
      const encoded = Buffer.from(line);
      if (this.used + encoded.length > room) this.cut();
      if (encoded.length > room) {
        this.cut();
        this.enqueue(encoded);
        return;
      }
      encoded.copy(this.chunk, this.used);
      this.used += encoded.length;
    } else {
      if (this.used + line.length * MAX_BYTES_PER_CHAR > room) this.cut();
      this.used += this.chunk.write(line, this.used);
    }
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
    if (this.used === 0) return;
    const pending = this.chunk.subarray(0, this.used);
    this.used = 0;
    this.enqueue(pending);
  }

  /** `bytes` may be a view of the reusable chunk: what cannot go out now is copied. */
  private enqueue(bytes: Buffer): void {
    let rest = bytes;
    if (this.queue.length === 0) {
      const written = this.tryWrite(rest);
      if (written === rest.length) return;
      rest = rest.subarray(written);
    }
    if (this.queuedBytes + rest.length > MAX_QUEUED_BYTES) {
      this.dropped += rest.reduce((lines, byte) => lines + (byte === 10 ? 1 : 0), 0);
      return;
    }
    this.queue.push(Buffer.from(rest));
    this.queuedBytes += rest.length;
    if (!this.writing) {
      this.writing = true;
      setTimeout(() => this.drainQueue(), RETRY_MS).unref();
    }
  }

  /** How many bytes went out: all of them, or fewer when stdout is a full non-blocking pipe. */
  private tryWrite(bytes: Buffer): number {
    let offset = 0;
    try {
      while (offset < bytes.length) offset += fs.writeSync(this.fd, bytes, offset);
      return offset;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return offset;
      // stdout is gone (closed pipe): nothing more can be said there.
      return bytes.length;
    }
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const chunk = this.queue[0]!;
      const written = this.tryWrite(chunk);
      this.queuedBytes -= written;
      if (written < chunk.length) {
        this.queue[0] = chunk.subarray(written);
        setTimeout(() => this.drainQueue(), RETRY_MS).unref();
        return;
      }
      this.queue.shift();
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
