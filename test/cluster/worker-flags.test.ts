import t from 'tap';
import { WORKER_SEMI_SPACE_MIB, workerExecArgv } from '../../src/cluster/worker-flags.ts';

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
