// Scenario "wake": the latency a wake adds to the first request (SPEC §4, issue 4).
//
// One perch (pinned to the proxy core; the machines it runs inherit the pin)
// with four apps of one `process` machine each (src/demo/hello.ts),
// `min_machines_running = 0`, autostop every hour (so it never interferes):
//   suspend      auto_stop_machines = "suspend"; put to sleep with POST …/suspend
//   stop         auto_stop_machines = "stop";    POST …/stop
//   checks       as stop, with one [[http_service.checks]] (interval 15s,
//                grace_period left at its default, 1s): a woken machine takes
//                no request before its first check passed
//   checks-g0    as checks with grace_period = "0s": what the gating costs
//                without the grace period
// Per wake: the machine is started; a few warm requests are timed; it is put
// to sleep through the admin API and `GET …/<id>` is polled until it says so;
// then one request is timed through perch (a new connection each time, like
// the warm ones). Kinds are interleaved, and so is a measurement of the app's
// own boot: `node src/demo/hello.ts` spawned by the bench with PORT on the
// same core (through taskset: one exec, as perch's `sh -c "exec …"` is),
// timed until it accepts a TCP connection, then its first request direct.
//
// Figures: added = wake − median(warm) of the same app; for the stop kinds
// also perch adds = added − median(own boot). perch's own log (epoch ms, so
// whole milliseconds) splits each wake: request sent → autostart decided →
// machine started (resumed) → healthy (with checks) → response received.
import { symlinkSync, existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext, ScenarioReport } from '../lib/context.ts';
import { otherCoresOver } from '../lib/loadgen.ts';
import { perchToml } from '../lib/perch.ts';
import { freePort } from '../lib/ports.ts';
import { median } from '../lib/stats.ts';
import { formatNumber } from '../lib/table.ts';

const REQUEST_PATH = '/';
const WARM_PER_WAKE = 3;
/** Pause after a state change before the next timed request: the workers' view has settled, the old process is gone. */
const SETTLE_MS = 250;
/** Autostop never runs during the measurement: the bench puts machines to sleep itself. */
const AUTOSTOP_OFF_INTERVAL = '1h';
const STATE_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 40_000;

interface Kind {
  key: string;
  app: string;
  label: string;
  autoStop: 'suspend' | 'stop';
  asleep: 'suspended' | 'stopped';
  /** null: no checks; else the check's grace_period (undefined = the default). */
  checks: null | { gracePeriod: string | undefined };
  /** Goal from issue 4, in ms: added (suspend) or perch adds beyond the app's boot (stop). */
  goalMs: number | null;
}

const KINDS: readonly Kind[] = [
  { key: 'suspend', app: 'wake-suspend', label: 'from suspended', autoStop: 'suspend', asleep: 'suspended', checks: null, goalMs: 5 },
  { key: 'stop', app: 'wake-stop', label: 'from stopped', autoStop: 'stop', asleep: 'stopped', checks: null, goalMs: 30 },
  { key: 'checks', app: 'wake-checks', label: 'from stopped, with a check (interval 15s, grace_period 1s default)', autoStop: 'stop', asleep: 'stopped', checks: { gracePeriod: undefined }, goalMs: null },
  { key: 'checks-g0', app: 'wake-checks-g0', label: 'from stopped, with a check (interval 15s, grace_period 0s)', autoStop: 'stop', asleep: 'stopped', checks: { gracePeriod: '0s' }, goalMs: null },
];

interface Timed {
  ms: number;
  status: number;
  body: string;
  /** Epoch ms (fractional) when the request was sent and when the response ended. */
  sentAt: number;
  endedAt: number;
  error?: string;
}

interface WakeSample {
  kind: string;
  index: number;
  machine: string;
  wake: Timed;
  /** The warm requests just before it was put to sleep. */
  warm: number[];
  /** How long the admin call plus polling took until GET said asleep. */
  sleepMs: number;
  /** From perch's log (ms since the request was sent); null when not seen. */
  log: { decided: number | null; starting: number | null; listening: number | null; started: number | null; healthy: number | null; accessLogged: number | null; perchMs: number | null };
  problem?: string;
}

interface BootSample {
  index: number;
  /** Spawn → first accepted TCP connection. */
  listeningMs: number;
  /** The app's first request, direct (new connection), right after it listens; then a second one. */
  firstRequestMs: number;
  secondRequestMs: number;
}

function appToml(kind: Kind, entry: string): string {
  const lines = [
    `app = "${kind.app}"`,
    `hostnames = ["${kind.app}.local"]`,
    'kill_signal = "SIGINT"',
    'kill_timeout = 5',
    '',
    '[processes]',
    `  app = ${JSON.stringify(`node ${entry}`)}`,
    '',
    '[http_service]',
    '  internal_port = 8080',
    `  auto_stop_machines = "${kind.autoStop}"`,
    '  auto_start_machines = true',
    '  min_machines_running = 0',
    '',
    '  [http_service.concurrency]',
    '    type = "requests"',
    '    soft_limit = 20',
  ];
  if (kind.checks !== null) {
    lines.push('', '  [[http_service.checks]]', '    interval = "15s"', '    timeout = "2s"', '    method = "GET"', '    path = "/healthz"');
    if (kind.checks.gracePeriod !== undefined) lines.push(`    grace_period = "${kind.checks.gracePeriod}"`);
  }
  lines.push('', '[[machines]]', '  count = 1');
  return `${lines.join('\n')}\n`;
}

function request(method: string, url: string, headers: Record<string, string>, timeoutMs: number): Promise<Timed> {
  return new Promise((resolve) => {
    const started = performance.now();
    const sentAt = performance.timeOrigin + started;
    const req = http.request(url, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const now = performance.now();
        resolve({ ms: now - started, status: res.statusCode ?? 0, body, sentAt, endedAt: performance.timeOrigin + now });
      });
      res.on('error', (err) => resolve({ ms: NaN, status: 0, body, sentAt, endedAt: NaN, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ms: NaN, status: 0, body: '', sentAt, endedAt: NaN, error: err.message }));
    req.end();
  });
}

/** Resolves once 127.0.0.1:port accepts a connection, retrying at once (the bench's own core does the polling). */
async function acceptsWithin(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return false;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

interface LogEntry {
  time: number;
  msg: string;
  machine?: string;
  machines?: string[];
  to?: string;
  reason?: string;
  line?: string;
  healthy?: boolean;
  ms?: number;
}

function readLog(file: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch {
      // a partial line
    }
  }
  return entries;
}

/** perch's log events of one wake, as ms after the request was sent (perch logs whole epoch ms). */
function breakdown(entries: readonly LogEntry[], machine: string, wake: Timed): WakeSample['log'] {
  const from = wake.sentAt - 2;
  const to = (Number.isFinite(wake.endedAt) ? wake.endedAt : wake.sentAt + REQUEST_TIMEOUT_MS) + 2;
  const mine = entries.filter((e) => e.time >= Math.floor(from) && e.time <= Math.ceil(to) && (e.machine === machine || e.machines?.includes(machine)));
  const at = (pick: (e: LogEntry) => boolean): number | null => {
    const found = mine.find(pick);
    return found === undefined ? null : found.time - wake.sentAt;
  };
  const access = mine.find((e) => e.msg === 'request');
  return {
    decided: at((e) => e.msg === 'autostart: waking machines'),
    starting: at((e) => e.msg === 'machine state' && e.to === 'starting'),
    listening: at((e) => e.msg === 'machine output' && (e.line ?? '').includes('listening on')),
    started: at((e) => e.msg === 'machine state' && e.to === 'started'),
    healthy: at((e) => e.msg === 'machine health' && e.healthy === true),
    accessLogged: access === undefined ? null : access.time - wake.sentAt,
    perchMs: access?.ms ?? null,
  };
}

export async function run(ctx: BenchContext): Promise<ScenarioReport> {
  const { options } = ctx;
  const wakes = options.wakes;
  // A command line of the bench's own (see backend.ts): a `pkill -f src/demo/hello.ts` elsewhere does not end these.
  const entry = path.join(ctx.tmpDir, 'wake-machine.ts');
  if (!existsSync(entry)) symlinkSync(path.join(ctx.repoRoot, 'src/demo/hello.ts'), entry);

  const files: Record<string, string> = { 'perch.toml': perchToml(options.perchWorkers, AUTOSTOP_OFF_INTERVAL) };
  for (const kind of KINDS) files[`apps/${kind.app}.toml`] = appToml(kind, entry);
  const perchCore = ctx.cores.proxy;
  const perch = await ctx.startPerch('perch-wake', files, perchCore);
  ctx.log(`wake: perch at ${perch.origin}, admin ${perch.adminOrigin}, pids ${JSON.stringify(perch.ready.pids)}`);

  const admin = async (method: string, suffix: string): Promise<Record<string, unknown>> => {
    const r = await request(method, `${perch.adminOrigin}/v1/apps/${suffix}`, {}, STATE_TIMEOUT_MS);
    if (r.error !== undefined || r.status !== 200) throw new Error(`${method} /v1/apps/${suffix}: ${r.error ?? `${r.status} ${r.body.slice(0, 200)}`}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  };
  const machineOf = new Map<string, string>();
  for (const kind of KINDS) {
    const list = (await admin('GET', `${kind.app}/machines`)) as unknown as { id: string; state: string }[];
    const id = list[0]?.id;
    if (id === undefined) throw new Error(`app ${kind.app} has no machine`);
    machineOf.set(kind.key, id);
  }
  const stateOf = async (kind: Kind): Promise<string> => String((await admin('GET', `${kind.app}/machines/${machineOf.get(kind.key)}`)).state);
  const waitForState = async (kind: Kind, state: string): Promise<void> => {
    const deadline = Date.now() + STATE_TIMEOUT_MS;
    for (;;) {
      const now = await stateOf(kind);
      if (now === state) return;
      if (Date.now() > deadline) throw new Error(`${machineOf.get(kind.key)} still ${now}, not ${state}, after ${STATE_TIMEOUT_MS} ms`);
      await sleep(10);
    }
  };
  const get = (kind: Kind): Promise<Timed> => request('GET', `${perch.origin}${REQUEST_PATH}`, { host: `${kind.app}.local` }, REQUEST_TIMEOUT_MS);
  const answeredBy = (kind: Kind, r: Timed): string | undefined => {
    if (r.error !== undefined) return r.error;
    if (r.status !== 200) return `status ${r.status}: ${r.body.slice(0, 120)}`;
    if (!r.body.includes(machineOf.get(kind.key) as string)) return `answered by someone else: ${r.body.slice(0, 120)}`;
    return undefined;
  };

  // Every machine starts asleep (min_machines_running = 0): wake each once, untimed.
  for (const kind of KINDS) {
    const r = await get(kind);
    const wrong = answeredBy(kind, r);
    if (wrong !== undefined) throw new Error(`${kind.app}: the first request did not reach its machine: ${wrong}`);
    await waitForState(kind, 'started');
  }

  const samples: WakeSample[] = [];
  const boots: BootSample[] = [];
  const problems: string[] = [];
  const quietWait = async (): Promise<void> => {
    // --quiet-wait: as for load windows, hold each round until the machine is quiet (bounded).
    if (options.quietWaitSeconds <= 0) return;
    const started = performance.now();
    while ((await otherCoresOver(500)) >= 0.15 && performance.now() - started < options.quietWaitSeconds * 1000);
  };

  for (let i = 0; i < wakes; i++) {
    await quietWait();
    ctx.log(`wake: round ${i + 1}/${wakes}`);
    // The app's own boot, same Node, same core as perch's machines.
    {
      const port = await freePort();
      const started = performance.now();
      const app = ctx.startProcess({
        name: `boot-${i}`,
        command: process.execPath,
        args: [entry],
        env: { PORT: String(port), FLY_MACHINE_ID: 'boot', FLY_REGION: 'bench' },
        core: perchCore,
      });
      const ok = await acceptsWithin(port, 20_000);
      const listeningMs = performance.now() - started;
      if (ok) {
        const first = await request('GET', `http://127.0.0.1:${port}${REQUEST_PATH}`, {}, 10_000);
        const second = await request('GET', `http://127.0.0.1:${port}${REQUEST_PATH}`, {}, 10_000);
        boots.push({ index: i, listeningMs, firstRequestMs: first.ms, secondRequestMs: second.ms });
      } else {
        problems.push(`boot ${i + 1}: did not listen within 20 s (${app.exitDescription})`);
      }
      await app.stop('SIGTERM');
    }

    for (const kind of KINDS) {
      const machine = machineOf.get(kind.key) as string;
      try {
        await sleep(SETTLE_MS);
        const warm: number[] = [];
        for (let k = 0; k < WARM_PER_WAKE; k++) {
          const r = await get(kind);
          const wrong = answeredBy(kind, r);
          if (wrong !== undefined) throw new Error(`warm request: ${wrong}`);
          warm.push(r.ms);
        }
        const asleepStarted = performance.now();
        await admin('POST', `${kind.app}/machines/${machine}/${kind.autoStop}`);
        await waitForState(kind, kind.asleep);
        const sleepMs = performance.now() - asleepStarted;
        await sleep(SETTLE_MS);
        const wake = await get(kind);
        const wrong = answeredBy(kind, wake);
        const sample: WakeSample = { kind: kind.key, index: i, machine, wake, warm, sleepMs, log: { decided: null, starting: null, listening: null, started: null, healthy: null, accessLogged: null, perchMs: null } };
        if (wrong !== undefined) {
          sample.problem = wrong;
          problems.push(`${kind.key} wake ${i + 1}: ${wrong}`);
        }
        samples.push(sample);
        if ((await stateOf(kind)) !== 'started') await waitForState(kind, 'started');
      } catch (err) {
        problems.push(`${kind.key} round ${i + 1}: ${(err as Error).message}`);
        ctx.log(`wake: ${kind.key} round ${i + 1}: ${(err as Error).message}`);
        if (!perch.process.running) break;
        // Leave it started for the next round.
        await get(kind).catch(() => undefined);
      }
    }
    if (!perch.process.running) {
      problems.push(`perch ${perch.process.exitDescription} in round ${i + 1}; measuring stopped`);
      break;
    }
  }

  // perch's own view of each wake, from its log (access lines reach the file within 250 ms).
  await sleep(600);
  const entries = readLog(perch.process.logFile);
  for (const s of samples) s.log = breakdown(entries, s.machine, s.wake);

  const bootListening = boots.map((b) => b.listeningMs);
  const bootP50 = median(bootListening);
  const summaries = KINDS.map((kind) => {
    const mine = samples.filter((s) => s.kind === kind.key && s.problem === undefined);
    const wakeMs = mine.map((s) => s.wake.ms);
    const warmMs = mine.flatMap((s) => s.warm);
    const warmP50 = median(warmMs);
    const added = wakeMs.map((ms) => ms - warmP50);
    const perchAdds = kind.asleep === 'stopped' ? added.map((ms) => ms - bootP50) : added;
    const logMedian = (pick: (l: WakeSample['log']) => number | null): number => median(mine.map((s) => pick(s.log)).filter((v): v is number => v !== null));
    const between = (a: (l: WakeSample['log']) => number | null, b: (l: WakeSample['log']) => number | null) => (l: WakeSample['log']) => {
      const x = a(l);
      const y = b(l);
      return x === null || y === null ? null : y - x;
    };
    const ready = (l: WakeSample['log']): number | null => (kind.checks === null ? l.started : l.healthy);
    const answered = (s: WakeSample): number => s.wake.endedAt - s.wake.sentAt;
    const figure = kind.asleep === 'stopped' ? perchAdds : added;
    // Per wake, without the boot's own spread: added minus that wake's boot as perch's log saw it (starting → the app's "listening on" line).
    const perchAddsByLog = mine
      .map((s) => (s.log.starting === null || s.log.listening === null ? NaN : s.wake.ms - warmP50 - (s.log.listening - s.log.starting)))
      .filter(Number.isFinite);
    return {
      kind: kind.key,
      label: kind.label,
      app: kind.app,
      machine: machineOf.get(kind.key),
      wakes: wakeMs.length,
      failed: samples.filter((s) => s.kind === kind.key && s.problem !== undefined).length,
      wakeP50Ms: percentile(wakeMs, 50),
      wakeP99Ms: percentile(wakeMs, 99),
      warmP50Ms: warmP50,
      warmP99Ms: percentile(warmMs, 99),
      addedP50Ms: percentile(added, 50),
      addedP99Ms: percentile(added, 99),
      perchAddsP50Ms: kind.asleep === 'stopped' ? percentile(perchAdds, 50) : NaN,
      perchAddsP99Ms: kind.asleep === 'stopped' ? percentile(perchAdds, 99) : NaN,
      perchAddsByLogP50Ms: percentile(perchAddsByLog, 50),
      perchAddsByLogP99Ms: percentile(perchAddsByLog, 99),
      goalMs: kind.goalMs,
      goalMet: kind.goalMs === null ? null : { p50: percentile(figure, 50) < kind.goalMs, p99: percentile(figure, 99) < kind.goalMs },
      /** Medians from perch's log, ms. */
      log: {
        sentToDecided: logMedian((l) => l.decided),
        decidedToStarted: logMedian(between((l) => l.decided, (l) => l.started)),
        startingToListening: logMedian(between((l) => l.starting, (l) => l.listening)),
        listeningToStarted: logMedian(between((l) => l.listening, (l) => l.started)),
        startedToHealthy: logMedian(between((l) => l.started, (l) => l.healthy)),
        readyToAnswered: median(mine.map((s) => (ready(s.log) === null ? NaN : answered(s) - (ready(s.log) as number)))),
        perchMs: logMedian((l) => l.perchMs),
        seen: mine.filter((s) => s.log.started !== null).length,
      },
      sleepP50Ms: median(samples.filter((s) => s.kind === kind.key).map((s) => s.sleepMs)),
    };
  });

  const ms = (v: number | undefined, digits = 1): string => formatNumber(v, digits);
  const goalCell = (s: (typeof summaries)[number]): string => {
    if (s.goalMet === null || s.goalMs === null) return '';
    const what = s.kind === 'suspend' ? 'added' : 'perch adds';
    return `${what} < ${s.goalMs} ms: p50 ${s.goalMet.p50 ? 'met' : 'missed'}, p99 ${s.goalMet.p99 ? 'met' : 'missed'}`;
  };
  const rows = summaries.map((s) => [
    s.label,
    `${s.wakes}${s.failed > 0 ? ` (+${s.failed} failed)` : ''}`,
    ms(s.wakeP50Ms),
    ms(s.wakeP99Ms),
    ms(s.warmP50Ms, 2),
    ms(s.addedP50Ms),
    ms(s.addedP99Ms),
    ms(s.perchAddsP50Ms),
    ms(s.perchAddsP99Ms),
    goalCell(s),
    ms(s.log.sentToDecided, 0),
    ms(s.log.decidedToStarted, 0),
    s.kind === 'suspend' ? '' : `${ms(s.log.startingToListening, 0)} / ${ms(s.log.listeningToStarted, 0)}`,
    KINDS.find((k) => k.key === s.kind)?.checks === null ? '' : ms(s.log.startedToHealthy, 0),
    ms(s.log.readyToAnswered, 0),
  ]);
  rows.push([
    "app's own boot: spawn → accepts TCP (node src/demo/hello.ts, same core)",
    String(boots.length),
    ms(bootP50),
    ms(percentile(bootListening, 99)),
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
  ]);

  const notes: string[] = [];
  const suspend = summaries.find((s) => s.kind === 'suspend');
  const stop = summaries.find((s) => s.kind === 'stop');
  const checks = summaries.find((s) => s.kind === 'checks');
  const checks0 = summaries.find((s) => s.kind === 'checks-g0');
  notes.push(
    `From suspended: a wake adds ${ms(suspend?.addedP50Ms)} ms at p50 and ${ms(suspend?.addedP99Ms)} ms at p99 to the first request (goal: under 5 ms). ` +
      `From stopped: ${ms(stop?.addedP50Ms)} ms added at p50, of which the app's own boot (spawn → accepting, p50 ${ms(bootP50)} ms) leaves ${ms(stop?.perchAddsP50Ms)} ms to perch; p99 ${ms(stop?.perchAddsP99Ms)} ms (goal: under 30 ms). ` +
      `The p99 carries the boot's own spread (p50 ${ms(bootP50)}, p99 ${ms(percentile(bootListening, 99))} ms); taking each wake's boot from perch's log instead (starting → the app's "listening on" line), ` +
      `perch adds ${ms(stop?.perchAddsByLogP50Ms)} ms at p50 (counting its own \`sh -c "exec …"\` as boot) and ${ms(stop?.perchAddsByLogP99Ms)} ms at p99.`,
  );
  notes.push(
    `Check gating on a wake from stopped: ${ms(checks?.wakeP50Ms, 0)} ms at p50 with grace_period 1s (Fly's default, which perch keeps), ${ms(checks0?.wakeP50Ms, 0)} ms with grace_period 0s, against ${ms(stop?.wakeP50Ms, 0)} ms without checks: ` +
      `a woken machine waits for its first check, which runs grace_period after the start; perch's log puts started → healthy at ${ms(checks?.log.startedToHealthy, 0)} ms and ${ms(checks0?.log.startedToHealthy, 0)} ms (medians).`,
  );
  const bootFirst = median(boots.map((b) => b.firstRequestMs));
  const bootSecond = median(boots.map((b) => b.secondRequestMs));
  notes.push(
    `The app's own first request right after it listens (direct, new connection) takes ${ms(bootFirst, 2)} ms at p50 against ${ms(bootSecond, 2)} ms for its second: ` +
      `a fresh process's cold first request, counted in "perch adds" above although the app pays it (${ms(bootFirst - bootSecond, 2)} ms of it).`,
  );
  notes.push(
    'Columns from perch\'s own log (whole epoch milliseconds, medians over the wakes): "→ decided" = request sent until the primary logs "autostart: waking machines"; ' +
      '"decided → started" = until the machine is logged started (resumed: SIGCONT; stopped: spawn, boot and the 5 ms accept poll); ' +
      '"boot / poll" = starting → the app\'s "listening on" line as perch read it from the pipe / that line → started; "→ healthy" = started → first check passed; ' +
      '"→ answered" = ready (started, or healthy with checks) until the client had the whole response (the worker hears of the change, forwards, the machine answers).',
  );
  notes.push(
    `Setup: one perch (${options.perchWorkers} worker${options.perchWorkers === 1 ? '' : 's'}) pinned to core ${perchCore ?? '(none)'}, its machines inherit the pin; the client (this runner) on core ${ctx.cores.load ?? '(none)'}. ` +
      `Each wake: ${WARM_PER_WAKE} warm requests, POST …/${'{suspend,stop}'} to the admin API, GET …/<id> polled every 10 ms until suspended/stopped (median ${ms(suspend?.sleepP50Ms, 0)} ms for suspend, ${ms(stop?.sleepP50Ms, 0)} ms for stop), ${SETTLE_MS} ms pause, then the timed request (GET ${REQUEST_PATH}, a new connection, like the warm ones). ` +
      `Kinds and boots interleaved, ${wakes} rounds.`,
  );
  if (problems.length > 0) notes.push(`Problems: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (+${problems.length - 10} more)` : ''}.`);
  notes.push(`Machine: ${os.cpus().length} cores; wakes are single requests, so other processes on the machine show as outliers in p99 (--quiet-wait holds each round for a quiet machine).`);

  return {
    title: 'wake',
    description:
      `The latency a wake adds to the first request through perch: an app with one \`process\` machine (src/demo/hello.ts), min_machines_running = 0, autostop_interval 1h (no interference), ` +
      `put to sleep through the admin API, then one GET timed by the client; ${wakes} wakes per kind. "warm" = the same request with the machine started (median over ${WARM_PER_WAKE} per wake); ` +
      `"added" = wake − warm p50, per wake, then p50/p99; "perch adds" (from stopped) = added − the app's own spawn-to-listening p50 (measured by the bench, same Node, same core). ms throughout.`,
    table: {
      headers: ['wake', 'wakes', 'wake p50', 'wake p99', 'warm p50', 'added p50', 'added p99', 'perch adds p50', 'perch adds p99', 'goal (issue 4)', '→ decided', 'decided → started', 'boot / poll', '→ healthy', '→ answered'],
      align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left', 'right', 'right', 'right', 'right', 'right'],
      rows,
    },
    notes,
    data: {
      wakes,
      warmPerWake: WARM_PER_WAKE,
      settleMs: SETTLE_MS,
      placement: { perch: perchCore ?? null, client: ctx.cores.load ?? null },
      perch: { origin: perch.origin, admin: perch.adminOrigin, pids: perch.ready.pids, config: files },
      summaries,
      boot: { p50Ms: bootP50, p99Ms: percentile(bootListening, 99), firstRequestP50Ms: bootFirst, secondRequestP50Ms: bootSecond, samples: boots },
      samples,
      problems,
    },
  };
}
