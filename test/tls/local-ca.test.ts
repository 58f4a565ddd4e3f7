// The local CA: made once even when several stores or processes start
// together, its certificates verify against ca.pem (with Node and with
// openssl), and they are re-issued when they come due.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LocalCA } from '../../src/tls/local-ca.ts';
import { CA_COMMON_NAME, generateKeyPem } from '../../src/tls/x509.ts';
import { app, handshake, https, listenTls, openStore, tempDir } from './support.ts';

const execFileAsync = promisify(execFile);
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const DAY_MS = 86_400_000;

t.test('four stores starting at once make one CA', async (t) => {
  const caDir = path.join(tempDir(t), 'ca');
  const config = https(caDir, { defaultSelfSigned: true });
  const stores = await Promise.all([1, 2, 3, 4].map(() => openStore(t, { https: config, apps: [] })));
  const cas = await Promise.all(stores.map((store) => store.localCa()));
  const onDisk = new X509Certificate(fs.readFileSync(LocalCA.certPath(caDir)));
  for (const ca of cas) t.equal(ca.fingerprint256, onDisk.fingerprint256, 'every store uses the CA on disk');
  t.match(onDisk.subject, new RegExp(`CN=${CA_COMMON_NAME}`), 'named for a trust store');
  t.ok(onDisk.ca, 'a CA certificate');
  const years = (onDisk.validToDate.getTime() - Date.now()) / (365.25 * DAY_MS);
  t.ok(years > 9.9 && years < 10.1, `valid for 10 years (${years.toFixed(2)})`);
  t.equal(fs.statSync(LocalCA.keyPath(caDir)).mode & 0o777, 0o600, 'ca-key.pem is private');
  t.same(
    fs.readdirSync(caDir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary files left',
  );
  // Every store also agrees on the default (no-SNI) certificate's issuer.
  for (const store of stores) t.equal(store.defaultCertificate()?.issuerPem, cas[0]!.certPem);
});

t.test('four processes starting at once make one CA', async (t) => {
  const caDir = path.join(tempDir(t), 'ca');
  const localCa = fileURLToPath(new URL('../../src/tls/local-ca.ts', import.meta.url));
  const script = `const { LocalCA } = await import(${JSON.stringify(localCa)}); const ca = await LocalCA.open(process.argv[1]); process.stdout.write(ca.fingerprint256);`;
  const runs = await Promise.all([1, 2, 3, 4].map(() => execFileAsync(process.execPath, ['--input-type=module', '-e', script, caDir])));
  const fingerprints = new Set(runs.map((run) => run.stdout));
  t.equal(fingerprints.size, 1, 'one fingerprint');
  t.equal([...fingerprints][0], new X509Certificate(fs.readFileSync(LocalCA.certPath(caDir))).fingerprint256, 'the one on disk');
});

t.test('a key left without a certificate (a crash half-way) is completed', async (t) => {
  const caDir = tempDir(t);
  fs.writeFileSync(LocalCA.keyPath(caDir), await generateKeyPem(), { mode: 0o600 });
  const ca = await LocalCA.open(caDir);
  t.ok(fs.existsSync(LocalCA.certPath(caDir)));
  const again = await LocalCA.open(caDir);
  t.equal(again.fingerprint256, ca.fingerprint256);
});

t.test('a ca.pem that is not the key’s certificate is refused with a clear message', async (t) => {
  const one = tempDir(t);
  const two = tempDir(t);
  await LocalCA.open(one);
  await LocalCA.open(two);
  fs.copyFileSync(LocalCA.certPath(one), LocalCA.certPath(two));
  await t.rejects(LocalCA.open(two), /is not the certificate of .*ca-key\.pem; remove both/);
});

t.test('a generated certificate verifies against ca.pem', async (t) => {
  const caDir = path.join(tempDir(t), 'ca');
  const store = await openStore(t, {
    https: https(caDir),
    apps: [app('web', ['web.localhost', '*.apps.test'], { defaultSelfSigned: true })],
  });
  const { port } = await listenTls(t, store);
  t.notOk(fs.existsSync(caDir), 'the CA is made on first use, not before');
  const ca = await store.localCa();
  const caPem = fs.readFileSync(LocalCA.certPath(caDir), 'utf8');

  for (const servername of ['web.localhost', 'one.apps.test']) {
    const got = await handshake(port, { servername, ca: caPem });
    t.ok(got.ok, `${servername}: handshake`);
    t.equal(got.authorized, true, `${servername}: trusted through ca.pem (${got.authorizationError ?? 'ok'})`);
  }
  const wildcard = await handshake(port, { servername: 'two.apps.test', ca: caPem });
  t.match(wildcard.subjectaltname, 'DNS:*.apps.test', 'one wildcard certificate for the wildcard hostname');

  const leafFile = ca.leafPath('web.localhost');
  t.ok(fs.existsSync(leafFile), 'stored under certs/');
  t.equal(fs.statSync(leafFile).mode & 0o777, 0o600, 'with its key, privately');
  t.ok(fs.existsSync(ca.leafPath('*.apps.test')), 'wildcards too');
  const leaf = new X509Certificate(fs.readFileSync(leafFile));
  t.equal(leaf.checkIssued(new X509Certificate(caPem)), true);
  t.match(leaf.keyUsage ?? [], ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
  const days = (leaf.validToDate.getTime() - Date.now()) / DAY_MS;
  t.ok(days > 89 && days < 91, `valid for 90 days (${days.toFixed(1)})`);

  if (hasOpenssl) {
    const { stdout } = await execFileAsync('openssl', ['verify', '-CAfile', LocalCA.certPath(caDir), '-purpose', 'sslserver', leafFile]);
    t.match(stdout, /: OK/, 'openssl verify -CAfile ca.pem');
  } else {
    t.comment('openssl is not on PATH: skipping openssl verify');
  }
});

t.test('a certificate is re-issued within 7 days of expiry, and reused before', async (t) => {
  const caDir = tempDir(t);
  let now = new Date();
  const clock = (): Date => now;
  const ca = await LocalCA.open(caDir, { now: clock });
  const first = await ca.leaf('app.test');
  t.equal((await ca.leaf('app.test')).fingerprint256, first.fingerprint256, 'from memory');

  const reopened = await LocalCA.open(caDir, { now: clock });
  t.equal((await reopened.leaf('app.test')).fingerprint256, first.fingerprint256, 'from disk, by another process');

  now = new Date(first.notAfter.getTime() - 8 * DAY_MS);
  t.equal((await ca.leaf('app.test')).fingerprint256, first.fingerprint256, '8 days before expiry: still the same');

  now = new Date(first.notAfter.getTime() - 6 * DAY_MS);
  const renewed = await ca.leaf('app.test');
  t.not(renewed.fingerprint256, first.fingerprint256, '6 days before expiry: a new one');
  t.ok(renewed.notAfter.getTime() > first.notAfter.getTime());
  const third = await LocalCA.open(caDir, { now: clock });
  t.equal((await third.leaf('app.test')).fingerprint256, renewed.fingerprint256, 'and it replaced the stored one');
});

t.test('concurrent requests for one name share one issue', async (t) => {
  const ca = await LocalCA.open(tempDir(t));
  const all = await Promise.all([1, 2, 3, 4, 5].map(() => ca.leaf('same.test')));
  t.equal(new Set(all.map((leaf) => leaf.fingerprint256)).size, 1);
});
