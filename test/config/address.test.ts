// parseAddress: "host:port" for listeners (":port" = all interfaces, port 0 =
// ephemeral) and for machines perch connects to (host and port required).
import t from 'tap';
import { parseAddress, type AddressSpec } from '../../src/config/schema.ts';

const good: [input: string, spec: AddressSpec, host: string, port: number][] = [
  [':8080', 'listen', '', 8080],
  ['127.0.0.1:9090', 'listen', '127.0.0.1', 9090],
  ['127.0.0.1:0', 'listen', '127.0.0.1', 0],
  ['0.0.0.0:80', 'listen', '0.0.0.0', 80],
  ['[::1]:8443', 'listen', '::1', 8443],
  ['[::]:8443', 'listen', '::', 8443],
  ['localhost:3000', 'connect', 'localhost', 3000],
  ['app.internal:65535', 'connect', 'app.internal', 65535],
  ['[fd00::5]:3000', 'connect', 'fd00::5', 3000],
];

for (const [input, spec, host, port] of good) {
  t.test(`${input} (${spec})`, async (t) => {
    t.same(parseAddress(input, spec), { address: { host, port } });
  });
}

const bad: [input: unknown, spec: AddressSpec, error: RegExp][] = [
  ['8080', 'listen', /not "host:port"/],
  ['localhost', 'listen', /not "host:port"/],
  ['::1:8080', 'listen', /IPv6 host goes in brackets/],
  ['[::1]8080', 'listen', /not "host:port"/],
  ['host:http', 'listen', /not "host:port"/],
  ['host:65536', 'listen', /^port 65536 is outside 0–65535$/],
  ['host:0', 'connect', /^port 0 is outside 1–65535$/],
  [':80', 'connect', /^no host to connect to$/],
  ['my host:80', 'listen', /is not a host name or address/],
  [8080, 'listen', /^an address is a string$/],
];

for (const [input, spec, error] of bad) {
  t.test(`${JSON.stringify(input)} (${spec}) is refused`, async (t) => {
    const result = parseAddress(input, spec);
    if (!('error' in result)) return t.fail(`parsed as ${JSON.stringify(result.address)}`);
    t.match(result.error, error);
  });
}
