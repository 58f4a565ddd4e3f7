// The access line and the batcher that carries it to stdout.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
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
  ['a duration of whole milliseconds', { ms: 7 }, { ms: 7 }],
  ['a duration under a hundredth of a millisecond', { ms: 0.004 }, { ms: 0 }],
  ['a duration rounded to the hundredth', { ms: 0.0551 }, { ms: 0.06 }],
  ['a duration with one decimal', { ms: 30.5 }, { ms: 30.5 }],
  ['a long duration', { ms: 61_234.567 }, { ms: 61_234.57 }],
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

/** Writes 500 lines of varied length through a batcher on `fd`; returns the lines and the size of each write(2). */
function writeLines(t: Test, fd: number): { expected: string[]; sizes: number[] } {
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
  return { expected, sizes };
}

function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'perch-log-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('into a pipe the batcher writes whole lines in chunks of at most PIPE_BUF bytes, in order', async (t) => {
  const fifo = path.join(tempDir(t), 'fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const fd = fs.openSync(fifo, 'w');
  const { expected, sizes } = writeLines(t, fd);
  fs.closeSync(fd);
  const received: Buffer[] = [];
  const buffer = Buffer.alloc(65536);
  for (let n; (n = fs.readSync(reader, buffer)) > 0; ) received.push(Buffer.from(buffer.subarray(0, n)));
  fs.closeSync(reader);
  t.equal(Buffer.concat(received).toString('utf8'), expected.join(''), 'every line, whole and in order');
  t.ok(sizes.length > 1 && sizes.length < 100, `${sizes.length} writes for 500 lines`);
  t.ok(sizes.every((size) => size <= 4096), 'no write over PIPE_BUF');
});

t.test('into a regular file the batcher writes larger chunks, whole lines in order', async (t) => {
  const file = path.join(tempDir(t), 'out');
  const fd = fs.openSync(file, 'w');
  const { expected, sizes } = writeLines(t, fd);
  fs.closeSync(fd);
  t.equal(fs.readFileSync(file, 'utf8'), expected.join(''), 'every line, whole and in order');
  const total = Buffer.byteLength(expected.join(''));
  t.ok(total > 4096 * 4, `the lines (${total} bytes) would take several pipe-sized writes`);
  t.ok(sizes.length <= Math.ceil(total / (32 * 1024)), `${sizes.length} writes for ${total} bytes`);
  t.ok(sizes.every((size) => size <= 64 * 1024), 'no write over 64 KiB');
});

t.test('into a full non-blocking pipe lines wait in the queue and come out whole, in order', async (t) => {
  const fifo = path.join(tempDir(t), 'fifo');
  execFileSync('mkfifo', [fifo]);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  t.teardown(() => {
    fs.closeSync(fd);
    fs.closeSync(reader);
  });
  const batcher = new LineBatcher(fd, 5);
  const expected: string[] = [];
  // Far more than a pipe holds (64 KiB), written before anything reads it.
  for (let i = 0; i < 3000; i++) {
    const line = `{"n":${i},"pad":"${'y'.repeat(i % 113)}","ß":"€"}\n`;
    expected.push(line);
    batcher.write(line);
  }
  batcher.flush();
  const want = Buffer.byteLength(expected.join(''));
  t.ok(want > 3 * 65536, `${want} bytes to write`);
  const received: Buffer[] = [];
  let got = 0;
  const buffer = Buffer.alloc(65536);
  const deadline = Date.now() + 10_000;
  while (got < want && Date.now() < deadline) {
    try {
      const n = fs.readSync(reader, buffer);
      received.push(Buffer.from(buffer.subarray(0, n)));
      got += n;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  t.equal(batcher.dropped, 0, 'nothing dropped');
  t.equal(Buffer.concat(received).toString('utf8'), expected.join(''), 'every line, whole and in order');
});

t.test('a line longer than a chunk goes out whole between its neighbours', async (t) => {
  const file = path.join(tempDir(t), 'out');
  const fd = fs.openSync(file, 'w');
  const batcher = new LineBatcher(fd, 1_000);
  const lines = ['{"n":1}\n', `{"path":"/${'é'.repeat(40_000)}"}\n`, '{"n":2}\n', `{"path":"/${'a'.repeat(100_000)}"}\n`, '{"n":3}\n'];
  for (const line of lines) batcher.write(line);
  batcher.flushSync();
  fs.closeSync(fd);
  t.equal(fs.readFileSync(file, 'utf8'), lines.join(''));
});
