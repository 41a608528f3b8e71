// Hash functions shared in definition with src/common/hash.ts (the reference
// backend must pick the same Maglev cell and source-hash bucket). 32-bit
// arithmetic only, so the TypeScript mirror is exact with Math.imul.

// @ts-ignore: decorator
@inline export function fmix32(h: u32): u32 {
  h ^= h >> 16; h *= 0x85ebca6b;
  h ^= h >> 13; h *= 0xc2b2ae35;
  h ^= h >> 16;
  return h;
}

// @ts-ignore: decorator
@inline export function mixWord(h: u32, w: u32): u32 {
  w *= 0xcc9e2d51; w = rotl<u32>(w, 15); w *= 0x1b873593;
  h ^= w; h = rotl<u32>(h, 13);
  return h * 5 + 0xe6546b64;
}

/** murmur3-32 over `words` u32 words at `ptr`. */
// @ts-ignore: decorator
@inline export function hashWords(ptr: usize, words: u32, seed: u32): u32 {
  // 16-byte keys (conntrack, frontends, policy) unrolled: the generic loop is most of a lookup's instructions.
  if (words == 4) return hash4(load<u32>(ptr), load<u32>(ptr, 4), load<u32>(ptr, 8), load<u32>(ptr, 12), seed);
  let h = seed;
  for (let i: u32 = 0; i < words; i++) h = mixWord(h, load<u32>(ptr + (<usize>i << 2)));
  return fmix32(h ^ (words << 2));
}

/** Flow hash of a 5-tuple: Maglev cell and source-port choice (Cilium hashes the tuple too). */
// @ts-ignore: decorator
@inline export function hashTuple(saddr: u32, daddr: u32, sport: u32, dport: u32, proto: u32, seed: u32): u32 {
  let h = seed;
  h = mixWord(h, saddr);
  h = mixWord(h, daddr);
  h = mixWord(h, (sport << 16) | dport);
  h = mixWord(h, proto);
  return fmix32(h ^ 16);
}

/** Hash of one address (IPVS source hashing). */
// @ts-ignore: decorator
@inline export function hashAddr(addr: u32, seed: u32): u32 {
  return fmix32(mixWord(seed, addr) ^ 4);
}

/** hashWords over four words held in registers (the same value, no trip through memory). */
// @ts-ignore: decorator
@inline export function hash4(w0: u32, w1: u32, w2: u32, w3: u32, seed: u32): u32 {
  return fmix32(mixWord(mixWord(mixWord(mixWord(seed, w0), w1), w2), w3) ^ 16);
}
