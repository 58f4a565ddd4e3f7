// Request headers perch sets (client copies replaced), hop-by-hop headers
// removed both ways, and perch's own response headers.
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { agent, ask, json, rawExchange } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

interface Seen {
  machine: string;
  headers: Record<string, string>;
  rawHeaders: string[];
}

t.test('forwarded request and returned response headers', async (t) => {
  const perch = await startPerch(t, { apps: { hello: helloApp({ name: 'hello', machines: [['ams', 2]] }) } });
  const port = String(perch.httpPort);

  // Raw, because HTTP client libraries refuse to send some of these hop-by-hop headers.
  const spoofed = [
    'fly-client-ip: 6.6.6.6',
    'fly-region: evil',
    'fly-request-id: forged',
    'fly-forwarded-port: 1',
    'x-forwarded-for: 203.0.113.7',
    'x-forwarded-proto: https',
    'x-forwarded-port: 443',
    'x-forwarded-ssl: on',
    'via: 1.1 upstream-cdn',
    'fly-replay-src: instance=forged',
    'keep-alive: timeout=99',
    'proxy-connection: keep-alive',
    'te: trailers',
    'x-private: only for the next hop',
    'x-custom: kept',
  ];
  const raw = await rawExchange(perch.httpPort, `GET /headers HTTP/1.1\r\nHost: hello.localhost\r\nConnection: close, x-private\r\n${spoofed.join('\r\n')}\r\n\r\n`);
  const [rawHead, body] = raw.split('\r\n\r\n') as [string, string];
  const responseHeader = (name: string): string | undefined =>
    rawHead.split('\r\n').find((line) => line.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
  const reply = { status: Number(rawHead.slice(9, 12)), text: body, headers: { server: responseHeader('server'), via: responseHeader('via'), 'fly-request-id': responseHeader('fly-request-id') } };
  const seen = json<Seen>(reply);
  const h = seen.headers;

  t.equal(h['fly-client-ip'], '127.0.0.1', 'Fly-Client-IP is the real client');
  t.equal(h['fly-region'], 'ams', 'Fly-Region is the edge region');
  t.equal(h['fly-forwarded-port'], port, 'Fly-Forwarded-Port is the edge port');
  t.equal(h['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'X-Forwarded-For is appended to');
  t.equal(h['x-forwarded-proto'], 'http', 'X-Forwarded-Proto replaced');
  t.equal(h['x-forwarded-port'], port, 'X-Forwarded-Port replaced');
  t.equal(h['x-forwarded-ssl'], 'off', 'X-Forwarded-SSL replaced');
  t.equal(h.via, '1.1 upstream-cdn, 1.1 perch', 'Via is appended to');
  t.match(h['fly-request-id'], /^[0-9A-Z]{18}-ams$/, 'Fly-Request-Id set');
  t.not(h['fly-request-id'], 'forged');
  t.equal(h['fly-replay-src'], undefined, 'clients cannot send replay headers');
  t.equal(h['x-custom'], 'kept', 'ordinary headers pass');
  t.equal(h.host, 'hello.localhost', 'Host is the client’s');
  for (const hop of ['keep-alive', 'proxy-connection', 'te', 'x-private']) t.equal(h[hop], undefined, `${hop} removed`);

  const setOnce = ['fly-client-ip', 'fly-region', 'fly-request-id', 'x-forwarded-proto', 'via'];
  for (const name of setOnce) {
    const count = seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i]!.toLowerCase() === name).length;
    t.equal(count, 1, `${name} appears once`);
  }

  t.equal(reply.headers.server, 'perch', 'Server on the response');
  t.equal(reply.headers.via, '1.1 perch', 'Via on the response');
  t.equal(reply.headers['fly-request-id'], h['fly-request-id'], 'the response names the id the machine saw');
});

t.test('hop-by-hop response headers are dropped; cookies and end-to-end headers kept', async (t) => {
  const perch = await startPerch(t, { apps: { hello: helloApp({ name: 'hello', machines: [['ams', 1]] }) } });
  const raw = await rawExchange(perch.httpPort, 'GET /hop HTTP/1.1\r\nHost: hello.localhost\r\nConnection: close\r\n\r\n');
  const [head] = raw.split('\r\n\r\n');
  const lines = head!.split('\r\n').slice(1).map((line) => line.toLowerCase());
  const named = (name: string): string[] => lines.filter((line) => line.startsWith(`${name}:`));
  t.match(head, /^HTTP\/1\.1 200 /);
  t.same(named('set-cookie'), ['set-cookie: a=1', 'set-cookie: b=2'], 'both cookies');
  t.same(named('upgrade'), [], 'Upgrade dropped');
  t.same(named('proxy-connection'), [], 'Proxy-Connection dropped');
  t.same(named('x-hop'), [], 'header named in the machine’s Connection dropped');
  t.same(named('keep-alive'), [], 'the machine’s Keep-Alive dropped');
  t.same(named('connection'), ['connection: close'], 'Connection is perch’s own');
  t.same(named('server'), ['server: perch'], 'Server replaced');
  t.same(named('via'), ['via: 1.1 app-cache, 1.1 perch'], 'Via appended');
});

t.test('response.pristine and response.headers', async (t) => {
  const perch = await startPerch(t, {
    apps: {
      plain: helloApp({ name: 'plain', machines: [['ams', 1]], hostnames: ['plain.test'] }),
      pristine: helloApp({
        name: 'pristine',
        machines: [['ams', 1]],
        hostnames: ['pristine.test'],
        tables: '[http_service.http_options.response]\npristine = true',
      }),
      custom: helloApp({
        name: 'custom',
        machines: [['ams', 1]],
        hostnames: ['custom.test'],
        tables: '[http_service.http_options.response.headers]\nx-frame-options = "DENY"\nx-region = false',
      }),
    },
  });
  const pristine = await ask(`${perch.origin}/`, { host: 'pristine.test' });
  t.equal(pristine.headers.server, undefined, 'pristine: no Server added');
  t.equal(pristine.headers['fly-request-id'], undefined, 'pristine: no request id added');
  const custom = await ask(`${perch.origin}/`, { host: 'custom.test' });
  t.equal(custom.headers['x-frame-options'], 'DENY', 'configured header added');
  t.equal(custom.headers['x-region'], undefined, 'configured removal');
  t.equal(custom.headers.server, 'perch');
  const plain = await ask(`${perch.origin}/`, { host: 'plain.test' });
  t.equal(plain.headers['x-region'], 'ams', 'other apps untouched');
});
