// Choosing a certificate by SNI among configured files, and picking files up
// again when they change on disk or the config is reloaded.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { app, echo, eventually, handshake, https, listenTls, openStore, tempDir, testCa, writeCertFile } from './support.ts';

const fingerprint = (file: string): string => new X509Certificate(fs.readFileSync(file)).fingerprint256;

t.test('SNI picks the right file among several', async (t) => {
  const dir = tempDir(t);
  const ca = await testCa();
  const one = await writeCertFile(ca, dir, 'one', 'one.test');
  const two = await writeCertFile(ca, dir, 'two', 'two.test', ['two.test', 'also-two.test']);
  const wild = await writeCertFile(ca, dir, 'wild', '*.wild.test');
  const store = await openStore(t, {
    https: https(path.join(dir, 'ca'), { certificates: [one, two, wild] }),
    apps: [app('one', ['one.test']), app('two', ['two.test'])],
  });
  const { port } = await listenTls(t, store);

  const gotOne = await handshake(port, { servername: 'one.test', ca: ca.cert });
  t.equal(gotOne.fingerprint256, fingerprint(one.cert), 'one.test → one.crt');
  t.equal(gotOne.subjectaltname, 'DNS:one.test');
  t.equal(gotOne.authorized, true);

  const gotTwo = await handshake(port, { servername: 'TWO.test.', ca: ca.cert });
  t.equal(gotTwo.fingerprint256, fingerprint(two.cert), 'names are matched without case or trailing dot');
  t.equal(gotTwo.cn, 'two.test');

  t.equal((await handshake(port, { servername: 'also-two.test' })).fingerprint256, fingerprint(two.cert), 'any hostname of the entry');
  t.equal((await handshake(port, { servername: 'a.wild.test' })).fingerprint256, fingerprint(wild.cert), 'a wildcard entry covers one label');
  t.notOk((await handshake(port, { servername: 'a.b.wild.test' })).ok, 'and not two');
  t.notOk((await handshake(port, { servername: 'wild.test' })).ok, 'nor the bare parent');
  t.notOk(fs.existsSync(path.join(dir, 'ca')), 'no local CA without default_self_signed');
});

t.test('a file takes precedence over a generated certificate', async (t) => {
  const dir = tempDir(t);
  const ca = await testCa();
  const file = await writeCertFile(ca, dir, 'site', 'site.test');
  const store = await openStore(t, {
    https: https(path.join(dir, 'ca'), { certificates: [file], defaultSelfSigned: true }),
    apps: [app('site', ['site.test', 'other.test'])],
  });
  const { port } = await listenTls(t, store);
  t.equal((await handshake(port, { servername: 'site.test' })).fingerprint256, fingerprint(file.cert));
  const generated = await handshake(port, { servername: 'other.test' });
  t.equal(generated.subjectaltname, 'DNS:other.test', 'the app’s other name gets a local-CA certificate');
});

t.test('a certificate replaced on disk is served to the next connection; open ones keep working', async (t) => {
  const dir = tempDir(t);
  const ca = await testCa();
  const file = await writeCertFile(ca, dir, 'site', 'site.test');
  const store = await openStore(t, {
    https: https(path.join(dir, 'ca'), { certificates: [file] }),
    apps: [app('site', ['site.test'])],
    pollMs: 0, // fs.watch alone
  });
  let changes = 0;
  store.onChange(() => changes++);
  const { port } = await listenTls(t, store);

  const before = await handshake(port, { servername: 'site.test', keep: true });
  t.ok(before.ok);
  const oldFingerprint = before.fingerprint256;
  t.equal(oldFingerprint, fingerprint(file.cert));

  // Replace both files the way certbot does: write new files, rename over the old ones.
  const staging = path.join(dir, 'staging');
  fs.mkdirSync(staging);
  const next = await writeCertFile(ca, staging, 'site', 'site.test');
  fs.renameSync(next.key, file.key);
  fs.renameSync(next.cert, file.cert);
  const newFingerprint = fingerprint(file.cert);
  t.not(newFingerprint, oldFingerprint);

  const switched = await eventually(async () => (await handshake(port, { servername: 'site.test' })).fingerprint256 === newFingerprint);
  t.ok(switched, 'a new connection gets the new certificate');
  t.ok(changes >= 1, 'listeners were told');
  t.equal(await echo(before.socket!, 'still here'), 'still here', 'the connection opened before still works');
  t.equal(before.socket!.getPeerCertificate().fingerprint256, oldFingerprint, 'with the certificate it started with');
  before.socket!.destroy();
});

t.test('a change is seen by the poll when watching is not available', async (t) => {
  const dir = tempDir(t);
  const ca = await testCa();
  const file = await writeCertFile(ca, dir, 'site', 'site.test');
  const store = await openStore(t, {
    https: https(path.join(dir, 'ca'), { certificates: [file] }),
    apps: [],
    pollMs: 50,
    watch: false,
  });
  const { port } = await listenTls(t, store);
  // Overwrite in place (same inode), with fs.watch off: only the poll can see it.
  const next = await writeCertFile(ca, path.join(dir), 'next', 'site.test');
  fs.writeFileSync(file.key, fs.readFileSync(next.key));
  fs.writeFileSync(file.cert, fs.readFileSync(next.cert));
  t.ok(await eventually(async () => (await handshake(port, { servername: 'site.test' })).fingerprint256 === fingerprint(file.cert)));
});

t.test('a half-written pair keeps the previous certificate until it is whole', async (t) => {
  const dir = tempDir(t);
  const ca = await testCa();
  const file = await writeCertFile(ca, dir, 'site', 'site.test');
  const store = await openStore(t, { https: https(path.join(dir, 'ca'), { certificates: [file] }), apps: [] });
  const { port } = await listenTls(t, store);
  const oldFingerprint = fingerprint(file.cert);
  const next = await writeCertFile(ca, path.join(dir), 'next', 'site.test');
  fs.copyFileSync(next.cert, file.cert); // certificate without its key yet
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.equal((await handshake(port, { servername: 'site.test' })).fingerprint256, oldFingerprint, 'mismatched pair: the old one stays');
  fs.copyFileSync(next.key, file.key);
  t.ok(await eventually(async () => (await handshake(port, { servername: 'site.test' })).fingerprint256 === fingerprint(next.cert)), 'then the new one');
});

t.test('reload swaps certificates and apps; a config whose files do not load is refused', async (t) => {
  const dir = tempDir(t);
  const ca = await testCa();
  const one = await writeCertFile(ca, dir, 'one', 'one.test');
  const two = await writeCertFile(ca, dir, 'two', 'two.test');
  const caDir = path.join(dir, 'ca');
  const store = await openStore(t, { https: https(caDir, { certificates: [one] }), apps: [] });
  const { port } = await listenTls(t, store);
  t.ok((await handshake(port, { servername: 'one.test' })).ok);
  t.notOk((await handshake(port, { servername: 'two.test' })).ok);

  await store.reload(https(caDir, { certificates: [two] }), []);
  t.notOk((await handshake(port, { servername: 'one.test' })).ok, 'one.test is gone');
  t.equal((await handshake(port, { servername: 'two.test' })).fingerprint256, fingerprint(two.cert), 'two.test is served');

  const broken = { hostnames: ['one.test'], cert: one.cert, key: two.key };
  await t.rejects(store.reload(https(caDir, { certificates: [broken] }), []), /do not load/);
  t.ok((await handshake(port, { servername: 'two.test' })).ok, 'the old config still serves');
});
