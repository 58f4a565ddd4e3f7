// buildConfig is the pure half of loading: parsed objects in, config and
// problems out, with the machine's facts (CPU count, home, files) injected.
import t from 'tap';
import { buildConfig, type BuildEnv } from '../../src/config/normalize.ts';

function envWith(existing: string[]): BuildEnv & { asked: string[] } {
  const asked: string[] = [];
  return {
    cpuCount: 8,
    homeDir: '/home/u',
    asked,
    fileExists: (file) => {
      asked.push(file);
      return existing.includes(file);
    },
  };
}

const app = { app: 'web', processes: { app: 'node web.js' }, http_service: { internal_port: 3000 }, machines: [{}] };

t.test('paths resolve against perch.toml and ~; files are checked through env', async (t) => {
  const env = envWith(['/home/u/certs/a.pem', '/etc/perch/a.key']);
  const perch = { region: 'ams', https: { certificates: [{ hostnames: ['A.test'], cert: '~/certs/a.pem', key: 'a.key' }] } };
  const result = buildConfig({ perchFile: '/etc/perch/perch.toml', perch, apps: [{ file: '/etc/perch/apps/web.toml', data: structuredClone(app) }] }, env);
  t.same(result.problems, []);
  t.same(env.asked, ['/home/u/certs/a.pem', '/etc/perch/a.key']);
  t.same(result.config?.https.certificates, [{ hostnames: ['a.test'], cert: '/home/u/certs/a.pem', key: '/etc/perch/a.key' }]);
  t.equal(result.config?.workers, 8, 'workers defaults to the CPU count');
  t.equal(result.config?.apps[0].dir, '/etc/perch/apps', 'commands run in the app file directory');
});

t.test('an unparsable perch.toml still lets the app files be checked', async (t) => {
  const broken = { ...structuredClone(app), http_service: { internal_port: 3000, concurrency: { soft_limit: 30, hard_limit: 10 } } };
  const result = buildConfig({ perchFile: '/p/perch.toml', perch: undefined, apps: [{ file: '/p/apps/web.toml', data: broken }] }, envWith([]));
  t.equal(result.config, null);
  t.same(result.problems.map((p) => `${p.file} ${p.path}`), ['/p/apps/web.toml http_service.concurrency.hard_limit']);
});

t.test('perch.toml schema errors do not hide the app files\' own problems', async (t) => {
  const result = buildConfig({
    perchFile: '/p/perch.toml',
    perch: { region: 'AMS' },
    apps: [{ file: '/p/apps/web.toml', data: { ...structuredClone(app), env: { FLY_APP_NAME: 'x' } } }],
  }, envWith([]));
  t.equal(result.config, null);
  t.same(result.problems.map((p) => `${p.file} ${p.path}`), ['/p/perch.toml region', '/p/apps/web.toml env.FLY_APP_NAME']);
});

t.test('an app file overrides perch.toml [limits] key by key', async (t) => {
  const perch = { region: 'ams', limits: { retry_attempts: 2, wake_timeout: '1m' } };
  const data = { ...structuredClone(app), limits: { wake_timeout: 5000 } };
  const result = buildConfig({ perchFile: '/p/perch.toml', perch, apps: [{ file: '/p/apps/web.toml', data }] }, envWith([]));
  t.match(result.config?.apps[0].limits, { retryAttempts: 2, wakeTimeoutMs: 5000, upstreamConnectTimeoutMs: 5000, queueLength: null });
});
