// Service lookup and endpoint selection.
//
// frontend key (16 bytes): +0 vip u32 | +4 port u16 | +6 proto u8 | +7 scope u8 | +8 node u32 | +12 zero
//   -> service index u32. One entry per ClusterIP / NodePort-on-node-address / LoadBalancer / external IP
//   frontend, with scope ANY. One dataplane emulates every node, so what kube-proxy programs differently
//   per node (externalTrafficPolicy / internalTrafficPolicy Local, topology hints) is a SCOPE_EXTERNAL or
//   SCOPE_INTERNAL entry for that node, pointing at a service holding that node's eligible endpoints;
//   a new flow entering on the node looks for its scoped entry first (Cilium's scoped service keys).
// service (32 bytes):
//   +0  slots u32 (first backend slot)  +4 count u16  +6 algo u8  +7 flags u8 (SVC_*)
//   +8  affinity timeout ms u32 (0: no session affinity)
//   +12 maglev u32 (first Maglev cell)  +16 maglev M u32  +20 round-robin cursor u32
//   +24 affinity group u32 (services of one group share a client's affinity: kube-proxy's service port)
// backend (16 bytes):
//   +0 addr u32  +4 port u16  +6 node u16  +8 weight u16  +10 flags u16 (BE_VALID)  +12 live flows u32
//   (of them, those IPVS counts as inactive connections: backendIdle, conntrack.ts)
// affinity key (8 bytes): client u32 | affinity group u32  ->  backend u32 | last used ms u32
//
// This file is the ebpf design (Cilium-style maps) and the dispatch to the
// others (config.ts DESIGN): iptables (designs/iptables.ts) and nftables
// (designs/nftables.ts) have their own service lookup and endpoint choice;
// ipvs (designs/ipvs.ts) shares the frontends hash as its virtual-service
// table and has the kernel's schedulers. Affinity and everything after the
// choice is common to all.
//
// ebpf algorithms: RANDOM is uniform over endpoints (Cilium's default);
// WEIGHTED draws in proportion to weights; MAGLEV looks the flow hash up in
// the service's table (built by the host as Cilium's agent does); RR, LC and
// SH are simple round robin, least connections and source hash.

import { frontends, services, backendSlots, backends, maglevCells, affinity } from "./tables";
import { hashLookup, hashHomeSlot } from "./maps/hash";
import { arrayGet, arrayBase } from "./maps/array";
import { lruPeek, lruUpdate, lruEvicted, lruSlotAt, lruSlotCount, lruValueOf } from "./maps/lru";
import { allocAligned } from "./alloc";
import { hashTuple, hashAddr } from "./hash";
import { prngNext, prngState, prngMix, PRNG_STEP } from "./prng";
import { HASH_SEED, DESIGN, DESIGN_EBPF, DESIGN_IPTABLES, DESIGN_IPVS, DESIGN_NFTABLES } from "./config";
import { iptablesLookup, iptablesPickSlot } from "./designs/iptables";
import { nftLookup, nftPickSlot, nftSlotOf, nftHomeSlot, nftUnscopedLookup } from "./designs/nftables";
import { ipvsSchedule, ipvsSchedAddr, ipvsPredictSlot } from "./designs/ipvs";
import { count, C_AFFINITY_EVICTED } from "./counters";
import { NONE } from "./packet";

export const ALGO_RANDOM: u8 = 0; export const ALGO_WEIGHTED: u8 = 1; export const ALGO_MAGLEV: u8 = 2;
export const ALGO_RR: u8 = 3; export const ALGO_LC: u8 = 4; export const ALGO_SH: u8 = 5;
// IPVS-only schedulers (designs/ipvs.ts); rr, lc and sh are IPVS's too in the ipvs design.
export const ALGO_WRR: u8 = 6; export const ALGO_WLC: u8 = 7; export const ALGO_DH: u8 = 8;
export const ALGO_SED: u8 = 9; export const ALGO_NQ: u8 = 10;
export const ALGO_MAX: u8 = 10;
export const SVC_MASQ_EXTERNAL: u8 = 1; // masquerade sources outside the pod network
export const SVC_MASQ_ALWAYS: u8 = 2;   // masquerade everything (kube-proxy --masquerade-all)
export const SVC_SOURCE_RANGES: u8 = 4; // only sources in the service's ranges (loadBalancerSourceRanges)
export const SVC_DROP_NO_BACKEND: u8 = 8; // no endpoint: drop instead of reject (no local endpoint under Local policy)
export const SCOPE_ANY: u8 = 0; export const SCOPE_EXTERNAL: u8 = 1; export const SCOPE_INTERNAL: u8 = 2;
export const BE_VALID: u16 = 1;

export const S_SLOTS = 0; export const S_COUNT = 4; export const S_ALGO = 6; export const S_FLAGS = 7;
export const S_AFFINITY = 8; export const S_MAGLEV = 12; export const S_MAGLEV_M = 16; export const S_RR = 20;
export const S_AFFINITY_GROUP = 24;
export const B_ADDR = 0; export const B_PORT = 4; export const B_NODE = 6; export const B_WEIGHT = 8;
export const B_FLAGS = 10; export const B_ACTIVE = 12;

let feKey: usize = 0;
let affKey: usize = 0;
/** Set by selectBackend: whether session affinity chose the backend. */
export let selectedByAffinity: bool = false;

export function lbInit(): void { feKey = allocAligned(16, 16); affKey = allocAligned(8, 8); }

/** Node-scoped frontends loaded; while there are none, a lookup is one probe. */
export let scopedFrontends: u32 = 0;
export function setScopedFrontends(n: u32): void { scopedFrontends = n; }

export function frontendKey(vip: u32, port: u16, proto: u8, scope: u8, node: u32): usize {
  // whole-word stores: see ctWriteKey
  store<u64>(feKey, <u64>vip | (<u64>(<u32>port | (<u32>proto << 16) | (<u32>scope << 24)) << 32));
  store<u64>(feKey, <u64>node, 8);
  return feKey;
}

/**
 * Service index for a new flow to (vip, port, proto) entering on `node`, or
 * NONE: the node's entry for the source's scope (external or internal) if
 * there is one, else the frontend's own.
 */
export function lookupService(vip: u32, port: u16, proto: u8, node: u32, internal: bool): u32 {
  if (DESIGN != DESIGN_EBPF) { // ipvs: the frontends hash below is its virtual-service table
    if (DESIGN == DESIGN_IPTABLES) return iptablesLookup(vip, port, proto, node, internal);
    if (DESIGN == DESIGN_NFTABLES) return nftLookup(vip, port, proto, node, internal);
  }
  if (scopedFrontends != 0) {
    const v = hashLookup(frontends, frontendKey(vip, port, proto, internal ? SCOPE_INTERNAL : SCOPE_EXTERNAL, node));
    if (v != 0) return load<u32>(v);
  }
  const v = hashLookup(frontends, frontendKey(vip, port, proto, SCOPE_ANY, 0));
  return v == 0 ? NONE : load<u32>(v);
}

// Prefetch for the packets of a batch group that are probably new flows
// (pipeline.ts prepareGroup): their service lookup is a chain of dependent
// misses (frontend entry, service, backend slot, backend, then the backend's
// ipcache entry), so each step is touched for the whole group before the
// next, and the group's misses overlap. Established packets never take these
// steps. Measured (newflow, 10 backends per service, 100,000 flows): touching
// frontend, service and slots took 100,000 services from 1495 to 1068 ns per
// new flow; predicting the backend (step 3) and touching it, its ipcache entry
// and the NAT reply slot took the growth 100 -> 100,000 services from 1.62x
// to 1.36x (ebpf; ipvs 1.65x -> 1.46x, nftables 1.60x -> 1.31x; bench/README.md).

/** Step 1: the home slot of the flow's unscoped frontend entry (0: the design has no hash to touch). */
// @ts-ignore: decorator
@inline export function lbPrefetchFrontend(vip: u32, port: u16, proto: u8): usize {
  if (DESIGN == DESIGN_EBPF || DESIGN == DESIGN_IPVS) return hashHomeSlot(frontends, frontendKey(vip, port, proto, SCOPE_ANY, 0));
  if (DESIGN == DESIGN_NFTABLES) return nftHomeSlot(vip, port, proto);
  return 0;
}

/**
 * Step 2: the service of the flow's unscoped frontend, looked up for real now
 * that its home slot is in cache (0: none). A node-scoped entry may still win
 * in lookupService: this is only where to prefetch.
 */
// @ts-ignore: decorator
@inline export function lbPrefetchService(vip: u32, port: u16, proto: u8): usize {
  let index = NONE;
  if (DESIGN == DESIGN_NFTABLES) index = nftUnscopedLookup(vip, port, proto);
  else if (DESIGN == DESIGN_EBPF || DESIGN == DESIGN_IPVS) {
    const v = hashLookup(frontends, frontendKey(vip, port, proto, SCOPE_ANY, 0));
    if (v != 0) index = load<u32>(v);
  }
  return index == NONE ? 0 : arrayGet(services, index);
}

/** Step 2b: the service's scheduler state, when the design keeps one (ipvs), or 0. */
// @ts-ignore: decorator
@inline export function lbPrefetchState(svc: usize): usize {
  return DESIGN == DESIGN_IPVS ? ipvsSchedAddr(svc) : 0;
}

// Step 3: the backend slot. Random choices are predicted with a copy of the
// PRNG advanced as the group's new flows will advance the real one (one draw
// per flow that reaches a random, weighted or numgen choice without affinity),
// rr from the scheduler's cursor, so the slot, then the backend entry, its
// ipcache entry and the reply-table slot of the NAT check can be touched for
// the whole group too. A wrong guess (a packet that turns out not to be a new
// flow, a second flow to an rr service) only costs the touch: the choice
// itself is made by pickSlot with the real PRNG.
let predictedState: u32 = 0;
export function lbPredictBegin(): void { predictedState = prngState(); }

/** Address of the backend slot a new flow to the service at `svc` will probably use, or 0. */
// @ts-ignore: decorator
@inline export function lbPredictSlot(svc: usize): usize {
  const n = <u32>load<u16>(svc, S_COUNT);
  if (n == 0 || load<u32>(svc, S_AFFINITY) != 0) return 0;
  const algo = load<u8>(svc, S_ALGO);
  let slot = NONE;
  if (DESIGN == DESIGN_EBPF) {
    if (algo == ALGO_RANDOM) { predictedState += PRNG_STEP; slot = prngMix(predictedState) % n; }
    else if (algo == ALGO_WEIGHTED) predictedState += PRNG_STEP; // one draw, position unknown
  } else if (DESIGN == DESIGN_NFTABLES) {
    predictedState += PRNG_STEP;
    slot = nftSlotOf(prngMix(predictedState), n);
  } else if (DESIGN == DESIGN_IPVS) {
    slot = ipvsPredictSlot(svc, algo, n);
  }
  return slot == NONE ? 0 : arrayBase(backendSlots) + ((<usize>load<u32>(svc, S_SLOTS) + slot) << 2);
}

/** Step 4: the backend entry a slot names. */
// @ts-ignore: decorator
@inline export function lbSlotBackend(slotAddr: usize): usize { return arrayGet(backends, load<u32>(slotAddr)); }

// @ts-ignore: decorator
@inline function slotBackend(svc: usize, slot: u32): u32 {
  return load<u32>(arrayBase(backendSlots) + ((<usize>load<u32>(svc, S_SLOTS) + slot) << 2));
}

function inService(svc: usize, backend: u32): bool {
  const n = <u32>load<u16>(svc, S_COUNT);
  for (let i: u32 = 0; i < n; i++) if (slotBackend(svc, i) == backend) return true;
  return false;
}

/** Slot of the backend for a new flow (the design's choice), or NONE. */
function pickSlot(index: u32, svc: usize, saddr: u32, daddr: u32, sport: u16, dport: u16, proto: u8): u32 {
  const n = <u32>load<u16>(svc, S_COUNT);
  const algo = load<u8>(svc, S_ALGO);
  if (DESIGN != DESIGN_EBPF) {
    // The host lets each design have only its own algorithms (src/dataplane.ts DESIGN_ALGOS).
    if (DESIGN == DESIGN_IPTABLES) return iptablesPickSlot(n);
    if (DESIGN == DESIGN_IPVS) return ipvsSchedule(index, svc, algo, saddr, daddr);
    return nftPickSlot(n);
  }
  if (algo == ALGO_MAGLEV) {
    const m = load<u32>(svc, S_MAGLEV_M);
    const cell = hashTuple(saddr, daddr, sport, dport, proto, HASH_SEED) % m;
    return <u32>load<u16>(arrayBase(maglevCells) + ((<usize>load<u32>(svc, S_MAGLEV) + cell) << 1));
  }
  if (algo == ALGO_WEIGHTED) {
    let total: u32 = 0; // summed here, so a weight change needs no service rewrite
    for (let i: u32 = 0; i < n; i++) total += <u32>load<u16>(arrayGet(backends, slotBackend(svc, i)), B_WEIGHT);
    if (total == 0) return NONE;
    const r = prngNext() % total;
    let acc: u32 = 0;
    for (let i: u32 = 0; i < n; i++) {
      const b = arrayGet(backends, slotBackend(svc, i));
      acc += <u32>load<u16>(b, B_WEIGHT);
      if (r < acc) return i;
    }
    return NONE;
  }
  if (algo == ALGO_RR) {
    const c = load<u32>(svc, S_RR);
    store<u32>(svc, c + 1, S_RR);
    return c % n;
  }
  if (algo == ALGO_LC) {
    let best: u32 = 0; let bestActive: u32 = 0xffffffff;
    for (let i: u32 = 0; i < n; i++) {
      const a = load<u32>(arrayGet(backends, slotBackend(svc, i)), B_ACTIVE);
      if (a < bestActive) { bestActive = a; best = i; }
    }
    return best;
  }
  if (algo == ALGO_SH) return hashAddr(saddr, HASH_SEED) % n;
  return prngNext() % n; // ALGO_RANDOM
}

/**
 * The host moved its time origin forward by `delta` ms (see ctRebase): every affinity's last use moves back
 * by as much; one older than the new origin becomes 0, which is older than any timeout by then (the host
 * keeps `delta` at least a maximal timeout behind the current time).
 */
export function affinityRebase(delta: u32): void {
  const n = lruSlotCount(affinity);
  for (let i: u32 = 0; i < n; i++) {
    const s = lruSlotAt(affinity, i);
    if (s == 0) continue;
    const v = lruValueOf(affinity, s);
    const used = load<u32>(v, 4);
    store<u32>(v, used > delta ? used - delta : 0, 4);
  }
}

/**
 * Backend for a new flow to service `index`, or NONE when it has none.
 * Session affinity (ClientIP) reuses the client's last backend while it is
 * still in the service and was used less than the timeout ago (iptables
 * `recent --rcheck --seconds`), and records the choice either way.
 */
export function selectBackend(index: u32, svc: usize, saddr: u32, daddr: u32, sport: u16, dport: u16,
  proto: u8, now: u32): u32 {
  selectedByAffinity = false;
  if (load<u16>(svc, S_COUNT) == 0) return NONE;
  const timeout = load<u32>(svc, S_AFFINITY);
  let backend = NONE;
  if (timeout != 0) {
    store<u64>(affKey, <u64>saddr | (<u64>load<u32>(svc, S_AFFINITY_GROUP) << 32));
    const a = lruPeek(affinity, affKey);
    if (a != 0 && now - load<u32>(a, 4) < timeout && inService(svc, load<u32>(a))) {
      backend = load<u32>(a);
      selectedByAffinity = true;
    }
  }
  if (backend == NONE) {
    const slot = pickSlot(index, svc, saddr, daddr, sport, dport, proto);
    if (slot == NONE) return NONE;
    backend = slotBackend(svc, slot);
  }
  if (timeout != 0) {
    const a = lruUpdate(affinity, affKey);
    if (lruEvicted) count(C_AFFINITY_EVICTED);
    store<u32>(a, backend); store<u32>(a, now, 4);
  }
  return backend;
}
