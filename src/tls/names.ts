// Host names as TLS sees them: what a ClientHello's server_name may be, and
// which certificate name covers it. Pure functions, no I/O.
//
// A certificate wildcard covers exactly one label (RFC 6125 §6.4.3):
// `*.example.com` covers `a.example.com`, not `example.com` nor `a.b.example.com`.

const MAX_NAME = 253;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * The lower-case name of an SNI value without a trailing dot, or null when it is
 * not a DNS host name (too long, empty labels, odd characters, an IP literal).
 */
export function normalizeServername(servername: string | undefined): string | null {
  if (servername === undefined || servername === '') return null;
  let name = servername.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0 || name.length > MAX_NAME) return null;
  const labels = name.split('.');
  for (const label of labels) if (!LABEL.test(label)) return null;
  // All-numeric last label: an IPv4 literal or nonsense; SNI never carries addresses (RFC 6066 §3).
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return null;
  return name;
}

/** True for `*.example.com`-style names (a wildcard as the whole first label). */
export function isWildcard(name: string): boolean {
  return name.startsWith('*.') && name.length > 2;
}

/** `*.example.com` for `a.example.com`; null for a name with fewer than three labels. */
export function wildcardOf(name: string): string | null {
  const dot = name.indexOf('.');
  if (dot <= 0) return null;
  const parent = name.slice(dot + 1);
  // `*.com` is never a sensible certificate.
  if (!parent.includes('.')) return null;
  return `*.${parent}`;
}

/** Whether a certificate name (exact or `*.` wildcard) covers a normalized host name. */
export function covers(certName: string, name: string): boolean {
  if (!isWildcard(certName)) return certName === name;
  return wildcardOf(name) === certName;
}

/** A file-system-safe stem for a certificate name: `*.example.com` → `_wildcard.example.com`. */
export function fileStem(certName: string): string {
  const stem = isWildcard(certName) ? `_wildcard${certName.slice(1)}` : certName;
  if (!/^[a-z0-9_.-]+$/.test(stem) || stem.startsWith('.') || stem.includes('..')) {
    throw new Error(`not a certificate name: ${JSON.stringify(certName)}`);
  }
  return stem;
}

/**
 * Certificate names → values, looked up the way a TLS client checks a
 * certificate: the exact name first, then the one-label wildcard. The first
 * value added for a name wins.
 */
export class CertNameIndex<T> {
  private readonly byName = new Map<string, T>();

  add(certName: string, value: T): void {
    const name = certName.toLowerCase();
    if (!this.byName.has(name)) this.byName.set(name, value);
  }

  /** The value and the certificate name that covers `name` (normalized), or null. */
  lookup(name: string): { certName: string; value: T } | null {
    const exact = this.byName.get(name);
    if (exact !== undefined) return { certName: name, value: exact };
    const wildcard = wildcardOf(name);
    if (wildcard === null) return null;
    const value = this.byName.get(wildcard);
    return value === undefined ? null : { certName: wildcard, value };
  }

  get size(): number {
    return this.byName.size;
  }
}
