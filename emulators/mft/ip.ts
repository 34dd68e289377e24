import { isIP } from 'node:net';

/**
 * Canonical text of an IP address, so a `sourceIp` filter matches however the client spelled it:
 * IPv4 as dotted quad, IPv6 lower-case with the longest zero run compressed (RFC 5952, as WHATWG URL
 * serializes it). Returns undefined for anything that is not an address; zone ids (`fe80::1%eth0`)
 * are refused because an audit log records no interface.
 */
export function normalizeIp(text: string): string | undefined {
  const version = isIP(text);
  if (version === 4) return text;
  if (version !== 6 || text.includes('%')) return undefined;
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** Formats eight 16-bit groups as canonical IPv6 text. */
export function ipv6FromGroups(groups: readonly number[]): string {
  const expanded = groups.map((group) => group.toString(16)).join(':');
  return normalizeIp(expanded) ?? expanded;
}
