import { execFileSync } from 'node:child_process';
import { constants } from 'node:module';
import t from 'tap';
import { WORKER_MMAP_THRESHOLD_BYTES, WORKER_SEMI_SPACE_MIB, WORKER_V8_FLAGS, workerEnv, workerExecArgv } from '../../src/cluster/worker-flags.ts';

const semi = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;
const all = [semi, '--no-maglev', '--no-liftoff'];

const cases: { name: string; execArgv: string[]; nodeOptions?: string; expected: string[] }[] = [
  { name: 'no flags: every worker setting is added', execArgv: [], expected: all },
  { name: "the primary's flags are kept, in order, ours after", execArgv: ['--enable-source-maps', '--cpu-prof'], expected: ['--enable-source-maps', '--cpu-prof', ...all] },
  { name: 'a semi-space size on the command line wins', execArgv: ['--max-semi-space-size=32'], expected: ['--max-semi-space-size=32', '--no-maglev', '--no-liftoff'] },
  { name: 'underscore spelling counts too', execArgv: ['--max_semi_space_size=4'], expected: ['--max_semi_space_size=4', '--no-maglev', '--no-liftoff'] },
  { name: 'a size in NODE_OPTIONS wins, with its value after a space', execArgv: [], nodeOptions: '--max-old-space-size=512 --max-semi-space-size 2', expected: ['--no-maglev', '--no-liftoff'] },
  { name: 'a similar flag is not taken for it', execArgv: ['--min-semi-space-size=1'], nodeOptions: '--max-old-space-size=512', expected: ['--min-semi-space-size=1', ...all] },
  { name: '--maglev given: Maglev stays on', execArgv: ['--maglev'], expected: ['--maglev', semi, '--no-liftoff'] },
  { name: '--no-maglev given: not added twice', execArgv: ['--no-maglev'], expected: ['--no-maglev', semi, '--no-liftoff'] },
  { name: 'a Maglev sub-setting is not the setting', execArgv: ['--no-maglev-inlining'], expected: ['--no-maglev-inlining', ...all] },
  { name: '--liftoff in NODE_OPTIONS: Liftoff stays on', execArgv: [], nodeOptions: '--liftoff', expected: [semi, '--no-maglev'] },
  { name: '--liftoff-only is a Liftoff choice (--no-liftoff would contradict it)', execArgv: ['--liftoff_only'], expected: ['--liftoff_only', semi, '--no-maglev'] },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(workerExecArgv(c.execArgv, c.nodeOptions), c.expected);
  });
}

t.test('every flag a worker adds is one Node accepts', async (t) => {
  // A misspelt V8 flag would stop every worker at start; ask this Node.
  const out = execFileSync(process.execPath, [...WORKER_V8_FLAGS.map(({ flag }) => flag), '-p', '1'], { encoding: 'utf8' });
  t.equal(out.trim(), '1');
});

t.test('the given array is not changed', async (t) => {
  const execArgv = ['--enable-source-maps'];
  workerExecArgv(execArgv, undefined);
  t.same(execArgv, ['--enable-source-maps']);
});

const { FAILED, ENABLED, ALREADY_ENABLED, DISABLED } = constants.compileCacheStatus;
const threshold = `glibc.malloc.mmap_threshold=${WORKER_MMAP_THRESHOLD_BYTES}`;

const envCases: { name: string; cache: { status: number; directory?: string }; glibcTunables?: string; expected: Record<string, string> }[] = [
  { name: 'cache on: workers are pointed at it', cache: { status: ENABLED, directory: '/tmp/node-compile-cache' }, expected: { NODE_COMPILE_CACHE: '/tmp/node-compile-cache', GLIBC_TUNABLES: threshold } },
  { name: 'cache already on (NODE_COMPILE_CACHE given): the same directory', cache: { status: ALREADY_ENABLED, directory: '/srv/cache' }, expected: { NODE_COMPILE_CACHE: '/srv/cache', GLIBC_TUNABLES: threshold } },
  { name: 'cache could not be made: no cache directory', cache: { status: FAILED }, expected: { GLIBC_TUNABLES: threshold } },
  { name: 'cache turned off (NODE_DISABLE_COMPILE_CACHE): no cache directory', cache: { status: DISABLED }, expected: { GLIBC_TUNABLES: threshold } },
  { name: "the user's other tunables are kept, ours appended", cache: { status: DISABLED }, glibcTunables: 'glibc.malloc.arena_max=2', expected: { GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${threshold}` } },
  { name: "the user's own threshold wins", cache: { status: DISABLED }, glibcTunables: 'glibc.malloc.tcache_count=0:glibc.malloc.mmap_threshold=262144', expected: {} },
  { name: 'a tunable whose name only starts alike is not taken for it', cache: { status: DISABLED }, glibcTunables: 'glibc.malloc.mmap_threshold_x=1', expected: { GLIBC_TUNABLES: `glibc.malloc.mmap_threshold_x=1:${threshold}` } },
  { name: 'an empty GLIBC_TUNABLES is as none', cache: { status: DISABLED }, glibcTunables: '', expected: { GLIBC_TUNABLES: threshold } },
];

for (const c of envCases) {
  t.test(`worker env: ${c.name}`, async (t) => {
    t.same(workerEnv(c.cache, c.glibcTunables), c.expected);
  });
}
