// HTTP/2 to machines (h2_backend = true, h2c with prior knowledge), with a
// plain Node http2 server as a static machine so the test sees exactly what
// perch sends: TE: trailers passed on only when the client sent it, and
// response trailers forwarded to HTTP/2 and HTTP/1.1 clients alike.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { helloApp } from '../support/apps.ts';
import { h2connect, h2request } from '../support/clients.ts';
import { machines } from '../support/admin.ts';
import { agent, eventually, sleep } from '../support/http.ts';
import { startPerch, type TeardownHost } from '../support/perch.ts';

t.teardown(() => agent.close());

/** An h2c server answering with what it saw, then trailers. */
async function h2cMachine(t: TeardownHost): Promise<number> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/json',
          'x-seen-te': String(headers.te ?? ''),
          'x-seen-proto': String(headers['x-forwarded-proto'] ?? ''),
        },
        { waitForTrailers: true },
      );
      stream.once('wantTrailers', () => stream.sendTrailers({ 'x-checksum': `len-${body.length}`, 'x-done': 'yes' }));
      stream.end(JSON.stringify({ path: headers[':path'], method: headers[':method'], bytes: body.length }));
    });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const session of sessions) session.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

t.test('h2_backend: trailers reach HTTP/2 and HTTP/1.1 clients; TE: trailers only when asked', async (t) => {
  const port = await h2cMachine(t);
  const perch = await startPerch(t, {
    https: true,
    apps: {
      h2: helloApp({
        name: 'h2',
        hostnames: ['h2.localhost'],
        staticMachines: [['ams', `127.0.0.1:${port}`]],
        httpService: '[http_service.http_options]\nh2_backend = true',
      }),
    },
  });

  const session = await h2connect(perch.httpsPort, 'h2.localhost', perch.caPem());
  t.teardown(() => session.close());
  const viaH2 = await h2request(session, { ':method': 'POST', ':path': '/grpc-like', 'te': 'trailers' }, Buffer.alloc(1000, 'a'));
  t.equal(viaH2.status, 200);
  t.equal(viaH2.headers['x-seen-te'], 'trailers', 'TE: trailers reached the h2 machine');
  t.equal(viaH2.headers['x-seen-proto'], 'https');
  t.same(JSON.parse(viaH2.body.toString()), { path: '/grpc-like', method: 'POST', bytes: 1000 }, 'the body streamed through');
  t.equal(viaH2.trailers['x-checksum'], 'len-1000', 'trailers reached the HTTP/2 client');
  t.equal(viaH2.trailers['x-done'], 'yes');

  const withTe = await request(`${perch.origin}/plain`, { dispatcher: agent, headers: { host: 'h2.localhost', te: 'trailers' } });
  const text = await withTe.body.text();
  t.equal(withTe.statusCode, 200);
  t.equal(withTe.headers['x-seen-te'], 'trailers', "an HTTP/1.1 client's TE: trailers is passed on too");
  t.equal(withTe.headers['x-seen-proto'], 'http');
  t.equal(withTe.headers['transfer-encoding'], 'chunked', 'the HTTP/1.1 response is chunked, so it can end with trailers');
  t.same(JSON.parse(text).path, '/plain');
  t.same(withTe.trailers, { 'x-checksum': 'len-0', 'x-done': 'yes' }, 'trailers reached the HTTP/1.1 client');

  const noTe = await request(`${perch.origin}/plain`, { dispatcher: agent, headers: { host: 'h2.localhost' } });
  await noTe.body.text();
  t.equal(noTe.headers['x-seen-te'], '', 'no TE when the client did not send one');
});

t.test('an HTTP/2 client that drops its connection mid-request leaves no load behind', async (t) => {
  const perch = await startPerch(t, { https: true, apps: { drop: helloApp({ name: 'drop', machines: [['ams', 1]] }) } });
  const session = await h2connect(perch.httpsPort, 'drop.localhost', perch.caPem());
  const pending = Array.from({ length: 5 }, () => h2request(session, { ':path': '/sleep?ms=3000', ':authority': 'drop.localhost' }).catch(() => null));
  await sleep(300);
  const loaded = (await machines(perch.adminOrigin, 'drop'))[0] as unknown as { load: number };
  t.equal(loaded.load, 5, 'five requests in flight');
  session.destroy();
  await Promise.all(pending);
  t.ok(await eventually(async () => ((await machines(perch.adminOrigin, 'drop'))[0] as unknown as { load: number }).load === 0, 3_000), 'their load is released at once');
  await sleep(300);
  const lines = perch.logs.filter((line) => line.msg === 'request' && line.app === 'drop');
  t.equal(lines.length, 5, 'each has its access line');
  t.ok(lines.every((line) => line.status === 499), 'as 499');
});
