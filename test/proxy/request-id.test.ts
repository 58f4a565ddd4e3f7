// Request ids: Fly's shape (time, worker, counter, region), decoded here with
// a base32 reading of its own so the encoder is checked, not echoed.
import t from 'tap';
import { RequestIds } from '../../src/proxy/request-id.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function decode(digits: string): number {
  let value = 0;
  for (const digit of digits) {
    const index = ALPHABET.indexOf(digit);
    if (index === -1) throw new Error(`not a base32 digit: ${digit}`);
    value = value * 32 + index;
  }
  return value;
}

const SHAPE = /^([0-9A-Z]{10})([0-9A-Z]{2})([0-9A-Z]{6})-(.+)$/;

t.test('time, worker tag, counter and region, each where Fly puts it', async (t) => {
  const cases: [workerId: number, region: string, tag: number][] = [
    [0, 'ams', 0],
    [1, 'ams', 1],
    [37, 'sjc', 37],
    [1023, 'bench', 1023],
    [1024, 'ams', 0],
    [1030, 'ams', 6],
  ];
  for (const [workerId, region, tag] of cases) {
    const ids = new RequestIds(workerId, region);
    const before = Date.now();
    const id = ids.next();
    const after = Date.now();
    const parts = SHAPE.exec(id);
    t.ok(parts, `${id} has the shape`);
    if (parts === null) continue;
    const ms = decode(parts[1]!);
    t.ok(ms >= before && ms <= after, `time part ${ms} within ${before}..${after}`);
    t.equal(decode(parts[2]!), tag, `worker ${workerId} → tag ${tag}`);
    t.equal(decode(parts[3]!), 1, 'the first id counts 1');
    t.equal(parts[4], region);
  }
});

t.test('the counter goes up by one across the points where its digits carry', async (t) => {
  const ids = new RequestIds(3, 'ams');
  // Past 32 (one digit carries), 1024 (the low pair) and 32768 (the middle pair's first digit).
  const count = 33_000;
  let previous = 0;
  let steps = 0;
  for (let i = 0; i < count; i++) {
    const parts = SHAPE.exec(ids.next())!;
    const counter = decode(parts[3]!);
    if (counter === previous + 1) steps++;
    previous = counter;
  }
  t.equal(steps, count, 'every id one more than the last');
  t.equal(previous, count);
});

t.test('ids sort in the order they were made', async (t) => {
  const ids = new RequestIds(2, 'ams');
  const made = Array.from({ length: 3000 }, () => ids.next());
  t.same([...made].sort(), made);
  t.equal(new Set(made).size, made.length, 'no id twice');
});
