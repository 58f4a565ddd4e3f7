// Routing by Host to the right app, with real machines behind a real perch.
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { agent, ask, json } from '../support/http.ts';
import { startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

t.test('two apps: hostnames, <app>.localhost and wildcards route to their own machines; unknown hosts get 404', async (t) => {
  const perch = await startPerch(t, {
    apps: {
      alpha: helloApp({ name: 'alpha', machines: [['ams', 2]], hostnames: ['alpha.example.test'] }),
      beta: helloApp({ name: 'beta', machines: [['ams', 1]], hostnames: ['*.beta.test'] }),
    },
  });

  const cases: [host: string, app: string][] = [
    ['alpha.example.test', 'alpha'],
    ['ALPHA.Example.Test:8080', 'alpha'],
    ['alpha.localhost', 'alpha'],
    ['beta.localhost', 'beta'],
    ['www.beta.test', 'beta'],
    ['deep.sub.beta.test', 'beta'],
  ];
  for (const [host, app] of cases) {
    const reply = await ask(`${perch.origin}/headers`, { host });
    t.equal(reply.status, 200, `${host} answered`);
    t.match(json(reply).machine, new RegExp(`^${app}-ams-\\d$`), `${host} went to ${app}`);
  }

  for (const host of ['beta.test', 'gamma.localhost', 'example.test']) {
    const reply = await ask(`${perch.origin}/`, { host });
    t.equal(reply.status, 404, `${host} has no app`);
    t.match(reply.text, /PH02/, 'body names the code');
    t.match(reply.text, /request id: \S+-ams/, 'body names the request id');
  }
});

t.test('one app with an HTTP service also takes unknown hosts', async (t) => {
  const perch = await startPerch(t, { apps: { solo: helloApp({ name: 'solo', machines: [['ams', 1]] }) } });
  const reply = await ask(`${perch.origin}/`, { host: 'anything.example' });
  t.equal(reply.status, 200);
  t.equal(reply.text, 'hello from solo-ams-1 in ams\n');
});
