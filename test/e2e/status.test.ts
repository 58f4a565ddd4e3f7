// `perch status` and `perch machines …` against a real perch (the CLI spawned
// as `node src/cli.ts …`): an aligned table of apps and machines with state,
// region, health, load (exact, from the primary's ledger) against soft/hard
// limits and RTT; machines stopped and started by id; and the live status
// page on the admin listener.
import { execFile } from 'node:child_process';
import t from 'tap';
import { helloApp } from '../support/apps.ts';
import { agent, ask, json, sleep } from '../support/http.ts';
import { CLI, REPO, startPerch } from '../support/perch.ts';

t.teardown(() => agent.close());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function perchCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: REPO, timeout: 30_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The table of `perch status`: its header and its rows as title → cell (cells never hold two spaces in a row). */
function table(stdout: string): { header: string; rows: Record<string, string>[] } {
  const lines = stdout.split('\n');
  const headerIndex = lines.findIndex((line) => line.startsWith('APP '));
  const header = lines[headerIndex]!;
  const titles = header.split(/\s{2,}/);
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(headerIndex + 1)) {
    if (line.trim() === '') break;
    const cells = line.trim().split(/\s{2,}/);
    rows.push(Object.fromEntries(titles.map((title, i) => [title, cells[i] ?? ''])));
  }
  return { header, rows };
}

t.test('perch status, perch machines stop/start/list, the status page', async (t) => {
  const perch = await startPerch(t, {
    workers: 2,
    apps: {
      hello: helloApp({ name: 'hello', machines: [['ams', 2]] }),
      web: helloApp({ name: 'web', concurrency: 'type = "requests"\nsoft_limit = 5\nhard_limit = 8' }),
    },
  });
  const admin = perch.ready!.admin as string;

  // Load: three requests in flight on web's only machine while status runs.
  const slow = [1, 2, 3].map(() => ask(`${perch.origin}/sleep?ms=3000`, { host: 'web.localhost' }));
  await sleep(300);
  const status = await perchCli(['status', '--admin', admin]);
  t.equal(status.code, 0, `status exits 0 ${status.stderr}`);
  t.match(status.stdout, /^perch edge ams \(admin 127\.0\.0\.1:\d+\): 2 apps$/m, 'a header line');
  const { header, rows } = table(status.stdout);
  t.match(header, /^APP\s+MACHINE\s+REGION\s+STATE\s+HEALTH\s+LOAD\s+SOFT\s+HARD\s+TYPE\s+RTT$/, 'the columns');
  t.same(rows.map((row) => row.MACHINE).sort(), ['hello-ams-1', 'hello-ams-2', 'web-ams-1'], 'a row per machine');
  const web = rows.find((row) => row.MACHINE === 'web-ams-1')!;
  t.same({ app: web.APP, region: web.REGION, state: web.STATE, health: web.HEALTH, load: web.LOAD, soft: web.SOFT, hard: web.HARD, type: web.TYPE }, { app: 'web', region: 'ams', state: 'started', health: 'healthy', load: '3', soft: '5', hard: '8', type: 'requests' }, 'web: 3 in flight against 5 soft / 8 hard');
  t.match(web.RTT, /^\d+(\.\d)? ms$/, 'an RTT');
  const hello = rows.find((row) => row.MACHINE === 'hello-ams-1')!;
  t.same([hello.LOAD, hello.SOFT, hello.HARD], ['0', '20', '-'], 'hello: idle, soft 20, no hard limit');
  // Aligned: every row's region starts where the header's REGION does.
  const regionAt = header.indexOf('REGION');
  for (const line of status.stdout.split('\n').filter((line) => /^(hello|web) /.test(line))) t.equal(line.indexOf(' ams ') + 1, regionAt, `aligned: ${line}`);
  t.match(status.stdout, /^web: 1\/1 started, load 3, 0 queued$/m, 'a summary per app');
  await Promise.all(slow);

  // The admin address from the config file (port 0 there: it says so), and from --admin.
  const fromConfig = await perchCli(['status', `${perch.dir}/perch.toml`]);
  t.equal(fromConfig.code, 1);
  t.match(fromConfig.stderr, /port 0.*--admin/, 'a config whose admin port is picked at start cannot say where it is');

  // Stop by id (the app found by the CLI), then start with --app.
  const stop = await perchCli(['machines', 'stop', 'web-ams-1', '--admin', admin]);
  t.equal(stop.code, 0, `stop exits 0 ${stop.stderr}`);
  t.equal(stop.stdout.trim(), 'web-ams-1 (web): started → stopped');
  const stopped = table((await perchCli(['status', '--admin', admin])).stdout).rows.find((row) => row.MACHINE === 'web-ams-1')!;
  t.equal(stopped.STATE, 'stopped', 'status shows it stopped');
  t.equal(stopped.HEALTH, '-', 'no health for a stopped machine');
  const list = await perchCli(['machines', 'list', '--app', 'web', '--admin', admin]);
  t.equal(list.code, 0);
  t.match(list.stdout, /^ID\s+APP\s+STATE\s+REGION\s+PROCESS\s+DRIVER\s+ADDRESS\s+PID\s+HEALTH$/m);
  t.match(list.stdout, /^web-ams-1\s+web\s+stopped\s+ams\s+app\s+process\s+127\.0\.0\.1:\d+\s+-\s+-$/m, 'machines list: stopped, no pid');
  t.notMatch(list.stdout, /hello-/, '--app picks one app');

  const start = await perchCli(['machines', 'start', 'web-ams-1', '--app', 'web', '--admin', admin]);
  t.equal(start.code, 0, `start exits 0 ${start.stderr}`);
  t.equal(start.stdout.trim(), 'web-ams-1 (web): stopped → started');
  t.equal((await ask(`${perch.origin}/`, { host: 'web.localhost' })).status, 200, 'it serves again');
  const all = await perchCli(['machines', 'list', '--admin', admin]);
  t.match(all.stdout, /^web-ams-1\s+web\s+started\s+ams\s+app\s+process\s+127\.0\.0\.1:\d+\s+\d+\s+healthy$/m, 'started, with a pid');
  t.match(all.stdout, /^hello-ams-2\s+hello\s+started/m, 'every app without --app');

  // Mistakes and failures.
  const unknown = await perchCli(['machines', 'stop', 'nope', '--admin', admin]);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /no machine nope in any app/);
  const usage = await perchCli(['machines', 'stop', '--admin', admin]);
  t.equal(usage.code, 2, 'no id: a usage error');
  const down = await perchCli(['status', '--admin', '127.0.0.1:1']);
  t.equal(down.code, 1);
  t.match(down.stderr, /cannot reach perch's admin API at http:\/\/127\.0\.0\.1:1/);

  // The admin API's load fields, and the status page.
  const machines = json<Record<string, unknown>[]>(await ask(`${perch.adminOrigin}/v1/apps/web/machines`));
  t.match(machines[0], { id: 'web-ams-1', load: 0, soft_limit: 5, hard_limit: 8, concurrency: [{ route: 'web', service: 'http_service', type: 'requests', load: 0, soft_limit: 5, hard_limit: 8 }] });
  const apps = json<{ region: string; total_apps: number; apps: { name: string }[] }>(await ask(`${perch.adminOrigin}/v1/apps`));
  t.same([apps.region, apps.total_apps, apps.apps.map((app) => app.name)], ['ams', 2, ['hello', 'web']]);
  const page = await ask(`${perch.adminOrigin}/`);
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.text, /fetch\(path/, 'it reads the JSON endpoints');
  t.match(page.text, /'\/v1\/apps'/);
  t.notMatch(page.text, /<(script|link|img)[^>]+(src|href)=/i, 'no external assets');
});
