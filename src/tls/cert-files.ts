// The `[[https.certificates]]` files as secure contexts, picked up again when
// they change on disk: fs.watch on their directories reacts at once (watching
// the directory, not the file, also sees a file replaced by rename, as
// certbot and editors do), and a stat poll catches what watching misses
// (network mounts, inotify limits). Changes are debounced, so a certificate
// and key written one after the other are read together; a pair that does not
// load (key not written yet, or broken) keeps the previous context.
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { CertificateFile } from '../config/model.ts';

/** Where the TLS layer reports what happens on its own (pino's Logger fits). */
export interface TlsLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentLog: TlsLog = { info() {}, warn() {} };

export interface LoadedCertificate {
  file: CertificateFile;
  context: tls.SecureContext;
  /** SHA-256 fingerprint of the first certificate in the file. */
  fingerprint256: string;
  notAfter: Date;
}

export interface CertificateFilesOptions {
  /** Called after one or more files were loaded anew. */
  onChange: () => void;
  log?: TlsLog;
  /** Interval of the stat poll (default 2 s; 0 turns it off). */
  pollMs?: number;
  /** Watch the files' directories with fs.watch (default true; false: the poll only). */
  watch?: boolean;
  /** Quiet time after a change before the files are read (default 100 ms). */
  debounceMs?: number;
}

interface Slot {
  file: CertificateFile;
  loaded: LoadedCertificate | null;
  /** The text the current context was made from, `cert\0key`. */
  text: string;
  /** stat signature of both files at the last look. */
  stamp: string;
  /** The text that last failed to load, so a broken pair is reported once. */
  failed: string;
}

export class CertificateFiles {
  private readonly slots: Slot[];
  private readonly options: CertificateFilesOptions;
  private readonly log: TlsLog;
  private readonly watchers: fs.FSWatcher[] = [];
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private again = false;
  private closed = false;

  private constructor(files: readonly CertificateFile[], options: CertificateFilesOptions) {
    this.slots = files.map((file) => ({ file, loaded: null, text: '', stamp: '', failed: '' }));
    this.options = options;
    this.log = options.log ?? silentLog;
  }

  /** Loads every file; rejects, listing each file that does not load, when any fails. */
  static async open(files: readonly CertificateFile[], options: CertificateFilesOptions): Promise<CertificateFiles> {
    const set = new CertificateFiles(files, options);
    const problems: string[] = [];
    for (const slot of set.slots) {
      try {
        const text = await readPair(slot.file);
        slot.stamp = await stamp(slot.file);
        slot.loaded = loadPair(slot.file, text);
        slot.text = text;
      } catch (err) {
        problems.push(`${slot.file.cert} + ${slot.file.key}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) throw new Error(`certificate files that do not load:\n  ${problems.join('\n  ')}`);
    set.watch();
    return set;
  }

  get(index: number): LoadedCertificate | null {
    return this.slots[index]?.loaded ?? null;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Stops watching. */
  close(): void {
    this.closed = true;
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    if (this.poll !== null) clearInterval(this.poll);
    if (this.debounce !== null) clearTimeout(this.debounce);
  }

  /** Looks at every file now (what a change notification does, without the debounce). */
  check(): Promise<void> {
    if (this.checking !== null) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.checkAll().finally(() => {
      this.checking = null;
      if (this.again && !this.closed) {
        this.again = false;
        void this.check();
      }
    });
    return this.checking;
  }

  private watch(): void {
    const byDir = new Map<string, Set<string>>();
    for (const slot of this.slots) {
      for (const file of [slot.file.cert, slot.file.key]) {
        const dir = path.dirname(file);
        if (!byDir.has(dir)) byDir.set(dir, new Set());
        byDir.get(dir)!.add(path.basename(file));
      }
    }
    for (const [dir, names] of this.options.watch === false ? [] : byDir) {
      try {
        const watcher = fs.watch(dir, { persistent: false }, (_event, filename) => {
          // Some platforms give no name; then any change in the directory counts.
          if (filename === null || names.has(filename.toString())) this.schedule();
        });
        watcher.on('error', () => watcher.close());
        this.watchers.push(watcher);
      } catch (err) {
        this.log.warn({ dir, err: (err as Error).message }, 'cannot watch certificate directory; polling only');
      }
    }
    const pollMs = this.options.pollMs ?? 2_000;
    if (pollMs > 0 && this.slots.length > 0) {
      let polling = false;
      this.poll = setInterval(() => {
        if (polling) return;
        polling = true;
        Promise.all(this.slots.map(async (slot) => (await stamp(slot.file)) !== slot.stamp))
          .then((changed) => {
            if (changed.includes(true)) this.schedule();
          })
          .finally(() => {
            polling = false;
          });
      }, pollMs);
      this.poll.unref();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce !== null) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.check();
    }, this.options.debounceMs ?? 100);
    this.debounce.unref();
  }

  private async checkAll(): Promise<void> {
    let changed = false;
    for (const slot of this.slots) {
      if (this.closed) return;
      slot.stamp = await stamp(slot.file);
      let text: string;
      try {
        text = await readPair(slot.file);
      } catch (err) {
        this.reportOnce(slot, `unreadable:${(err as Error).message}`, err as Error);
        continue;
      }
      if (text === slot.text) continue;
      try {
        slot.loaded = loadPair(slot.file, text);
        slot.text = text;
        slot.failed = '';
        changed = true;
        this.log.info({ cert: slot.file.cert, hostnames: slot.file.hostnames, fingerprint256: slot.loaded.fingerprint256 }, 'certificate reloaded');
      } catch (err) {
        this.reportOnce(slot, text, err as Error);
      }
    }
    if (changed && !this.closed) this.options.onChange();
  }

  private reportOnce(slot: Slot, key: string, err: Error): void {
    if (slot.failed === key) return;
    slot.failed = key;
    this.log.warn({ cert: slot.file.cert, key: slot.file.key, err: err.message }, 'certificate file does not load; keeping the previous one');
  }
}

async function readPair(file: CertificateFile): Promise<string> {
  const [cert, key] = await Promise.all([fs.promises.readFile(file.cert, 'utf8'), fs.promises.readFile(file.key, 'utf8')]);
  return `${cert}\0${key}`;
}

/** A secure context from a certificate (chain) and key text; throws when they do not belong together. */
function loadPair(file: CertificateFile, text: string): LoadedCertificate {
  const [cert, key] = text.split('\0') as [string, string];
  const context = tls.createSecureContext({ cert, key });
  const x = new X509Certificate(cert);
  return { file, context, fingerprint256: x.fingerprint256, notAfter: x.validToDate };
}

/** mtime, size and inode of both files; "" parts for files that cannot be stat'ed. */
async function stamp(file: CertificateFile): Promise<string> {
  const [cert, key] = await Promise.all([statStamp(file.cert), statStamp(file.key)]);
  return `${cert}|${key}`;
}

async function statStamp(file: string): Promise<string> {
  try {
    const st = await fs.promises.stat(file);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return '';
  }
}
