// Mirror of assembly/hash.ts: the same murmur3-style 32-bit hashes, so both
// backends pick the same Maglev cell, source-hash bucket and NAT source port.

export function fmix32(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function mixWord(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51); w = (w << 15) | (w >>> 17); w = Math.imul(w, 0x1b873593);
  h ^= w; h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}

export function hashTuple(saddr: number, daddr: number, sport: number, dport: number, proto: number, seed: number): number {
  let h = seed >>> 0;
  h = mixWord(h, saddr);
  h = mixWord(h, daddr);
  h = mixWord(h, ((sport << 16) | dport) >>> 0);
  h = mixWord(h, proto);
  return fmix32(h ^ 16);
}

export function hashAddr(addr: number, seed: number): number {
  return fmix32(mixWord(seed >>> 0, addr) ^ 4);
}
