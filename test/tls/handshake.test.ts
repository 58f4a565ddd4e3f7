// What a client gets in the handshake: refusals are TLS alerts that come at
// once (never a hang), protocol versions follow the apps' tls_options, ALPN is
// chosen per name, and ticket keys shared by workers let a session resume on
// another one.
import t from 'tap';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { followStore, generateTicketKeys, tlsServerOptions } from '../../src/tls/server-options.ts';
import { app, handshake, https as httpsConfig, listenTls, openStore, tempDir, testCa, writeCertFile, type Teardown } from './support.ts';

const HANDSHAKE_FAILURE = 'ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE';
const PROTOCOL_VERSION = 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION';
const NO_APPLICATION_PROTOCOL = 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL';
/** What a client must do to offer TLS 1.1 at all with OpenSSL 3's default security level. */
const OFFER_TLS11 = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;

t.test('an unknown name is refused with an alert, at once', async (t) => {
  const dir = tempDir(t);
  const ca = await testCa();
  const known = await writeCertFile(ca, dir, 'known', 'known.test');
  const store = await openStore(t, { https: httpsConfig(path.join(dir, 'ca'), { certificates: [known] }), apps: [app('known', ['known.test'])] });
  const { port } = await listenTls(t, store);

  for (const servername of ['unknown.test', 'unknown.test', 'x'.repeat(63) + '.test', 'not a name!']) {
    const got = await handshake(port, { servername });
    t.notOk(got.ok, `${servername.slice(0, 20)}: refused`);
    t.equal(got.error?.code, HANDSHAKE_FAILURE, 'with a handshake_failure alert');
    t.ok(got.ms < 1_000, `within a second (${got.ms.toFixed(0)} ms)`);
  }
  const noSni = await handshake(port, {});
  t.equal(noSni.error?.code, HANDSHAKE_FAILURE, 'no SNI and no default certificate: the same alert');

  const before = store.stats().resolutions;
  await Promise.all(Array.from({ length: 20 }, () => handshake(port, { servername: 'again.test' })));
  t.equal(store.stats().resolutions - before, 1, 'an unknown name is looked up once, then remembered');
  t.equal(await store.secureContextFor('unknown.test'), null);
  t.equal(await store.secureContextFor(undefined), null);
  t.ok((await handshake(port, { servername: 'known.test' })).ok, 'a known name still works');
});

t.test('with a default certificate, unknown names still get an alert and clients without SNI get localhost', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, { https: httpsConfig(path.join(dir, 'ca'), { defaultSelfSigned: true }), apps: [app('web', ['web.test'])] });
  const { port } = await listenTls(t, store);
  const caPem = (await store.localCa()).certPem;

  const unknown = await handshake(port, { servername: 'unknown.test' });
  t.equal(unknown.error?.code, HANDSHAKE_FAILURE, 'unknown name: handshake_failure, not the default certificate');
  t.ok(unknown.ms < 1_000);

  const noSni = await handshake(port, { ca: caPem, servername: '' });
  t.ok(noSni.ok, 'no SNI: served');
  t.equal(noSni.subjectaltname, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  const byAddress = await handshake(port, { ca: caPem, checkServerIdentity: (_host, cert) => tls.checkServerIdentity('127.0.0.1', cert) });
  t.equal(byAddress.authorized, true, 'and it is valid for https://127.0.0.1');
  t.equal((await handshake(port, { servername: 'web.test', ca: caPem })).authorized, true, 'app names get their own certificate');
  t.equal((await handshake(port, { servername: 'localhost', ca: caPem })).subjectaltname, noSni.subjectaltname, 'SNI localhost: the default one');
});

t.test('remembered unknown names are forgotten after negativeTtlMs; concurrent handshakes share one load', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, { https: httpsConfig(path.join(dir, 'ca')), apps: [app('web', ['web.test'], { defaultSelfSigned: true })], negativeTtlMs: 50, maxNames: 10 });
  const { port } = await listenTls(t, store);
  await handshake(port, { servername: 'nope.test' });
  const once = store.stats().resolutions;
  await new Promise((resolve) => setTimeout(resolve, 120));
  await handshake(port, { servername: 'nope.test' });
  t.equal(store.stats().resolutions, once + 1, 'looked up again after the TTL');

  const start = store.stats().resolutions;
  const all = await Promise.all(Array.from({ length: 10 }, () => handshake(port, { servername: 'web.test' })));
  t.ok(all.every((got) => got.ok));
  t.equal(new Set(all.map((got) => got.fingerprint256)).size, 1, 'one certificate');
  t.equal(store.stats().resolutions - start, 1, 'made once for ten concurrent handshakes');

  await Promise.all(Array.from({ length: 30 }, (_, i) => handshake(port, { servername: `random-${i}.test` })));
  t.ok(store.stats().names <= 10, `random names stay within maxNames (${store.stats().names})`);
});

t.test('TLS 1.1 is refused; 1.2 and 1.3 are accepted by default', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, { https: httpsConfig(path.join(dir, 'ca')), apps: [app('web', ['web.test'], { defaultSelfSigned: true })] });
  const { port } = await listenTls(t, store);
  const old = await handshake(port, { servername: 'web.test', ...OFFER_TLS11 });
  t.equal(old.error?.code, PROTOCOL_VERSION, 'TLS 1.1: protocol_version alert');
  t.equal((await handshake(port, { servername: 'web.test', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  t.equal((await handshake(port, { servername: 'web.test' })).protocol, 'TLSv1.3');
});

t.test('an app with versions = ["TLSv1.3"] refuses TLS 1.2', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, {
    https: httpsConfig(path.join(dir, 'ca')),
    apps: [app('modern', ['modern.test'], { versions: ['TLSv1.3'], defaultSelfSigned: true }), app('web', ['web.test'], { defaultSelfSigned: true })],
  });
  const { port } = await listenTls(t, store);
  t.same(store.versionRange(), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' }, 'the listener still speaks 1.2 for the other app');
  const refused = await handshake(port, { servername: 'modern.test', maxVersion: 'TLSv1.2' });
  t.equal(refused.error?.code, HANDSHAKE_FAILURE, 'TLS 1.2 to the 1.3-only app: refused with an alert');
  const refusedAlpn = await handshake(port, { servername: 'modern.test', maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] });
  t.notOk(refusedAlpn.ok, 'also when the client offers ALPN');
  t.equal((await handshake(port, { servername: 'modern.test' })).protocol, 'TLSv1.3', 'TLS 1.3 to it: accepted');
  t.equal((await handshake(port, { servername: 'web.test', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2', 'TLS 1.2 to the other app: accepted');

  t.test('when it is the only app, the listener itself speaks 1.3 only', async (t) => {
    const only = await openStore(t, { https: httpsConfig(path.join(dir, 'ca')), apps: [app('modern', ['modern.test'], { versions: ['TLSv1.3'], defaultSelfSigned: true })] });
    const { port } = await listenTls(t, only);
    t.same(only.versionRange(), { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    t.equal((await handshake(port, { servername: 'modern.test', maxVersion: 'TLSv1.2' })).error?.code, PROTOCOL_VERSION);
  });
});

/** An http2 secure server (allowHTTP1) with perch's options that answers with the HTTP version it saw. */
async function listenH2(t: Teardown, options: ReturnType<typeof tlsServerOptions>): Promise<number> {
  const server = http2.createSecureServer({ allowHTTP1: true, ...options }, (req, res) => {
    res.end(`${req.httpVersion}`);
  });
  server.on('tlsClientError', () => {});
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as import('node:net').AddressInfo).port;
}

t.test('ALPN follows each app’s tls_options.alpn', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, {
    https: httpsConfig(path.join(dir, 'ca'), { defaultSelfSigned: true }),
    apps: [app('modern', ['modern.test']), app('legacy', ['legacy.test'], { alpn: ['http/1.1'] }), app('h2only', ['h2only.test'], { alpn: ['h2'] })],
  });
  const port = await listenH2(t, tlsServerOptions(store));
  const offer = { ALPNProtocols: ['h2', 'http/1.1'] };
  t.equal((await handshake(port, { servername: 'modern.test', ...offer })).alpn, 'h2', 'default alpn: h2');
  t.equal((await handshake(port, { servername: 'modern.test', ALPNProtocols: ['http/1.1', 'h2'] })).alpn, 'h2', 'the server’s preference order');
  t.equal((await handshake(port, { servername: 'legacy.test', ...offer })).alpn, 'http/1.1', 'alpn = ["http/1.1"]: http/1.1');
  const none = await handshake(port, { servername: 'h2only.test', ALPNProtocols: ['http/1.1'] });
  t.equal(none.error?.code, NO_APPLICATION_PROTOCOL, 'no protocol in common: no_application_protocol alert');
  t.equal((await handshake(port, { servername: 'modern.test' })).alpn, false, 'no ALPN offered: none chosen');

  const caPem = (await store.localCa()).certPem;
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, servername: 'modern.test', path: '/', ca: caPem, agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  t.equal(body, '1.1', 'a client without ALPN speaks HTTP/1.1');

  const client = http2.connect(`https://modern.test:${port}`, { ca: caPem, host: '127.0.0.1', servername: 'modern.test', lookup: (_h, _o, cb) => cb(null, '127.0.0.1', 4) });
  t.teardown(() => client.close());
  const h2Body = await new Promise<string>((resolve, reject) => {
    const stream = client.request({ ':path': '/' });
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
  t.equal(h2Body, '2.0', 'an h2 client speaks HTTP/2');
});

t.test('workers sharing ticket keys resume each other’s sessions', async (t) => {
  const dir = tempDir(t);
  const config = httpsConfig(path.join(dir, 'ca'));
  const apps = [app('web', ['web.test'], { defaultSelfSigned: true })];
  const ticketKeys = generateTicketKeys();
  t.equal(ticketKeys.length, 48);
  t.throws(() => tlsServerOptions({} as never, { ticketKeys: Buffer.alloc(16) }), /48 bytes/);
  const first = await listenTls(t, await openStore(t, { https: config, apps }), { ticketKeys });
  const second = await listenTls(t, await openStore(t, { https: config, apps }), { ticketKeys });
  const other = await listenTls(t, await openStore(t, { https: config, apps }), { ticketKeys: generateTicketKeys() });

  // TLS 1.2 hands the ticket over during the handshake, so the session is there once it ends.
  const session = await new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: first.port, servername: 'web.test', rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    socket.once('session', (data: Buffer) => {
      resolve(data);
      socket.end();
    });
    socket.on('error', reject);
  });
  const resumed = await new Promise<boolean>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: second.port, servername: 'web.test', rejectUnauthorized: false, maxVersion: 'TLSv1.2', session }, () => {
      resolve(socket.isSessionReused());
      socket.end();
    });
    socket.on('error', reject);
  });
  t.equal(resumed, true, 'resumed on the other worker');
  const notResumed = await new Promise<boolean>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: other.port, servername: 'web.test', rejectUnauthorized: false, maxVersion: 'TLSv1.2', session }, () => {
      resolve(socket.isSessionReused());
      socket.end();
    });
    socket.on('error', reject);
  });
  t.equal(notResumed, false, 'not by a server with other keys');
});

t.test('followStore applies a reload to the default certificate and the protocol range', async (t) => {
  const dir = tempDir(t);
  const caDir = path.join(dir, 'ca');
  const store = await openStore(t, { https: httpsConfig(caDir), apps: [app('modern', ['modern.test'], { versions: ['TLSv1.3'], defaultSelfSigned: true })] });
  const { server, port } = await listenTls(t, store);
  const stop = followStore(server, store);
  t.teardown(stop);
  t.equal((await handshake(port, {})).error?.code, HANDSHAKE_FAILURE, 'no default certificate yet');
  t.equal((await handshake(port, { servername: 'modern.test', maxVersion: 'TLSv1.2' })).error?.code, PROTOCOL_VERSION, '1.3 only');

  await store.reload(httpsConfig(caDir, { defaultSelfSigned: true }), [app('web', ['web.test'])]);
  const noSni = await handshake(port, {});
  t.ok(noSni.ok, 'no SNI: now served');
  t.match(noSni.subjectaltname, 'DNS:localhost');
  t.equal((await handshake(port, { servername: 'web.test', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2', 'TLS 1.2 again');
  t.ok((await handshake(port, { servername: 'web.test', ALPNProtocols: ['h2'] })).ok, 'SNI and ALPN callbacks survive setSecureContext');
  t.equal((await handshake(port, { servername: 'web.test', ALPNProtocols: ['h2'] })).alpn, 'h2');
  t.equal((await handshake(port, { servername: 'unknown.test' })).error?.code, HANDSHAKE_FAILURE, 'unknown names: still an alert');
});
