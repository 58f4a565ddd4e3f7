// TLS for a [[services]] port with the `tls` handler: one app, the port's
// own `tls_options`.
//
// - Certificate by SNI from the shared certificate store: a configured file
//   covering the name, else (default_self_signed globally or in the port's
//   tls_options) the local CA's certificate for one of the app's hostnames;
//   any other name is refused with a handshake alert, as on the HTTPS listener.
// - Clients without SNI get the store's default certificate (global
//   default_self_signed), else, when the port has default_self_signed, one
//   for the app's first hostname; else they are refused.
// - ALPN: the port's list, server preference; versions: the port's range
//   (TLS 1.2 and 1.3 by default).
import tls from 'node:tls';
import type { AppConfig, TlsOptions } from '../config/model.ts';
import type { Logger } from '../log/logger.ts';
import type { CertStore } from '../tls/cert-store.ts';
import type { IssuedCert } from '../tls/local-ca.ts';
import { isWildcard } from '../tls/names.ts';
import { chooseAlpn, versionBounds, type TlsSite, type TlsVersion } from '../tls/policy.ts';

export interface PortTlsOptions {
  SNICallback: (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;
  ALPNCallback: (arg: { servername: string; protocols: string[] }) => string | undefined;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  cert?: string;
  key?: string;
}

export interface PortTls {
  options: PortTlsOptions;
  /** Keeps a server's default certificate in step with the store; returns a function that stops it. */
  follow(server: tls.Server): () => void;
}

export async function portTls(store: CertStore, app: AppConfig, options: TlsOptions, log: Logger): Promise<PortTls> {
  const site: TlsSite = { name: app.name, hostnames: app.hostnames, tls: options };
  const own = options.defaultSelfSigned ? await ownDefault(store, app) : null;
  const { minVersion, maxVersion } = versionBounds(options.versions);
  let fallback = store.defaultCertificate() ?? own;
  // A certificate without its key, of the default one's key type: OpenSSL answers handshake_failure (see src/tls/server-options.ts).
  let refusal = refusalFor(fallback);

  const tlsOptions: PortTlsOptions = {
    SNICallback(servername, cb) {
      store.secureContextForSite(site, servername).then(
        (context) => cb(null, context ?? refusal),
        (err: Error) => {
          log.warn({ app: app.name, servername, err: err.message }, 'no certificate for this name: refusing the handshake');
          cb(null, refusal);
        },
      );
    },
    ALPNCallback({ protocols }) {
      return chooseAlpn(options.alpn, protocols);
    },
    minVersion,
    maxVersion,
  };
  if (fallback !== null) {
    tlsOptions.cert = fallback.cert;
    tlsOptions.key = fallback.key;
  }

  return {
    options: tlsOptions,
    follow(server) {
      return store.onChange(() => {
        const next = store.defaultCertificate() ?? own;
        if (next?.fingerprint256 === fallback?.fingerprint256) return;
        fallback = next;
        refusal = refusalFor(next);
        if (next !== null) server.setSecureContext({ cert: next.cert, key: next.key, minVersion, maxVersion });
      });
    },
  };
}

/** The local CA's certificate for the app's first plain hostname (`<app>.localhost` at least). */
async function ownDefault(store: CertStore, app: AppConfig): Promise<IssuedCert> {
  const name = app.hostnames.find((hostname) => !isWildcard(hostname)) ?? `${app.name}.localhost`;
  return (await store.localCa()).leaf(name);
}

function refusalFor(fallback: IssuedCert | null): tls.SecureContext | undefined {
  return fallback === null ? undefined : tls.createSecureContext({ cert: fallback.issuerPem });
}
