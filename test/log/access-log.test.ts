// The access line and the batcher that carries it to stdout.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { AccessLog, type RequestRecord } from '../../src/log/access-log.ts';
import { LineBatcher } from '../../src/log/line-batcher.ts';

const base: RequestRecord = {
  requestId: '01M8CDZ3GF01000001-ams', app: 'hello', machine: 'hello-ams-1', region: 'ams', method: 'GET',
  path: '/', status: 200, bytes: 30, attempts: 1, ms: 1.25, code: null, error: null,
};

const cases: [name: string, record: Partial<RequestRecord>, expected: Record<string, unknown>][] = [
  ['a plain request', {}, { request_id: base.requestId, app: 'hello', machine: 'hello-ams-1', region: 'ams', method: 'GET', path: '/', status: 200, bytes: 30, attempts: 1, ms: 1.25, code: null, msg: 'request', level: 30 }],
  ['no machine (answered by perch)', { machine: null, region: null, status: 503, code: 'PR01', error: 'no started healthy machine' }, { machine: null, region: null, status: 503, code: 'PR01', error: 'no started healthy machine' }],
  ['a path with quotes, backslashes, control and non-ASCII characters', { path: '/a"b\\c\u0001d/é?q="x"' }, { path: '/a"b\\c\u0001d/é?q="x"' }],
  ['an error message with quotes and a newline', { error: 'said "no"\nand left', code: 'PU02' }, { error: 'said "no"\nand left', code: 'PU02' }],
];

for (const [name, record, expected] of cases) {
  t.test(name, async (t) => {
    const lines: string[] = [];
    new AccessLog({ write: (line: string) => void lines.push(line) } as unknown as LineBatcher, 4242).request({ ...base, ...record });
    t.equal(lines.length, 1);
    t.ok(lines[0]!.endsWith('}\n'), 'one line');
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
    t.match(parsed, expected);
    t.equal(parsed.pid, 4242);
    t.type(parsed.time, 'number');
  });
}

t.test('the batcher writes whole lines in chunks of at most PIPE_BUF bytes, in order', async (t) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'perch-log-')), 'out');
  t.teardown(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
  const fd = fs.openSync(file, 'w');
  const sizes: number[] = [];
  const writeSync = fs.writeSync;
  (fs as { writeSync: typeof fs.writeSync }).writeSync = ((descriptor: number, buffer: Buffer, offset = 0) => {
    sizes.push(buffer.length - (offset as number));
    return writeSync(descriptor, buffer, offset as number);
  }) as typeof fs.writeSync;
  t.teardown(() => void ((fs as { writeSync: typeof fs.writeSync }).writeSync = writeSync));
  const batcher = new LineBatcher(fd, 1_000);
  const expected: string[] = [];
  for (let i = 0; i < 500; i++) {
    const line = `{"n":${i},"pad":"${'x'.repeat(i % 97)}","é":"ü"}\n`;
    expected.push(line);
    batcher.write(line);
  }
  batcher.flushSync();
  fs.closeSync(fd);
  t.equal(fs.readFileSync(file, 'utf8'), expected.join(''), 'every line, whole and in order');
  t.ok(sizes.length > 1 && sizes.length < 100, `${sizes.length} writes for 500 lines`);
  t.ok(sizes.every((size) => size <= 4096), 'no write over PIPE_BUF');
});
