// Service lookup and endpoint selection.
//
// The frontend key, the service entry, the backend and the affinity entry are laid out in records.ts.
// A frontend maps to a service index. One entry per ClusterIP / NodePort-on-node-address / LoadBalancer / external IP
//   frontend, with scope ANY. One dataplane emulates every node, so what kube-proxy programs differently
//   per node (externalTrafficPolicy / internalTrafficPolicy Local, topology hints) is a SCOPE_EXTERNAL or
//   SCOPE_INTERNAL entry for that node, pointing at a service holding that node's eligible endpoints;
//   a new flow entering on the node looks for its scoped entry first (Cilium's scoped service keys).
//
// This file is the dispatch to the designs (config.ts DESIGN), one test of the
// design per operation: ebpf (designs/ebpf.ts, the default), iptables
// (designs/iptables.ts) and nftables (designs/nftables.ts) have their own
// service lookup and endpoint choice; ipvs (designs/ipvs.ts) shares ebpf's
// frontends hash as its virtual-service table and has the kernel's
// schedulers. Session affinity and everything after the choice is common to all.

import { services, backends, affinity } from "./tables";
import { arrayGet } from "./maps/array";
import { lruPeek, lruUpdate, lruEvicted, lruSlotAt, lruSlotCount, lruValueOf, lruKeyOf, lruDeleteSlot } from "./maps/lru";
import { allocAligned } from "./alloc";
import { prngState, prngMix, PRNG_STEP } from "./prng";
import { DESIGN, DESIGN_EBPF, DESIGN_IPTABLES, DESIGN_IPVS, DESIGN_NFTABLES } from "./config";
import { ebpfInit, ebpfLookup, ebpfHomeSlot, ebpfUnscopedLookup, ebpfPickSlot } from "./designs/ebpf";
import { iptablesLookup, iptablesPickSlot } from "./designs/iptables";
import { nftLookup, nftPickSlot, nftSlotOf, nftHomeSlot, nftUnscopedLookup } from "./designs/nftables";
import { ipvsSchedule, ipvsSchedAddr, ipvsPredictSlot } from "./designs/ipvs";
import { slotAddr, slotBackend } from "./slots";
import { count, C_AFFINITY_EVICTED } from "./counters";
import { NONE } from "./packet";
import { S_SLOTS, S_COUNT, S_ALGO, S_FLAGS, S_AFFINITY, S_MAGLEV, S_MAGLEV_M, S_RR, S_AFFINITY_GROUP, SERVICE_SIZE, B_ADDR, B_PORT, B_NODE, B_WEIGHT,
  B_FLAGS, B_ACTIVE, AFFINITY_KEY_SIZE, AK_NODE, A_BACKEND, A_LAST_USED, ALGO_RANDOM, ALGO_WEIGHTED } from "./records";

let affKey: usize = 0;
/** Set by selectBackend: whether session affinity chose the backend. */
export let selectedByAffinity: bool = false;

export function lbInit(): void { ebpfInit(); affKey = allocAligned(AFFINITY_KEY_SIZE, 8); }

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
  return ebpfLookup(vip, port, proto, node, internal);
}

// Prefetch for the packets of a batch group that are probably new flows
// (prefetch.ts prepareGroup): their service lookup is a chain of dependent
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
  if (DESIGN == DESIGN_EBPF || DESIGN == DESIGN_IPVS) return ebpfHomeSlot(vip, port, proto);
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
  else if (DESIGN == DESIGN_EBPF || DESIGN == DESIGN_IPVS) index = ebpfUnscopedLookup(vip, port, proto);
  return index == NONE ? 0 : arrayGet(services, index);
}

/** Step 2b: the service's scheduler state on the packet's node, when the design keeps one (ipvs), or 0. */
// @ts-ignore: decorator
@inline export function lbPrefetchState(svc: usize, node: u16): usize {
  return DESIGN == DESIGN_IPVS ? ipvsSchedAddr(svc, node) : 0;
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
@inline export function lbPredictSlot(svc: usize, node: u16): usize {
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
    slot = ipvsPredictSlot(svc, algo, n, node);
  }
  return slot == NONE ? 0 : slotAddr(svc, slot);
}

/** Step 4: the backend entry a slot names. */
// @ts-ignore: decorator
@inline export function lbSlotBackend(slotAddr: usize): usize { return arrayGet(backends, load<u32>(slotAddr)); }

function inService(svc: usize, backend: u32): bool {
  const n = <u32>load<u16>(svc, S_COUNT);
  for (let i: u32 = 0; i < n; i++) if (slotBackend(svc, i) == backend) return true;
  return false;
}

/** Slot of the backend for a new flow (the design's choice), or NONE. */
function pickSlot(index: u32, svc: usize, saddr: u32, daddr: u32, sport: u16, dport: u16, proto: u8, node: u16): u32 {
  const n = <u32>load<u16>(svc, S_COUNT);
  const algo = load<u8>(svc, S_ALGO);
  if (DESIGN != DESIGN_EBPF) {
    // The host lets each design have only its own algorithms (src/dataplane.ts DESIGN_ALGOS).
    if (DESIGN == DESIGN_IPTABLES) return iptablesPickSlot(n);
    if (DESIGN == DESIGN_IPVS) return ipvsSchedule(index, svc, algo, saddr, daddr, node);
    return nftPickSlot(n);
  }
  return ebpfPickSlot(svc, n, algo, saddr, daddr, sport, dport, proto);
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
    const used = load<u32>(v, A_LAST_USED);
    store<u32>(v, used > delta ? used - delta : 0, A_LAST_USED);
  }
}

/** Forget every affinity entry of `node` (the node failed: its kernel's `recent` lists died with it). */
export function affinityFlushNode(node: u16): u32 {
  let removed: u32 = 0;
  const n = lruSlotCount(affinity);
  for (let i: u32 = 0; i < n; i++) {
    while (true) { // a removal may pull the next entry into slot i (as conntrack.ts ctGc)
      const s = lruSlotAt(affinity, i);
      if (s == 0 || load<u32>(lruKeyOf(s), AK_NODE) != <u32>node) break;
      lruDeleteSlot(affinity, s);
      removed++;
    }
  }
  return removed;
}

/**
 * Backend for a new flow to service `index`, or NONE when it has none.
 * Session affinity (ClientIP) reuses the client's last backend while it is
 * still in the service and was used less than the timeout ago (iptables
 * `recent --rcheck --seconds`), and records the choice either way.
 */
export function selectBackend(index: u32, svc: usize, saddr: u32, daddr: u32, sport: u16, dport: u16,
  proto: u8, node: u16, now: u32): u32 {
  selectedByAffinity = false;
  if (load<u16>(svc, S_COUNT) == 0) return NONE;
  const timeout = load<u32>(svc, S_AFFINITY);
  let backend = NONE;
  if (timeout != 0) {
    store<u64>(affKey, <u64>saddr | (<u64>load<u32>(svc, S_AFFINITY_GROUP) << 32));
    store<u32>(affKey, <u32>node, AK_NODE); // each node's own recent list
    const a = lruPeek(affinity, affKey);
    if (a != 0 && now - load<u32>(a, A_LAST_USED) < timeout && inService(svc, load<u32>(a, A_BACKEND))) {
      backend = load<u32>(a, A_BACKEND);
      selectedByAffinity = true;
    }
  }
  if (backend == NONE) {
    const slot = pickSlot(index, svc, saddr, daddr, sport, dport, proto, node);
    if (slot == NONE) return NONE;
    backend = slotBackend(svc, slot);
  }
  if (timeout != 0) {
    const a = lruUpdate(affinity, affKey);
    if (lruEvicted) count(C_AFFINITY_EVICTED);
    store<u32>(a, backend, A_BACKEND); store<u32>(a, now, A_LAST_USED);
  }
  return backend;
}

/** Write service entry `s` as the host set it; the round-robin cursor is kept (a rewrite does not restart rr). */
export function serviceWrite(s: usize, slots: u32, count: u16, algo: u8, flags: u8, affinityMs: u32, maglev: u32, maglevM: u32, affinityGroup: u32): void {
  const rr = load<u32>(s, S_RR);
  memory.fill(s, 0, SERVICE_SIZE);
  store<u32>(s, slots, S_SLOTS); store<u16>(s, count, S_COUNT); store<u8>(s, algo, S_ALGO); store<u8>(s, flags, S_FLAGS);
  store<u32>(s, affinityMs, S_AFFINITY); store<u32>(s, maglev, S_MAGLEV); store<u32>(s, maglevM, S_MAGLEV_M);
  store<u32>(s, rr, S_RR); store<u32>(s, affinityGroup, S_AFFINITY_GROUP);
}

/** Write backend `b` as the host set it; its flow count survives (flows still use it). */
export function backendWrite(b: usize, addr: u32, port: u16, node: u16, weight: u16, flags: u16): void {
  store<u32>(b, addr, B_ADDR); store<u16>(b, port, B_PORT); store<u16>(b, node, B_NODE);
  store<u16>(b, weight, B_WEIGHT); store<u16>(b, flags, B_FLAGS);
}

/** A backend's live flows. */
// @ts-ignore: decorator
@inline export function backendActive(b: usize): u32 { return load<u32>(b, B_ACTIVE); }
