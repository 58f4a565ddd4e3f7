// The certificate for each server name the HTTPS listener is asked for:
//
//   1. a configured certificate file that covers the name (exact, or a `*.`
//      wildcard one label deep) — reloaded when the file changes on disk;
//   2. else, when `default_self_signed` is on (globally, or for the app that
//      has the name among its hostnames), one signed by the local CA for that
//      name (or for the app's wildcard), made once and cached;
//   3. else none: the listener refuses the handshake with an alert.
//
// Contexts are kept per name in an LRU; concurrent handshakes for one name
// share one load, and names with no certificate are remembered briefly, so
// random SNI costs a map lookup. A change (file on disk, reload) swaps in a
// new LRU: the next handshake sees it, connections already open are untouched.
//
// Protocol versions and ALPN are not properties of a context here: Node picks
// the protocol version before the SNI callback runs and only copies the
// certificate and key out of the context it returns, so a context's
// minVersion/maxVersion would be ignored. server-options.ts enforces the app's
// versions and ALPN in the handshake callbacks instead, from `tlsOptionsFor`.
import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { AppConfig, HttpsConfig, TlsOptions } from '../config/model.ts';
import { CertificateFiles, silentLog, type TlsLog } from './cert-files.ts';
import { LocalCA, type IssuedCert, type LocalCaOptions } from './local-ca.ts';
import { normalizeServername } from './names.ts';
import { DEFAULT_TLS, SniPolicy, tlsSitesFrom, versionBounds, type CertSource, type TlsSite, type TlsVersion } from './policy.ts';

const HOUR_MS = 3_600_000;
/** Longest a timer may wait (setTimeout's limit is about 24.8 days). */
const MAX_TIMER_MS = 24 * HOUR_MS;

export interface CertStoreOptions {
  https: HttpsConfig;
  apps: readonly AppConfig[];
  log?: TlsLog;
  /** Validity, renewal window and clock of the local CA. */
  localCa?: LocalCaOptions;
  /** Stat poll of certificate files (default 2000 ms; 0: fs.watch only). */
  pollMs?: number;
  /** fs.watch on certificate files' directories (default true; false: the poll only). */
  watch?: boolean;
  /** Quiet time after a certificate file changes before it is read (default 100 ms). */
  debounceMs?: number;
  /** How long a name without a certificate is remembered (default 10 s). */
  negativeTtlMs?: number;
  /** Most server names kept (default 5000). */
  maxNames?: number;
  /** How long a failure to open the local CA is remembered before trying again (default 30 s). */
  caRetryMs?: number;
}

interface SniEntry {
  context: tls.SecureContext | null;
}

const NONE: SniEntry = Object.freeze({ context: null });

/** Everything that comes from one config: swapped whole on reload. */
interface Generation {
  https: HttpsConfig;
  policy: SniPolicy;
  files: CertificateFiles;
  /** Server-wide protocol range: the union of every app's versions. */
  versions: { minVersion: TlsVersion; maxVersion: TlsVersion };
  cache: LRUCache<string, SniEntry>;
  /** Local-CA contexts by certificate name, shared by the names a wildcard covers. */
  caContexts: Map<string, { context: tls.SecureContext; renewAt: number }>;
  defaultCert: IssuedCert | null;
  /** Policies of listeners that serve one site with their own tls_options ([[services]] ports), made on first use. */
  sitePolicies: WeakMap<TlsSite, SniPolicy>;
}

export class CertStore {
  private gen: Generation;
  private readonly options: CertStoreOptions;
  private readonly log: TlsLog;
  private readonly listeners = new Set<() => void>();
  /** Local CAs by directory (one, unless a reload moves `ca_dir`); a failure is retried after `caRetryMs`. */
  private readonly cas = new Map<string, { promise: Promise<LocalCA>; failedAt: number | null }>();
  private renewTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** How many times a name was looked up past the cache (for metrics and tests). */
  private resolutions = 0;

  private constructor(options: CertStoreOptions) {
    this.options = options;
    this.log = options.log ?? silentLog;
    // Replaced in create() before anyone sees the store.
    this.gen = null as unknown as Generation;
  }

  /**
   * Loads the certificate files (rejecting when one does not load) and, when
   * the global `default_self_signed` is on, opens the local CA and prepares the
   * certificate for clients that send no SNI.
   */
  static async create(options: CertStoreOptions): Promise<CertStore> {
    const store = new CertStore(options);
    store.gen = await store.build(options.https, options.apps);
    store.scheduleRenewal();
    return store;
  }

  /**
   * The secure context for a server name, or null when perch has no
   * certificate for it. Rejects when making one failed (an unwritable CA
   * directory); the listener refuses that handshake too.
   */
  async secureContextFor(servername: string | undefined): Promise<tls.SecureContext | null> {
    const name = normalizeServername(servername);
    if (name === null) return null;
    const entry = await this.gen.cache.fetch(name);
    return entry?.context ?? null;
  }

  /**
   * The secure context for a server name on a listener that serves one site
   * with options of its own (a [[services]] port with the `tls` handler): the
   * same certificate files and local CA as the HTTPS listener, but a local-CA
   * certificate only for that site's hostnames, when `default_self_signed` is
   * on globally or in the site's `tls_options`. Null: no certificate.
   */
  async secureContextForSite(site: TlsSite, servername: string | undefined): Promise<tls.SecureContext | null> {
    const name = normalizeServername(servername);
    if (name === null) return null;
    const gen = this.gen;
    let policy = gen.sitePolicies.get(site);
    if (policy === undefined) {
      policy = new SniPolicy(gen.https.certificates, [site], gen.https.defaultSelfSigned);
      gen.sitePolicies.set(site, policy);
    }
    const source = policy.sourceFor(name);
    if (source === null) return null;
    return (await this.resolve(gen, source))?.context ?? null;
  }

  /**
   * The `tls_options` (ALPN, versions) of the app serving a name, as HTTP
   * routing finds it (the only app serves every name, and clients without
   * SNI); Fly's defaults otherwise.
   */
  tlsOptionsFor(servername: string | undefined): TlsOptions {
    const name = normalizeServername(servername);
    if (name === null && servername !== undefined && servername !== '') return DEFAULT_TLS;
    return this.gen.policy.tlsFor(name);
  }

  /** The range of protocol versions the listener negotiates: every app's versions together. */
  versionRange(): { minVersion: TlsVersion; maxVersion: TlsVersion } {
    return this.gen.versions;
  }

  /**
   * The certificate for clients that send no SNI (a local-CA certificate for
   * localhost, 127.0.0.1 and ::1), when the global `default_self_signed` is on;
   * else null, and such clients are refused.
   */
  defaultCertificate(): IssuedCert | null {
    return this.gen.defaultCert;
  }

  /** The local CA, opened (and created) on first use in `https.caDir`. */
  localCa(): Promise<LocalCA> {
    return this.caIn(this.gen.https.caDir);
  }

  /**
   * Applies a new config: certificate files are loaded and the default
   * certificate prepared before anything is swapped, so a config whose files
   * do not load is refused (the promise rejects) and the old one stays.
   */
  async reload(https: HttpsConfig, apps: readonly AppConfig[]): Promise<void> {
    const next = await this.build(https, apps);
    if (this.closed) {
      next.files.close();
      return;
    }
    const old = this.gen;
    this.gen = next;
    old.files.close();
    this.scheduleRenewal();
    this.emit();
  }

  /** Names held in the cache now, and lookups that went past it since the store was made. */
  stats(): { names: number; resolutions: number } {
    return { names: this.gen.cache.size, resolutions: this.resolutions };
  }

  /** Called after anything that may change which certificate a name gets. Returns a function that unsubscribes. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops watching files and timers. */
  close(): void {
    this.closed = true;
    this.gen.files.close();
    if (this.renewTimer !== null) clearTimeout(this.renewTimer);
  }

  private async build(https: HttpsConfig, apps: readonly AppConfig[]): Promise<Generation> {
    const sites = tlsSitesFrom(apps);
    const policy = new SniPolicy(https.certificates, sites, https.defaultSelfSigned);
    const versions = versionBounds(sites.length === 0 ? DEFAULT_TLS.versions : sites.flatMap((site) => site.tls.versions));
    let gen: Generation | null = null;
    const files = await CertificateFiles.open(https.certificates, {
      log: this.log,
      pollMs: this.options.pollMs,
      watch: this.options.watch,
      debounceMs: this.options.debounceMs,
      onChange: () => {
        // Only the generation these files belong to, and only while it is the current one.
        if (gen === null || gen !== this.gen) return;
        gen.cache = this.newCache(gen);
        this.emit();
      },
    });
    gen = { https, policy, files, versions, cache: null as unknown as Generation['cache'], caContexts: new Map(), defaultCert: null, sitePolicies: new WeakMap() };
    gen.cache = this.newCache(gen);
    try {
      const source = policy.sourceFor(null);
      if (source?.kind === 'local-ca') gen.defaultCert = await this.issue(https.caDir, source.certName);
    } catch (err) {
      files.close();
      throw err;
    }
    return gen;
  }

  private newCache(gen: Generation): LRUCache<string, SniEntry> {
    const negativeTtlMs = this.options.negativeTtlMs ?? 10_000;
    return new LRUCache<string, SniEntry>({
      max: this.options.maxNames ?? 5_000,
      fetchMethod: async (name, _stale, { options }) => {
        this.resolutions++;
        const source = gen.policy.sourceFor(name);
        const resolved = source === null ? null : await this.resolve(gen, source);
        if (resolved === null) {
          options.ttl = negativeTtlMs;
          return NONE;
        }
        // Local-CA certificates are looked at again when they are due for renewal.
        if (resolved.renewAt !== null) options.ttl = Math.max(1_000, Math.min(resolved.renewAt - Date.now(), 6 * HOUR_MS));
        return { context: resolved.context };
      },
    });
  }

  private async resolve(gen: Generation, source: CertSource): Promise<{ context: tls.SecureContext; renewAt: number | null } | null> {
    if (source.kind === 'file') {
      const loaded = gen.files.get(source.file);
      return loaded === null ? null : { context: loaded.context, renewAt: null };
    }
    const known = gen.caContexts.get(source.certName);
    if (known !== undefined && Date.now() < known.renewAt) return known;
    const issued = await this.issue(gen.https.caDir, source.certName);
    const made = { context: tls.createSecureContext({ cert: issued.cert, key: issued.key }), renewAt: issued.renewAt.getTime() };
    gen.caContexts.set(source.certName, made);
    return made;
  }

  private async issue(caDir: string, certName: string): Promise<IssuedCert> {
    return (await this.caIn(caDir)).leaf(certName);
  }

  private caIn(dir: string): Promise<LocalCA> {
    const known = this.cas.get(dir);
    const retryMs = this.options.caRetryMs ?? 30_000;
    if (known !== undefined && (known.failedAt === null || Date.now() - known.failedAt < retryMs)) return known.promise;
    const slot: { promise: Promise<LocalCA>; failedAt: number | null } = { promise: LocalCA.open(dir, this.options.localCa), failedAt: null };
    slot.promise.catch((err: Error) => {
      slot.failedAt = Date.now();
      this.log.warn({ caDir: dir, err: err.message }, 'cannot open the local CA');
    });
    this.cas.set(dir, slot);
    return slot.promise;
  }

  /** Re-issues the no-SNI default certificate when it comes due, and tells the listeners. */
  private scheduleRenewal(): void {
    if (this.renewTimer !== null) clearTimeout(this.renewTimer);
    this.renewTimer = null;
    const current = this.gen.defaultCert;
    if (current === null || this.closed) return;
    const delay = Math.max(60_000, Math.min(current.renewAt.getTime() - Date.now(), MAX_TIMER_MS));
    this.renewTimer = setTimeout(() => {
      const gen = this.gen;
      this.issue(gen.https.caDir, current.certName).then(
        (issued) => {
          if (gen !== this.gen) return;
          const changed = issued.fingerprint256 !== current.fingerprint256;
          gen.defaultCert = issued;
          this.scheduleRenewal();
          if (changed) this.emit();
        },
        (err: Error) => {
          this.log.warn({ err: err.message }, 'cannot renew the default certificate');
          this.scheduleRenewal();
        },
      );
    }, delay);
    this.renewTimer.unref();
  }

  private emit(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'certificate change listener failed');
      }
    }
  }
}
