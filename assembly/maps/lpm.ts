// Longest-prefix-match map for IPv4 CIDRs (BPF_MAP_TYPE_LPM_TRIE semantics:
// a lookup of an address returns the value of the longest stored prefix that
// contains it). Stored as one fixed-key hash map keyed by (masked address,
// prefix length) plus a bitmap of the lengths in use; a lookup probes the
// lengths present, longest first, so a /32-heavy ipcache costs one probe and
// the cost never grows with the number of prefixes. Host bits are masked on
// insert, as the kernel's trie does. A `scope` (24 bits) lets one map hold many
// independent prefix sets (one per service for loadBalancerSourceRanges); the
// plain functions use scope 0.
//
// Header (at `m`): +0 hash map u32 | +8 lengths bitmap u64 (bit L = some /L stored)
//                  +16 count per length, 33 x u32
// A lookup builds its (prefix, length) key in this instance's own scratch word (lpmKey), not in the map: the
// maps are shared by every worker (index.ts workerAttach), which look them up at once.

import { allocZeroed } from "../alloc";
import { hashCreate, hashHomeSlot, hashLookup, hashUpdate, hashDelete, hashCount } from "./hash";
import { MAP_OK } from "./common";

const P_MAP = 0; const P_LENGTHS = 8; const P_COUNTS = 16;
let lpmKey: usize = 0;
/** This instance's scratch key (index.ts workerAttach gives each worker its own). */
export function lpmScratchInit(): void { lpmKey = allocZeroed(8, 8); }

// @ts-ignore: decorator
@inline export function prefixMask(plen: u32): u32 {
  return plen == 0 ? 0 : <u32>(0xffffffff << (32 - plen));
}

export function lpmCreate(valueSize: u32, maxEntries: u32): usize {
  if (lpmKey == 0) lpmScratchInit();
  const m = allocZeroed(168, 64);
  if (m == 0) return 0;
  const h = hashCreate(8, valueSize, maxEntries);
  if (h == 0) return 0;
  store<u32>(m, <u32>h, P_MAP);
  return m;
}

/** Insert or overwrite prefix addr/plen. Returns MAP_OK, or a negative error (full, bad length). */
export function lpmUpdate(m: usize, addr: u32, plen: u32, value: usize): i32 { return lpmUpdateScoped(m, 0, addr, plen, value); }
export function lpmUpdateScoped(m: usize, scope: u32, addr: u32, plen: u32, value: usize): i32 {
  if (plen > 32) return -22; // -EINVAL
  const k = lpmKey;
  store<u64>(k, <u64>(addr & prefixMask(plen)) | (<u64>(plen | (scope << 8)) << 32));
  const h = <usize>load<u32>(m, P_MAP);
  const existed = hashLookup(h, k) != 0;
  const rc = hashUpdate(h, k, value);
  if (rc == MAP_OK && !existed) {
    const c = m + P_COUNTS + (<usize>plen << 2);
    store<u32>(c, load<u32>(c) + 1);
    store<u64>(m, load<u64>(m, P_LENGTHS) | (<u64>1 << plen), P_LENGTHS);
  }
  return rc;
}

export function lpmDelete(m: usize, addr: u32, plen: u32): bool { return lpmDeleteScoped(m, 0, addr, plen); }
export function lpmDeleteScoped(m: usize, scope: u32, addr: u32, plen: u32): bool {
  if (plen > 32) return false;
  const k = lpmKey;
  store<u64>(k, <u64>(addr & prefixMask(plen)) | (<u64>(plen | (scope << 8)) << 32));
  if (!hashDelete(<usize>load<u32>(m, P_MAP), k)) return false;
  const c = m + P_COUNTS + (<usize>plen << 2);
  const n = load<u32>(c) - 1;
  store<u32>(c, n);
  if (n == 0) store<u64>(m, load<u64>(m, P_LENGTHS) & ~(<u64>1 << plen), P_LENGTHS);
  return true;
}

/** Value of the longest prefix containing `addr`, or 0. */
export function lpmLookup(m: usize, addr: u32): usize { return lpmLookupScoped(m, 0, addr); }
export function lpmLookupScoped(m: usize, scope: u32, addr: u32): usize {
  let lengths = load<u64>(m, P_LENGTHS);
  const h = <usize>load<u32>(m, P_MAP);
  const k = lpmKey;
  while (lengths != 0) {
    const plen = <u32>(63 - clz<u64>(lengths));
    store<u64>(k, <u64>(addr & prefixMask(plen)) | (<u64>(plen | (scope << 8)) << 32));
    const v = hashLookup(h, k);
    if (v != 0) return v;
    lengths &= ~(<u64>1 << plen);
  }
  return 0;
}

/** Address of the home slot of prefix addr/plen in scope 0 (for prefetching; a /32 is an address's usual entry). */
// @ts-ignore: decorator
@inline export function lpmHomeSlot(m: usize, addr: u32, plen: u32): usize {
  const k = lpmKey;
  store<u64>(k, <u64>(addr & prefixMask(plen)) | (<u64>plen << 32));
  return hashHomeSlot(<usize>load<u32>(m, P_MAP), k);
}

/** Exact-prefix lookup (no longest match), or 0. */
export function lpmGet(m: usize, addr: u32, plen: u32): usize {
  const scope: u32 = 0;
  if (plen > 32) return 0;
  const k = lpmKey;
  store<u64>(k, <u64>(addr & prefixMask(plen)) | (<u64>(plen | (scope << 8)) << 32));
  return hashLookup(<usize>load<u32>(m, P_MAP), k);
}

export function lpmCount(m: usize): u32 { return hashCount(<usize>load<u32>(m, P_MAP)); }
