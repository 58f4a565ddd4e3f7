// [[services]] ports with the tls and http handlers through a real perch (2
// workers): TLS terminated in front of a plain TCP machine (certificate by
// SNI from the local CA, the port's ALPN and versions), and HTTP through
// perch's pipeline on `http` and `tls`+`http` ports, HTTP/2 included, where
// the port decides the app whatever the Host header says.
import { createHash, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import tls from 'node:tls';
import t from 'tap';
import type { ClientOptions } from 'ws';
import { openSocket } from '../support/clients.ts';
import { ask, json } from '../support/http.ts';
import { HELLO, startPerch } from '../support/perch.ts';
import { closed, echoApp, freePorts, readLine, readToEnd } from '../services/support.ts';

const base = await freePorts(7);
const TLS_ECHO = base;
const TLS_STRICT = base + 1;
const HTTP = base + 2;
const HTTPS = base + 3;
const HTTP_FORCED = base + 4;
const HTTP_DOWN = base + 5;
const CLOSED = base + 6;

function webApp(): string {
  return [
    'app = "web"',
    'primary_region = "ams"',
    '[processes]',
    `app = ${JSON.stringify(`node ${HELLO}`)}`,
    '[[services]]',
    'internal_port = 8080',
    '[services.concurrency]',
    'type = "requests"',
    'soft_limit = 20',
    // The forced port first: its force_https must not spill onto the service's other ports.
    '[[services.ports]]',
    `port = ${HTTP_FORCED}`,
    'handlers = ["http"]',
    'force_https = true',
    '[[services.ports]]',
    `port = ${HTTP}`,
    'handlers = ["http"]',
    '[[services.ports]]',
    `port = ${HTTPS}`,
    'handlers = ["tls", "http"]',
    '[[machines]]',
    'region = "ams"',
    'count = 1',
    '',
  ].join('\n');
}

const perch = await startPerch(t, {
  workers: 2,
  https: true,
  apps: {
    tlsecho: echoApp({
      name: 'tlsecho',
      ports: [
        `port = ${TLS_ECHO}\nhandlers = ["tls"]`,
        `port = ${TLS_STRICT}\nhandlers = ["tls"]\ntls_options = { alpn = ["echo/1"], versions = ["TLSv1.3"] }`,
      ],
    }),
    web: webApp(),
    webdown: [
      'app = "webdown"',
      'primary_region = "ams"',
      '[[services]]',
      'internal_port = 8080',
      '[[services.ports]]',
      `port = ${HTTP_DOWN}`,
      'handlers = ["http"]',
      '[[machines]]',
      'region = "ams"',
      `address = "127.0.0.1:${CLOSED}"`,
      '',
    ].join('\n'),
  },
});
const ca = perch.caPem();

function tlsConnect(options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', ca, allowHalfOpen: true, ...options } as tls.ConnectionOptions);
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

t.test('tls: terminated with the local CA’s certificate for the SNI name, plain TCP behind', async (t) => {
  const socket = await tlsConnect({ port: TLS_ECHO, servername: 'tlsecho.localhost' });
  t.equal(socket.authorized, true, 'the certificate verifies against the local CA');
  t.match(socket.getPeerCertificate().subjectaltname, /DNS:tlsecho\.localhost/);
  const payload = randomBytes(2 * 1024 * 1024);
  const back = readToEnd(socket);
  socket.end(payload);
  const got = await back;
  t.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(payload).digest('hex'), '2 MiB echoed through, after the client’s close_notify');
  await closed(socket);
  const log = await perch.waitForLog((line) => line.msg === 'connection' && line.port === TLS_ECHO && line.bytes_in === payload.length);
  t.match(log, { app: 'tlsecho', sni: 'tlsecho.localhost', bytes_out: payload.length, code: null });
});

t.test('tls: a client without SNI gets the default certificate (127.0.0.1)', async (t) => {
  const socket = await tlsConnect({ port: TLS_ECHO });
  t.equal(socket.authorized, true);
  socket.write('hi\n');
  t.equal(await readLine(socket), 'hi');
  socket.destroy();
});

t.test('tls: a name perch has no certificate for is refused in the handshake', async (t) => {
  await t.rejects(tlsConnect({ port: TLS_ECHO, servername: 'nobody.example', rejectUnauthorized: false }), /alert|handshake|socket|ECONNRESET/i);
});

t.test('tls: the port’s own tls_options (ALPN, versions)', async (t) => {
  const socket = await tlsConnect({ port: TLS_STRICT, servername: 'tlsecho.localhost', ALPNProtocols: ['h2', 'echo/1'] });
  t.equal(socket.alpnProtocol, 'echo/1', 'the port’s ALPN protocol');
  t.equal(socket.getProtocol(), 'TLSv1.3');
  socket.write('strict\n');
  t.equal(await readLine(socket), 'strict');
  socket.destroy();
  await t.rejects(tlsConnect({ port: TLS_STRICT, servername: 'tlsecho.localhost', maxVersion: 'TLSv1.2' }), 'TLS 1.2 refused where the port allows 1.3 only');
  await t.rejects(tlsConnect({ port: TLS_STRICT, servername: 'tlsecho.localhost', ALPNProtocols: ['h2'] }), 'an ALPN list without the port’s protocol is refused');
});

t.test('http: the port decides the app, perch’s headers both ways', async (t) => {
  const reply = await ask(`http://127.0.0.1:${HTTP}/headers`, { host: 'some-other-name.example' });
  t.equal(reply.status, 200);
  const seen = json<{ machine: string; headers: Record<string, string> }>(reply);
  t.equal(seen.machine, 'web-ams-1', 'served by the app of the port');
  t.match(seen.headers, { 'x-forwarded-proto': 'http', 'x-forwarded-port': String(HTTP), 'fly-client-ip': '127.0.0.1', 'x-forwarded-ssl': 'off' });
  t.ok(seen.headers['fly-request-id'], 'a request id');
  t.equal(reply.headers.server, 'perch');
  t.equal(reply.headers['fly-request-id'], seen.headers['fly-request-id']);
});

t.test('tls+http: HTTP/1.1 and HTTP/2 by ALPN', async (t) => {
  const reply = await new Promise<{ status: number; body: string; alpn: string | false | null | undefined }>((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${HTTPS}`, { ca, servername: 'web.localhost' });
    session.on('error', reject);
    const req = session.request({ ':path': '/headers' });
    let body = '';
    let status = 0;
    req.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const alpn = (session.socket as tls.TLSSocket).alpnProtocol;
      session.close();
      resolve({ status, body, alpn });
    });
    req.on('error', reject);
  });
  t.equal(reply.alpn, 'h2');
  t.equal(reply.status, 200);
  const seen = JSON.parse(reply.body) as { machine: string; headers: Record<string, string> };
  t.equal(seen.machine, 'web-ams-1');
  t.match(seen.headers, { 'x-forwarded-proto': 'https', 'x-forwarded-port': String(HTTPS), 'x-forwarded-ssl': 'on' });
  t.match(seen.headers.via, /^2 perch/);

  const socket = await tlsConnect({ port: HTTPS, servername: 'web.localhost', ALPNProtocols: ['http/1.1'] });
  t.equal(socket.alpnProtocol, 'http/1.1');
  socket.write('GET /headers HTTP/1.1\r\nhost: web.localhost\r\nconnection: close\r\n\r\n');
  const raw = (await readToEnd(socket)).toString();
  t.match(raw, /^HTTP\/1\.1 200/);
  t.match(raw, /"x-forwarded-proto":"https"/);
  socket.destroy();
});

t.test('WebSockets on http and tls+http ports: tunnelled to the port’s app', async (t) => {
  const endpoints = [
    { name: 'ws', url: `ws://127.0.0.1:${HTTP}/ws`, options: {} },
    { name: 'wss', url: `wss://127.0.0.1:${HTTPS}/ws`, options: { ca, servername: 'web.localhost' } as ClientOptions },
  ];
  for (const { name, url, options } of endpoints) {
    const socket = await openSocket(url, options);
    t.teardown(() => socket.ws.terminate());
    socket.ws.send('hello');
    t.equal(await socket.next(), 'hello', `${name}: a message comes back`);
    socket.ws.send('!headers');
    const seen = JSON.parse(await socket.next()) as { machine: string; headers: Record<string, string> };
    t.equal(seen.machine, 'web-ams-1', `${name}: the port's app`);
    t.equal(seen.headers['x-forwarded-proto'], name === 'ws' ? 'http' : 'https');
    socket.ws.close();
  }
});

t.test('http with force_https: 301 to the service’s TLS port', async (t) => {
  const reply = await ask(`http://127.0.0.1:${HTTP_FORCED}/a/b?c=1`, { host: 'web.localhost' });
  t.equal(reply.status, 301);
  t.equal(reply.headers.location, `https://web.localhost:${HTTPS}/a/b?c=1`);
  t.ok(reply.headers['fly-request-id'], 'answered by the pipeline, with a request id');
  const plain = await ask(`http://127.0.0.1:${HTTP}/`, { host: 'web.localhost' });
  t.equal(plain.status, 200, 'the same service’s port without force_https is not redirected');
});

t.test('http: no machine answers → an error with its code, like the edge listener', async (t) => {
  const reply = await ask(`http://127.0.0.1:${HTTP_DOWN}/`, { host: 'webdown.localhost' });
  t.equal(reply.status, 502);
  t.match(reply.headers['x-perch-error'], /^PC0[17]$/);
  t.match(reply.text, /perch error PC0[17]/);
  t.match(reply.text, /request id: /);
});
