// LRU hash map (BPF_MAP_TYPE_LRU_HASH): the fixed-key hash map plus a doubly
// linked list threaded through the slots. An insert into a full map evicts an
// entry (counted), never fails.
//
// Recency is tracked the way the kernel's BPF LRU does it: a lookup only sets
// the entry's reference bit (one store in the line the lookup already read),
// and eviction gives referenced entries a second chance (CLOCK): the oldest
// entry is evicted unless its bit is set, in which case the bit is cleared and
// the entry goes to the front, and the next oldest is considered. The
// reference backend implements the same rule with a JS Map (delete + set).
//
// Header (64 bytes at `m`):
//   +0 slots u32   +4 mask u32   +8 keySize u32   +12 valueSize u32   +16 stride u32
//   +20 count u32  +24 maxEntries u32   +28 head u32 (most recent slot)   +32 tail u32 (least recent)
//   +36 (unused)   +40 evictions u32   +44 scratch u32 (last evicted key, then value)
// Slot (stride = 12 + keySize + valueSize rounded to 8):
//   +0 prev u32   +4 next u32, stored inverted (~next: EMPTY, which marks a free slot, is stored as 0, so
//                 fresh zeroed memory is an empty table and needs no fill; NIL ends the list)
//   +8 referenced u32 (1 once looked up since it was last given a second chance)
//   +12 key   +12+keySize value

import { allocAligned } from "../alloc";
import { hashWords, hash4 } from "../hash";
import { keyEquals, slotsFor, sizeFits, copySmall, fillSmall } from "./common";

const L_SLOTS = 0; const L_MASK = 4; const L_KEY = 8; const L_VALUE = 12; const L_STRIDE = 16;
const L_COUNT = 20; const L_MAX = 24; const L_HEAD = 28; const L_TAIL = 32; const L_PROMOTE = 36;
const L_EVICTIONS = 40; const L_SCRATCH = 44;
export const LRU_NIL: u32 = 0xfffffffe;
const EMPTY: u32 = 0xffffffff;
const S_PREV = 0; const S_NEXT = 4; const S_REF = 8; const S_KEY = 12;
/** A slot's next link (EMPTY for a free slot): S_NEXT holds it inverted. */
// @ts-ignore: decorator
@inline function nextOf(s: usize): u32 { return ~load<u32>(s, S_NEXT); }
// @ts-ignore: decorator
@inline function setNext(s: usize, next: u32): void { store<u32>(s, ~next, S_NEXT); }
/** Where a slot's key starts (lruSlotAddr + LRU_SLOT_KEY). */
export const LRU_SLOT_KEY = S_KEY;
const LRU_SEED: u32 = 0x6c727531;

/** Set by lruUpdate: whether the call inserted a new entry / evicted one (key+value copied to lruScratch). */
export let lruInserted: bool = false;
export let lruEvicted: bool = false;

export function lruCreate(keySize: u32, valueSize: u32, maxEntries: u32): usize {
  if (keySize == 0 || (keySize & 3) != 0 || maxEntries == 0 || maxEntries > (1 << 28)) return 0;
  const slots = slotsFor(maxEntries);
  const stride64 = (<u64>S_KEY + keySize + valueSize + 7) & ~<u64>7;
  if (!sizeFits(<u64>slots * stride64)) return 0; // computed in 64 bits: a wrapped size would look valid
  const stride = <u32>stride64;
  const m = allocAligned(64, 64);
  if (m == 0) return 0;
  const scratch = allocAligned(keySize + valueSize, 8);
  const table = allocAligned(<usize>slots * stride, 64);
  if (table == 0 || scratch == 0) return 0;
  // every slot EMPTY: the table is fresh memory (allocAligned never hands out memory twice), all zeros
  store<u32>(m, <u32>table, L_SLOTS); store<u32>(m, slots - 1, L_MASK);
  store<u32>(m, keySize, L_KEY); store<u32>(m, valueSize, L_VALUE); store<u32>(m, stride, L_STRIDE);
  store<u32>(m, 0, L_COUNT); store<u32>(m, maxEntries, L_MAX);
  store<u32>(m, LRU_NIL, L_HEAD); store<u32>(m, LRU_NIL, L_TAIL);
  store<u32>(m, 0, L_PROMOTE); store<u32>(m, 0, L_EVICTIONS);
  store<u32>(m, <u32>scratch, L_SCRATCH);
  return m;
}

// @ts-ignore: decorator
@inline function slotPtr(m: usize, i: u32): usize {
  return <usize>load<u32>(m, L_SLOTS) + <usize>i * <usize>load<u32>(m, L_STRIDE);
}
// @ts-ignore: decorator
@inline function slotIndex(m: usize, s: usize): u32 {
  return <u32>((s - <usize>load<u32>(m, L_SLOTS)) / <usize>load<u32>(m, L_STRIDE));
}
/** Home slot of `key` (exported so a batch can hash and prefetch ahead of its lookups). */
// @ts-ignore: decorator
@inline export function lruHome(m: usize, key: usize): u32 {
  return hashWords(key, load<u32>(m, L_KEY) >> 2, LRU_SEED) & load<u32>(m, L_MASK);
}
// @ts-ignore: decorator
@inline function homeOf(m: usize, key: usize): u32 { return lruHome(m, key); }

/** lruHome of a 16-byte key given as its four u32 words (equal to lruHome of the key in memory). */
// @ts-ignore: decorator
@inline export function lruHome4(m: usize, w0: u32, w1: u32, w2: u32, w3: u32): u32 {
  return hash4(w0, w1, w2, w3, LRU_SEED) & load<u32>(m, L_MASK);
}

/** Address of slot `i` (for prefetching). */
// @ts-ignore: decorator
@inline export function lruSlotAddr(m: usize, i: u32): usize { return slotPtr(m, i); }

/** Slot holding `key`, or 0. */
// @ts-ignore: decorator
@inline export function lruFind(m: usize, key: usize): usize {
  return lruFindFrom(m, key, homeOf(m, key));
}

/** Slot holding `key`, probing from its precomputed home slot, or 0. */
// @ts-ignore: decorator
@inline export function lruFindFrom(m: usize, key: usize, home: u32): usize {
  const slots = <usize>load<u32>(m, L_SLOTS);
  const mask = load<u32>(m, L_MASK);
  const stride = <usize>load<u32>(m, L_STRIDE);
  const keySize = load<u32>(m, L_KEY);
  let i = home;
  while (true) {
    const s = slots + <usize>i * stride;
    if (nextOf(s) == EMPTY) return 0;
    if (keyEquals(s + S_KEY, key, keySize)) return s;
    i = (i + 1) & mask;
  }
  return 0;
}

function unlink(m: usize, s: usize): void {
  const p = load<u32>(s, S_PREV); const n = nextOf(s);
  if (p != LRU_NIL) setNext(slotPtr(m, p), n); else store<u32>(m, n, L_HEAD);
  if (n != LRU_NIL) store<u32>(slotPtr(m, n), p, S_PREV); else store<u32>(m, p, L_TAIL);
}

function linkFront(m: usize, s: usize, i: u32): void {
  const head = load<u32>(m, L_HEAD);
  store<u32>(s, LRU_NIL, S_PREV); setNext(s, head);
  if (head != LRU_NIL) store<u32>(slotPtr(m, head), i, S_PREV); else store<u32>(m, i, L_TAIL);
  store<u32>(m, i, L_HEAD);
}

/** Move slot `s` to the front of the list with its reference bit clear. */
function moveToFront(m: usize, s: usize): void {
  store<u32>(s, 0, S_REF);
  const i = slotIndex(m, s);
  if (load<u32>(m, L_HEAD) == i) return;
  unlink(m, s);
  linkFront(m, s, i);
}

/** Value of `key`, marking it referenced, or 0. */
// @ts-ignore: decorator
@inline export function lruLookup(m: usize, key: usize): usize {
  return lruLookupFrom(m, key, homeOf(m, key));
}

/** lruLookup with the home slot already computed (lruHome). */
// @ts-ignore: decorator
@inline export function lruLookupFrom(m: usize, key: usize, home: u32): usize {
  const s = lruFindFrom(m, key, home);
  if (s == 0) return 0;
  store<u32>(s, 1, S_REF);
  return s + S_KEY + load<u32>(m, L_KEY);
}

/** Value of `key` without touching recency, or 0. */
export function lruPeek(m: usize, key: usize): usize {
  const s = lruFind(m, key);
  return s == 0 ? 0 : s + S_KEY + load<u32>(m, L_KEY);
}

/** Remove the entry in slot `s` (unlink, then backward-shift the probe run). */
export function lruDeleteSlot(m: usize, s: usize): void {
  unlink(m, s);
  const mask = load<u32>(m, L_MASK);
  const stride = <usize>load<u32>(m, L_STRIDE);
  let hole = slotIndex(m, s);
  let j = hole;
  while (true) {
    j = (j + 1) & mask;
    const sj = slotPtr(m, j);
    if (nextOf(sj) == EMPTY) break;
    const home = homeOf(m, sj + S_KEY);
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      const sh = slotPtr(m, hole);
      copySmall(sh, sj, <u32>stride);
      // The entry moved: its list neighbours must point at its new slot.
      const p = load<u32>(sh, S_PREV); const n = nextOf(sh);
      if (p != LRU_NIL) setNext(slotPtr(m, p), hole); else store<u32>(m, hole, L_HEAD);
      if (n != LRU_NIL) store<u32>(slotPtr(m, n), hole, S_PREV); else store<u32>(m, hole, L_TAIL);
      hole = j;
    }
  }
  fillSmall(slotPtr(m, hole), 0, <u32>stride); // EMPTY (S_NEXT stored as 0)
  store<u32>(m, load<u32>(m, L_COUNT) - 1, L_COUNT);
}

export function lruDelete(m: usize, key: usize): bool {
  const s = lruFind(m, key);
  if (s == 0) return false;
  lruDeleteSlot(m, s);
  return true;
}

/**
 * Value slot for `key`, inserting it (at the front, unreferenced) when absent.
 * A full map first evicts its oldest unreferenced entry (second chance: older
 * referenced entries are moved to the front, their bits cleared), copied to
 * the scratch buffer (lruScratch) so the owner can undo what hung off it. An
 * existing key is marked referenced. The caller writes the value.
 */
export function lruUpdate(m: usize, key: usize): usize {
  lruInserted = false; lruEvicted = false;
  const keySize = load<u32>(m, L_KEY);
  let s = lruFind(m, key);
  if (s != 0) {
    store<u32>(s, 1, S_REF);
    return s + S_KEY + keySize;
  }
  if (load<u32>(m, L_COUNT) >= load<u32>(m, L_MAX)) {
    let victim = slotPtr(m, load<u32>(m, L_TAIL));
    while (load<u32>(victim, S_REF) != 0) {
      moveToFront(m, victim);
      victim = slotPtr(m, load<u32>(m, L_TAIL));
    }
    copySmall(<usize>load<u32>(m, L_SCRATCH), victim + S_KEY, keySize + load<u32>(m, L_VALUE));
    lruDeleteSlot(m, victim);
    store<u32>(m, load<u32>(m, L_EVICTIONS) + 1, L_EVICTIONS);
    lruEvicted = true;
  }
  const mask = load<u32>(m, L_MASK);
  let i = homeOf(m, key);
  while (nextOf(slotPtr(m, i)) != EMPTY) i = (i + 1) & mask;
  s = slotPtr(m, i);
  copySmall(s + S_KEY, key, keySize);
  fillSmall(s + S_KEY + keySize, 0, load<u32>(m, L_VALUE));
  store<u32>(s, 0, S_REF);
  linkFront(m, s, i);
  store<u32>(m, load<u32>(m, L_COUNT) + 1, L_COUNT);
  lruInserted = true;
  return s + S_KEY + keySize;
}

export function lruCount(m: usize): u32 { return load<u32>(m, L_COUNT); }
export function lruMaxEntries(m: usize): u32 { return load<u32>(m, L_MAX); }
export function lruEvictions(m: usize): u32 { return load<u32>(m, L_EVICTIONS); }
/** Last evicted key (then its value), valid after lruUpdate set lruEvicted. */
export function lruScratch(m: usize): usize { return <usize>load<u32>(m, L_SCRATCH); }
export function lruSlotCount(m: usize): u32 { return load<u32>(m, L_MASK) + 1; }
/** Slot `i` if it holds an entry, else 0 (for full-table walks such as GC). */
export function lruSlotAt(m: usize, i: u32): usize {
  const s = slotPtr(m, i);
  return nextOf(s) == EMPTY ? 0 : s;
}
export function lruKeyOf(s: usize): usize { return s + S_KEY; }
export function lruReferenced(s: usize): bool { return load<u32>(s, S_REF) != 0; }
export function lruValueOf(m: usize, s: usize): usize { return s + S_KEY + load<u32>(m, L_KEY); }
/** Least recently used slot, or 0 when empty; lruNewer walks towards the front. */
export function lruOldest(m: usize): usize {
  const t = load<u32>(m, L_TAIL);
  return t == LRU_NIL ? 0 : slotPtr(m, t);
}
export function lruNewer(m: usize, s: usize): usize {
  const p = load<u32>(s, S_PREV);
  return p == LRU_NIL ? 0 : slotPtr(m, p);
}
