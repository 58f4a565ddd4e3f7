// The live status page served at GET / on the admin listener: one
// self-contained HTML document (no build step, no external assets) that reads
// the admin API every second — GET /v1/apps, then each app's machines — and
// shows what `perch status` prints: apps, machines, state, region, load
// against soft/hard limits, health and RTT. When the admin API wants a token,
// the page asks for it and keeps it for the tab (sessionStorage) only.
// Everything from the API is put in the page as text (textContent), never as HTML.

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>perch status</title>
<style>
  :root { color-scheme: light dark; --muted: #888; --ok: #2e9d50; --warn: #d18b00; --bad: #d03b3b; --bar: #4c8bf5; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; }
  h1 { font-size: 1.2rem; margin: 0 0 .25rem; }
  h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
  .meta, .muted { color: var(--muted); }
  table { border-collapse: collapse; table-layout: fixed; width: 66rem; }
  th:nth-child(1) { width: 11rem; } th:nth-child(2) { width: 5rem; } th:nth-child(3) { width: 7rem; }
  th:nth-child(4) { width: 13rem; } th:nth-child(5) { width: 12rem; } th:nth-child(6) { width: 7rem; }
  th:nth-child(7) { width: 7rem; } th:nth-child(8) { width: 5rem; }
  th, td { text-align: left; padding: .25rem .75rem .25rem 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  th { font-weight: 600; border-bottom: 1px solid var(--muted); }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .state-started { color: var(--ok); }
  .state-starting, .state-stopping, .state-suspending { color: var(--warn); }
  .state-failed { color: var(--bad); }
  .state-stopped, .state-suspended, .state-created { color: var(--muted); }
  .healthy { color: var(--ok); }
  .unhealthy { color: var(--bad); }
  .bar { display: inline-block; width: 8rem; height: .6rem; background: rgba(128,128,128,.25); position: relative; vertical-align: middle; margin-left: .5rem; }
  .bar > span { position: absolute; left: 0; top: 0; bottom: 0; background: var(--bar); }
  .bar > i { position: absolute; top: -2px; bottom: -2px; width: 2px; background: var(--warn); }
  #error { color: var(--bad); min-height: 1.4em; }
  #token { display: none; margin: 1rem 0; }
</style>
</head>
<body>
<h1>perch <span id="region" class="muted"></span></h1>
<div class="meta">live from the admin API, every second · <span id="updated">loading…</span></div>
<div id="error"></div>
<form id="token">
  <label>Admin token: <input type="password" id="token-input" autocomplete="off"></label>
  <button type="submit">Use</button>
</form>
<div id="apps"></div>
<script>
"use strict";
const TOKEN_KEY = 'perch-admin-token';
const byId = (id) => document.getElementById(id);

function headers() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: 'Bearer ' + token } : {};
}

async function get(path) {
  const res = await fetch(path, { headers: headers(), cache: 'no-store' });
  if (res.status === 401) throw Object.assign(new Error('the admin API wants a token'), { unauthorized: true });
  if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
  return res.json();
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function limitsText(m) {
  if (m.load === undefined) return '';
  return m.soft_limit + ' / ' + (m.hard_limit === null ? '–' : m.hard_limit);
}

function loadBar(m) {
  const cell = el('td', m.load === undefined ? '–' : m.load, 'num');
  if (m.load === undefined) return cell;
  const top = Math.max(m.hard_limit ?? m.soft_limit * 1.5, m.load, 1);
  const bar = el('span', null, 'bar');
  const fill = el('span');
  fill.style.width = Math.min(100, (m.load / top) * 100) + '%';
  const soft = el('i');
  soft.style.left = Math.min(100, (m.soft_limit / top) * 100) + '%';
  soft.title = 'soft limit';
  bar.append(fill, soft);
  cell.append(bar);
  return cell;
}

function healthText(m) {
  if (m.state !== 'started') return ['–', 'muted'];
  const checks = m.checks || [];
  const passing = checks.filter((c) => c.status === 'passing').length;
  const label = (m.healthy ? 'healthy' : 'unhealthy') + (checks.length ? ' (' + passing + '/' + checks.length + ' checks)' : '');
  return [label, m.healthy ? 'healthy' : 'unhealthy'];
}

function renderApp(app, machines) {
  const section = el('section');
  const title = el('h2', app.name);
  const queue = app.queued > 0 ? ' · ' + app.queued + ' queued' : '';
  title.append(el('span', '  ' + app.started + '/' + app.machine_count + ' started' + queue, 'muted'));
  section.append(title);
  const table = el('table');
  const head = el('tr');
  for (const name of ['machine', 'region', 'state', 'health', 'load', 'soft / hard', 'type', 'rtt']) head.append(el('th', name));
  table.append(head);
  for (const m of machines) {
    const row = el('tr');
    const [health, healthClass] = healthText(m);
    row.append(
      el('td', m.id),
      el('td', m.region),
      el('td', m.state, 'state-' + m.state),
      el('td', health, healthClass),
      loadBar(m),
      el('td', limitsText(m), 'num'),
      el('td', m.concurrency && m.concurrency[0] ? m.concurrency[0].type : ''),
      el('td', m.rtt_ms === null || m.rtt_ms === undefined ? '–' : m.rtt_ms.toFixed(1) + ' ms', 'num'),
    );
    row.title = m.health_reason || '';
    table.append(row);
  }
  section.append(table);
  return section;
}

async function refresh() {
  try {
    const list = await get('/v1/apps');
    const machines = await Promise.all(list.apps.map((app) => get('/v1/apps/' + encodeURIComponent(app.name) + '/machines')));
    byId('region').textContent = 'edge region ' + list.region;
    const apps = byId('apps');
    apps.replaceChildren(...list.apps.map((app, i) => renderApp(app, machines[i])));
    byId('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    byId('error').textContent = '';
    byId('token').style.display = 'none';
  } catch (err) {
    byId('error').textContent = err.message;
    if (err.unauthorized) byId('token').style.display = 'block';
  }
}

byId('token').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, byId('token-input').value);
  refresh();
});

let timer = null;
async function loop() {
  await refresh();
  timer = setTimeout(loop, 1000);
}
loop();
</script>
</body>
</html>
`;
