// What the HTTPS listener does for a server name, decided from config alone:
// where its certificate comes from (a configured file, the local CA, or
// nowhere), which protocol versions and ALPN protocols its app allows. Pure.
import type { AppConfig, CertificateFile, TlsOptions } from '../config/model.ts';
import { HostRouter } from '../routing/host-router.ts';
import { CertNameIndex } from './names.ts';

export type TlsVersion = TlsOptions['versions'][number];

/** One app as the TLS layer sees it. */
export interface TlsSite {
  name: string;
  /** Lower-case host names, `*.` wildcards allowed. */
  hostnames: readonly string[];
  tls: TlsOptions;
}

/** Fly's defaults for `tls_options`; used for names no app claims and for clients without SNI. */
export const DEFAULT_TLS: TlsOptions = Object.freeze({
  alpn: Object.freeze(['h2', 'http/1.1']) as string[],
  versions: Object.freeze(['TLSv1.2', 'TLSv1.3']) as TlsVersion[],
  defaultSelfSigned: false,
});

/** The name the no-SNI default certificate is issued for (it also carries 127.0.0.1 and ::1). */
export const DEFAULT_CERT_NAME = 'localhost';

/**
 * The apps the HTTPS listener serves: those with an `[http_service]`, whose
 * port 443 it is, with that service's `tls_options`.
 */
export function tlsSitesFrom(apps: readonly AppConfig[]): TlsSite[] {
  const sites: TlsSite[] = [];
  for (const app of apps) {
    if (app.httpService === null) continue;
    sites.push({ name: app.name, hostnames: app.hostnames, tls: app.httpService.tlsOptions });
  }
  return sites;
}

export type CertSource =
  /** `file` is the index in `HttpsConfig.certificates`. */
  | { kind: 'file'; file: number; certName: string }
  /** `certName` is what the local CA issues: the name itself, or the app's `*.` wildcard that covers it. */
  | { kind: 'local-ca'; certName: string };

export class SniPolicy {
  readonly defaultSelfSigned: boolean;
  private readonly files = new CertNameIndex<number>();
  private readonly selfSigned = new CertNameIndex<TlsSite>();
  private readonly router: HostRouter<TlsSite>;

  constructor(certificates: readonly CertificateFile[], sites: readonly TlsSite[], defaultSelfSigned: boolean) {
    this.defaultSelfSigned = defaultSelfSigned;
    certificates.forEach((file, i) => {
      for (const hostname of file.hostnames) this.files.add(hostname, i);
    });
    const entries: [string, TlsSite][] = [];
    for (const site of sites) {
      for (const hostname of site.hostnames) {
        entries.push([hostname, site]);
        if (defaultSelfSigned || site.tls.defaultSelfSigned) this.selfSigned.add(hostname, site);
      }
    }
    // Same routing as the HTTP side: exact, then wildcard, then the only app when there is one.
    this.router = new HostRouter(entries, sites.length === 1 ? sites[0]! : null);
  }

  /**
   * Where the certificate for a normalized server name comes from, or null when
   * perch has none for it. `null` as the name means "no SNI".
   *
   * Only names of configured apps get a local-CA certificate, even with the
   * global `default_self_signed`: a random SNI must never make perch sign and
   * store certificates. A wildcard hostname gets one wildcard certificate.
   */
  sourceFor(name: string | null): CertSource | null {
    if (name === null) return this.defaultSelfSigned ? { kind: 'local-ca', certName: DEFAULT_CERT_NAME } : null;
    const file = this.files.lookup(name);
    if (file !== null) return { kind: 'file', file: file.value, certName: file.certName };
    const site = this.selfSigned.lookup(name);
    if (site !== null) return { kind: 'local-ca', certName: site.certName };
    if (name === DEFAULT_CERT_NAME && this.defaultSelfSigned) return { kind: 'local-ca', certName: DEFAULT_CERT_NAME };
    return null;
  }

  /** The `tls_options` of the app serving a normalized name (or no SNI), else Fly's defaults. */
  tlsFor(name: string | null): TlsOptions {
    return this.router.route(name ?? undefined)?.tls ?? DEFAULT_TLS;
  }
}

/**
 * The ALPN protocol to answer with: the first of the app's protocols (server
 * preference) that the client offered; undefined when none is, which Node turns
 * into a no_application_protocol alert.
 */
export function chooseAlpn(allowed: readonly string[], offered: readonly string[]): string | undefined {
  for (const protocol of allowed) if (offered.includes(protocol)) return protocol;
  return undefined;
}

/**
 * Whether a negotiated protocol version (`TLSSocket.getProtocol()`) is allowed
 * for an app: at least the lowest version it lists. A version above its list
 * is let through: the version is settled before the server name is known
 * (from the range of all apps together), and refusing a client that would
 * have spoken an older version is worse than serving it a newer one.
 */
export function versionAllowed(versions: readonly TlsVersion[], protocol: string | null): boolean {
  if (protocol === null) return false;
  const rank = ORDER.indexOf(protocol as TlsVersion);
  if (rank === -1) return false;
  return rank >= ORDER.indexOf(versionBounds(versions).minVersion);
}

const ORDER: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

/** The smallest range covering a version list, as secure-context options. */
export function versionBounds(versions: readonly TlsVersion[]): { minVersion: TlsVersion; maxVersion: TlsVersion } {
  const present = ORDER.filter((v) => versions.includes(v));
  if (present.length === 0) return { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' };
  return { minVersion: present[0]!, maxVersion: present[present.length - 1]! };
}
