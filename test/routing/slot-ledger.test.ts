// The primary's hard-limit slot ledger (SPEC §1, §3.3, §8): hard_limit is
// never exceeded globally (Σ slots leased to workers ≤ hard_limit), a
// request that finds every usable machine at hard_limit waits in a bounded
// FIFO queue, a dead worker's slots are reclaimed, a restarted machine's old
// slots are void. Expected effects are derived from those rules.
import t, { type Test } from 'tap';
import { NO_STEERING, type Steering } from '../../src/routing/rank.ts';
import { RECALL_PATIENCE_MS, SlotLedger, type LedgerEffect, type LedgerMachine, type RejectCode, type Want } from '../../src/routing/slot-ledger.ts';

const REGIONS = new Map([
  ['iad', 0],
  ['ord', 1],
]);

interface MachineOpts {
  app?: string;
  region?: string;
  routable?: boolean;
  coming?: boolean;
  soft?: number;
  hard?: number | null;
  epoch?: number;
  rttMs?: number | null;
}

function machine(id: string, o: MachineOpts = {}): LedgerMachine {
  return {
    id,
    app: o.app ?? 'web',
    region: o.region ?? 'iad',
    routable: o.routable ?? true,
    coming: o.coming ?? false,
    load: 0,
    soft: o.soft ?? 20,
    hard: o.hard === undefined ? 1 : o.hard,
    rttMs: o.rttMs ?? 1,
    epoch: o.epoch ?? 1,
  };
}

/**
 * A ledger whose grants are compared without their `share` (each worker's fair
 * part of hard_limit, tested on its own below), so the rows say what matters here.
 */
function newLedger(queueLengths: Record<string, number> = {}, workers = [1, 2, 3]): SlotLedger {
  const ledger = new SlotLedger(new Map(Object.entries(queueLengths).map(([app, queueLength]) => [app, { queueLength }])));
  ledger.regions = REGIONS;
  for (const worker of workers) ledger.addWorker(worker);
  for (const method of ['want', 'cancel', 'release', 'workerGone', 'pump', 'setMachine'] as const) {
    const original = (ledger[method] as (...args: unknown[]) => LedgerEffect[]).bind(ledger);
    (ledger as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => withoutShare(original(...args));
  }
  return ledger;
}

function withoutShare(effects: LedgerEffect[]): LedgerEffect[] {
  return effects.map((effect) => {
    if (effect.msg.t !== 'grant') return effect;
    const { share: _share, ...msg } = effect.msg;
    return { ...effect, msg } as LedgerEffect;
  });
}

function steer(s: Partial<Steering>): Steering {
  return { ...NO_STEERING, ...s };
}

function want(worker: number, seq: number, o: { app?: string; steering?: Steering; exclude?: string[] } = {}): Want {
  return { worker, seq, app: o.app ?? 'web', steering: o.steering ?? NO_STEERING, exclude: o.exclude ?? null };
}

const grant = (to: number, seq: number, machine: string, epoch = 1, slots = 1): LedgerEffect => ({ to, msg: { t: 'grant', seq, machine, epoch, slots } } as LedgerEffect);
const reject = (to: number, seq: number, code: RejectCode): LedgerEffect => ({ to, msg: { t: 'reject', seq, code } });
const contention = (app: string, on: boolean): LedgerEffect => ({ to: 'all', msg: { t: 'contention', app, on } });

// --- no hard_limit -------------------------------------------------------

t.test('machines without hard_limit always grant, with no slots to lease', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m', { hard: null, soft: 2 }));
  for (let seq = 1; seq <= 60; seq++) {
    const worker = 1 + (seq % 3);
    t.strictSame(ledger.want(want(worker, seq)), [grant(worker, seq, 'm', 1, 0)]);
  }
  t.equal(ledger.queued('web'), 0);
  t.equal(ledger.leasedTo(1, 'm') + ledger.leasedTo(2, 'm') + ledger.leasedTo(3, 'm'), 0);
  t.equal(ledger.loadOf('m'), 60, 'each grant counts as load at once');
});

// --- choosing, and never over hard_limit ---------------------------------

t.test('grants follow the ranking: own region first, the next region when it is at hard_limit, then wait', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('ord-1', { region: 'ord' }));
  ledger.setMachine(machine('iad-1'));
  t.strictSame(ledger.want(want(1, 1)), [grant(1, 1, 'iad-1')]);
  t.strictSame(ledger.want(want(2, 1)), [grant(2, 1, 'ord-1')]);
  t.strictSame(ledger.want(want(3, 1)), [contention('web', true)]);
  t.equal(ledger.queued('web'), 1);
});

t.test('grants use the reported load: under soft_limit before over it', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('a', { hard: null, soft: 3 }));
  ledger.setMachine(machine('b', { hard: null, soft: 3 }));
  ledger.report(1, 'a', 1, 3);
  ledger.report(2, 'b', 1, 1);
  t.strictSame(ledger.want(want(3, 1)), [grant(3, 1, 'b', 1, 0)], 'b has 1 of 3');
  t.strictSame(ledger.want(want(3, 2)), [grant(3, 2, 'b', 1, 0)], 'b has 2 of 3');
  ledger.report(1, 'a', 1, 5);
  t.strictSame(ledger.want(want(3, 3)), [grant(3, 3, 'b', 1, 0)], 'both over soft_limit: b (3) is less loaded than a (5)');
  ledger.report(3, 'b', 1, 7);
  t.strictSame(ledger.want(want(3, 4)), [grant(3, 4, 'a', 1, 0)], 'now a (5) is less loaded than b (7)');
});

t.test('grants honour steering', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('iad-1', { hard: null }));
  ledger.setMachine(machine('ord-1', { hard: null, region: 'ord' }));
  t.strictSame(ledger.want(want(1, 1, { steering: steer({ forceRegions: ['ord'] }) })), [grant(1, 1, 'ord-1', 1, 0)]);
  t.strictSame(ledger.want(want(1, 2, { steering: steer({ preferInstance: 'ord-1' }) })), [grant(1, 2, 'ord-1', 1, 0)]);
  t.strictSame(ledger.want(want(1, 3, { steering: steer({ forceInstance: 'iad-1' }) })), [grant(1, 3, 'iad-1', 1, 0)]);
  t.strictSame(ledger.want(want(1, 4, { exclude: ['iad-1'] })), [grant(1, 4, 'ord-1', 1, 0)]);
});

t.test('Σ slots leased to several workers never exceeds hard_limit', async (t) => {
  const ledger = newLedger({ web: 100 });
  ledger.setMachine(machine('m', { hard: 7 }));
  const leased = (): number => [1, 2, 3].reduce((sum, worker) => sum + ledger.leasedTo(worker, 'm'), 0);
  let grants = 0;
  for (let seq = 1; seq <= 20; seq++) {
    const worker = 1 + (seq % 3);
    const effects = ledger.want(want(worker, seq));
    for (const effect of effects) if (effect.msg.t === 'grant') grants++;
    t.ok(leased() <= 7, `after want ${seq}: ${leased()} leased`);
  }
  t.equal(leased(), 7, 'every slot is leased');
  t.ok(grants >= 1 && grants <= 7, `${grants} grants`);
  t.equal(ledger.queued('web'), 20 - grants, 'the others wait');
  // Giving back more than held returns only what is held.
  const held = ledger.leasedTo(1, 'm');
  ledger.release(1, 'm', 1, held + 5);
  t.equal(ledger.leasedTo(1, 'm'), 0);
  t.ok(leased() <= 7, `after an over-release: ${leased()} leased`);
});

t.test('spare slots are leased only when nobody waits', async (t) => {
  const ledger = newLedger({}, [1, 2]);
  ledger.setMachine(machine('m', { hard: 10 }));
  ledger.setMachine(machine('pinned', { hard: 1 }));
  // Quiet app: the first grant may carry spare slots, never more than the limit.
  const [first] = ledger.want(want(1, 1, { steering: steer({ forceInstance: 'm' }) }));
  t.match(first, { to: 1, msg: { t: 'grant', seq: 1, machine: 'm' } });
  const slots = first!.msg.t === 'grant' ? first!.msg.slots : 0;
  t.ok(slots > 1 && slots <= 10, `quiet app: ${slots} slots`);
  // Someone waits (for another machine): grants carry one slot only.
  t.strictSame(ledger.want(want(2, 1, { steering: steer({ forceInstance: 'pinned' }) })), [grant(2, 1, 'pinned')]);
  t.strictSame(ledger.want(want(1, 2, { steering: steer({ forceInstance: 'pinned' }) })), [contention('web', true)]);
  t.strictSame(ledger.want(want(2, 2, { steering: steer({ forceInstance: 'm' }) })), [grant(2, 2, 'm', 1, 1)]);
  t.strictSame(ledger.want(want(2, 3, { steering: steer({ forceInstance: 'm' }) })), [grant(2, 3, 'm', 1, 1)]);
  // The waiter gets exactly the slot that freed.
  t.strictSame(ledger.release(2, 'pinned', 1, 1), [grant(1, 2, 'pinned'), contention('web', false)]);
});

// --- FIFO ----------------------------------------------------------------

t.test('FIFO: the oldest waiter gets the next freed slot', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m'));
  t.strictSame(ledger.want(want(1, 1)), [grant(1, 1, 'm')]);
  t.strictSame(ledger.want(want(2, 1)), [contention('web', true)], 'contention on with the first waiter');
  t.strictSame(ledger.want(want(3, 1)), [], 'already on');
  t.strictSame(ledger.want(want(2, 2)), []);
  t.equal(ledger.queued('web'), 3);
  t.strictSame(ledger.release(1, 'm', 1, 1), [grant(2, 1, 'm')]);
  t.strictSame(ledger.release(2, 'm', 1, 1), [grant(3, 1, 'm')]);
  t.strictSame(ledger.release(3, 'm', 1, 1), [grant(2, 2, 'm'), contention('web', false)], 'contention off when the queue empties');
  t.equal(ledger.queued('web'), 0);
  t.strictSame(ledger.release(2, 'm', 1, 1), [], 'nobody waits');
  t.strictSame(ledger.want(want(1, 2)), [grant(1, 2, 'm')]);
});

t.test('FIFO: the oldest waiter that can use the freed slot gets it', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('a'));
  ledger.setMachine(machine('b', { region: 'ord' }));
  t.strictSame(ledger.want(want(1, 1)), [grant(1, 1, 'a')]);
  t.strictSame(ledger.want(want(1, 2)), [grant(1, 2, 'b')]);
  t.strictSame(ledger.want(want(2, 1, { steering: steer({ forceInstance: 'b' }) })), [contention('web', true)]);
  t.strictSame(ledger.want(want(3, 1)), []);
  t.strictSame(ledger.want(want(2, 2, { exclude: ['a'] })), []);
  t.strictSame(ledger.release(1, 'a', 1, 1), [grant(3, 1, 'a')], 'a is no use to the two others');
  t.strictSame(ledger.release(1, 'b', 1, 1), [grant(2, 1, 'b')]);
  t.strictSame(ledger.release(2, 'b', 1, 1), [grant(2, 2, 'b'), contention('web', false)]);
});

t.test('queues are per app', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('w'));
  ledger.setMachine(machine('x', { app: 'api' }));
  t.strictSame(ledger.want(want(1, 1)), [grant(1, 1, 'w')]);
  t.strictSame(ledger.want(want(1, 2)), [contention('web', true)]);
  t.strictSame(ledger.want(want(1, 3, { app: 'api' })), [grant(1, 3, 'x')]);
  t.strictSame(ledger.want(want(1, 4, { app: 'api' })), [contention('api', true)]);
  t.strictSame(ledger.release(1, 'x', 1, 1), [grant(1, 4, 'x'), contention('api', false)]);
  t.equal(ledger.queued('web'), 1);
});

// --- bounds and rejections -----------------------------------------------

t.test('queue length bound: the request past it gets PR04 at once', async (t) => {
  const ledger = newLedger({ web: 2 });
  ledger.setMachine(machine('m'));
  t.strictSame(ledger.want(want(1, 1)), [grant(1, 1, 'm')]);
  t.strictSame(ledger.want(want(2, 1)), [contention('web', true)]);
  t.strictSame(ledger.want(want(3, 1)), []);
  t.strictSame(ledger.want(want(2, 2)), [reject(2, 2, 'PR04')]);
  t.equal(ledger.queued('web'), 2);
  t.strictSame(ledger.cancel(3, 1, 'web'), [], 'one still waits: contention stays on');
  t.strictSame(ledger.want(want(2, 3)), [], 'room again');
  t.strictSame(ledger.release(1, 'm', 1, 1), [grant(2, 1, 'm')]);
});

t.test('a retry excluded a machine that is starting again: it waits for the new process', async (t) => {
  // The exclude list names the process that refused the request; a machine
  // that is not running now will be a new process when it runs again.
  const ledger = newLedger();
  ledger.setMachine(machine('a', { routable: false, coming: true }));
  t.strictSame(ledger.want(want(1, 1, { exclude: ['a'] })), [contention('web', true)], 'it waits');
  t.strictSame(ledger.setMachine(machine('a', { epoch: 2 })), [grant(1, 1, 'a', 2), contention('web', false)], 'and gets the new process');
});

t.test('grants top a quiet worker up to its share: ceil(hard_limit / workers)', async (t) => {
  let now = 0;
  const ledger = new SlotLedger(new Map(), { now: () => now });
  ledger.regions = REGIONS;
  for (const worker of [1, 2]) ledger.addWorker(worker);
  ledger.setMachine(machine('m', { hard: 9 }));
  // Share 5 of 9: the first grant gives the 1 asked for and 4 spare.
  t.strictSame(ledger.want(want(1, 1)), [{ to: 1, msg: { t: 'grant', seq: 1, machine: 'm', epoch: 1, slots: 5, share: 5 } }]);
  ledger.report(1, 'm', 1, 5);
  // Worker 1 needs a sixth: beyond its share it gets exactly one.
  t.strictSame(ledger.want(want(1, 2)), [{ to: 1, msg: { t: 'grant', seq: 2, machine: 'm', epoch: 1, slots: 1, share: 5 } }]);
  // Worker 2 gets what is left, up to its share: 3 free, so 3.
  t.strictSame(ledger.want(want(2, 1)), [{ to: 2, msg: { t: 'grant', seq: 1, machine: 'm', epoch: 1, slots: 3, share: 5 } }]);
  now += 1;
});

t.test('slots leased but idle at another worker are recalled, without contention', async (t) => {
  let now = 0;
  const ledger = new SlotLedger(new Map(), { now: () => now });
  ledger.regions = REGIONS;
  for (const worker of [1, 2]) ledger.addWorker(worker);
  ledger.setMachine(machine('m', { hard: 2 }));
  // Worker 1 takes both slots (its share is 1: it gets 1, then 1 more) and finishes with one.
  ledger.want(want(1, 1));
  ledger.want(want(1, 2));
  ledger.report(1, 'm', 1, 1);
  t.equal(ledger.leasedTo(1, 'm'), 2);
  // Worker 2 asks: no free slot, but worker 1 has one idle: recall it; nobody goes into contention.
  t.strictSame(ledger.want(want(2, 1)), [{ to: 1, msg: { t: 'recall', machine: 'm', count: 1 } }]);
  t.equal(ledger.queued('web'), 1, 'the want waits for it');
  // The slot comes back: it goes to the waiter.
  t.strictSame(ledger.release(1, 'm', 1, 1), [{ to: 2, msg: { t: 'grant', seq: 1, machine: 'm', epoch: 1, slots: 1, share: 1 } }]);
  t.equal(ledger.queued('web'), 0);
});

t.test('a recall that brings nothing back puts the route into contention after its patience', async (t) => {
  let now = 0;
  const ledger = new SlotLedger(new Map(), { now: () => now });
  ledger.regions = REGIONS;
  for (const worker of [1, 2]) ledger.addWorker(worker);
  ledger.setMachine(machine('m', { hard: 1 }));
  ledger.want(want(1, 1));
  ledger.report(1, 'm', 1, 0); // a stale report: the slot looks idle
  t.strictSame(ledger.want(want(2, 1)), [{ to: 1, msg: { t: 'recall', machine: 'm', count: 1 } }]);
  ledger.report(1, 'm', 1, 1); // it was in use after all
  t.strictSame(ledger.pump('web'), [], 'within the patience: still waiting for the recall');
  now += RECALL_PATIENCE_MS;
  t.strictSame(ledger.pump('web'), [{ to: 'all', msg: { t: 'contention', app: 'web', on: true } }], 'then contention');
});

t.test('queue length 0: no request ever waits', async (t) => {
  const ledger = newLedger({ web: 0 });
  ledger.setMachine(machine('m'));
  t.strictSame(ledger.want(want(1, 1)), [grant(1, 1, 'm')]);
  t.strictSame(ledger.want(want(2, 1)), [reject(2, 1, 'PR04')], 'no contention either');
});

const rejections: [name: string, machines: LedgerMachine[], want: Want, code: RejectCode][] = [
  ['force-instance of an unknown machine', [machine('m', { hard: null })], want(1, 1, { steering: steer({ forceInstance: 'nope' }) }), 'PR02'],
  ['force-instance of a machine of another app', [machine('m', { hard: null }), machine('x', { app: 'api' })], want(1, 1, { steering: steer({ forceInstance: 'x' }) }), 'PR02'],
  ['force-instance of a machine that is not routable', [machine('m', { routable: false }), machine('n')], want(1, 1, { steering: steer({ forceInstance: 'm' }) }), 'PR01'],
  ['an app without machines', [machine('x', { app: 'api' })], want(1, 1), 'PR01'],
  ['nothing routable and nothing coming', [machine('a', { routable: false }), machine('b', { routable: false, region: 'ord' })], want(1, 1), 'PR01'],
  ['every routable machine excluded', [machine('a'), machine('b', { routable: false })], want(1, 1, { exclude: ['a'] }), 'PR01'],
  ['force-region without machines', [machine('a')], want(1, 1, { steering: steer({ forceRegions: ['syd'] }) }), 'PR01'],
  [
    'a machine is coming, but not in the forced region',
    [machine('a', { routable: false }), machine('b', { routable: false, coming: true, region: 'ord' })],
    want(1, 1, { steering: steer({ forceRegions: ['iad'] }) }),
    'PR01',
  ],
  [
    'a machine is coming, but it is not the forced instance',
    [machine('a', { routable: false }), machine('b', { routable: false, coming: true })],
    want(1, 1, { steering: steer({ forceInstance: 'a' }) }),
    'PR01',
  ],
];

for (const [name, machines, w, code] of rejections) {
  t.test(`${code}: ${name}`, async (t) => {
    const ledger = newLedger();
    for (const m of machines) ledger.setMachine(m);
    t.strictSame(ledger.want(w), [reject(w.worker, w.seq, code)]);
    t.equal(ledger.queued(w.app), 0, 'nothing waits');
  });
}

t.test('PR02 comes before the queue bound', async (t) => {
  const ledger = newLedger({ web: 0 });
  ledger.setMachine(machine('m'));
  ledger.want(want(1, 1));
  t.strictSame(ledger.want(want(2, 1, { steering: steer({ forceInstance: 'ghost' }) })), [reject(2, 1, 'PR02')]);
});

// --- machines on their way -----------------------------------------------

t.test('a coming machine makes wants wait; they are granted when it is up', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('c', { routable: false, coming: true, hard: null }));
  t.strictSame(ledger.want(want(1, 1)), [contention('web', true)]);
  t.strictSame(ledger.want(want(2, 1)), []);
  t.strictSame(ledger.setMachine(machine('c', { hard: null })), [grant(1, 1, 'c', 1, 0), grant(2, 1, 'c', 1, 0), contention('web', false)]);
});

t.test('a coming machine in the forced region makes wants wait', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('a'));
  ledger.setMachine(machine('b', { region: 'ord', routable: false, coming: true }));
  t.strictSame(ledger.want(want(1, 1, { steering: steer({ forceRegions: ['ord'] }) })), [contention('web', true)]);
  t.strictSame(ledger.setMachine(machine('b', { region: 'ord' })), [grant(1, 1, 'b'), contention('web', false)]);
});

t.test('when the coming machine fails, its waiters get PR01', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('c', { routable: false, coming: true }));
  t.strictSame(ledger.want(want(1, 1)), [contention('web', true)]);
  t.strictSame(ledger.setMachine(machine('c', { routable: false, coming: false })), [reject(1, 1, 'PR01'), contention('web', false)]);
});

t.test('when the machine waited for goes down, waiters with nothing else get PR01, the others keep waiting', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('a'));
  ledger.setMachine(machine('b'));
  t.strictSame(ledger.want(want(1, 1, { steering: steer({ forceInstance: 'a' }) })), [grant(1, 1, 'a')]);
  t.strictSame(ledger.want(want(1, 2, { steering: steer({ forceInstance: 'b' }) })), [grant(1, 2, 'b')]);
  t.strictSame(ledger.want(want(2, 1, { steering: steer({ forceInstance: 'a' }) })), [contention('web', true)]);
  t.strictSame(ledger.want(want(3, 1)), []);
  t.strictSame(ledger.setMachine(machine('a', { routable: false })), [reject(2, 1, 'PR01')]);
  t.equal(ledger.queued('web'), 1);
});

// --- cancel --------------------------------------------------------------

t.test('cancel removes a waiter; the next one gets the slot', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m'));
  ledger.want(want(1, 1));
  t.strictSame(ledger.want(want(2, 1)), [contention('web', true)]);
  t.strictSame(ledger.want(want(3, 1)), []);
  t.strictSame(ledger.cancel(2, 1, 'web'), []);
  t.equal(ledger.queued('web'), 1);
  t.strictSame(ledger.cancel(2, 1, 'web'), [], 'twice is harmless');
  t.strictSame(ledger.cancel(9, 9, 'web'), [], 'unknown waiter');
  t.strictSame(ledger.cancel(1, 1, 'api'), [], 'app without a queue');
  t.strictSame(ledger.release(1, 'm', 1, 1), [grant(3, 1, 'm'), contention('web', false)]);
});

t.test('cancelling the last waiter turns contention off', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m'));
  ledger.want(want(1, 1));
  t.strictSame(ledger.want(want(2, 1)), [contention('web', true)]);
  t.strictSame(ledger.cancel(2, 1, 'web'), [contention('web', false)]);
  t.strictSame(ledger.release(1, 'm', 1, 1), [], 'nobody to grant');
  t.strictSame(ledger.want(want(2, 2)), [grant(2, 2, 'm')]);
});

// --- worker death --------------------------------------------------------

t.test('workerGone frees its slots and load, drops its wants; other workers get the slots', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m'));
  ledger.setMachine(machine('n', { hard: null }));
  t.strictSame(ledger.want(want(1, 1, { steering: steer({ forceInstance: 'm' }) })), [grant(1, 1, 'm')]);
  t.strictSame(ledger.want(want(1, 2, { steering: steer({ forceInstance: 'n' }) })), [grant(1, 2, 'n', 1, 0)]);
  ledger.report(1, 'n', 1, 4);
  ledger.report(2, 'n', 1, 2);
  t.strictSame(ledger.want(want(1, 3, { steering: steer({ forceInstance: 'm' }) })), [contention('web', true)]);
  t.strictSame(ledger.want(want(2, 1, { steering: steer({ forceInstance: 'm' }) })), []);
  t.strictSame(ledger.want(want(3, 1, { steering: steer({ forceInstance: 'm' }) })), []);
  t.strictSame(ledger.workerGone(1), [grant(2, 1, 'm')]);
  t.equal(ledger.leasedTo(1, 'm'), 0);
  t.equal(ledger.leasedTo(2, 'm'), 1);
  t.equal(ledger.loadOf('n'), 2, 'its load is gone');
  t.equal(ledger.queued('web'), 1);
  t.strictSame(ledger.release(2, 'm', 1, 1), [grant(3, 1, 'm'), contention('web', false)], 'its wait was dropped');
});

t.test('workerGone of the only waiter turns contention off', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m'));
  ledger.want(want(1, 1));
  t.strictSame(ledger.want(want(2, 1)), [contention('web', true)]);
  t.strictSame(ledger.workerGone(2), [contention('web', false)]);
});

// --- epochs --------------------------------------------------------------

t.test('a new epoch voids the old slots; old-epoch releases and reports are ignored', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m', { epoch: 1 }));
  t.strictSame(ledger.want(want(1, 1)), [grant(1, 1, 'm', 1)]);
  t.strictSame(ledger.want(want(2, 1)), [contention('web', true)]);
  t.strictSame(ledger.setMachine(machine('m', { epoch: 2 })), [grant(2, 1, 'm', 2), contention('web', false)], 'restarted: the old slot is void');
  t.equal(ledger.leasedTo(1, 'm'), 0);
  t.equal(ledger.leasedTo(2, 'm'), 1);
  t.equal(ledger.loadOf('m'), 1, 'only the new grant counts');
  t.strictSame(ledger.want(want(3, 1)), [contention('web', true)]);
  t.strictSame(ledger.release(1, 'm', 1, 1), [], 'an old-epoch release frees nothing');
  t.equal(ledger.leasedTo(2, 'm'), 1);
  ledger.report(1, 'm', 1, 7);
  t.equal(ledger.loadOf('m'), 1, 'an old-epoch report is ignored');
  ledger.report(2, 'm', 2, 1);
  t.equal(ledger.loadOf('m'), 1);
  t.strictSame(ledger.release(2, 'm', 2, 1), [grant(3, 1, 'm', 2), contention('web', false)]);
});

t.test('the same epoch keeps leases and load', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m', { hard: 2 }));
  ledger.report(1, 'm', 1, 0);
  const [first] = ledger.want(want(1, 1));
  t.match(first, { msg: { t: 'grant', machine: 'm', epoch: 1 } });
  const held = ledger.leasedTo(1, 'm');
  ledger.report(1, 'm', 1, 1);
  t.strictSame(ledger.setMachine(machine('m', { hard: 2, rttMs: 9 })), []);
  t.equal(ledger.leasedTo(1, 'm'), held);
  t.equal(ledger.loadOf('m'), 1);
});

t.test('a report older than a give-back does not make a machine look full', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('b', { hard: 2 }));
  ledger.setMachine(machine('c', { hard: 2, region: 'ord' }));
  t.strictSame(ledger.want(want(1, 1, { steering: steer({ forceInstance: 'b' }) })), [grant(1, 1, 'b')]);
  t.strictSame(ledger.want(want(1, 2, { steering: steer({ forceInstance: 'b' }) })), [grant(1, 2, 'b')]);
  ledger.report(1, 'b', 1, 2);
  // Both requests end; the app is contended, so worker 1 gives both slots back before its next report.
  t.strictSame(ledger.release(1, 'b', 1, 2), []);
  t.strictSame(ledger.want(want(2, 1)), [grant(2, 1, 'b')], 'b, in the own region, has two free slots: no reason to leave');
});

t.test('a machine whose slots another worker holds idle does not hide a free one in the same region', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('a', { hard: 1 }));
  ledger.setMachine(machine('b', { hard: 2 }));
  ledger.setMachine(machine('c', { hard: 2, region: 'ord' }));
  t.strictSame(ledger.want(want(2, 1, { steering: steer({ forceInstance: 'a' }) })), [grant(2, 1, 'a')]);
  ledger.report(2, 'a', 1, 0); // its request ended, the slot stays with worker 2
  t.strictSame(ledger.want(want(1, 1, { steering: steer({ forceInstance: 'b' }) })), [grant(1, 1, 'b')]);
  t.strictSame(ledger.want(want(1, 2, { steering: steer({ forceInstance: 'b' }) })), [grant(1, 2, 'b')]);
  ledger.report(1, 'b', 1, 2);
  t.strictSame(ledger.release(1, 'b', 1, 2), []);
  t.strictSame(ledger.want(want(3, 1)), [grant(3, 1, 'b')]);
});

// --- reports -------------------------------------------------------------

t.test('reports set a worker share of the load; grants add to it until the next report', async (t) => {
  const ledger = newLedger();
  ledger.setMachine(machine('m', { hard: null }));
  ledger.report(1, 'm', 1, 3);
  ledger.report(2, 'm', 1, 4);
  t.equal(ledger.loadOf('m'), 7);
  ledger.want(want(1, 1));
  t.equal(ledger.usedBy(1, 'm'), 4);
  t.equal(ledger.loadOf('m'), 8);
  ledger.report(1, 'm', 1, 0);
  t.equal(ledger.loadOf('m'), 4);
  t.equal(ledger.loadOf('ghost'), 0);
  ledger.report(1, 'ghost', 1, 5);
  t.equal(ledger.loadOf('ghost'), 0, 'reports of unknown machines are ignored');
});

// --- property: random sequences keep every invariant ---------------------

/** mulberry32: small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface ModelMachine {
  id: string;
  app: string;
  region: string;
  hard: number | null;
  routable: boolean;
  coming: boolean;
  epoch: number;
}

const FLEET: ModelMachine[] = [
  { id: 'a', app: 'web', region: 'iad', hard: 3, routable: true, coming: false, epoch: 1 },
  { id: 'b', app: 'web', region: 'iad', hard: 2, routable: true, coming: false, epoch: 1 },
  { id: 'c', app: 'web', region: 'ord', hard: 8, routable: true, coming: false, epoch: 1 },
  { id: 's', app: 'web', region: 'ord', hard: 1, routable: false, coming: true, epoch: 1 },
  { id: 'n', app: 'api', region: 'iad', hard: null, routable: false, coming: false, epoch: 1 },
  { id: 'h', app: 'api', region: 'ord', hard: 2, routable: true, coming: false, epoch: 1 },
];
const QUEUE_LENGTH: Record<string, number> = { web: 3, api: 2 };
const STEERING: Record<string, Steering[]> = {
  web: [
    NO_STEERING,
    NO_STEERING,
    NO_STEERING,
    steer({ forceInstance: 'a' }),
    steer({ forceInstance: 's' }),
    steer({ forceInstance: 'ghost' }),
    steer({ forceInstance: 'h' }),
    steer({ forceRegions: ['ord'] }),
    steer({ forceRegions: ['syd'] }),
    steer({ preferRegions: ['ord'] }),
    steer({ preferInstance: 'c' }),
  ],
  api: [NO_STEERING, NO_STEERING, steer({ forceInstance: 'h' }), steer({ forceRegions: ['iad'] }), steer({ forceInstance: 'a' })],
};

function allows(w: Want, m: ModelMachine): boolean {
  if (m.app !== w.app) return false;
  if (w.exclude?.includes(m.id)) return false;
  if (w.steering.forceInstance !== null && w.steering.forceInstance !== m.id) return false;
  if (w.steering.forceRegions !== null && !w.steering.forceRegions.includes(m.region)) return false;
  return true;
}

/**
 * How much the want prefers a machine (lower first), from SPEC §3: preferred
 * instance, then preferred regions in order, then the forced regions in
 * order, else region closeness.
 */
function preference(w: Want, m: ModelMachine): number {
  if (w.steering.preferInstance === m.id) return -2000;
  const preferred = w.steering.preferRegions?.indexOf(m.region) ?? -1;
  if (preferred !== -1) return preferred - 1000;
  if (w.steering.forceRegions !== null) return w.steering.forceRegions.indexOf(m.region);
  return REGIONS.get(m.region) ?? 1000;
}

function runProperty(t: Test, seed: number, steps: number): void {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

  const ledger = newLedger(QUEUE_LENGTH, []);
  const fleet = FLEET.map((m) => ({ ...m }));
  const byId = new Map(fleet.map((m) => [m.id, m]));
  const toLedger = (m: ModelMachine): LedgerMachine => machine(m.id, { app: m.app, region: m.region, hard: m.hard, routable: m.routable, coming: m.coming, epoch: m.epoch });
  const workers: number[] = [];
  let nextWorker = 1;
  const addWorker = (): void => {
    workers.push(nextWorker);
    ledger.addWorker(nextWorker++);
  };
  // Workers come and go: the spare-slot share depends on how many there are.
  for (let i = 0; i < 1 + (seed % 3); i++) addWorker();
  for (const m of fleet) ledger.setMachine(toLedger(m));

  // What the workers hold, from the effects alone: machine → worker → slots (current epoch).
  const leases = new Map<string, Map<number, number>>(fleet.map((m) => [m.id, new Map()]));
  const queues = new Map<string, Want[]>([
    ['web', []],
    ['api', []],
  ]);
  const contended = new Map<string, boolean>([
    ['web', false],
    ['api', false],
  ]);
  const free = (m: ModelMachine): number => (m.hard === null ? Infinity : m.hard - [...leases.get(m.id)!.values()].reduce((a, b) => a + b, 0));
  const stats = { grants: 0, spare: 0, recalls: 0, PR01: 0, PR02: 0, PR04: 0, on: 0, off: 0, staleReleases: 0, restarts: 0, deaths: 0, maxQueued: 0 };
  // Routes whose waiters had a recall sent since their queue last emptied: they may wait without contention.
  const recalledFor = new Set<string>();
  const violations: string[] = [];
  let seq = 0;

  for (let step = 1; step <= steps && violations.length < 5; step++) {
    const fail = (what: string): void => void violations.push(`seed ${seed} step ${step}: ${what}`);
    const queuedBefore = new Map([...queues].map(([app, queue]) => [app, [...queue]]));
    let fresh: Want | null = null;
    let effects: LedgerEffect[];
    const roll = random();

    if (roll < 0.35) {
      const app = random() < 0.75 ? 'web' : 'api';
      const ids = fleet.filter((m) => m.app === app).map((m) => m.id);
      fresh = want(pick(workers), ++seq, { app, steering: pick(STEERING[app]!), exclude: random() < 0.2 ? [pick(ids)] : undefined });
      effects = ledger.want(fresh);
    } else if (roll < 0.57) {
      const held = [...leases].flatMap(([id, byWorker]) => [...byWorker].filter(([, n]) => n > 0).map(([worker]) => [id, worker] as const));
      const [id, worker] = held.length > 0 && random() < 0.9 ? pick(held) : [pick(fleet).id, pick(workers)];
      const m = byId.get(id)!;
      const stale = random() < 0.1;
      const count = int(1, 3);
      effects = ledger.release(worker, id, stale ? m.epoch - 1 : m.epoch, count);
      if (stale) stats.staleReleases++;
      else {
        const byWorker = leases.get(id)!;
        const had = byWorker.get(worker) ?? 0;
        byWorker.set(worker, had - Math.min(had, count));
      }
    } else if (roll < 0.67) {
      // A worker reports its in-flight count; on a machine with hard_limit it never has more than its slots.
      const m = pick(fleet);
      const worker = pick(workers);
      const stale = random() < 0.1;
      ledger.report(worker, m.id, stale ? m.epoch - 1 : m.epoch, m.hard === null || stale ? int(0, 5) : int(0, leases.get(m.id)!.get(worker) ?? 0));
      effects = [];
    } else if (roll < 0.77) {
      const waiting = [...queues.values()].flat();
      const w = waiting.length > 0 && random() < 0.9 ? pick(waiting) : want(pick(workers), seq + 1000, { app: pick(['web', 'api']) });
      effects = ledger.cancel(w.worker, w.seq, w.app);
      const queue = queues.get(w.app)!;
      const index = queue.indexOf(w);
      if (index !== -1) queue.splice(index, 1);
    } else if (roll < 0.97) {
      const m = pick(fleet);
      const state = pick(['started', 'started', 'starting', 'stopped'] as const);
      m.routable = state === 'started';
      m.coming = state === 'starting';
      if (random() < 0.3) {
        m.epoch++;
        leases.set(m.id, new Map());
        stats.restarts++;
      }
      effects = ledger.setMachine(toLedger(m));
    } else {
      if (workers.length > 1) {
        const dead = workers.splice(Math.floor(random() * workers.length), 1)[0]!;
        for (const byWorker of leases.values()) byWorker.delete(dead);
        for (const [app, queue] of queues) queues.set(app, queue.filter((w) => w.worker !== dead));
        effects = ledger.workerGone(dead);
        stats.deaths++;
      } else effects = [];
      if (workers.length === 0 || (workers.length < 4 && random() < 0.5)) addWorker();
    }

    // Apply the effects to the model, checking each one.
    const granted: { want: Want; machine: string }[] = [];
    for (const effect of effects) {
      const msg = effect.msg;
      if (effect.to === 'all') {
        if (msg.t !== 'contention') {
          fail(`${msg.t} sent to all`);
          continue;
        }
        if (contended.get(msg.app) === msg.on) fail(`contention ${msg.on} twice for ${msg.app}`);
        contended.set(msg.app, msg.on);
        stats[msg.on ? 'on' : 'off']++;
        continue;
      }
      if (msg.t === 'contention') {
        fail('contention sent to one worker');
        continue;
      }
      if (!workers.includes(effect.to)) fail(`${msg.t} to dead worker ${effect.to}`);
      if (msg.t === 'recall') {
        // A recall asks a worker that holds a slot of the machine for one it does not use.
        stats.recalls++;
        const m = byId.get(msg.machine);
        if (m === undefined || (leases.get(m.id)!.get(effect.to) ?? 0) < 1) fail(`recall of ${msg.machine} from worker ${effect.to}, which holds none`);
        recalledFor.add(m?.app ?? '');
        continue;
      }
      let w: Want | undefined;
      let app: string | undefined;
      if (fresh !== null && fresh.worker === effect.to && fresh.seq === msg.seq) {
        w = fresh;
        fresh = null;
      } else {
        for (const [name, queue] of queues) {
          const index = queue.findIndex((q) => q.worker === effect.to && q.seq === msg.seq);
          if (index !== -1) {
            w = queue.splice(index, 1)[0];
            app = name;
          }
        }
      }
      if (w === undefined) {
        fail(`${msg.t} for ${effect.to}:${msg.seq}, which does not wait`);
        continue;
      }
      app ??= w.app;
      if (msg.t === 'grant') {
        stats.grants++;
        const m = byId.get(msg.machine);
        if (m === undefined || !allows(w, m)) {
          fail(`grant of ${msg.machine} to a want that does not allow it`);
          continue;
        }
        if (!m.routable) fail(`grant of ${m.id}, which is not routable`);
        if (msg.epoch !== m.epoch) fail(`grant in epoch ${msg.epoch} of ${m.id}, now in ${m.epoch}`);
        if (m.hard === null && msg.slots !== 0) fail(`${msg.slots} slots of ${m.id} without hard_limit`);
        if (m.hard !== null && msg.slots < 1) fail(`grant of ${m.id} without a slot`);
        const better = fleet.find((o) => allows(w, o) && o.routable && free(o) > 0 && preference(w, o) < preference(w, m));
        if (better !== undefined) fail(`grant of ${m.id} while ${better.id}, preferred, has a free slot`);
        if (msg.slots > 1) {
          stats.spare++;
          if (queuedBefore.get(app)!.length > 0) fail(`${msg.slots} slots while ${queuedBefore.get(app)!.length} waited`);
        }
        const byWorker = leases.get(m.id)!;
        byWorker.set(w.worker, (byWorker.get(w.worker) ?? 0) + msg.slots);
        granted.push({ want: w, machine: m.id });
      } else {
        stats[msg.code]++;
        const ofApp = fleet.filter((m) => m.app === w.app);
        const known = w.steering.forceInstance === null || ofApp.some((m) => m.id === w.steering.forceInstance);
        if (msg.code === 'PR02' && known) fail('PR02 for a known machine');
        if (msg.code !== 'PR02' && !known) fail(`${msg.code} instead of PR02`);
        if (msg.code === 'PR01' && ofApp.some((m) => allows(w, m) && (m.routable || m.coming))) fail('PR01 while a usable machine is up or coming');
        if (msg.code === 'PR04' && queues.get(w.app)!.length < QUEUE_LENGTH[w.app]!) fail('PR04 with room in the queue');
      }
    }
    if (fresh !== null) queues.get(fresh.app)!.push(fresh);

    // Invariants.
    for (const m of fleet) {
      if (m.hard !== null && free(m) < 0) fail(`${m.id}: ${m.hard - free(m)} slots leased over hard_limit ${m.hard}`);
      // Nobody runs a request on it without a slot, so its load is never more than the slots leased.
      if (m.hard !== null && ledger.loadOf(m.id) > m.hard - free(m)) fail(`${m.id}: load ${ledger.loadOf(m.id)} over the ${m.hard - free(m)} slots leased`);
      for (const worker of workers) {
        const model = leases.get(m.id)!.get(worker) ?? 0;
        if (ledger.leasedTo(worker, m.id) !== model) fail(`${m.id}: worker ${worker} holds ${model} slots, the ledger says ${ledger.leasedTo(worker, m.id)}`);
      }
    }
    for (const [app, queue] of queues) {
      stats.maxQueued = Math.max(stats.maxQueued, queue.length);
      if (ledger.queued(app) !== queue.length) fail(`${app}: ${queue.length} wait, the ledger says ${ledger.queued(app)}`);
      if (queue.length > QUEUE_LENGTH[app]!) fail(`${app}: queue over its bound`);
      if (queue.length === 0) recalledFor.delete(app);
      if (contended.get(app) && queue.length === 0) fail(`${app}: contention on with nobody waiting`);
      if (!contended.get(app) && queue.length > 0 && !recalledFor.has(app)) fail(`${app}: ${queue.length} wait with neither contention nor a recall`);
      for (const w of queue) {
        const usable = fleet.filter((m) => allows(w, m));
        if (!usable.some((m) => m.routable || m.coming)) fail(`${w.worker}:${w.seq} waits for nothing`);
        // Its first choice: the most preferred of the usable routable machines. (A waiter may
        // wait for slots there rather than leave the region; it never waits while one is free.)
        const up = usable.filter((m) => m.routable);
        const best = Math.min(...up.map((m) => preference(w, m)));
        const firstChoice = (m: ModelMachine): boolean => allows(w, m) && m.routable && preference(w, m) === best;
        const idle = up.find((m) => firstChoice(m) && free(m) > 0);
        if (idle !== undefined) fail(`${w.worker}:${w.seq} waits while ${idle.id} has a free slot`);
        // FIFO (seqs grow with arrival): nobody younger got a slot of this waiter's first choice.
        for (const g of granted) {
          if (g.want.seq > w.seq && firstChoice(byId.get(g.machine)!)) fail(`${g.want.worker}:${g.want.seq} got ${g.machine} before older ${w.worker}:${w.seq}`);
        }
      }
    }
  }

  // Drain: every machine up, every request done and its slots given back: nobody is left waiting.
  const held = new Map<string, Map<number, number>>(fleet.map((m) => [m.id, new Map(leases.get(m.id)!)]));
  const note = (effects: LedgerEffect[]): void => {
    for (const { to, msg } of effects) {
      if (msg.t !== 'grant' || to === 'all') continue;
      const byWorker = held.get(msg.machine)!;
      byWorker.set(to, (byWorker.get(to) ?? 0) + msg.slots);
    }
  };
  for (const m of fleet) {
    m.routable = true;
    m.coming = false;
    note(ledger.setMachine(toLedger(m)));
  }
  for (let round = 0; round < 20 && ledger.queued('web') + ledger.queued('api') > 0; round++) {
    for (const [id, byWorker] of held) {
      for (const [worker, n] of [...byWorker]) {
        byWorker.set(worker, 0);
        if (n > 0) note(ledger.release(worker, id, byId.get(id)!.epoch, n));
      }
    }
  }
  t.equal(ledger.queued('web'), 0, `seed ${seed}: web drained`);
  t.equal(ledger.queued('api'), 0, `seed ${seed}: api drained`);

  t.strictSame(violations, [], `seed ${seed}: ${JSON.stringify(stats)}`);
  // The run exercised what it claims to.
  for (const key of ['grants', 'spare', 'PR01', 'PR02', 'PR04', 'on', 'off', 'staleReleases', 'restarts', 'deaths'] as const) {
    t.ok(stats[key] > 0, `seed ${seed}: ${key} happened (${stats[key]})`);
  }
}

for (const seed of [1, 42, 2024, 0xbeef]) {
  t.test(`property: 2000 random steps keep every invariant (seed ${seed})`, async (t) => {
    runProperty(t, seed, 2000);
  });
}
