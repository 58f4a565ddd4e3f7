// The HTTPS listener end to end: curl over HTTP/1.1 and HTTP/2 (ALPN),
// Node's http2 client, the local CA verifying perch's certificates, SNI
// picking configured certificate files (and a replaced file served to the
// next connection), TLS 1.1 refused, an unknown name refused with an alert.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { issueLeafCertificate, createCaCertificate, generateKeyPem, type CertKeyPem } from '../../src/tls/x509.ts';
import { helloApp } from '../support/apps.ts';
import { curl, h2connect, h2request, handshake } from '../support/clients.ts';
import { sleep } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.test('HTTPS with the local CA: HTTP/1.1 and HTTP/2 by ALPN, into the same pipeline', async (t) => {
  const perch = await startPerch(t, { https: true, apps: { hello: helloApp({ name: 'hello' }) } });
  const ca = perch.caPem();
  const caFile = path.join(perch.dir, 'ca', 'ca.pem');
  const resolve = `hello.localhost:${perch.httpsPort}:127.0.0.1`;
  const url = `https://hello.localhost:${perch.httpsPort}`;

  const verified = await handshake(perch.httpsPort, { servername: 'hello.localhost', ca, rejectUnauthorized: true });
  t.ok(verified.ok, `the local CA verifies the generated certificate (${verified.error?.message ?? 'ok'})`);
  t.equal(verified.authorized, true);
  t.equal(verified.alpn, false, 'a client offering no ALPN speaks HTTP/1.1');
  t.equal(verified.version, 'TLSv1.3');

  const h2 = await curl(['--http2', '-v', '--cacert', caFile, '--resolve', resolve, `${url}/headers`]);
  t.equal(h2.code, 0, 'curl --http2 succeeded', { stderr: h2.stderr });
  t.match(h2.stderr, /ALPN: server accepted h2/, 'ALPN negotiated h2');
  t.match(h2.stderr, /< HTTP\/2 200/, 'answered over HTTP/2');
  const seen = JSON.parse(h2.stdout) as { headers: Record<string, string>; httpVersion: string };
  t.equal(seen.httpVersion, '1.1', 'the machine is spoken to in HTTP/1.1');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-ssl'], 'on');
  t.equal(seen.headers['x-forwarded-port'], String(perch.httpsPort));
  t.equal(seen.headers.host, `hello.localhost:${perch.httpsPort}`, ':authority became Host');
  t.equal(seen.headers.via, '2 perch');
  t.equal(seen.headers['fly-client-ip'], '127.0.0.1', 'the client address of an HTTP/2 request');

  const h1 = await curl(['--http1.1', '-v', '--cacert', caFile, '--resolve', resolve, '-H', 'X-Forwarded-Proto: gopher', '-H', 'X-Forwarded-SSL: off', `${url}/headers`]);
  t.equal(h1.code, 0, 'curl --http1.1 succeeded', { stderr: h1.stderr });
  t.match(h1.stderr, /ALPN: server accepted http\/1\.1/, 'ALPN negotiated http/1.1');
  t.match(h1.stderr, /< HTTP\/1\.1 200/);
  const seen1 = JSON.parse(h1.stdout) as { headers: Record<string, string> };
  t.equal(seen1.headers['x-forwarded-proto'], 'https', "the client's X-Forwarded-Proto is replaced");
  t.equal(seen1.headers['x-forwarded-ssl'], 'on', "the client's X-Forwarded-SSL is replaced");
  t.equal(seen1.headers.via, '1.1 perch');

  // Node's HTTP/2 client: connection-specific response headers of an HTTP/1.1 machine are not passed on.
  const session = await h2connect(perch.httpsPort, 'hello.localhost', ca);
  t.teardown(() => session.close());
  const hop = await h2request(session, { ':path': '/hop' });
  t.equal(hop.status, 200);
  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding', 'x-hop']) {
    t.equal(hop.headers[name], undefined, `no ${name} header`);
  }
  t.same(hop.headers['set-cookie'], ['a=1', 'b=2'], 'both cookies');
  t.equal(hop.headers.server, 'perch');
  t.equal(hop.headers.via, '1.1 app-cache, 2 perch');
  t.type(hop.headers['fly-request-id'], 'string');

  // A body sent as DATA frames, with no content-length, reaches the machine whole.
  const body = Buffer.alloc(200_000, 'x');
  const echoed = await h2request(session, { ':method': 'POST', ':path': '/echo', 'content-type': 'text/plain' }, body);
  t.equal(echoed.status, 200);
  t.equal(echoed.body.length, body.length, 'the request body went through');
  const counted = await h2request(session, { ':method': 'POST', ':path': '/count' }, 'hello');
  t.equal(JSON.parse(counted.body.toString()).bytes, 5);

  // Many streams on one connection at once.
  const many = await Promise.all(Array.from({ length: 20 }, () => h2request(session, { ':path': '/sleep?ms=50' })));
  t.same([...new Set(many.map((reply) => reply.status))], [200], '20 concurrent streams answered');

  // Errors of the pipeline reach HTTP/2 clients too.
  const unknown = await h2request(session, { ':path': '/', ':authority': 'nobody.localhost' });
  t.equal(unknown.status, 200, 'the only app serves every name');
});

t.test('protocol versions: TLS 1.1 refused, 1.2 and 1.3 accepted', async (t) => {
  const perch = await startPerch(t, { https: true, apps: { hello: helloApp({ name: 'hello' }) } });
  const old = await handshake(perch.httpsPort, { servername: 'hello.localhost', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
  t.equal(old.ok, false, 'TLS 1.1 is refused');
  t.match(old.error?.code ?? old.error?.message ?? '', /ALERT|VERSION|SSL/i, `with a TLS error (${old.error?.code} ${old.error?.message})`);
  const v12 = await handshake(perch.httpsPort, { servername: 'hello.localhost', maxVersion: 'TLSv1.2', ALPNProtocols: ['h2'] });
  t.ok(v12.ok && v12.version === 'TLSv1.2' && v12.alpn === 'h2', 'TLS 1.2 with h2');
  const curl11 = await curl(['--tlsv1.0', '--tls-max', '1.1', '-k', `${perch.httpsOrigin}/`]);
  t.not(curl11.code, 0, `curl with TLS ≤ 1.1 fails (${curl11.stderr.trim()})`);
});

t.test('SNI picks the certificate file of each name; a file replaced on disk is served to the next connection', async (t) => {
  const ca = await testCa();
  const files: Record<string, string> = { 'test-ca.pem': ca.cert };
  for (const name of ['alpha.test', 'beta.test']) {
    const pems = await issueLeafCertificate(ca, name, new Date(), 30);
    files[`certs/${name}.crt`] = pems.cert;
    files[`certs/${name}.key`] = pems.key;
  }
  const toml = ['alpha.test', 'beta.test']
    .map((name) => `[[https.certificates]]\nhostnames = ["${name}"]\ncert = "certs/${name}.crt"\nkey = "certs/${name}.key"`)
    .join('\n');
  const perch = await startPerch(t, {
    https: { defaultSelfSigned: false, toml },
    files,
    apps: {
      alpha: helloApp({ name: 'alpha', hostnames: ['alpha.test'] }),
      beta: helloApp({ name: 'beta', hostnames: ['beta.test'] }),
    },
  });

  const alpha = await handshake(perch.httpsPort, { servername: 'alpha.test', ca: ca.cert, rejectUnauthorized: true });
  const beta = await handshake(perch.httpsPort, { servername: 'beta.test', ca: ca.cert, rejectUnauthorized: true });
  t.ok(alpha.ok && beta.ok, 'both names verify against their CA');
  t.equal(alpha.subjectCN, 'alpha.test');
  t.equal(beta.subjectCN, 'beta.test');

  // Through perch, by name, to the right app.
  const reply = await curl(['--http2', '--cacert', path.join(perch.dir, 'test-ca.pem'), '--resolve', `beta.test:${perch.httpsPort}:127.0.0.1`, `https://beta.test:${perch.httpsPort}/`]);
  t.equal(reply.code, 0, 'curl succeeded', { stderr: reply.stderr });
  t.match(reply.stdout, /^hello from beta-ams-1/, 'beta.test reaches the beta app');

  const unknown = await handshake(perch.httpsPort, { servername: 'gamma.test' });
  t.equal(unknown.ok, false, 'a name with no certificate is refused');
  t.match(`${unknown.error?.code} ${unknown.error?.message}`, /alert|handshake failure/i, `with a TLS alert, not a hang (${unknown.error?.message})`);

  // Replace alpha's certificate on disk: the next connection gets the new one.
  const renewed = await issueLeafCertificate(ca, 'alpha.test', new Date(), 60);
  writeFileSync(path.join(perch.dir, 'certs/alpha.test.key'), renewed.key);
  writeFileSync(path.join(perch.dir, 'certs/alpha.test.crt'), renewed.cert);
  let now = alpha;
  for (let i = 0; i < 40 && now.fingerprint256 === alpha.fingerprint256; i++) {
    await sleep(250);
    now = await handshake(perch.httpsPort, { servername: 'alpha.test', ca: ca.cert, rejectUnauthorized: true });
  }
  t.ok(now.ok, 'the renewed certificate verifies');
  t.not(now.fingerprint256, alpha.fingerprint256, 'and is the one served now');
  const stillBeta = await handshake(perch.httpsPort, { servername: 'beta.test', ca: ca.cert, rejectUnauthorized: true });
  t.equal(stillBeta.fingerprint256, beta.fingerprint256, "beta's certificate is unchanged");
});

async function testCa(): Promise<CertKeyPem> {
  const key = await generateKeyPem();
  return { key, cert: await createCaCertificate(key, new Date(), 1) };
}

t.test("each app's tls_options: ALPN and versions by SNI", async (t) => {
  const perch = await startPerch(t, {
    https: true,
    apps: {
      modern: helloApp({ name: 'modern', hostnames: ['modern.localhost'], httpService: '[http_service.tls_options]\nversions = ["TLSv1.3"]' }),
      legacy: helloApp({ name: 'legacy', hostnames: ['legacy.localhost'], httpService: '[http_service.tls_options]\nalpn = ["http/1.1"]' }),
    },
  });
  const caFile = path.join(perch.dir, 'ca', 'ca.pem');
  const legacy = await curl(['--http2', '-v', '--cacert', caFile, '--resolve', `legacy.localhost:${perch.httpsPort}:127.0.0.1`, `https://legacy.localhost:${perch.httpsPort}/`]);
  t.equal(legacy.code, 0, 'curl succeeded', { stderr: legacy.stderr });
  t.match(legacy.stderr, /ALPN: server accepted http\/1\.1/, 'alpn = ["http/1.1"]: no HTTP/2 for that name');
  t.match(legacy.stdout, /^hello from legacy-ams-1/);
  const modern = await curl(['--http2', '-v', '--cacert', caFile, '--resolve', `modern.localhost:${perch.httpsPort}:127.0.0.1`, `https://modern.localhost:${perch.httpsPort}/`]);
  t.match(modern.stderr, /ALPN: server accepted h2/, 'the other name keeps HTTP/2');
  const modern12 = await handshake(perch.httpsPort, { servername: 'modern.localhost', maxVersion: 'TLSv1.2' });
  t.equal(modern12.ok, false, 'versions = ["TLSv1.3"]: TLS 1.2 is refused for that name');
  const legacy12 = await handshake(perch.httpsPort, { servername: 'legacy.localhost', maxVersion: 'TLSv1.2' });
  t.ok(legacy12.ok, 'and accepted for the other');
});

t.test('bounds and shutdown on the HTTPS listener', async (t) => {
  const perch = await startPerch(t, { https: true, apps: { hello: helloApp({ name: 'hello' }) } });
  const ca = perch.caPem();

  // An HTTP/1.1 head over TLS is bounded like a plain one.
  const big = await tlsExchange(perch.httpsPort, `GET / HTTP/1.1\r\nHost: hello.localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.match(big, /^HTTP\/1\.1 431 /, 'a head over 16 KiB gets 431');

  // SIGTERM: an HTTP/2 stream under way finishes, its session is told GOAWAY.
  const session = await h2connect(perch.httpsPort, 'hello.localhost', ca);
  t.teardown(() => session.destroy());
  const bigH2 = await h2request(session, { ':path': '/', 'x-big': 'a'.repeat(20_000) });
  t.equal(bigH2.status, 431, 'an HTTP/2 header list over 16 KiB gets 431');
  t.equal((await h2request(session, { ':path': '/' })).status, 200, 'and the connection goes on');
  const goaway = new Promise<boolean>((resolve) => {
    session.once('goaway', () => resolve(true));
    session.once('close', () => resolve(false));
  });
  const slow = h2request(session, { ':path': '/sleep?ms=1000' });
  await sleep(200);
  const stopped = perch.stop('SIGTERM');
  const reply = await slow;
  t.equal(reply.status, 200, 'the stream in flight finished');
  t.equal(await goaway, true, 'the session got GOAWAY');
  t.same(await stopped, { code: 0, signal: null }, 'perch exited 0');
});

/** Sends raw bytes over TLS and returns what comes back until the server closes. */
function tlsExchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'hello.localhost', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.on('secureConnect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

t.test('type = "connections": an HTTP/2 connection is one unit of load, pinned to one machine', async (t) => {
  const perch = await startPerch(t, {
    https: true,
    apps: {
      conn: helloApp({
        name: 'conn',
        machines: [['ams', 2]],
        concurrency: 'type = "connections"\nsoft_limit = 1\nhard_limit = 1',
        tables: '[limits]\nqueue_timeout = "5s"',
      }),
    },
  });
  const ca = perch.caPem();
  const machinesOf = async (session: Awaited<ReturnType<typeof h2connect>>, n: number): Promise<string[]> =>
    [...new Set((await Promise.all(Array.from({ length: n }, () => h2request(session, { ':path': '/sleep?ms=20' })))).map((r) => JSON.parse(r.body.toString()).machine as string))];
  const first = await h2connect(perch.httpsPort, 'conn.localhost', ca);
  const second = await h2connect(perch.httpsPort, 'conn.localhost', ca);
  t.teardown(() => {
    first.destroy();
    second.destroy();
  });
  const a = await machinesOf(first, 10);
  t.equal(a.length, 1, `10 concurrent streams of one connection went to one machine (${a})`);
  const b = await machinesOf(second, 10);
  t.equal(b.length, 1, 'so did those of the second connection');
  t.not(b[0], a[0], 'on the other machine: each connection holds its hard_limit slot');
  const third = await h2connect(perch.httpsPort, 'conn.localhost', ca);
  t.teardown(() => third.destroy());
  let answered = false;
  const waiting = h2request(third, { ':path': '/' }).then((reply) => {
    answered = true;
    return reply;
  });
  await sleep(400);
  t.equal(answered, false, 'a third connection waits while both machines hold one');
  first.close();
  const reply = await waiting;
  t.match(reply.body.toString(), new RegExp(`hello from ${a[0]}`), 'and gets the machine the closed connection freed');
});
