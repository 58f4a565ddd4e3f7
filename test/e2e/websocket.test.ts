// WebSockets through perch: echo both ways over ws:// and wss:// to the
// hello app's /ws (the ws package on both ends), clean closes from either
// side, perch's headers on the upgrade, a refused upgrade relayed, the idle
// bound, and an open WebSocket counted as load on its machine.
import t from 'tap';
import type { ClientOptions } from 'ws';
import { helloApp } from '../support/apps.ts';
import { openSocket } from '../support/clients.ts';
import { agent, ask, sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

t.test('echo over ws and wss, closed cleanly from either side', async (t) => {
  const perch = await startPerch(t, { https: true, apps: { hello: helloApp({ name: 'hello' }) } });
  const ca = perch.caPem();
  // ws hands its options to tls.connect; its types leave servername out.
  const tlsOptions = { ca, servername: 'hello.localhost' } as ClientOptions;
  const endpoints = [
    { name: 'ws', url: `ws://127.0.0.1:${perch.httpPort}/ws`, options: {} },
    { name: 'wss', url: `wss://127.0.0.1:${perch.httpsPort}/ws`, options: tlsOptions },
  ];
  for (const { name, url, options } of endpoints) {
    const socket = await openSocket(url, { ...options, headers: { 'X-Forwarded-Proto': 'gopher', 'X-Forwarded-For': '203.0.113.9' } });
    t.teardown(() => socket.ws.terminate());
    socket.ws.send('hello');
    t.equal(await socket.next(), 'hello', `${name}: a text message comes back`);
    const binary = Buffer.from([0, 1, 2, 250, 251, 252]);
    const gotBinary = new Promise<Buffer>((resolve) => socket.ws.once('message', (data) => resolve(data as Buffer)));
    socket.ws.send(binary);
    t.same([...(await gotBinary)], [...binary], `${name}: a binary message comes back`);
    await socket.next();
    socket.ws.send('!headers');
    const seen = JSON.parse(await socket.next()) as { machine: string; headers: Record<string, string> };
    t.equal(seen.machine, 'hello-ams-1');
    t.equal(seen.headers['x-forwarded-proto'], name === 'ws' ? 'http' : 'https', `${name}: X-Forwarded-Proto is perch's, not the client's`);
    t.equal(seen.headers['x-forwarded-ssl'], name === 'ws' ? 'off' : 'on');
    t.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', `${name}: X-Forwarded-For gets the client appended`);
    t.equal(seen.headers['fly-client-ip'], '127.0.0.1');
    t.equal(seen.headers.via, '1.1 perch');
    t.equal(seen.headers.upgrade, 'websocket');
    // Large messages, many at once, both ways.
    const big = 'x'.repeat(300_000);
    for (let i = 0; i < 5; i++) socket.ws.send(big);
    for (let i = 0; i < 5; i++) t.equal((await socket.next()).length, big.length);

    socket.ws.close(1000, 'client done');
    const closed = await socket.closed;
    t.equal(closed.code, 1000, `${name}: closed by the client, the close handshake went through`);
  }

  const serverSide = await openSocket(`wss://127.0.0.1:${perch.httpsPort}/ws`, tlsOptions);
  serverSide.ws.send('!close');
  const byServer = await serverSide.closed;
  t.same(byServer, { code: 1000, reason: 'bye' }, 'closed by the machine: the client sees its close frame');

  await t.rejects(openSocket(`ws://127.0.0.1:${perch.httpPort}/not-a-socket`), /unexpected response 404/, "the machine's refusal is relayed");

  // Every tunnel was logged once it closed, as a 101.
  const tunnels = perch.logs.filter((line) => line.msg === 'request' && line.status === 101);
  for (let i = 0; i < 50 && tunnels.length < 3; i++) {
    await sleep(100);
    tunnels.splice(0, tunnels.length, ...perch.logs.filter((line) => line.msg === 'request' && line.status === 101));
  }
  t.equal(tunnels.length, 3, 'three tunnels logged as 101 when they closed');
});

t.test('an open WebSocket counts as load: hard_limit 1 makes a request, then a second WebSocket, wait', async (t) => {
  const perch = await startPerch(t, {
    apps: {
      one: helloApp({
        name: 'one',
        concurrency: 'type = "requests"\nsoft_limit = 1\nhard_limit = 1',
        tables: '[limits]\nqueue_timeout = "10s"',
      }),
    },
  });
  const url = `ws://127.0.0.1:${perch.httpPort}/ws`;

  const first = await openSocket(url);
  t.teardown(() => first.ws.terminate());
  let answered = false;
  const waiting = ask(`${perch.origin}/`).then((reply) => {
    answered = true;
    return reply;
  });
  await sleep(500);
  t.equal(answered, false, 'a request waits while the WebSocket holds the only slot');
  first.ws.close(1000);
  await first.closed;
  const reply = await waiting;
  t.equal(reply.status, 200, 'and is served once the WebSocket closed (from the client)');

  const second = await openSocket(url);
  t.teardown(() => second.ws.terminate());
  let thirdOpen = false;
  const third = openSocket(url).then((socket) => {
    thirdOpen = true;
    return socket;
  });
  await sleep(500);
  t.equal(thirdOpen, false, 'a second WebSocket waits for the slot');
  second.ws.send('!close');
  t.equal((await second.closed).code, 1000);
  const opened = await third;
  t.teardown(() => opened.ws.terminate());
  t.ok(thirdOpen, 'and opens once the first was closed (by the machine)');
  opened.ws.send('ping');
  t.equal(await opened.next(), 'ping');
  opened.ws.close();
  await opened.closed;
  t.equal((await ask(`${perch.origin}/`)).status, 200, 'with every WebSocket closed, requests go straight through');
});

t.test('a WebSocket idle for idle_timeout is closed', async (t) => {
  const perch = await startPerch(t, {
    apps: { idle: helloApp({ name: 'idle', httpService: '[http_service.http_options]\nidle_timeout = 1' }) },
  });
  const socket = await openSocket(`ws://127.0.0.1:${perch.httpPort}/ws`);
  t.teardown(() => socket.ws.terminate());
  socket.ws.send('still here');
  t.equal(await socket.next(), 'still here');
  const started = Date.now();
  const closed = await socket.closed;
  const after = Date.now() - started;
  t.ok(after >= 800 && after < 5_000, `closed after about a second of silence (${after} ms, code ${closed.code})`);
});

t.test('shutdown closes open WebSockets at once instead of waiting for them', async (t) => {
  const perch = await startPerch(t, { apps: { hello: helloApp({ name: 'hello' }) } });
  const socket = await openSocket(`ws://127.0.0.1:${perch.httpPort}/ws`);
  t.teardown(() => socket.ws.terminate());
  socket.ws.send('before');
  t.equal(await socket.next(), 'before');
  const started = Date.now();
  const status = await perch.stop('SIGTERM');
  await socket.closed;
  t.same(status, { code: 0, signal: null }, 'perch exited 0');
  t.ok(Date.now() - started < 10_000, `without waiting out the drain deadline (${Date.now() - started} ms)`);
});
