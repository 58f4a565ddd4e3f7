// perch's local certificate authority: `ca.pem` + `ca-key.pem` in the CA
// directory, made on first use, and the per-name server certificates it signs,
// kept in `certs/<name>.pem` (certificate and key in one file, so a reader can
// never pair a certificate with another process's key) and in memory.
//
// Several perch processes start at once and must end up with one CA. There is
// no lock: each file is written whole under a temporary name and hard-linked
// into place, which only one process can do. The key is placed first; whoever
// then finds a key without a certificate self-signs one for that key and links
// it, and everyone reads what is on disk. A process that dies half-way leaves
// a key alone, which the next one completes.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createExclusive, readComplete, replaceFile } from './atomic-file.ts';
import { fileStem } from './names.ts';
import { certMatchesKey, generateKeyPem, type CertKeyPem } from './keys.ts';

/** @peculiar/x509 is loaded only to make a certificate (see keys.ts). */
const certificates = (): Promise<typeof import('./x509.ts')> => import('./x509.ts');

const DAY_MS = 86_400_000;

export interface LocalCaOptions {
  /** Validity of a new CA, in years (default 10). */
  caYears?: number;
  /** Validity of a server certificate, in days (default 90). */
  leafDays?: number;
  /** A server certificate is re-issued when it has less than this left (default 7 days). */
  renewBeforeDays?: number;
  /** The clock (tests). */
  now?: () => Date;
}

/** A server certificate signed by the local CA. */
export interface IssuedCert extends CertKeyPem {
  certName: string;
  notAfter: Date;
  /** When it is due to be re-issued. */
  renewAt: Date;
  /** SHA-256 fingerprint, colon-separated upper-case hex (as Node prints it). */
  fingerprint256: string;
  /** The CA certificate that signed it. */
  issuerPem: string;
}

export class LocalCA {
  readonly dir: string;
  /** The CA certificate, PEM: what a user adds to a trust store. */
  readonly certPem: string;
  readonly fingerprint256: string;
  private readonly ca: CertKeyPem;
  private readonly caCert: X509Certificate;
  private readonly leafDays: number;
  private readonly renewBeforeMs: number;
  private readonly now: () => Date;
  private readonly issued = new Map<string, IssuedCert>();
  private readonly pending = new Map<string, Promise<IssuedCert>>();

  private constructor(dir: string, ca: CertKeyPem, options: LocalCaOptions) {
    this.dir = dir;
    this.ca = ca;
    this.certPem = ca.cert;
    this.caCert = new X509Certificate(ca.cert);
    this.fingerprint256 = this.caCert.fingerprint256;
    this.leafDays = options.leafDays ?? 90;
    this.renewBeforeMs = (options.renewBeforeDays ?? 7) * DAY_MS;
    this.now = options.now ?? (() => new Date());
  }

  static certPath(dir: string): string {
    return path.join(dir, 'ca.pem');
  }

  static keyPath(dir: string): string {
    return path.join(dir, 'ca-key.pem');
  }

  /** The CA in `dir`, created there if it does not exist yet (safe to race). */
  static async open(dir: string, options: LocalCaOptions = {}): Promise<LocalCA> {
    const now = options.now ?? (() => new Date());
    await fs.mkdir(path.join(dir, 'certs'), { recursive: true, mode: 0o700 });
    const keyFile = LocalCA.keyPath(dir);
    const certFile = LocalCA.certPath(dir);

    let key = await readComplete(keyFile, pemComplete('PRIVATE KEY'));
    if (key === null) {
      await createExclusive(keyFile, await generateKeyPem(), 0o600);
      key = await readComplete(keyFile, pemComplete('PRIVATE KEY'));
    }
    let cert = await readComplete(certFile, pemComplete('CERTIFICATE'));
    if (cert === null && key !== null) {
      await createExclusive(certFile, await (await certificates()).createCaCertificate(key, now(), options.caYears ?? 10), 0o644);
      cert = await readComplete(certFile, pemComplete('CERTIFICATE'));
    }
    if (key === null || cert === null) throw new Error(`local CA in ${dir}: ${key === null ? keyFile : certFile} vanished while perch was creating it`);
    if (!certMatchesKey(cert, key)) {
      throw new Error(`local CA in ${dir}: ${certFile} is not the certificate of ${keyFile}; remove both to make a new CA (and trust the new ca.pem)`);
    }
    const validTo = new X509Certificate(cert).validToDate;
    if (validTo.getTime() <= now().getTime()) {
      throw new Error(`local CA in ${dir} expired on ${validTo.toISOString()}; remove ca.pem and ca-key.pem to make a new one (and trust the new ca.pem)`);
    }
    return new LocalCA(dir, { cert, key }, options);
  }

  /**
   * The server certificate for a certificate name (a host name or a `*.`
   * wildcard): from memory, else from disk, else newly signed and stored.
   * Concurrent calls for one name share one load. A certificate within its
   * renewal window, or not signed by this CA, is re-issued.
   */
  leaf(certName: string): Promise<IssuedCert> {
    const cached = this.issued.get(certName);
    if (cached !== undefined && this.now().getTime() < cached.renewAt.getTime()) return Promise.resolve(cached);
    let pending = this.pending.get(certName);
    if (pending === undefined) {
      pending = this.loadOrIssue(certName).finally(() => this.pending.delete(certName));
      this.pending.set(certName, pending);
    }
    return pending;
  }

  /** Where the certificate for a name is stored. */
  leafPath(certName: string): string {
    return path.join(this.dir, 'certs', `${fileStem(certName)}.pem`);
  }

  private async loadOrIssue(certName: string): Promise<IssuedCert> {
    const file = this.leafPath(certName);
    const text = await readComplete(file, (t) => pemComplete('CERTIFICATE')(t) && pemComplete('PRIVATE KEY')(t));
    let issued = text === null ? null : this.usable(certName, text);
    if (issued === null) {
      const pems = await (await certificates()).issueLeafCertificate(this.ca, certName, this.now(), this.leafDays);
      // Certificate first: `openssl x509 -in <file>` and friends read the first block.
      await replaceFile(file, pems.cert + pems.key, 0o600);
      issued = this.describe(certName, pems);
    }
    this.issued.set(certName, issued);
    return issued;
  }

  /** A stored certificate, if it is this CA's, for this name, with its key, and not due for renewal. */
  private usable(certName: string, text: string): IssuedCert | null {
    const cert = pemBlock(text, 'CERTIFICATE');
    const key = pemBlock(text, 'PRIVATE KEY');
    if (cert === null || key === null) return null;
    try {
      const x = new X509Certificate(cert);
      if (!x.verify(createPublicKey(createPrivateKey(this.ca.key)))) return null;
      if (!(x.subjectAltName ?? '').split(', ').includes(`DNS:${certName}`)) return null;
      if (!certMatchesKey(cert, key)) return null;
      const issued = this.describe(certName, { cert, key });
      const now = this.now().getTime();
      if (now >= issued.renewAt.getTime() || x.validFromDate.getTime() > now) return null;
      return issued;
    } catch {
      return null;
    }
  }

  private describe(certName: string, pems: CertKeyPem): IssuedCert {
    const x = new X509Certificate(pems.cert);
    const notAfter = x.validToDate;
    return { ...pems, certName, notAfter, renewAt: new Date(notAfter.getTime() - this.renewBeforeMs), fingerprint256: x.fingerprint256, issuerPem: this.certPem };
  }
}

function pemComplete(label: string): (text: string) => boolean {
  return (text) => pemBlock(text, label) !== null;
}

/** The first complete `-----BEGIN <label>-----` block of a text, with its newline. */
function pemBlock(text: string, label: string): string | null {
  const begin = text.indexOf(`-----BEGIN ${label}-----`);
  if (begin === -1) return null;
  const endMarker = `-----END ${label}-----`;
  const end = text.indexOf(endMarker, begin);
  if (end === -1) return null;
  return text.slice(begin, end + endMarker.length) + '\n';
}
