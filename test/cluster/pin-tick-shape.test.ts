// The pinned tick entry keeps nextTick's hidden class across full GCs (see src/cluster/pin-tick-shape.ts).
import { execFileSync } from 'node:child_process';
import t from 'tap';

const moduleUrl = new URL('../../src/cluster/pin-tick-shape.ts', import.meta.url).href;

// Runs in a fresh Node: many full GCs with no tick pending, then a new tick entry is compared with the pinned one.
const childScript = `
import { createHook } from 'node:async_hooks';
const { pinnedTickShape } = await import(${JSON.stringify(moduleUrl)});
const pinned = pinnedTickShape();
for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(() => { globalThis.gc(); resolve(); }));
let fresh;
const hook = createHook({ init(_id, type, _trigger, resource) { if (type === 'TickObject') fresh ??= resource; } }).enable();
process.nextTick(() => {});
hook.disable();
console.log(JSON.stringify({ pinned: typeof pinned, hasCallback: pinned !== undefined && 'callback' in pinned, sameMap: %HaveSameMap(pinned, fresh) }));
`;

t.test('a tick entry made after full GCs has the pinned entry\'s hidden class', async (t) => {
  const out = execFileSync(process.execPath, ['--expose-gc', '--allow-natives-syntax', '--input-type=module', '-e', childScript], { encoding: 'utf8', timeout: 30_000 });
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}');
  t.equal(result.pinned, 'object', 'a TickObject was captured');
  t.equal(result.hasCallback, true, 'it is a nextTick queue entry');
  t.equal(result.sameMap, true, 'same hidden class after 10 full GCs');
});
