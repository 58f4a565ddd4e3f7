// force_https: a plain-HTTP request to such an app gets a 301 to the same
// host and path on perch's HTTPS listener; HTTPS requests and other apps are
// served as usual.
import path from 'node:path';
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { curl, openSocket } from '../support/clients.ts';
import { agent, ask } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

t.test('plain HTTP is redirected to HTTPS with 301, for force_https apps only', async (t) => {
  const perch = await startPerch(t, {
    https: true,
    apps: {
      secure: helloApp({ name: 'secure', hostnames: ['secure.localhost'], httpService: 'force_https = true' }),
      open: helloApp({ name: 'open', hostnames: ['open.localhost'] }),
    },
  });

  const redirect = await ask(`${perch.origin}/headers?x=1&y=2`, { host: `secure.localhost:${perch.httpPort}` });
  t.equal(redirect.status, 301);
  t.equal(redirect.headers.location, `https://secure.localhost:${perch.httpsPort}/headers?x=1&y=2`, 'same host and path, on the HTTPS port');
  t.equal(redirect.headers.server, 'perch');
  t.type(redirect.headers['fly-request-id'], 'string');

  const post = await ask(`${perch.origin}/echo`, { host: 'secure.localhost', method: 'POST', body: 'data' });
  t.equal(post.status, 301, 'every method');
  t.equal(post.headers.location, `https://secure.localhost:${perch.httpsPort}/echo`, 'a Host without a port works too');

  const plain = await ask(`${perch.origin}/`, { host: 'open.localhost' });
  t.equal(plain.status, 200, 'an app without force_https is served over plain HTTP');

  // curl follows the redirect and ends on HTTPS, verified by the local CA.
  const followed = await curl([
    '-L', '-v', '--cacert', path.join(perch.dir, 'ca', 'ca.pem'),
    '--resolve', `secure.localhost:${perch.httpPort}:127.0.0.1`,
    '--resolve', `secure.localhost:${perch.httpsPort}:127.0.0.1`,
    `http://secure.localhost:${perch.httpPort}/`,
  ]);
  t.equal(followed.code, 0, 'curl followed the redirect', { stderr: followed.stderr });
  t.match(followed.stderr, /< HTTP\/1\.1 301/);
  t.match(followed.stdout, /^hello from secure-ams-1/, 'and the app answers over HTTPS');

  await t.rejects(
    openSocket(`ws://127.0.0.1:${perch.httpPort}/ws`, { headers: { host: 'secure.localhost' } }),
    /unexpected response 301/,
    'a WebSocket over plain HTTP is redirected too',
  );

  const logged = await perch.waitForLog((line) => line.msg === 'request' && line.status === 301);
  t.equal(logged.app, 'secure', 'redirects are logged');
  t.match(logged.redirect, /^https:\/\/secure\.localhost:/);
});
