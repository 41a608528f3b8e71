// IPv4 addresses as host-order u32 numbers (10.0.0.1 = 0x0a000001), as the core stores them.

export function parseIPv4(text: string): number | undefined {
  const parts = text.trim().split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v >>> 0;
}

export function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === undefined) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  return v;
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Parse "a.b.c.d/len" (host bits are allowed; the maps mask them). */
export function parseCidr(text: string): { addr: number; plen: number } | undefined {
  const [a, l, extra] = text.trim().split('/');
  if (extra !== undefined || l === undefined || !/^\d{1,2}$/.test(l)) return undefined;
  const addr = parseIPv4(a), plen = Number(l);
  if (addr === undefined || plen > 32) return undefined;
  return { addr, plen };
}

export function prefixMask(plen: number): number {
  return plen === 0 ? 0 : (0xffffffff << (32 - plen)) >>> 0;
}
