// Where the CLI finds the admin API and with which token: --admin first,
// else the config's [admin] listen (an all-interfaces address is reached on
// loopback); --token, else PERCH_ADMIN_TOKEN, else the config's token.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { adminOrigin, resolveAdmin } from '../../src/cli/admin-client.ts';
import { formatTable } from '../../src/cli/table.ts';
import { writeConfig } from '../support/perch.ts';

t.test('--admin host:port', async (t) => {
  const cases: [string, string][] = [
    ['127.0.0.1:9090', 'http://127.0.0.1:9090'],
    ['localhost:9091', 'http://localhost:9091'],
    [':9090', 'http://127.0.0.1:9090'],
    ['9090', 'http://127.0.0.1:9090'],
    ['0.0.0.0:9090', 'http://127.0.0.1:9090'],
    ['[::]:9090', 'http://[::1]:9090'],
    ['[::1]:9092', 'http://[::1]:9092'],
  ];
  for (const [input, origin] of cases) t.equal(adminOrigin(input), origin, input);
  for (const bad of ['nohost', 'a:b', '1.2.3.4:123456']) t.throws(() => adminOrigin(bad), /expected host:port/, bad);
});

t.test('from the config, and which token wins', async (t) => {
  const dir = writeConfig({ apps: {} });
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'perch.toml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('listen = "127.0.0.1:0"', 'listen = "0.0.0.0:9393"\ntoken = "from-config"'));
  const cases: { name: string; options: { admin?: string; token?: string; config?: string }; env: Record<string, string>; origin: string; token: string | null }[] = [
    { name: 'config address and token', options: { config: file }, env: {}, origin: 'http://127.0.0.1:9393', token: 'from-config' },
    { name: 'env token over config', options: { config: file }, env: { PERCH_ADMIN_TOKEN: 'from-env' }, origin: 'http://127.0.0.1:9393', token: 'from-env' },
    { name: '--token over env', options: { config: file, token: 'flag' }, env: { PERCH_ADMIN_TOKEN: 'from-env' }, origin: 'http://127.0.0.1:9393', token: 'flag' },
    { name: '--admin: the config is not read', options: { admin: '127.0.0.1:1234', config: '/nonexistent.toml' }, env: {}, origin: 'http://127.0.0.1:1234', token: null },
    { name: 'embedded default', options: {}, env: {}, origin: 'http://127.0.0.1:9090', token: null },
  ];
  for (const c of cases) t.same(await resolveAdmin(c.options, c.env), { origin: c.origin, token: c.token }, c.name);
  await t.rejects(resolveAdmin({ config: '/nonexistent/perch.toml' }, {}), /has errors.*--admin/);
});

t.test('tables: columns as wide as their widest cell, numbers right-aligned', async (t) => {
  const text = formatTable([{ title: 'NAME' }, { title: 'N', align: 'right' }, { title: 'NOTE' }], [
    ['a', '1', 'x'],
    ['longer', '100', ''],
  ]);
  t.equal(text, ['NAME      N  NOTE', 'a         1  x', 'longer  100'].join('\n'));
});
