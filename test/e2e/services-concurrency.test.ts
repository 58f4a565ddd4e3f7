// type = "connections" on a TCP service: each client connection is one unit
// of load on its machine for its whole life, counted across both workers;
// hard_limit is never exceeded: a connection past it waits (bounded) for a
// slot, proceeds when one frees, or is closed when the wait is too long.
import t from 'tap';
import type net from 'node:net';
import { sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';
import { closed, connect, connectionLog, echoApp, echoReports, freePorts, readLine } from '../services/support.ts';

const PORT = await freePorts(1);
const HARD = 2;

const perch = await startPerch(t, {
  workers: 2,
  apps: {
    limited: echoApp({
      name: 'limited',
      ports: [`port = ${PORT}`],
      concurrency: `type = "connections"\nsoft_limit = 1\nhard_limit = ${HARD}`,
      tables: '[limits]\nqueue_timeout = "3s"',
    }),
  },
});

/** A connection that reached the machine: its first line came back. */
async function active(label: string): Promise<net.Socket> {
  const socket = await connect(PORT);
  socket.write(`${label}\n`);
  const line = await readLine(socket);
  if (line !== label) throw new Error(`expected ${label}, got ${line}`);
  return socket;
}

t.test('hard_limit caps open connections on the machine; a waiting one proceeds when one closes', async (t) => {
  // Several rounds, so the connections land on both workers.
  const open: net.Socket[] = [];
  for (let i = 0; i < HARD; i++) open.push(await active(`first-${i}`));

  const waiting = await connect(PORT);
  waiting.write('third\n');
  let answered = false;
  const answer = readLine(waiting, 10_000).then((line) => {
    answered = true;
    return line;
  });
  await sleep(600);
  t.equal(answered, false, 'a connection past hard_limit waits');

  const gone = open.shift()!;
  gone.end();
  await closed(gone);
  t.equal(await answer, 'third', 'and proceeds once a connection closes');
  open.push(waiting);

  // Churn: close and open connections one after the other, many times, through both workers.
  for (let round = 0; round < 6; round++) {
    const next = connect(PORT).then(async (socket) => {
      socket.write(`round-${round}\n`);
      await readLine(socket, 10_000);
      return socket;
    });
    await sleep(50);
    const old = open.shift()!;
    old.end();
    await closed(old);
    open.push(await next);
  }

  for (const socket of open) {
    socket.end();
    await closed(socket);
  }
  await sleep(200);
  const reports = echoReports(perch, 'limited');
  t.ok(reports.length >= 2 * (HARD + 7), `the machine reported each connection (${reports.length} lines)`);
  const max = Math.max(...reports.map((report) => report.max));
  t.equal(max, HARD, `the machine never had more than ${HARD} connections at once`);
  const workers = new Set(perch.logs.filter((line) => line.msg === 'connection' && line.app === 'limited').map((line) => line.pid));
  t.comment(`connections were served by ${workers.size} worker(s)`);
});

t.test('a connection that waits longer than the queue timeout is closed (PR04)', async (t) => {
  const open = [await active('a'), await active('b')];
  const late = await connect(PORT);
  const clientPort = late.localPort!;
  late.write('late\n');
  const started = Date.now();
  late.on('end', () => late.end());
  await closed(late, 10_000);
  const waited = Date.now() - started;
  t.ok(waited >= 2_500, `closed after waiting ${waited} ms (queue_timeout 3 s)`);
  const log = await connectionLog(perch, clientPort);
  t.match(log, { app: 'limited', code: 'PR04', end: 'refused', machine: null });
  for (const socket of open) {
    socket.end();
    await closed(socket);
  }
});
