// Host → app. Exact names first, then `*.suffix` wildcards (longest first),
// then the fallback: the only app with an HTTP service, when there is one.

export class HostRouter<T> {
  private readonly exact = new Map<string, T>();
  private readonly wildcards: [suffix: string, target: T][] = [];
  private readonly fallback: T | null;

  constructor(entries: Iterable<[hostname: string, target: T]>, fallback: T | null) {
    for (const [hostname, target] of entries) {
      if (hostname.startsWith('*.')) this.wildcards.push([hostname.slice(1), target]);
      else this.exact.set(hostname, target);
    }
    this.wildcards.sort((a, b) => b[0].length - a[0].length);
    this.fallback = fallback;
  }

  route(hostHeader: string | undefined): T | null {
    if (hostHeader === undefined) return this.fallback;
    const name = hostName(hostHeader);
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    for (const [suffix, target] of this.wildcards) {
      if (name.endsWith(suffix) && name.length > suffix.length) return target;
    }
    return this.fallback;
  }
}

/** The lower-case name of a Host header or :authority, without port or IPv6 brackets' port. */
export function hostName(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close === -1 ? end : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  if (host.charCodeAt(end - 1) === 46 /* trailing dot */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  return name.toLowerCase();
}
