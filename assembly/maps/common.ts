// Helpers shared by the map implementations.

/** Keys are a whole number of u32 words; compared a word at a time. */
// @ts-ignore: decorator
@inline export function keyEquals(a: usize, b: usize, keySize: u32): bool {
  if (keySize == 16) {
    return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
  }
  if (keySize == 8) return load<u64>(a) == load<u64>(b);
  for (let i: u32 = 0; i < keySize; i += 4) {
    if (load<u32>(a + i) != load<u32>(b + i)) return false;
  }
  return true;
}

/**
 * Smallest power of two >= 2 * maxEntries: a table at most half full. Every
 * extra probe of a 64-byte slot is another cache line, and measured at a
 * million flows a 3/4 bound cost 15% of the fast path against this one.
 */
export function slotsFor(maxEntries: u32): u32 {
  let s: u32 = 8;
  while (<u64>s < <u64>maxEntries * 2) s <<= 1;
  return s;
}

export const MAP_OK: i32 = 0;
export const MAP_E2BIG: i32 = -7; // BPF returns -E2BIG when a full, non-LRU map is updated

/** Whether a table of `bytes` can exist in a 32-bit linear memory (4 GiB, less what is already used). */
export function sizeFits(bytes: u64): bool {
  return bytes < (<u64>1 << 32) - (<u64>memory.size() << 16);
}

/**
 * Copy / fill a few bytes in the packet path. memory.copy and memory.fill are
 * calls into the engine's runtime in V8, far dearer than a few word moves for
 * the 8-64 bytes of a key, value or slot. Sizes are multiples of 4 here
 * except values, whose tail is moved byte by byte.
 */
// @ts-ignore: decorator
@inline export function copySmall(dst: usize, src: usize, n: u32): void {
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) store<u64>(dst + i, load<u64>(src + i));
  for (; i < n; i++) store<u8>(dst + i, load<u8>(src + i));
}
// @ts-ignore: decorator
@inline export function fillSmall(dst: usize, byte: u8, n: u32): void {
  const w: u64 = <u64>byte * 0x0101010101010101;
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) store<u64>(dst + i, w);
  for (; i < n; i++) store<u8>(dst + i, byte);
}
