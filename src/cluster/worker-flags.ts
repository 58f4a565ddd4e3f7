// How a worker process is started: the Node flags it runs with (the primary's
// own, plus a young-generation size chosen for forwarding) and what it adds to
// the primary's environment (the module compile cache, a malloc setting). A
// flag or setting the user gives (command line, NODE_OPTIONS, GLIBC_TUNABLES)
// wins.
//
// --max-semi-space-size=4 (V8 picks 16 MiB here): every socket read hands
// JavaScript a fresh ArrayBuffer whose memory lives outside the V8 heap. A
// scavenge frees the dead ones, but with a large young generation scavenges
// are rare, and meanwhile V8's external-memory limit (64 MiB above what the
// last full GC left) starts a full mark-compact. At 64 KiB responses that was
// a full GC every ~100 ms on one worker. With 8 MiB, scavenges free the
// buffers first: measured on the forwarding bench, about 30 % less CPU per
// request at 64 KiB, 1-4 % more at 1 KiB (more scavenges), and about half the
// resident memory per worker under load. 16 MiB was ~2 % cheaper at 1 KiB but
// gave most of the 64 KiB gain back. 4 MiB cost the same CPU as 8 (paired
// runs, within noise at 1 and 64 KiB) and kept a worker under load 10-30 MiB
// smaller; 2 MiB cost ~15 % more CPU at 64 KiB.
//
// Not adopted (paired runs on the forwarding bench):
// --v8-pool-size=1 (one V8 background thread instead of four): glibc gives
// each thread that allocates its own malloc arena, and the optimizing
// compilers peak at 30-40 MiB of malloc'd memory while a worker warms up;
// with one thread 15 MiB of it stayed resident instead of 20-40 MiB. Same
// CPU at 1 KiB, but at 64 KiB 60 -> 82 µs per request on the bench (GC work
// the one thread could not take off the event loop).
// --heap-growing-percent=50 (the old generation's limit at 1.5x what
// survives a full GC instead of V8's 1.1-4x) kept a worker's heap near
// 30 MiB where it sometimes reached 53, but cost 70 % more CPU per request
// at 64 KiB.

export const WORKER_SEMI_SPACE_MIB = 4;

const SEMI_SPACE_FLAG = /(?:^|\s)--max[-_]semi[-_]space[-_]size(?:[=\s]|$)/;

export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = execArgv.some((arg) => SEMI_SPACE_FLAG.test(arg)) || SEMI_SPACE_FLAG.test(nodeOptions ?? '');
  return given ? [...execArgv] : [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}

/**
 * glibc's malloc serves a request of this many bytes or more with a mapping of
 * its own, unmapped when freed (`glibc.malloc.mmap_threshold`).
 *
 * Why: glibc starts at 128 KiB but raises the threshold to the size of each
 * mapped block that is freed, so once V8 has freed a large block (its
 * compilers and garbage collector do, from their own threads) blocks of up
 * to that size come from malloc's heaps, one per thread, and the free space
 * they leave between blocks still in use stays resident. On the forwarding
 * bench (1 KiB) malloc's heaps held 23-35 MiB of a worker under load, median
 * 29 of nine runs; with the threshold fixed here 15-34, median 20, at the
 * same CPU per request (a few mmap calls a second more). A threshold of
 * 32 KiB would take V8's compiler blocks too (4 MiB left), but it has to stay
 * above the 64 KiB buffer Node allocates for every socket read: at 32 KiB
 * each read cost a mapping and 64 KiB responses 80 % more CPU.
 * Other C libraries ignore the variable.
 */
export const WORKER_MMAP_THRESHOLD_BYTES = 64 * 1024 + 4096;

const MMAP_THRESHOLD_TUNABLE = 'glibc.malloc.mmap_threshold';

/**
 * The environment a worker adds to the primary's, given what
 * `module.enableCompileCache()` answered in the primary and the primary's own
 * GLIBC_TUNABLES.
 *
 * Why workers share the compile cache: a worker loads perch's .ts modules,
 * and stripping their types the first time loads Node's TypeScript stripper,
 * a WebAssembly module that then stays in memory: about 18 MiB of every
 * worker's resident memory, for code that never runs again. With the cache
 * on, a worker whose modules are already in it never loads the stripper.
 * The cache is Node's own (`NODE_COMPILE_CACHE`, default under the temporary
 * directory); `NODE_DISABLE_COMPILE_CACHE=1` turns it off, and a directory
 * that cannot be written only costs the memory back.
 */
export function workerEnv(cache: { directory?: string | undefined }, glibcTunables: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (cache.directory !== undefined) env.NODE_COMPILE_CACHE = cache.directory;
  const given = glibcTunables ?? '';
  if (!given.split(':').some((tunable) => tunable.startsWith(`${MMAP_THRESHOLD_TUNABLE}=`))) {
    const ours = `${MMAP_THRESHOLD_TUNABLE}=${WORKER_MMAP_THRESHOLD_BYTES}`;
    env.GLIBC_TUNABLES = given === '' ? ours : `${given}:${ours}`;
  }
  return env;
}
