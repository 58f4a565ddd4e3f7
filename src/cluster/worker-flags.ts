// How a worker process is started: the Node flags it runs with (the primary's
// own, plus V8 settings chosen for forwarding) and what it adds to the
// primary's environment (the module compile cache, a malloc setting). A flag
// or setting the user gives (command line, NODE_OPTIONS, GLIBC_TUNABLES) wins.
//
// --max-semi-space-size=4 (V8 grows it to ~32 MiB under load): every socket read hands
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
// --no-maglev and --no-liftoff: what V8's compilers leave behind. Each
// optimizing compile works in memory malloc'd by the V8 thread that runs it
// (30-40 MiB at once while a worker warms up); glibc keeps most of it in that
// thread's arena after it is freed, pinned by a few small blocks still in
// use (`malloc_stats`: 15-25 MiB held for 6 MiB in use). Maglev, the
// mid-tier compiler, compiles every function that gets warm, and TurboFan
// then compiles the hot ones again; without Maglev only the hot ones are
// compiled. undici's HTTP parser is WebAssembly: V8 first compiles it with
// Liftoff, then recompiles its one big function (the parser's state
// machine) with TurboFan on a background thread once it is hot, which takes
// 23 MiB of compiler memory for 0.1 s (`--trace-wasm-compilation-times`).
// With Liftoff off, each WebAssembly function is compiled by TurboFan on its
// first call, on the main thread, whose heap glibc does give back (the
// worker's peak passes 93 MiB once and falls back); the first response a
// worker parses waits for that compile, 40-100 ms, once. Paired runs on the
// forwarding bench, 8 at 1 KiB: a worker under load 97-108 MiB resident
// (median 101) -> 87-88, CPU per request the same (median 33.9 -> 33.4 µs);
// 7 at 64 KiB: 108-120 MiB (median 114) -> 101-113 (106), 77 -> 72 µs
// (noisy: 62-85 on either side). The other cost: a worker that has to strip
// TypeScript (a cold compile cache, i.e. the first start after an install
// or upgrade) starts ~0.6 s later, Node's stripper being WebAssembly too.
// Liftoff alone (--liftoff-only) saved as much memory but left the parser
// in baseline code: ~1.5 % more CPU at 1 KiB (--cpu-prof).
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
// at 64 KiB; =200 saved ~5 % at 64 KiB for +9 MiB per worker at 1 KiB.

export const WORKER_SEMI_SPACE_MIB = 4;

/**
 * The V8 flags a worker adds to the primary's, each unless the user sets the
 * same V8 setting (either way, e.g. `--maglev` or `--no-maglev`): `names` are
 * the settings that count as that one.
 */
export const WORKER_V8_FLAGS: readonly { readonly flag: string; readonly names: readonly string[] }[] = [
  { flag: `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`, names: ['max-semi-space-size'] },
  { flag: '--no-maglev', names: ['maglev'] },
  // --liftoff-only and --no-liftoff contradict each other.
  { flag: '--no-liftoff', names: ['liftoff', 'liftoff-only'] },
];

// V8 takes `-` and `_` alike, `--no-x` for false, and a value after `=` or a space.
const DEFAULTS = WORKER_V8_FLAGS.map(({ flag, names }) => {
  const alternatives = names.map((name) => name.replaceAll('-', '[-_]')).join('|');
  return { flag, given: new RegExp(`(?:^|\\s)--(?:no[-_])?(?:${alternatives})(?:[=\\s]|$)`) };
});

export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const args = [...execArgv];
  for (const { flag, given } of DEFAULTS) {
    if (!execArgv.some((arg) => given.test(arg)) && !given.test(nodeOptions ?? '')) args.push(flag);
  }
  return args;
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
