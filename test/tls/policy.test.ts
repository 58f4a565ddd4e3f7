// The pure parts: server names, wildcard coverage, where a name's certificate
// comes from, ALPN choice and version checks.
import t from 'tap';
import { CertNameIndex, covers, fileStem, normalizeServername, wildcardOf } from '../../src/tls/names.ts';
import { chooseAlpn, DEFAULT_TLS, SniPolicy, tlsSitesFrom, versionAllowed, versionBounds } from '../../src/tls/policy.ts';
import { app } from './support.ts';

t.test('normalizeServername', async (t) => {
  t.equal(normalizeServername('Example.COM.'), 'example.com');
  t.equal(normalizeServername('a_b.example.com'), 'a_b.example.com');
  for (const bad of [undefined, '', '.', 'a..b', '-a.com', 'a-.com', 'a b.com', '127.0.0.1', 'x'.repeat(64) + '.com', `${'a.'.repeat(127)}com`, '*.example.com']) {
    t.equal(normalizeServername(bad), null, `${String(bad).slice(0, 30)} is not a server name`);
  }
});

t.test('wildcards cover one label', async (t) => {
  t.equal(wildcardOf('a.example.com'), '*.example.com');
  t.equal(wildcardOf('example.com'), null, 'no *.com');
  t.equal(wildcardOf('localhost'), null);
  t.ok(covers('*.example.com', 'a.example.com'));
  t.notOk(covers('*.example.com', 'a.b.example.com'));
  t.notOk(covers('*.example.com', 'example.com'));
  t.ok(covers('example.com', 'example.com'));
  t.equal(fileStem('*.example.com'), '_wildcard.example.com');
  t.equal(fileStem('web.localhost'), 'web.localhost');
  t.throws(() => fileStem('../etc/passwd'));
  t.throws(() => fileStem('a/b'));
});

t.test('CertNameIndex: exact first, then the wildcard; the first entry wins', async (t) => {
  const index = new CertNameIndex<string>();
  index.add('*.example.com', 'wild');
  index.add('www.example.com', 'www');
  index.add('WWW.example.com', 'late');
  t.same(index.lookup('www.example.com'), { certName: 'www.example.com', value: 'www' });
  t.same(index.lookup('api.example.com'), { certName: '*.example.com', value: 'wild' });
  t.equal(index.lookup('a.api.example.com'), null);
  t.equal(index.lookup('example.com'), null);
});

t.test('SniPolicy: files, then the local CA for apps that allow it, else nothing', async (t) => {
  const files = [
    { hostnames: ['www.example.com'], cert: '/c/www.crt', key: '/c/www.key' },
    { hostnames: ['*.example.com', 'example.com'], cert: '/c/wild.crt', key: '/c/wild.key' },
  ];
  const sites = tlsSitesFrom([
    app('shop', ['shop.localhost', 'www.example.com'], { defaultSelfSigned: true }),
    app('api', ['api.localhost', '*.api.test'], { defaultSelfSigned: true, alpn: ['http/1.1'], versions: ['TLSv1.3'] }),
    app('plain', ['plain.localhost']),
  ]);
  const perApp = new SniPolicy(files, sites, false);
  t.same(perApp.sourceFor('www.example.com'), { kind: 'file', file: 0, certName: 'www.example.com' }, 'a file before the local CA');
  t.same(perApp.sourceFor('blog.example.com'), { kind: 'file', file: 1, certName: '*.example.com' });
  t.same(perApp.sourceFor('example.com'), { kind: 'file', file: 1, certName: 'example.com' });
  t.same(perApp.sourceFor('shop.localhost'), { kind: 'local-ca', certName: 'shop.localhost' });
  t.same(perApp.sourceFor('v1.api.test'), { kind: 'local-ca', certName: '*.api.test' }, 'a wildcard hostname gets one wildcard certificate');
  t.equal(perApp.sourceFor('a.v1.api.test'), null, 'deeper names are not covered by it');
  t.equal(perApp.sourceFor('plain.localhost'), null, 'an app without default_self_signed');
  t.equal(perApp.sourceFor('random.test'), null);
  t.equal(perApp.sourceFor(null), null, 'no SNI: nothing without the global switch');
  t.equal(perApp.sourceFor('localhost'), null);

  const global = new SniPolicy([], sites, true);
  t.same(global.sourceFor('plain.localhost'), { kind: 'local-ca', certName: 'plain.localhost' }, 'global: every app');
  t.equal(global.sourceFor('random.test'), null, 'but only names of configured apps');
  t.same(global.sourceFor(null), { kind: 'local-ca', certName: 'localhost' }, 'no SNI: localhost');
  t.same(global.sourceFor('localhost'), { kind: 'local-ca', certName: 'localhost' });

  t.same(perApp.tlsFor('x.api.test').alpn, ['http/1.1'], 'tls options of the app serving the name');
  t.same(perApp.tlsFor('random.test'), DEFAULT_TLS, 'defaults for names no app has (several apps: no fallback)');
  const single = new SniPolicy([], tlsSitesFrom([app('api', ['api.localhost'], { alpn: ['http/1.1'] })]), false);
  t.same(single.tlsFor('anything.test').alpn, ['http/1.1'], 'the only app serves every name, as in HTTP routing');
  t.same(single.tlsFor(null).alpn, ['http/1.1']);
});

t.test('tlsSitesFrom keeps apps with an http_service', async (t) => {
  const noHttp = { ...app('tcp', ['tcp.localhost']), httpService: null };
  t.same(tlsSitesFrom([noHttp, app('web', ['web.localhost'])]).map((site) => site.name), ['web']);
});

t.test('chooseAlpn: the app’s order, among what the client offers', async (t) => {
  t.equal(chooseAlpn(['h2', 'http/1.1'], ['http/1.1', 'h2']), 'h2');
  t.equal(chooseAlpn(['http/1.1'], ['h2', 'http/1.1']), 'http/1.1');
  t.equal(chooseAlpn(['h2'], ['http/1.1']), undefined);
});

t.test('versions', async (t) => {
  t.ok(versionAllowed(['TLSv1.2', 'TLSv1.3'], 'TLSv1.2'));
  t.notOk(versionAllowed(['TLSv1.3'], 'TLSv1.2'));
  t.ok(versionAllowed(['TLSv1.2'], 'TLSv1.3'), 'above the list: let through (decided before the name is known)');
  t.notOk(versionAllowed(['TLSv1.2'], 'TLSv1.1'));
  t.notOk(versionAllowed(['TLSv1.2'], null));
  t.same(versionBounds(['TLSv1.3']), { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
  t.same(versionBounds(['TLSv1.3', 'TLSv1.2']), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
  t.same(versionBounds([]), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
});
