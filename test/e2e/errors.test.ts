// Each failure answers with the right status and a Fly-style code, in the
// body and in the log; a malformed request never reaches a machine.
import net from 'node:net';
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { agent, ask, json, rawExchange, sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

t.test('upstream failures', async (t) => {
  const refusing = await closedPort();
  const perch = await startPerch(t, {
    apps: {
      refused: helloApp({ name: 'refused', staticMachines: [['ams', `127.0.0.1:${refusing}`]] }),
      broken: [
        'app = "broken"',
        '[processes]',
        `app = "node -e 'process.exit(3)'"`,
        '[http_service]',
        'internal_port = 8080',
        '[[machines]]',
        'region = "ams"',
      ].join('\n'),
      slow: helloApp({ name: 'slow', machines: [['ams', 1]], tables: '[limits]\nupstream_response_timeout = "500ms"' }),
    },
  });

  const refused = await ask(`${perch.origin}/`, { host: 'refused.localhost' });
  t.equal(refused.status, 502, 'a machine refusing connections: 502');
  t.match(refused.text, /PC01/, 'code PC01');
  await perch.waitForLog((line) => line.msg === 'request' && line.code === 'PC01' && line.app === 'refused');

  const broken = await ask(`${perch.origin}/`, { host: 'broken.localhost' });
  t.equal(broken.status, 503, 'no started machine: 503');
  t.match(broken.text, /PR01/, 'code PR01');
  const failed = await perch.waitForLog((line) => line.msg === 'machine state' && line.machine === 'broken-ams-1' && line.to === 'failed');
  t.match(String(failed.reason), /exited \(code 3/, 'the failed start says why');

  const slow = await ask(`${perch.origin}/sleep?ms=3000`, { host: 'slow.localhost' });
  t.equal(slow.status, 504, 'no response head in time: 504');
  t.match(slow.text, /PU05/);
  const fine = await ask(`${perch.origin}/sleep?ms=10`, { host: 'slow.localhost' });
  t.equal(fine.status, 200, 'the same machine still serves quick requests');

  // The bound is on each wait, not on the whole response: 4 chunks 300 ms apart take 1.2 s.
  const steady = await ask(`${perch.origin}/stream?chunks=4&interval=300`, { host: 'slow.localhost' });
  t.equal(steady.status, 200, 'a response longer than the bound, with shorter gaps, is whole');
  t.equal(steady.text.split('\n').filter(Boolean).length, 4, 'every chunk arrived');

  // A machine that stops in the middle of a body: the client has the head and the first chunk,
  // then perch cuts the connection (the only signal left once a 200 is on its way).
  const startedAt = performance.now();
  const stalled = await rawExchange(perch.httpPort, 'GET /stream?chunks=3&interval=50&stallAfter=1&stall=4000 HTTP/1.1\r\nHost: slow.localhost\r\n\r\n', 8_000);
  const elapsed = performance.now() - startedAt;
  t.match(stalled, /^HTTP\/1\.1 200 /, 'the head was forwarded');
  t.match(stalled, /0:x+\n/, 'so was the first chunk');
  t.notMatch(stalled, /1:x+\n/, 'nothing after the stall');
  t.notMatch(stalled, /\r\n0\r\n\r\n$/, 'the body was not ended as if complete');
  t.ok(elapsed < 3_000, `connection cut after the 500 ms gap bound, not the 4 s stall (${Math.round(elapsed)} ms)`);
  const cut = await perch.waitForLog((line) => line.msg === 'request' && line.app === 'slow' && String(line.path).startsWith('/stream') && line.code === 'PU02');
  t.equal(cut.status, 200, 'logged with the status the client got, and code PU02');
});

t.test('malformed requests get a 4xx, never reach a machine, and leave neighbours alone', async (t) => {
  const perch = await startPerch(t, {
    perchToml: '[limits]\nrequest_head_timeout = "1s"',
    apps: { solo: helloApp({ name: 'solo', machines: [['ams', 1]] }) },
  });
  const port = perch.httpPort;

  // A neighbour keeps a keep-alive connection busy the whole time.
  let neighbourFailures = 0;
  let neighbourDone = 0;
  let stop = false;
  const neighbour = (async () => {
    while (!stop) {
      const reply = await ask(`${perch.origin}/sleep?ms=5`, { host: 'solo.localhost' });
      if (reply.status === 200) neighbourDone++;
      else neighbourFailures++;
    }
  })();

  const badHeader = await rawExchange(port, 'GET /counter HTTP/1.1\r\nHost: solo.localhost\r\nBad Header Line\r\n\r\n');
  t.match(badHeader, /^HTTP\/1\.1 400 /, 'invalid header line: 400');
  t.match(badHeader, /PH01/);

  const badRequestLine = await rawExchange(port, 'GET /counter HTTP/9.9 extra\r\nHost: solo.localhost\r\n\r\n');
  t.match(badRequestLine, /^HTTP\/1\.1 400 /, 'invalid request line: 400');

  const noHost = await rawExchange(port, 'GET /counter HTTP/1.1\r\n\r\n');
  t.match(noHost, /^HTTP\/1\.1 400 /, 'HTTP/1.1 without Host: 400');

  const smuggle = await rawExchange(port, 'POST /counter HTTP/1.1\r\nHost: solo.localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
  t.match(smuggle, /^HTTP\/1\.1 400 /, 'Content-Length with Transfer-Encoding: 400');

  const huge = await rawExchange(port, `GET /counter HTTP/1.1\r\nHost: solo.localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(huge, /^HTTP\/1\.1 431 /, 'request head over 16 KiB: 431');
  t.match(huge, /PH03/);

  const slowHeadStarted = Date.now();
  const slowHead = await rawExchange(port, 'GET /counter HTTP/1.1\r\nHost: solo.localhost\r\n', 5_000);
  t.ok(Date.now() - slowHeadStarted < 4_000, 'a head that never ends is cut after its bound');
  t.match(slowHead, /^(HTTP\/1\.1 408 |)/, 'with a 408 when the socket still takes it');

  stop = true;
  await neighbour;
  t.equal(neighbourFailures, 0, 'the neighbour connection saw no failure');
  t.ok(neighbourDone > 0, `the neighbour made ${neighbourDone} requests meanwhile`);

  const counter = json<{ counter: number }>(await ask(`${perch.origin}/counter`, { host: 'solo.localhost' }));
  t.equal(counter.counter, 1, 'none of the malformed requests reached the machine');
  await sleep(10);
});
