// Bodies stream through perch both ways: a slow response reaches the client
// piece by piece, and an upload reaches the machine before it has ended.
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { helloApp } from '../support/apps.ts';
import { h2connect } from '../support/clients.ts';
import { agent, ask, json, sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

t.test('streaming', async (t) => {
  const perch = await startPerch(t, { https: true, apps: { hello: helloApp({ name: 'hello', machines: [['ams', 1]] }) } });

  t.test('a slow response arrives chunk by chunk', async (t) => {
    const response = await request(`${perch.origin}/stream?chunks=5&interval=200&size=16`, { dispatcher: agent, headers: { host: 'hello.localhost' } });
    t.equal(response.statusCode, 200);
    const arrivals: number[] = [];
    let text = '';
    for await (const chunk of response.body) {
      arrivals.push(Date.now());
      text += chunk.toString();
    }
    t.equal(text.split('\n').filter(Boolean).length, 5, 'all five chunks');
    t.ok(arrivals.length >= 4, `arrived in ${arrivals.length} pieces`);
    t.ok(arrivals.at(-1)! - arrivals[0]! >= 500, 'the first piece came well before the last');
  });

  t.test('an upload reaches the machine while it is still being sent', async (t) => {
    async function* slowBody(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 5; i++) {
        yield Buffer.alloc(1000, 'u');
        await sleep(200);
      }
    }
    const started = Date.now();
    const reply = await ask(`${perch.origin}/count`, { host: 'hello.localhost', method: 'POST', body: Readable.from(slowBody()) });
    t.equal(reply.status, 200);
    const counted = json<{ bytes: number; firstChunkAt: number; endAt: number }>(reply);
    t.equal(counted.bytes, 5000, 'every byte arrived');
    t.ok(counted.firstChunkAt - started < 600, 'the first chunk reached the machine before the upload ended');
    t.ok(counted.endAt - counted.firstChunkAt >= 600, 'and the rest followed as it was sent');
  });

  t.test('a client that leaves mid-response is logged as 499, not as a machine failure', async (t) => {
    const controller = new AbortController();
    const response = await request(`${perch.origin}/stream?chunks=20&interval=100&size=16`, { dispatcher: agent, headers: { host: 'hello.localhost' }, signal: controller.signal });
    for await (const _ of response.body) {
      controller.abort();
      break;
    }
    const line = await perch.waitForLog((entry) => entry.msg === 'request' && String(entry.path).startsWith('/stream?chunks=20'));
    t.equal(line.status, 499);
    t.equal(line.code, null, 'no error code: the machine did nothing wrong');
  });

  t.test('a client that stops reading for a while still gets every byte, in order', async (t) => {
    // 8 MiB is more than the sockets between perch and the client can hold: perch's writes must wait,
    // pause the machine's response and take it up again when the client reads again.
    const size = 8 * 1024 * 1024;
    const expected = createHash('sha256').update(Buffer.alloc(size, 'abcdefghijklmnopqrstuvwxyz0123456789\n')).digest('hex');

    const h1 = await new Promise<{ body: Buffer }>((resolve, reject) => {
      const socket = net.connect(perch.httpPort, '127.0.0.1', () => {
        socket.write(`GET /bytes/${size} HTTP/1.1\r\nHost: hello.localhost\r\nConnection: close\r\n\r\n`);
      });
      socket.pause();
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => {
        const all = Buffer.concat(chunks);
        resolve({ body: all.subarray(all.indexOf('\r\n\r\n') + 4) });
      });
      socket.on('error', reject);
      setTimeout(() => socket.resume(), 1000);
    });
    t.equal(h1.body.length, size, 'HTTP/1.1: all 8 MiB');
    t.equal(createHash('sha256').update(h1.body).digest('hex'), expected, 'HTTP/1.1: the bytes the machine sent, in order');

    const session = await h2connect(perch.httpsPort, 'hello.localhost', perch.caPem());
    t.teardown(() => session.close());
    const h2 = await new Promise<Buffer>((resolve, reject) => {
      const stream = session.request({ ':method': 'GET', ':path': `/bytes/${size}` });
      const chunks: Buffer[] = [];
      stream.pause();
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
      setTimeout(() => stream.resume(), 1000);
    });
    t.equal(h2.length, size, 'HTTP/2: all 8 MiB');
    t.equal(createHash('sha256').update(h2).digest('hex'), expected, 'HTTP/2: the bytes the machine sent, in order');
  });

  t.test('large bodies both ways', async (t) => {
    const size = 32 * 1024 * 1024;
    const download = await request(`${perch.origin}/bytes/${size}`, { dispatcher: agent, headers: { host: 'hello.localhost' } });
    let received = 0;
    for await (const chunk of download.body) received += chunk.length;
    t.equal(received, size, '32 MiB downloaded');

    async function* big(): AsyncGenerator<Buffer> {
      const piece = Buffer.alloc(1024 * 1024, 'b');
      for (let i = 0; i < 32; i++) yield piece;
    }
    const upload = await ask(`${perch.origin}/count`, { host: 'hello.localhost', method: 'POST', body: Readable.from(big()) });
    t.equal(json<{ bytes: number }>(upload).bytes, size, '32 MiB uploaded (chunked)');

    const echo = await ask(`${perch.origin}/echo`, { host: 'hello.localhost', method: 'POST', body: 'x'.repeat(100_000), headers: { 'content-type': 'text/plain' } });
    t.equal(echo.text.length, 100_000, 'echoed with a Content-Length');
  });
});
