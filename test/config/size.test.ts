// parseSize: bare bytes, or a number with a binary unit (k = kb = KiB = 1024).
import t from 'tap';
import { parseSize } from '../../src/config/size.ts';

const good: [input: unknown, bytes: number][] = [
  [16384, 16384],
  [0, 0],
  ['16KiB', 16384],
  ['16kib', 16384],
  ['16kb', 16384],
  ['16KB', 16384],
  ['16k', 16384],
  ['1MiB', 1_048_576],
  ['1mb', 1_048_576],
  ['1m', 1_048_576],
  ['1.5MiB', 1_572_864],
  ['0.5KiB', 512],
  ['1.1k', 1126], // 1126.4 rounded down
  ['2GiB', 2_147_483_648],
  ['2g', 2_147_483_648],
  ['512 B', 512],
  ['512b', 512],
  ['100', 100],
  [' 4KiB ', 4096],
];

for (const [input, bytes] of good) {
  t.test(JSON.stringify(input), async (t) => {
    t.same(parseSize(input), { bytes });
  });
}

const bad: [input: unknown, error: RegExp][] = [
  [-1, /cannot be negative/],
  ['-1KiB', /cannot be negative/],
  [1.5, /whole number/],
  ['16 furlongs', /^unknown unit "furlongs"; units are B, KiB, MiB, GiB/],
  ['16TB', /^unknown unit "TB"/],
  ['KiB', /not a number followed by a unit/],
  ['1e3', /not a number followed by a unit/],
  ['', /not a number followed by a unit/],
  [true, /not a boolean$/],
  [['16KiB'], /not a list$/],
  [{ size: 1 }, /not a table$/],
];

for (const [input, error] of bad) {
  t.test(`${JSON.stringify(input)} is refused`, async (t) => {
    const result = parseSize(input);
    if (!('error' in result)) return t.fail(`parsed as ${result.bytes} bytes`);
    t.match(result.error, error);
  });
}
