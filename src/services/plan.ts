// Which sockets the [[services]] of a config ask a worker to listen on, and
// how each one handles its connections. Pure: decided from config alone.
//
// - Every port of every [[services.ports]] entry, each port of a
//   start_port..end_port range on its own.
// - On the hosts of perch's own [http] listeners (else of [https], else
//   every interface): a perch bound to loopback keeps its services there too.
// - Handlers → kind: none (raw TCP), `tls` (terminate, plain TCP on), `http`,
//   `tls`+`http` ("https"); `proxy_proto` adds a PROXY header to TCP kinds.
// - Left out, with a note for the log: UDP services (perch forwards TCP
//   only), and `proxy_proto` on HTTP ports (their requests go over pooled
//   machine connections that no single client owns, so no header could be
//   true for all of them).
import type { AppConfig, PerchConfig, PortSpec, ServiceConfig } from '../config/model.ts';
import { routeKey } from '../routing/service-route.ts';

export type PortKind = 'tcp' | 'tls' | 'http' | 'https';

export interface PortPlan {
  app: AppConfig;
  service: ServiceConfig;
  serviceIndex: number;
  /** The route (see routeKey) whose machines serve the port. */
  route: string;
  spec: PortSpec;
  host: string;
  port: number;
  kind: PortKind;
  /** 0: no PROXY header; else its version. */
  proxyProto: 0 | 1 | 2;
  idleTimeoutMs: number;
  /** Plain-HTTP ports with force_https: the port the redirect names. */
  httpsPort: number | null;
}

export interface PlanNote {
  app: string;
  route: string;
  ports: string;
  message: string;
}

export interface ServicePlan {
  ports: PortPlan[];
  notes: PlanNote[];
}

/** The port an https:// URL names when nothing says otherwise. */
export const DEFAULT_HTTPS_PORT = 443;

export function kindOf(handlers: readonly string[]): PortKind {
  const tls = handlers.includes('tls');
  const http = handlers.includes('http');
  return http ? (tls ? 'https' : 'http') : tls ? 'tls' : 'tcp';
}

export function listenHosts(config: Pick<PerchConfig, 'http' | 'https'>): string[] {
  const from = config.http.listen.length > 0 ? config.http.listen : config.https.listen;
  const hosts = [...new Set(from.map((address) => address.host))];
  // One of them on every interface covers the others.
  if (hosts.length === 0 || hosts.includes('')) return [''];
  return hosts;
}

export function planServices(config: Pick<PerchConfig, 'http' | 'https' | 'apps'>): ServicePlan {
  const hosts = listenHosts(config);
  const ports: PortPlan[] = [];
  const notes: PlanNote[] = [];
  for (const app of config.apps) {
    app.services.forEach((service, serviceIndex) => {
      const route = routeKey(app.name, serviceIndex);
      for (const spec of service.ports) {
        const range = spec.startPort === spec.endPort ? String(spec.startPort) : `${spec.startPort}-${spec.endPort}`;
        if (service.protocol === 'udp') {
          notes.push({ app: app.name, route, ports: range, message: 'UDP services are not supported: perch does not listen on these ports' });
          continue;
        }
        const kind = kindOf(spec.handlers);
        const http = kind === 'http' || kind === 'https';
        const wantsProxyProto = spec.handlers.includes('proxy_proto');
        if (wantsProxyProto && http) {
          notes.push({ app: app.name, route, ports: range, message: 'proxy_proto is ignored on ports with the http handler: requests reach machines over pooled connections' });
        }
        const proxyProto = wantsProxyProto && !http ? spec.proxyProtoVersion : 0;
        const httpsPort = kind === 'http' && spec.forceHttps ? httpsPortFor(config, service) : null;
        for (let port = spec.startPort; port <= spec.endPort; port++) {
          for (const host of hosts) {
            ports.push({ app, service, serviceIndex, route, spec, host, port, kind, proxyProto, idleTimeoutMs: spec.httpOptions.idleTimeoutMs, httpsPort });
          }
        }
      }
    });
  }
  return { ports, notes };
}

/** Where a force_https redirect from a service port goes: the service's own TLS+HTTP port, else perch's HTTPS listener, else 443. */
function httpsPortFor(config: Pick<PerchConfig, 'https'>, service: ServiceConfig): number {
  const own = service.ports.find((spec) => kindOf(spec.handlers) === 'https');
  if (own !== undefined) return own.startPort;
  const listener = config.https.listen.find((address) => address.port !== 0);
  return listener?.port ?? DEFAULT_HTTPS_PORT;
}
