// Fixed-key hash map (BPF_MAP_TYPE_HASH): open addressing with linear probing
// and backward-shift deletion (no tombstones, so probe length does not degrade).
// Capacity is fixed at creation; an insert into a full map fails with E2BIG and
// is counted, exactly like the kernel's map.
//
// Header (32 bytes at `m`):
//   +0  slots     u32  pointer to slot array
//   +4  mask      u32  slot count - 1 (slot count is a power of two >= 2*maxEntries)
//   +8  keySize   u32  bytes, multiple of 4
//   +12 valueSize u32  bytes
//   +16 stride    u32  bytes per slot (4 + keySize + valueSize, rounded to 8)
//   +20 count     u32  live entries
//   +24 maxEntries u32
//   +28 failures  u32  inserts refused because the map was full
// Slot:
//   +0  tag u32  (hash | 1; 0 = empty)   +4 key   +4+keySize value
// The home slot is (tag >> 1) & mask: the low bit marks the slot used, so it must not pick the slot.

import { allocAligned, allocZeroed } from "../alloc";
import { hashWords } from "../hash";
import { keyEquals, slotsFor, sizeFits, copySmall, fillSmall, MAP_OK, MAP_E2BIG } from "./common";

const H_SLOTS = 0; const H_MASK = 4; const H_KEY = 8; const H_VALUE = 12;
const H_STRIDE = 16; const H_COUNT = 20; const H_MAX = 24; const H_FAIL = 28;
const HASH_SEED: u32 = 0x6470656d; // "dpem"

export function hashCreate(keySize: u32, valueSize: u32, maxEntries: u32): usize {
  if (keySize == 0 || (keySize & 3) != 0 || maxEntries == 0 || maxEntries > (1 << 28)) return 0;
  const slots = slotsFor(maxEntries);
  const stride64 = (<u64>4 + keySize + valueSize + 7) & ~<u64>7;
  if (!sizeFits(<u64>slots * stride64)) return 0; // computed in 64 bits: a wrapped size would look valid
  const stride = <u32>stride64;
  const m = allocAligned(32, 64);
  if (m == 0) return 0;
  const table = allocZeroed(<usize>slots * stride, 64);
  if (table == 0) return 0;
  store<u32>(m, <u32>table, H_SLOTS); store<u32>(m, slots - 1, H_MASK);
  store<u32>(m, keySize, H_KEY); store<u32>(m, valueSize, H_VALUE);
  store<u32>(m, stride, H_STRIDE); store<u32>(m, 0, H_COUNT);
  store<u32>(m, maxEntries, H_MAX); store<u32>(m, 0, H_FAIL);
  return m;
}

// @ts-ignore: decorator
@inline function tagOf(m: usize, key: usize): u32 {
  return hashWords(key, load<u32>(m, H_KEY) >> 2, HASH_SEED) | 1;
}

/** Slot address holding `key`, or 0. */
// @ts-ignore: decorator
@inline function findSlot(m: usize, key: usize, tag: u32): usize {
  const slots = <usize>load<u32>(m, H_SLOTS);
  const mask = load<u32>(m, H_MASK);
  const stride = <usize>load<u32>(m, H_STRIDE);
  const keySize = load<u32>(m, H_KEY);
  let i = (tag >> 1) & mask;
  while (true) {
    const s = slots + <usize>i * stride;
    const t = load<u32>(s);
    if (t == 0) return 0;
    if (t == tag && keyEquals(s + 4, key, keySize)) return s;
    i = (i + 1) & mask;
  }
  return 0;
}

/** Address of the home slot of `key` (for prefetching). */
// @ts-ignore: decorator
@inline export function hashHomeSlot(m: usize, key: usize): usize {
  return <usize>load<u32>(m, H_SLOTS) + <usize>((tagOf(m, key) >> 1) & load<u32>(m, H_MASK)) * <usize>load<u32>(m, H_STRIDE);
}

/** Pointer to the value stored under `key`, or 0. */
// @ts-ignore: decorator
@inline export function hashLookup(m: usize, key: usize): usize {
  const s = findSlot(m, key, tagOf(m, key));
  return s == 0 ? 0 : s + 4 + load<u32>(m, H_KEY);
}

/** Insert or overwrite. Returns MAP_OK or MAP_E2BIG (full; counted). */
export function hashUpdate(m: usize, key: usize, value: usize): i32 {
  const tag = tagOf(m, key);
  const slots = <usize>load<u32>(m, H_SLOTS);
  const mask = load<u32>(m, H_MASK);
  const stride = <usize>load<u32>(m, H_STRIDE);
  const keySize = load<u32>(m, H_KEY);
  const valueSize = load<u32>(m, H_VALUE);
  let i = (tag >> 1) & mask;
  while (true) {
    const s = slots + <usize>i * stride;
    const t = load<u32>(s);
    if (t == 0) {
      const count = load<u32>(m, H_COUNT);
      if (count >= load<u32>(m, H_MAX)) {
        store<u32>(m, load<u32>(m, H_FAIL) + 1, H_FAIL);
        return MAP_E2BIG;
      }
      store<u32>(s, tag);
      copySmall(s + 4, key, keySize);
      copySmall(s + 4 + keySize, value, valueSize);
      store<u32>(m, count + 1, H_COUNT);
      return MAP_OK;
    }
    if (t == tag && keyEquals(s + 4, key, keySize)) {
      copySmall(s + 4 + keySize, value, valueSize);
      return MAP_OK;
    }
    i = (i + 1) & mask;
  }
  return MAP_OK;
}

/** Remove `key`. Returns true when it was present. */
export function hashDelete(m: usize, key: usize): bool {
  const s = findSlot(m, key, tagOf(m, key));
  if (s == 0) return false;
  const slots = <usize>load<u32>(m, H_SLOTS);
  const stride = <usize>load<u32>(m, H_STRIDE);
  const mask = load<u32>(m, H_MASK);
  let hole = <u32>((s - slots) / stride);
  let j = hole;
  // Backward shift: pull later members of the probe run into the hole when
  // their home slot does not lie cyclically in (hole, j].
  while (true) {
    j = (j + 1) & mask;
    const sj = slots + <usize>j * stride;
    const t = load<u32>(sj);
    if (t == 0) break;
    const home = (t >> 1) & mask;
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      copySmall(slots + <usize>hole * stride, sj, <u32>stride);
      hole = j;
    }
  }
  fillSmall(slots + <usize>hole * stride, 0, <u32>stride);
  store<u32>(m, load<u32>(m, H_COUNT) - 1, H_COUNT);
  return true;
}

export function hashCount(m: usize): u32 { return load<u32>(m, H_COUNT); }
export function hashFailures(m: usize): u32 { return load<u32>(m, H_FAIL); }
export function hashMaxEntries(m: usize): u32 { return load<u32>(m, H_MAX); }

/** Remove every entry. */
export function hashClear(m: usize): void {
  memory.fill(<usize>load<u32>(m, H_SLOTS), 0, (<usize>load<u32>(m, H_MASK) + 1) * load<u32>(m, H_STRIDE));
  store<u32>(m, 0, H_COUNT);
}
