// What a worker's metrics look like outside the worker: plain numbers keyed by
// bounded labels, small enough to cross the IPC channel at every scrape, and
// summed by the primary (over the live workers and the last counts of the
// dead ones) before prom-client renders them.
import { addHistogram, copyHistogram, type HistogramData } from './histogram.ts';

export interface StatusSeries {
  status: number;
  /** Response times (seconds) of the responses with this status. */
  time: HistogramData;
}

export interface AppSeries {
  app: string;
  responses: StatusSeries[];
  /** Response body bytes relayed to clients. */
  dataOut: number;
  /** Requests that carried an error code (the access log's `code`), by code. */
  errors: { code: string; count: number }[];
}

export interface ConnectSeries {
  app: string;
  machine: string;
  /** The machine's region. */
  region: string;
  /** New upstream connections' TCP connect times (seconds). */
  time: HistogramData;
}

export interface TlsSeries {
  /** The app the client's SNI name routes to ('' when none does). */
  app: string;
  /** Negotiated protocol version, e.g. TLSv1.3. */
  version: string;
  time: HistogramData;
}

export interface MetricsSnapshot {
  apps: AppSeries[];
  connect: ConnectSeries[];
  tls: TlsSeries[];
}

export function emptySnapshot(): MetricsSnapshot {
  return { apps: [], connect: [], tls: [] };
}

/** The sum of snapshots: counters and histograms with the same labels added up. */
export function sumSnapshots(snapshots: Iterable<MetricsSnapshot>): MetricsSnapshot {
  const apps = new Map<string, { series: AppSeries; statuses: Map<number, StatusSeries>; errors: Map<string, { code: string; count: number }> }>();
  const connect = new Map<string, ConnectSeries>();
  const tls = new Map<string, TlsSeries>();
  for (const snapshot of snapshots) {
    for (const app of snapshot.apps) {
      let entry = apps.get(app.app);
      if (entry === undefined) {
        entry = { series: { app: app.app, responses: [], dataOut: 0, errors: [] }, statuses: new Map(), errors: new Map() };
        apps.set(app.app, entry);
      }
      entry.series.dataOut += app.dataOut;
      for (const response of app.responses) {
        const known = entry.statuses.get(response.status);
        if (known === undefined) {
          const copy = { status: response.status, time: copyHistogram(response.time) };
          entry.statuses.set(response.status, copy);
          entry.series.responses.push(copy);
        } else {
          addHistogram(known.time, response.time);
        }
      }
      for (const error of app.errors) {
        const known = entry.errors.get(error.code);
        if (known === undefined) {
          const copy = { code: error.code, count: error.count };
          entry.errors.set(error.code, copy);
          entry.series.errors.push(copy);
        } else {
          known.count += error.count;
        }
      }
    }
    for (const series of snapshot.connect) {
      const key = `${series.app}\u0000${series.machine}\u0000${series.region}`;
      const known = connect.get(key);
      if (known === undefined) connect.set(key, { ...series, time: copyHistogram(series.time) });
      else addHistogram(known.time, series.time);
    }
    for (const series of snapshot.tls) {
      const key = `${series.app}\u0000${series.version}`;
      const known = tls.get(key);
      if (known === undefined) tls.set(key, { ...series, time: copyHistogram(series.time) });
      else addHistogram(known.time, series.time);
    }
  }
  const byStatus = (a: StatusSeries, b: StatusSeries): number => a.status - b.status;
  const result: MetricsSnapshot = { apps: [], connect: [...connect.values()], tls: [...tls.values()] };
  for (const { series } of apps.values()) {
    series.responses.sort(byStatus);
    series.errors.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
    result.apps.push(series);
  }
  return result;
}
