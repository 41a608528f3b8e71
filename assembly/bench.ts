// Micro benchmarks of single pipeline stages (issue 5; src/bench/micro.ts drives them with tinybench).
// Each function runs its stage `n` times inside the core, so one call from the host times n operations
// and the JS<->WASM call is amortised away. Inputs are drawn with a xorshift32 from `seed`, from arrays
// the host wrote into linear memory once; the stages are the pipeline's own functions over the core's own
// maps (programmed by the host as for traffic). Each returns how many operations succeeded (found, hit,
// allowed), which the host checks: a benchmark that silently measured misses would be a wrong figure.
//
// Input arrays (16-byte records, little endian):
//   tuples   16 bytes each, laid out as a conntrack key (records.ts CtKey)
//   policy   +0 endpoint u32 | +4 peer identity u32 | +8 port u16 | +10 proto u8 | +11..15 zero

import { hashCreate, hashLookup, hashUpdate } from "./maps/hash";
import { allocAligned } from "./alloc";
import { ctWriteKey, ctLookupFlow, ctScratchKey } from "./conntrack";
import { lookupService } from "./lb";
import { policyCheck, CHECK_ALLOWED, DIR_INGRESS } from "./policy";
import { allocateSourcePort } from "./nat";
import { NONE, PKT_OUT_SADDR, PKT_OUT_SPORT, PKT_STRIDE } from "./packet";
import { K_SADDR, K_DADDR, K_SPORT, K_DPORT, K_PROTO, K_NODE } from "./records";

let benchKeyBuf: usize = 0;
let benchValueBuf: usize = 0;

// @ts-ignore: decorator
@inline function next(x: u32): u32 {
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  return x;
}

/** Key i of the benchmark hash maps: 16 bytes, spread by a multiplicative hash so neighbours are not adjacent. */
// @ts-ignore: decorator
@inline function writeBenchKey(k: usize, i: u32): void {
  store<u64>(k, <u64>i * 0x9e3779b97f4a7c15);
  store<u64>(k, <u64>i | (<u64>0x5eed << 32), 8);
}

/**
 * A hash map (BPF_MAP_TYPE_HASH as the core's maps: 16-byte keys, 8-byte values) holding keys 0..entries-1.
 * Returns its address, or 0 when it does not fit in memory.
 */
export function benchHashCreate(entries: u32): usize {
  if (benchKeyBuf == 0) { benchKeyBuf = allocAligned(16, 16); benchValueBuf = allocAligned(8, 8); }
  const m = hashCreate(16, 8, entries);
  if (m == 0) return 0;
  for (let i: u32 = 0; i < entries; i++) {
    writeBenchKey(benchKeyBuf, i);
    store<u64>(benchValueBuf, <u64>i);
    if (hashUpdate(m, benchKeyBuf, benchValueBuf) != 0) return 0;
  }
  return m;
}

/** n lookups of keys drawn from 0..entries-1 of map m. Returns how many were found (n, when sound). */
export function benchHashLookup(m: usize, entries: u32, n: u32, seed: u32): u32 {
  const k = benchKeyBuf;
  let x = seed | 1; let found: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x = next(x);
    writeBenchKey(k, x % entries);
    if (hashLookup(m, k) != 0) found++;
  }
  return found;
}

/** n conntrack lookups (original direction, as a packet of an established flow makes) of tuples drawn from `tuples`. */
export function benchCtLookup(tuples: usize, count: u32, n: u32, seed: u32, now: u32): u32 {
  const k = ctScratchKey();
  let x = seed | 1; let hits: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x = next(x);
    const t = tuples + (<usize>(x % count) << 4);
    ctWriteKey(k, load<u32>(t, K_SADDR), load<u32>(t, K_DADDR), load<u16>(t, K_SPORT), load<u16>(t, K_DPORT), load<u8>(t, K_PROTO), load<u16>(t, K_NODE));
    if (ctLookupFlow(k, now, true) != 0) hits++;
  }
  return hits;
}

/** n service lookups (frontend -> service index) of the destinations of tuples drawn from `tuples`. */
export function benchServiceLookup(tuples: usize, count: u32, n: u32, seed: u32): u32 {
  let x = seed | 1; let found: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x = next(x);
    const t = tuples + (<usize>(x % count) << 4);
    if (lookupService(load<u32>(t, K_DADDR), load<u16>(t, K_DPORT), load<u8>(t, K_PROTO), 0, true) != NONE) found++;
  }
  return found;
}

/** n ingress policy checks (the six probes of policy.ts) of (endpoint, peer, port, proto) drawn from `pairs`. */
export function benchPolicyCheck(pairs: usize, count: u32, n: u32, seed: u32): u32 {
  let x = seed | 1; let allowed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x = next(x);
    const t = pairs + (<usize>(x % count) << 4);
    if (policyCheck(load<u32>(t), load<u32>(t, 4), DIR_INGRESS, load<u8>(t, 10), load<u16>(t, 8)) == CHECK_ALLOWED) allowed++;
  }
  return allowed;
}

/**
 * n NAT rewrites of new flows drawn from `tuples`, masqueraded to `natSaddr`: the source-port allocation
 * (a free port so that no two live flows leave with the same tuple: probes of the reply table) and the
 * rewrite of the packet's outgoing tuple in a descriptor of `batch` (`slots` descriptors, cycled).
 * Returns how many got a port.
 */
export function benchNatRewrite(tuples: usize, count: u32, n: u32, seed: u32, natSaddr: u32, batch: usize, slots: u32, now: u32): u32 {
  let x = seed | 1; let ok: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x = next(x);
    const t = tuples + (<usize>(x % count) << 4);
    const saddr = load<u32>(t, K_SADDR), daddr = load<u32>(t, K_DADDR), sport = load<u16>(t, K_SPORT), dport = load<u16>(t, K_DPORT), proto = load<u8>(t, K_PROTO);
    const port = allocateSourcePort(saddr, daddr, sport, dport, natSaddr, daddr, dport, proto, false, 0, now);
    if (port < 0) continue;
    const p = batch + <usize>(i % slots) * PKT_STRIDE;
    store<u64>(p, <u64>natSaddr | (<u64>daddr << 32), PKT_OUT_SADDR);
    store<u32>(p, <u32>port | (<u32>dport << 16), PKT_OUT_SPORT);
    ok++;
  }
  return ok;
}
