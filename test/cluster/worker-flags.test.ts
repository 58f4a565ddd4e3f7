import { constants } from 'node:module';
import t from 'tap';
import { WORKER_SEMI_SPACE_MIB, workerEnv, workerExecArgv } from '../../src/cluster/worker-flags.ts';

const added = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;

const cases: { name: string; execArgv: string[]; nodeOptions?: string; expected: string[] }[] = [
  { name: 'no flags: the young generation is set', execArgv: [], expected: [added] },
  { name: "the primary's flags are kept, in order", execArgv: ['--enable-source-maps', '--cpu-prof'], expected: ['--enable-source-maps', '--cpu-prof', added] },
  { name: 'a size on the command line wins', execArgv: ['--max-semi-space-size=32'], expected: ['--max-semi-space-size=32'] },
  { name: 'underscore spelling counts too', execArgv: ['--max_semi_space_size=4'], expected: ['--max_semi_space_size=4'] },
  { name: 'a size in NODE_OPTIONS wins', execArgv: [], nodeOptions: '--max-old-space-size=512 --max-semi-space-size 2', expected: [] },
  { name: 'a similar flag is not taken for it', execArgv: ['--min-semi-space-size=1'], nodeOptions: '--max-old-space-size=512', expected: ['--min-semi-space-size=1', added] },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.same(workerExecArgv(c.execArgv, c.nodeOptions), c.expected);
  });
}

t.test('the given array is not changed', async (t) => {
  const execArgv = ['--enable-source-maps'];
  workerExecArgv(execArgv, undefined);
  t.same(execArgv, ['--enable-source-maps']);
});

const { FAILED, ENABLED, ALREADY_ENABLED, DISABLED } = constants.compileCacheStatus;

const envCases: { name: string; cache: { status: number; directory?: string }; expected: Record<string, string> }[] = [
  { name: 'cache on: workers are pointed at it', cache: { status: ENABLED, directory: '/tmp/node-compile-cache' }, expected: { NODE_COMPILE_CACHE: '/tmp/node-compile-cache' } },
  { name: 'cache already on (NODE_COMPILE_CACHE given): the same directory', cache: { status: ALREADY_ENABLED, directory: '/srv/cache' }, expected: { NODE_COMPILE_CACHE: '/srv/cache' } },
  { name: 'cache could not be made: nothing added', cache: { status: FAILED }, expected: {} },
  { name: 'cache turned off (NODE_DISABLE_COMPILE_CACHE): nothing added', cache: { status: DISABLED }, expected: {} },
];

for (const c of envCases) {
  t.test(`worker env: ${c.name}`, async (t) => {
    t.same(workerEnv(c.cache), c.expected);
  });
}
