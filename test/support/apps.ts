// App files in the fly.toml dialect for tests, running the hello demo app.
import { HELLO } from './perch.ts';

export interface HelloAppOptions {
  name: string;
  primaryRegion?: string;
  /** [region, count] per [[machines]] block of hello processes. */
  machines?: [region: string, count: number][];
  /** Static machines: addresses of instances perch does not run, with their region. */
  staticMachines?: [region: string, address: string][];
  hostnames?: string[];
  concurrency?: string;
  /** More TOML inside [http_service]. */
  httpService?: string;
  /** More top-level TOML (before any table). */
  top?: string;
  /** More TOML tables at the end. */
  tables?: string;
  env?: Record<string, string>;
}

export function helloApp(options: HelloAppOptions): string {
  const lines = [`app = "${options.name}"`, `primary_region = "${options.primaryRegion ?? 'ams'}"`];
  if (options.hostnames !== undefined) lines.push(`hostnames = ${JSON.stringify(options.hostnames)}`);
  if (options.top !== undefined) lines.push(options.top);
  lines.push('', '[processes]', `app = ${JSON.stringify(`node ${HELLO}`)}`);
  if (options.env !== undefined) {
    lines.push('', '[env]');
    for (const [key, value] of Object.entries(options.env)) lines.push(`${key} = ${JSON.stringify(value)}`);
  }
  lines.push('', '[http_service]', 'internal_port = 8080');
  if (options.httpService !== undefined) lines.push(options.httpService);
  lines.push('', '[http_service.concurrency]', options.concurrency ?? 'type = "requests"\nsoft_limit = 20');
  for (const [region, count] of options.machines ?? (options.staticMachines === undefined ? [['ams', 1]] : [])) {
    lines.push('', '[[machines]]', `region = "${region}"`, `count = ${count}`);
  }
  for (const [region, address] of options.staticMachines ?? []) {
    lines.push('', '[[machines]]', `region = "${region}"`, `address = "${address}"`);
  }
  if (options.tables !== undefined) lines.push('', options.tables);
  return `${lines.join('\n')}\n`;
}
