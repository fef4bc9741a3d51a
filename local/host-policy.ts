/**
 * Which Host and Origin headers the local front door treats as its own. A browser page from another origin
 * (or a DNS-rebinding name pointed at 127.0.0.1) must not drive `/ws` or read `/api`, and `/config.json`
 * must never hand out endpoints built from whatever Host a request carried.
 */
import os from 'node:os';

export interface HostPolicy {
  /** `host:port` this server calls itself by (its bind address, or 127.0.0.1 when bound to every interface). */
  canonicalHost(): string;
  /** True for a Host header naming this server (absent counts as own: HTTP/1.0 has none). */
  isOwnHost(host: string | undefined): boolean;
  /** True for an Origin of a page this server served (or an allowed one); absent = not a browser. */
  isAllowedOrigin(origin: string | undefined): boolean;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

/** `host` as it appears in a URL's authority (IPv6 in brackets). */
function authorityName(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host.toLowerCase();
}

/** Host and port of an authority (`name[:port]`), or null when it is not one. */
function parseAuthority(authority: string, scheme: 'http:' | 'https:' = 'http:'): { name: string; port: string } | null {
  if (authority.length > 300 || /[\s/?#@\\]/.test(authority)) return null;
  try {
    const url = new URL(`${scheme}//${authority}`);
    return { name: url.hostname.toLowerCase(), port: url.port || (scheme === 'https:' ? '443' : '80') };
  } catch {
    return null;
  }
}

/**
 * @param bindHost the address the server listens on (`HOST`).
 * @param port the server's port, known once it listens.
 * @param allowedOrigins further origins trusted as the dashboard's, e.g. the Vite dev server's.
 */
export function createHostPolicy(bindHost: string, port: () => number, allowedOrigins: readonly string[] = []): HostPolicy {
  const names = new Set<string>([...LOOPBACK_NAMES, authorityName(bindHost)]);
  if (WILDCARD_HOSTS.has(bindHost)) {
    // Bound to every interface: each interface address and the machine's own name are this server.
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const a of addresses ?? []) names.add(authorityName(a.address.split('%')[0]));
    }
    names.add(os.hostname().toLowerCase());
  }
  const extraOrigins = new Set(allowedOrigins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  const extraHosts = new Set<string>();
  for (const origin of extraOrigins) {
    try {
      extraHosts.add(new URL(origin).host.toLowerCase());
    } catch {
      // not an origin: ignored (the runtime validates its settings)
    }
  }

  /** An authority naming this very server: one of its names and its port. */
  const isServerAuthority = (authority: string): boolean => {
    const parsed = parseAuthority(authority);
    return parsed !== null && parsed.port === String(port()) && names.has(parsed.name);
  };

  return {
    canonicalHost: () => `${WILDCARD_HOSTS.has(bindHost) ? '127.0.0.1' : authorityName(bindHost)}:${port()}`,
    isOwnHost(host) {
      if (host === undefined || host === '') return true;
      return extraHosts.has(host.toLowerCase()) || isServerAuthority(host);
    },
    isAllowedOrigin(origin) {
      if (origin === undefined) return true;
      const normalized = origin.toLowerCase();
      if (extraOrigins.has(normalized)) return true;
      const match = /^http:\/\/([^/]+)$/.exec(normalized);
      return match !== null && isServerAuthority(match[1]);
    },
  };
}
