// [[services]] TCP ports through a real perch (2 workers) to real machines
// (test/support/tcp-echo.ts): raw pass-through byte for byte both ways with
// half-close, a port range, PROXY protocol v1 and v2 headers as the machine
// reads them with an independent parser, and a connection with no machine.
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';
import { closed, connect, connectionLog, echoApp, freePorts, readLine, readToEnd, TCP_ECHO } from '../services/support.ts';

const base = await freePorts(11);
const RAW = base;
const RANGE_START = base + 1;
const RANGE_END = base + 3;
const PROXY_V1 = base + 4;
const PROXY_V2 = base + 5;
const DOWN = base + 6;
// Nothing listens here: the "machine" of the app `down`.
const CLOSED = base + 7;
const UDP = base + 8;
const IDLE = base + 9;
const RETRY = base + 10;

const perch = await startPerch(t, {
  workers: 2,
  apps: {
    raw: echoApp({
      name: 'raw',
      ports: [`port = ${RAW}`, `start_port = ${RANGE_START}\nend_port = ${RANGE_END}\nhandlers = []`, `port = ${IDLE}\nhttp_options = { idle_timeout = 1 }`],
    }),
    pp: echoApp({
      name: 'pp',
      env: { TCP_ECHO_PROXY: '1' },
      ports: [`port = ${PROXY_V1}\nhandlers = ["proxy_proto"]`, `port = ${PROXY_V2}\nhandlers = ["proxy_proto"]\nproxy_proto_options = { version = "v2" }`],
    }),
    down: [
      'app = "down"',
      'primary_region = "ams"',
      '[[services]]',
      'internal_port = 7000',
      '[[services.ports]]',
      `port = ${DOWN}`,
      '[[machines]]',
      'region = "ams"',
      `address = "127.0.0.1:${CLOSED}"`,
      '',
    ].join('\n'),
    // Its own-region machine refuses connections; the one in fra echoes.
    retry: [
      'app = "retry"',
      'primary_region = "ams"',
      '[processes]',
      `app = ${JSON.stringify(`node ${TCP_ECHO}`)}`,
      '[[services]]',
      'internal_port = 7000',
      '[[services.ports]]',
      `port = ${RETRY}`,
      '[[machines]]',
      'region = "ams"',
      `address = "127.0.0.1:${CLOSED}"`,
      '[[machines]]',
      'region = "fra"',
      'count = 1',
      '',
    ].join('\n'),
    dns: [
      'app = "dns"',
      'primary_region = "ams"',
      '[processes]',
      `app = ${JSON.stringify(`node ${TCP_ECHO}`)}`,
      '[[services]]',
      'internal_port = 5353',
      'protocol = "udp"',
      '[[services.ports]]',
      `port = ${UDP}`,
      '[[machines]]',
      'region = "ams"',
      '',
    ].join('\n'),
  },
});

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

t.test('raw TCP: a large payload both ways, byte for byte, the client’s FIN passed on', async (t) => {
  const payload = randomBytes(8 * 1024 * 1024);
  const socket = await connect(RAW);
  const clientPort = socket.localPort!;
  const echoed = readToEnd(socket);
  // Write it all, then half-close: the machine keeps answering after the FIN and then ends too.
  socket.end(payload);
  const back = await echoed;
  t.equal(back.length, payload.length, 'as many bytes came back as were sent');
  t.equal(sha(back), sha(payload), 'the same bytes, in order');
  await closed(socket);
  const log = await connectionLog(perch, clientPort);
  t.match(log, { app: 'raw', route: 'raw#0', port: RAW, machine: 'raw-ams-1', region: 'ams', bytes_in: payload.length, bytes_out: payload.length, code: null, end: 'closed' });
  t.type(log.ms, 'number');
});

t.test('raw TCP: the machine’s FIN reaches the client while the client may still send', async (t) => {
  const socket = await connect(RAW);
  socket.write('ping\n');
  t.equal(await readLine(socket), 'ping');
  socket.write('second\n');
  t.equal(await readLine(socket), 'second', 'the connection stays open both ways');
  socket.end();
  t.equal((await readToEnd(socket)).length, 0, 'nothing more after the echo, then the end');
  await closed(socket);
});

t.test('a port range: every port of it forwards', async (t) => {
  for (let port = RANGE_START; port <= RANGE_END; port++) {
    const socket = await connect(port);
    socket.write(`port ${port}\n`);
    t.equal(await readLine(socket), `port ${port}`, `port ${port}`);
    socket.destroy();
  }
});

for (const [version, port] of [[1, PROXY_V1], [2, PROXY_V2]] as const) {
  t.test(`PROXY protocol v${version}: the machine reads the client’s real addresses`, async (t) => {
    const socket = await connect(port);
    socket.write('after the header\n');
    const header = JSON.parse(await readLine(socket)) as Record<string, unknown>;
    t.match(header, {
      version,
      source: '127.0.0.1',
      sourcePort: socket.localPort,
      destination: '127.0.0.1',
      destinationPort: port,
    }, 'source and destination are the client’s and the port it connected to');
    if (version === 1) t.equal(header.protocol, 'TCP4');
    else t.match(header, { command: 1, family: 0x10, transport: 1, length: 28 }, 'PROXY command, TCP over IPv4, 12 address bytes');
    t.equal(await readLine(socket), 'after the header', 'the client’s bytes follow the header untouched');
    const clientPort = socket.localPort!;
    socket.end();
    await closed(socket);
    const log = await connectionLog(perch, clientPort);
    t.match(log, { app: 'pp', bytes_in: 'after the header\n'.length, code: null }, 'the header is not counted as client bytes');
  });
}

t.test('no machine to take the connection: it is closed, and the log says why', async (t) => {
  const socket = await connect(DOWN);
  const clientPort = socket.localPort!;
  socket.write('anyone?\n');
  const got = await readToEnd(socket);
  t.equal(got.length, 0, 'nothing came back, and perch ended the connection');
  socket.end();
  await closed(socket);
  const log = await connectionLog(perch, clientPort);
  t.equal(log.end, 'refused');
  t.ok(['PC01', 'PC07', 'PR01'].includes(log.code as string), `code ${log.code}`);
  t.equal(log.bytes_in, 0);
  t.comment(`logged: ${JSON.stringify(log)}`);
});

t.test('a machine that refuses the connection: the next one takes it, and the refusing one leaves rotation', async (t) => {
  const clientPorts: number[] = [];
  for (let i = 0; i < 6; i++) {
    const socket = await connect(RETRY);
    clientPorts.push(socket.localPort!);
    socket.write(`try ${i}\n`);
    t.equal(await readLine(socket), `try ${i}`, `connection ${i} is served`);
    socket.end();
    await closed(socket);
  }
  const logs = await Promise.all(clientPorts.map((port) => connectionLog(perch, port)));
  for (const log of logs) t.match(log, { machine: 'retry-fra-1', code: null });
  t.equal(logs[0]!.attempts, 2, 'the first connection was refused in ams, then served in fra');
  t.ok(logs.slice(2).some((log) => log.attempts === 1), 'after passive failures, straight to fra');
});

t.test('UDP ports are left out with a warning; perch keeps serving the others', async (t) => {
  const warnings = perch.logs.filter((line) => line.level === 40 && line.app === 'dns' && /UDP services are not supported/.test(String(line.msg)));
  t.equal(warnings.length, 2, 'each worker says so');
  t.match(warnings[0], { route: 'dns#0', ports: String(UDP) });
  const lines = perch.logs.filter((line) => line.msg === 'service ports listening');
  t.equal(lines.length, 2, 'both workers listen on the service ports');
  t.match(lines[0], { ports: 9, kinds: { tcp: 9 } });
});

t.test('a connection with no byte either way for the idle timeout is closed', async (t) => {
  const socket = await connect(IDLE);
  const clientPort = socket.localPort!;
  socket.write('x\n');
  t.equal(await readLine(socket), 'x');
  const started = Date.now();
  socket.on('end', () => socket.end());
  await closed(socket, 5_000);
  const idle = Date.now() - started;
  t.ok(idle >= 900 && idle < 4_000, `closed after ${idle} ms idle (idle_timeout 1 s)`);
  t.match(await connectionLog(perch, clientPort), { end: 'idle', code: null, bytes_in: 2, bytes_out: 2 });
});

// Last: it stops this perch.
t.test('SIGTERM: no new connections; an open one goes on until it closes, then perch exits 0', async (t) => {
  const socket = await connect(RAW);
  socket.write('before\n');
  t.equal(await readLine(socket), 'before');
  const from = perch.logs.length;
  perch.child.kill('SIGTERM');
  await perch.waitForLog((line) => line.msg === 'shutting down: draining workers', 5_000, from);
  await sleep(500);
  socket.write('during\n');
  t.equal(await readLine(socket), 'during', 'the open connection still works while perch drains');
  await t.rejects(connect(RANGE_START), { code: 'ECONNREFUSED' }, 'new connections are refused');
  t.equal(perch.child.exitCode, null, 'perch waits for the open connection');
  socket.end();
  await closed(socket);
  const status = await perch.exited;
  t.equal(status.code, 0, 'and exits 0 once it closed');
});
