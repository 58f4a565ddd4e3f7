// Writing files that other processes read at the same time: a reader sees the
// whole old file, the whole new one, or none, never half of one.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Errors of file systems that have no hard links (FAT, some network mounts). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV']);

/**
 * Creates `target` with `data` unless it exists already; true when this call
 * created it. The file is written and synced under a temporary name, then
 * hard-linked into place, which fails for everyone but one when several
 * processes race. Where hard links are not supported it falls back to an
 * exclusive create (readers must then tolerate a short file; see `readComplete`).
 */
export async function createExclusive(target: string, data: string, mode: number): Promise<boolean> {
  const temp = await writeTemp(target, data, mode);
  try {
    await fs.link(temp, target);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINKS.has(code)) throw err;
  } finally {
    await fs.rm(temp, { force: true });
  }
  try {
    await fs.writeFile(target, data, { flag: 'wx', mode });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Writes `target` whole, replacing what is there: temporary file, sync, rename. */
export async function replaceFile(target: string, data: string, mode: number): Promise<void> {
  const temp = await writeTemp(target, data, mode);
  try {
    await fs.rename(temp, target);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

/** The file's text, or null when it does not exist. */
export async function readIfExists(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Reads a file that another process may still be writing (the no-hard-link
 * fallback): retries while `complete` says the text is not whole yet.
 */
export async function readComplete(file: string, complete: (text: string) => boolean, attempts = 20, delayMs = 25): Promise<string | null> {
  for (let i = 0; ; i++) {
    const text = await readIfExists(file);
    if (text === null || complete(text) || i >= attempts) return text;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

async function writeTemp(target: string, data: string, mode: number): Promise<string> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  return temp;
}
