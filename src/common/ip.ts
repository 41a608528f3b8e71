// IPv4 addresses as host-order u32 numbers (10.0.0.1 = 0x0a000001), as the core stores them.

export function parseIPv4(text: string): number | undefined {
  const t = text.trim();
  return t.length > 0 ? dottedQuad(t, true) : undefined;
}

/**
 * The u32 of a dotted quad (four parts of 1 to 3 digits, each 0..255), or undefined; with
 * `leadingZeros` false a part may not start with 0 unless it is "0". A hand-written scan: this runs
 * for every address of every manifest (the control-plane benchmark's hot spot was a regex here).
 */
export function dottedQuad(t: string, leadingZeros: boolean): number | undefined {
  let v = 0, part = 0, digits = 0, parts = 0, first = 0;
  for (let i = 0; i <= t.length; i++) {
    const c = i < t.length ? t.charCodeAt(i) : 46; // a virtual '.' ends the last part
    if (c >= 48 && c <= 57) {
      if (digits === 0) first = c;
      if (++digits > 3) return undefined;
      part = part * 10 + (c - 48);
    } else if (c === 46) {
      if (digits === 0 || part > 255 || (!leadingZeros && digits > 1 && first === 48)) return undefined;
      v = v * 256 + part;
      part = 0; digits = 0;
      if (++parts > 4) return undefined;
    } else {
      return undefined;
    }
  }
  return parts === 4 ? v >>> 0 : undefined;
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
