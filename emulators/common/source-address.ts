import { BlockList, isIP } from 'node:net';

/**
 * An IP allow-list as vendors keep them (an MFT API key's "IP Access", a JFrog platform's IP/CIDR allowlist):
 * addresses and CIDR ranges, IPv4 or IPv6. Built on node:net's BlockList. Returns whether a request's source
 * address (`socket.remoteAddress`) is on the list; an IPv4-mapped IPv6 address counts as its IPv4 address.
 * Throws RangeError naming the bad entry.
 */
export function sourceAddressAllowList(entries: readonly string[], option: string): (address: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix, extra] = String(entry).trim().split('/');
    const family = isIP(address);
    const bits = prefix === undefined ? undefined : Number(prefix);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= max && /^\d+$/.test(prefix!)))) {
      throw new RangeError(`${option}: "${entry}" is not an IP address or CIDR range (e.g. 203.0.113.7 or 203.0.113.0/24)`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, bits, type);
  }
  return (remote) => {
    if (!remote) return false;
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remote);
    const address = mapped ? mapped[1]! : remote;
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}
