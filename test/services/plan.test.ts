// Which sockets [[services]] ask for, and how each handles connections.
import t from 'tap';
import type { AppConfig, HttpOptions, ListenAddress, PerchConfig, PortSpec, ServiceConfig, TlsOptions } from '../../src/config/model.ts';
import { kindOf, listenHosts, planServices } from '../../src/services/plan.ts';

const tlsOptions: TlsOptions = { alpn: ['h2', 'http/1.1'], versions: ['TLSv1.2', 'TLSv1.3'], defaultSelfSigned: false };
const httpOptions: HttpOptions = { idleTimeoutMs: 60_000, h2Backend: false, pristine: false, responseHeaders: {}, replayCache: [] };

function port(startPort: number, handlers: PortSpec['handlers'] = [], more: Partial<PortSpec> = {}): PortSpec {
  return { startPort, endPort: startPort, handlers, forceHttps: false, tlsOptions, httpOptions, proxyProtoVersion: 1, ...more };
}

function service(ports: PortSpec[], protocol: 'tcp' | 'udp' = 'tcp'): ServiceConfig {
  return { protocol, ports, internalPort: 7000 } as ServiceConfig;
}

function app(name: string, services: ServiceConfig[]): AppConfig {
  return { name, services } as AppConfig;
}

function listen(...addresses: string[]): { listen: ListenAddress[] } {
  return {
    listen: addresses.map((text) => {
      const colon = text.lastIndexOf(':');
      return { host: text.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(text.slice(colon + 1)) };
    }),
  };
}

function config(apps: AppConfig[], http = listen('127.0.0.1:8080'), https = listen()): Pick<PerchConfig, 'http' | 'https' | 'apps'> {
  return { http, https: { ...https, certificates: [], defaultSelfSigned: false, caDir: '/tmp' }, apps };
}

t.test('handlers decide the kind', async (t) => {
  const table: [PortSpec['handlers'], string][] = [
    [[], 'tcp'],
    [['proxy_proto'], 'tcp'],
    [['tls'], 'tls'],
    [['tls', 'proxy_proto'], 'tls'],
    [['http'], 'http'],
    [['tls', 'http'], 'https'],
    [['http', 'tls'], 'https'],
  ];
  for (const [handlers, kind] of table) t.equal(kindOf(handlers), kind, JSON.stringify(handlers));
});

t.test('service ports listen on the hosts of perch’s own listeners', async (t) => {
  const table: [ReturnType<typeof config>, string[]][] = [
    [config([], listen('127.0.0.1:8080')), ['127.0.0.1']],
    [config([], listen('127.0.0.1:8080', '127.0.0.1:8081', '[::1]:8080')), ['127.0.0.1', '::1']],
    [config([], listen(':8080', '127.0.0.1:8081')), ['']],
    [config([], listen(), listen('10.0.0.1:8443')), ['10.0.0.1']],
    [config([], listen(), listen()), ['']],
  ];
  for (const [c, hosts] of table) t.same(listenHosts(c), hosts, JSON.stringify(c.http.listen.concat(c.https.listen)));
});

t.test('every port of every range, every kind, UDP left out', async (t) => {
  const plan = planServices(config([
    app('db', [service([port(5432), { ...port(6000), endPort: 6002, handlers: ['proxy_proto'], proxyProtoVersion: 2 }])]),
    app('web', [service([port(8000, ['http'], { forceHttps: true }), port(8443, ['tls', 'http'])]), service([port(9000, ['http', 'proxy_proto'])])]),
    app('dns', [service([port(5353)], 'udp')]),
  ]));
  t.same(
    plan.ports.map((p) => [p.route, p.host, p.port, p.kind, p.proxyProto, p.httpsPort]),
    [
      ['db#0', '127.0.0.1', 5432, 'tcp', 0, null],
      ['db#0', '127.0.0.1', 6000, 'tcp', 2, null],
      ['db#0', '127.0.0.1', 6001, 'tcp', 2, null],
      ['db#0', '127.0.0.1', 6002, 'tcp', 2, null],
      ['web#0', '127.0.0.1', 8000, 'http', 0, 8443],
      ['web#0', '127.0.0.1', 8443, 'https', 0, null],
      ['web#1', '127.0.0.1', 9000, 'http', 0, null],
    ],
  );
  t.same(plan.notes.map((n) => [n.route, n.ports, /UDP/.test(n.message) ? 'udp' : /proxy_proto/.test(n.message) ? 'proxy_proto' : '?']), [
    ['web#1', '9000', 'proxy_proto'],
    ['dns#0', '5353', 'udp'],
  ]);
});

t.test('force_https without a TLS port of its own goes to the HTTPS listener, else 443', async (t) => {
  const web = app('web', [service([port(8000, ['http'], { forceHttps: true })])]);
  t.equal(planServices(config([web], listen('127.0.0.1:8080'), listen('127.0.0.1:8443'))).ports[0]!.httpsPort, 8443);
  t.equal(planServices(config([web], listen('127.0.0.1:8080'), listen('127.0.0.1:0'))).ports[0]!.httpsPort, 443);
});
