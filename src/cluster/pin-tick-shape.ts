// Keeps one `process.nextTick` queue entry alive for the life of the process.
//
// Node builds each tick entry as an object literal with symbol keys. When no
// entry is alive during a full GC, V8 clears the weak map transitions that
// produced its hidden class and builds a fresh one on the next tick; after a
// few rounds of that the property-store caches inside nextTick go
// megamorphic and every tick takes the generic path (~300 ns instead of
// ~45 ns, measured). A worker makes about ten ticks per request, so this is
// several µs per request. Holding one entry pins the hidden class. It must run
// before the first full GC, so worker-main imports this module first.
import { createHook } from 'node:async_hooks';

let pinned: object | undefined;

const hook = createHook({
  init(_id, type, _trigger, resource) {
    if (type === 'TickObject' && pinned === undefined) pinned = resource;
  },
});
hook.enable();
process.nextTick(() => {});
hook.disable();

export function pinnedTickShape(): object | undefined {
  return pinned;
}
