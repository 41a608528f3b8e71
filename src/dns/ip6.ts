// Address text for DNS: IPv6 canonical form (as Go's net.IP.String prints it), reverse names (in-addr.arpa,
// ip6.arpa) both ways. The dataplane is IPv4-only; these serve the DNS view of dual-stack objects.

export const isV4 = (ip: string) => ip.includes('.') && !ip.includes(':');

/** IPv6 text to its 32 nibbles (for ip6.arpa), or undefined. */
function v6Nibbles(ip: string): string[] | undefined {
  const halves = ip.toLowerCase().split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === '' ? [] : s.split(':'));
  const head = part(halves[0]!), tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const groups = [...head, ...Array(fill).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.flatMap((g) => g.padStart(4, '0').split(''));
}

/** Canonical (RFC 5952-ish, as Go's net.IP.String) text of an IPv6 address given as nibbles. */
function v6FromNibbles(n: string[]): string {
  const groups = [];
  for (let i = 0; i < 32; i += 4) groups.push(parseInt(n.slice(i, i + 4).join(''), 16).toString(16));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Canonical text of an address (v4 as is, v6 compressed), or undefined when it does not parse. */
export function canonicalIP(ip: string): string | undefined {
  if (isV4(ip)) {
    const p = ip.split('.');
    if (p.length !== 4 || !p.every((x) => /^\d{1,3}$/.test(x) && +x <= 255)) return undefined;
    return p.map((x) => String(+x)).join('.');
  }
  const n = v6Nibbles(ip);
  return n && v6FromNibbles(n);
}

/** The reverse name of an address (in-addr.arpa / ip6.arpa). */
export function reverseName(ip: string): string {
  if (isV4(ip)) return ip.split('.').reverse().join('.') + '.in-addr.arpa.';
  return v6Nibbles(ip)!.reverse().join('.') + '.ip6.arpa.';
}

/** The address a reverse name stands for (dnsutil.ExtractAddressFromReverse), or undefined. */
export function addressOfReverse(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa.')) {
    const p = name.slice(0, -'.in-addr.arpa.'.length).split('.');
    return p.length === 4 ? canonicalIP(p.reverse().join('.')) : undefined;
  }
  if (name.endsWith('.ip6.arpa.')) {
    const p = name.slice(0, -'.ip6.arpa.'.length).split('.');
    if (p.length !== 32 || !p.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    return v6FromNibbles(p.reverse());
  }
  return undefined;
}

