// Options for perch's HTTPS listener, for `http2.createSecureServer({
// allowHTTP1: true, ...tlsServerOptions(store) })` or `tls.createServer`:
//
// - SNICallback: the certificate for the name, from the store; a name with
//   none, a failure, or a protocol version below the app's minimum is refused
//   with a handshake_failure alert, at once.
// - ALPNCallback: per-name ALPN from the app's `tls_options.alpn` (server
//   preference); a client offering none of them gets no_application_protocol.
//   A client offering no ALPN at all speaks HTTP/1.1 (Node's http2 server
//   with allowHTTP1 does that by itself).
// - the default certificate, for clients without SNI, when there is one;
// - the protocol range of all apps together (TLS 1.2–1.3 by default);
// - session-ticket keys shared by every worker, so a resumed session may land
//   on any of them.
//
// Refusing with an alert: Node's SNICallback has no way to send one. An error
// passed to its callback just drops the TCP connection. So a refused name gets
// a context that holds a certificate without its private key. Node copies that
// certificate into the connection in place of the default one (same key type:
// both are the local CA's EC P-256), OpenSSL then has no usable key, and it
// answers handshake_failure (alert 40). With no default certificate, no
// context at all has the same effect. test/tls/alerts.test.ts pins this down.
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import type { CertStore } from './cert-store.ts';
import { silentLog, type TlsLog } from './cert-files.ts';
import { chooseAlpn, versionAllowed, type TlsVersion } from './policy.ts';

/** Length of the `ticketKeys` Node wants: 16 bytes name, 16 AES, 16 HMAC. */
export const TICKET_KEYS_BYTES = 48;

/** Fresh session-ticket keys; the primary makes them once and hands them to every worker. */
export function generateTicketKeys(): Buffer {
  return randomBytes(TICKET_KEYS_BYTES);
}

export interface TlsServerOptionsInput {
  /** 48 bytes shared by every worker (see generateTicketKeys); omitted: Node makes per-process keys. */
  ticketKeys?: Buffer;
  log?: TlsLog;
}

/** What tls.createServer / http2.createSecureServer take, as far as perch sets it. */
export interface PerchTlsServerOptions {
  SNICallback: (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;
  ALPNCallback: (arg: { servername: string; protocols: string[] }) => string | undefined;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  ticketKeys?: Buffer;
  cert?: string;
  key?: string;
}

export function tlsServerOptions(store: CertStore, input: TlsServerOptionsInput = {}): PerchTlsServerOptions {
  const log = input.log ?? silentLog;
  if (input.ticketKeys !== undefined && input.ticketKeys.length !== TICKET_KEYS_BYTES) {
    throw new RangeError(`ticketKeys must be ${TICKET_KEYS_BYTES} bytes, got ${input.ticketKeys.length}`);
  }
  const refusals = new RefusalContexts(store);

  function SNICallback(this: unknown, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void {
    // Node calls this as a method of the TLSSocket being set up; the protocol version is settled by then.
    const socket = this instanceof tls.TLSSocket ? this : null;
    const protocol = socket?.getProtocol() ?? null;
    if (protocol !== null && !versionAllowed(store.tlsOptionsFor(servername).versions, protocol)) {
      cb(null, refusals.get());
      return;
    }
    store.secureContextFor(servername).then(
      (context) => cb(null, context ?? refusals.get()),
      (err: Error) => {
        log.warn({ servername, err: err.message }, 'no certificate for this name: refusing the handshake');
        cb(null, refusals.get());
      },
    );
  }

  function ALPNCallback({ servername, protocols }: { servername: string; protocols: string[] }): string | undefined {
    return chooseAlpn(store.tlsOptionsFor(servername || undefined).alpn, protocols);
  }

  return { SNICallback, ALPNCallback, ...defaultContextOptions(store, input) };
}

/**
 * The part of the options that `server.setSecureContext()` takes: default
 * certificate, protocol range, ticket keys. What `followStore` re-applies.
 */
export function defaultContextOptions(store: CertStore, input: TlsServerOptionsInput = {}): Pick<PerchTlsServerOptions, 'minVersion' | 'maxVersion' | 'ticketKeys' | 'cert' | 'key'> {
  const { minVersion, maxVersion } = store.versionRange();
  const options: Pick<PerchTlsServerOptions, 'minVersion' | 'maxVersion' | 'ticketKeys' | 'cert' | 'key'> = { minVersion, maxVersion };
  if (input.ticketKeys !== undefined) options.ticketKeys = input.ticketKeys;
  const fallback = store.defaultCertificate();
  if (fallback !== null) {
    options.cert = fallback.cert;
    options.key = fallback.key;
  }
  return options;
}

/**
 * Keeps a server's default certificate, protocol range and ticket keys in
 * step with the store (a reload, a renewed default certificate). Handshakes
 * already under way keep what they started with. Returns a function that stops it.
 */
export function followStore(server: tls.Server, store: CertStore, input: TlsServerOptionsInput = {}): () => void {
  let applied = signature(defaultContextOptions(store, input));
  return store.onChange(() => {
    const options = defaultContextOptions(store, input);
    const next = signature(options);
    if (next === applied) return;
    applied = next;
    // setSecureContext replaces the whole default context: keys left out are dropped, so every one is passed.
    server.setSecureContext(options);
  });
}

function signature(options: ReturnType<typeof defaultContextOptions>): string {
  return `${options.minVersion}|${options.maxVersion}|${options.cert ?? ''}`;
}

/** The context that makes OpenSSL refuse a handshake (see the top of this file), for the store's current CA. */
class RefusalContexts {
  private readonly store: CertStore;
  private forCa: string | null = null;
  private context: tls.SecureContext | undefined;

  constructor(store: CertStore) {
    this.store = store;
  }

  get(): tls.SecureContext | undefined {
    const fallback = this.store.defaultCertificate();
    // No default certificate: returning no context leaves the connection without one.
    if (fallback === null) return undefined;
    const caPem = fallback.issuerPem;
    if (this.forCa !== caPem) {
      // A certificate of the default one's key type (the CA's own), and no key.
      this.context = tls.createSecureContext({ cert: caPem });
      this.forCa = caPem;
    }
    return this.context;
  }
}
