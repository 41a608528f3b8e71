// The ipvs design: what kube-proxy's IPVS mode makes the kernel do for the
// first packet of a connection. ip_vs_service_find() looks the virtual
// service up by (protocol, address, port) in a hash table, then the
// service's scheduler (net/netfilter/ipvs/ip_vs_<name>.c) picks a real
// server among its destinations. Destinations of weight 0 are never
// scheduled (kube-proxy gives terminating endpoints weight 0).
//
// The virtual-service hash is the frontends hash map of lb.ts (key: address,
// port, protocol, plus the node scope that stands for each node's own
// virtual servers under a Local traffic policy; value: service index). The
// kernel's ip_vs_svc_table has a fixed 256 chains; ours is sized to the
// frontends, so a lookup stays one probe at any number of services.
// The destination list is the service's run of backend slots, in order.
//
// Scheduler state, one record per service index (16 bytes, `maxServices` of them):
//   +0 rr cursor i32 (slot last chosen; -1: the list head)
//   +4 wrr cl i32 (slot last chosen; -1: the list head)  +8 wrr cw i32 (current weight)
//   +12 flags u32 (1: initialised)
// The kernel keeps one per virtual server (each ClusterIP, NodePort address
// ...); we keep one per service, which changes only which eligible backend
// comes next, never the set.
//
// Connection counts: a backend's live conntrack flows, split as IPVS splits
// its connections into activeconns and inactconns (conntrack.ts ipvsInactive:
// TCP closing states and UDP/ICMP are inactive). The OVERLOAD flag (upper thresholds) is not modelled: no destination is
// ever overloaded.

import { backends, backendIdle, backendSlots, services } from "../tables";
import { arrayGet, arrayBase } from "../maps/array";
import { allocZeroed } from "../alloc";
import { NONE } from "../packet";
import { slotBackend } from "../slots";
import { S_SLOTS, S_COUNT, SERVICE_SIZE, B_WEIGHT, B_ACTIVE, ALGO_RR, ALGO_LC, ALGO_SH, ALGO_WRR, ALGO_WLC, ALGO_DH, ALGO_SED, ALGO_NQ } from "../records";


const SCHED_SIZE: u32 = 16;
const X_RR = 0; const X_CL = 4; const X_CW = 8; const X_FLAGS = 12;
const TAB_MASK: u32 = 255; // IP_VS_SH_TAB_BITS / IP_VS_DH_TAB_BITS 8: 256 buckets

let sched: usize = 0;
let schedCount: u32 = 0;

export function ipvsInit(maxServices: u32): bool {
  sched = allocZeroed(<usize>maxServices * SCHED_SIZE, 64);
  if (sched == 0) return false;
  schedCount = maxServices;
  return true;
}

/** Prefetch (lb.ts): the address of the scheduler record of the service at `svc` in the services array (0: none). */
// @ts-ignore: decorator
@inline export function ipvsSchedAddr(svc: usize): usize {
  const index = <u32>((svc - arrayBase(services)) / SERVICE_SIZE); // SERVICE_SIZE 32
  return index < schedCount ? sched + <usize>index * SCHED_SIZE : 0;
}

/** Prefetch (lb.ts): the slot rr will probably choose next for the service at `svc` (NONE: not rr). */
// @ts-ignore: decorator
@inline export function ipvsPredictSlot(svc: usize, algo: u8, n: u32): u32 {
  if (algo != ALGO_RR) return NONE;
  const index = <u32>((svc - arrayBase(services)) / SERVICE_SIZE);
  if (index >= schedCount) return NONE;
  return <u32>(load<i32>(sched + <usize>index * SCHED_SIZE, X_RR) + 1) % n; // weight-0 slots aside
}

// @ts-ignore: decorator
@inline function backendAt(svc: usize, i: u32): usize {
  return arrayGet(backends, slotBackend(svc, i));
}
// @ts-ignore: decorator
@inline function weight(svc: usize, i: u32): i64 { return <i64>load<u16>(backendAt(svc, i), B_WEIGHT); }
/** activeconns: the destination's live flows less those counted inactive (conntrack.ts ipvsInactive). */
// @ts-ignore: decorator
@inline function active(svc: usize, i: u32): i64 { return <i64>load<u32>(backendAt(svc, i), B_ACTIVE) - inactive(svc, i); }
/** inactconns (tables.ts backendIdle). */
// @ts-ignore: decorator
@inline function inactive(svc: usize, i: u32): i64 {
  return <i64>load<u32>(arrayGet(backendIdle, load<u32>(arrayBase(backendSlots) + ((<usize>load<u32>(svc, S_SLOTS) + i) << 2))));
}
/** ip_vs_dest_conn_overhead: (activeconns << 8) + inactconns, what lc and wlc weigh. */
// @ts-ignore: decorator
@inline function overhead(svc: usize, i: u32): i64 { return (active(svc, i) << 8) + inactive(svc, i); }

function gcd(a: i32, b: i32): i32 { while (b != 0) { const t = a % b; a = b; b = t; } return a; }

/** ip_vs_wrr_gcd_weight: gcd of the positive weights, 1 when there are none. */
function gcdWeight(svc: usize, n: u32): i32 {
  let g: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const w = <i32>weight(svc, i);
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
  }
  return g != 0 ? g : 1;
}
/** ip_vs_wrr_max_weight. */
function maxWeight(svc: usize, n: u32): i32 {
  let m: i32 = 0;
  for (let i: u32 = 0; i < n; i++) m = max(m, <i32>weight(svc, i));
  return m;
}

/**
 * The service's destinations changed (serviceSet). rr keeps its cursor where
 * it still names a slot; wrr does ip_vs_wrr_dest_changed (and, the first
 * time, ip_vs_wrr_init_svc): back to the list head, cw clamped to the new
 * max weight mw = max - (gcd - 1) and realigned to the gcd steps.
 */
export function ipvsServiceChanged(index: u32): void {
  if (index >= schedCount) return;
  const x = sched + <usize>index * SCHED_SIZE;
  const svc = arrayGet(services, index);
  const n = <u32>load<u16>(svc, S_COUNT);
  const di = gcdWeight(svc, n);
  const mw = maxWeight(svc, n) - (di - 1);
  if (load<u32>(x, X_FLAGS) == 0) {
    store<i32>(x, -1, X_RR); store<i32>(x, mw, X_CW); store<u32>(x, 1, X_FLAGS);
  } else {
    if (load<i32>(x, X_RR) >= <i32>n) store<i32>(x, -1, X_RR);
    const cw = load<i32>(x, X_CW);
    if (cw > mw || cw == 0) store<i32>(x, mw, X_CW);
    else if (di > 1) store<i32>(x, (cw / di) * di + 1, X_CW);
  }
  store<i32>(x, -1, X_CL);
}

/** ip_vs_rr_schedule: the next destination after the cursor with weight > 0, wrapping once. */
function rr(x: usize, svc: usize, n: u32): u32 {
  const last = load<i32>(x, X_RR);
  for (let k: u32 = 0; k < n; k++) {
    const i = <u32>(last + 1 + <i32>k) % n;
    if (weight(svc, i) > 0) { store<i32>(x, <i32>i, X_RR); return i; }
  }
  return NONE;
}

/**
 * ip_vs_wrr_schedule: walk the list from the last chosen destination for one
 * with weight >= cw; at the end of the list lower cw by the gcd di, and back
 * to mw below 1. The last pass (cw <= di) checks every destination for
 * weight >= 1 once and then gives up.
 */
function wrr(x: usize, svc: usize, n: u32): u32 {
  const di = gcdWeight(svc, n);
  const mw = maxWeight(svc, n) - (di - 1);
  if (mw <= 0) return NONE; // err_noavail: mark->cl stays
  let cw = load<i32>(x, X_CW);
  const last = load<i32>(x, X_CL);
  let d = last; let stop: i32 = -2;
  let lastPass = false; let restarted = false;
  while (true) {
    for (d = d + 1; d < <i32>n; d++) {
      if (<i32>weight(svc, <u32>d) >= cw) { store<i32>(x, d, X_CL); store<i32>(x, cw, X_CW); return <u32>d; }
      if (d == stop) { store<i32>(x, d, X_CL); store<i32>(x, cw, X_CW); return NONE; } // err_over
    }
    d = -1; // back at the list head
    cw -= di;
    if (cw <= 0) {
      cw = mw;
      if (lastPass || last == -1) { store<i32>(x, d, X_CL); store<i32>(x, cw, X_CW); return NONE; }
      restarted = true;
    }
    lastPass = cw <= di;
    if (lastPass && restarted && last != -1) stop = last;
  }
  return NONE;
}

/** ip_vs_lc_schedule: least overhead ((activeconns << 8) + inactconns), the first of equals; weight 0 skipped. */
function lc(svc: usize, n: u32): u32 {
  let least = NONE; let loh: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (weight(svc, i) == 0) continue;
    const doh = overhead(svc, i);
    if (least == NONE || doh < loh) { least = i; loh = doh; }
  }
  return least;
}

/**
 * ip_vs_wlc_schedule / ip_vs_sed_schedule: the first destination of weight > 0,
 * then any later one with overhead/weight strictly lower (compared as
 * loh * w > doh * wleast). wlc's overhead is (activeconns << 8) + inactconns,
 * sed's is activeconns + 1.
 */
function weightedLeast(svc: usize, n: u32, sed: bool): u32 {
  let least = NONE; let loh: i64 = 0;
  let i: u32 = 0;
  for (; i < n; i++) {
    if (weight(svc, i) > 0) { least = i; loh = sed ? active(svc, i) + 1 : overhead(svc, i); break; }
  }
  if (least == NONE) return NONE;
  for (i = least + 1; i < n; i++) {
    const doh = sed ? active(svc, i) + 1 : overhead(svc, i);
    if (loh * weight(svc, i) > doh * weight(svc, least)) { least = i; loh = doh; }
  }
  return least;
}

/** ip_vs_nq_schedule: an idle destination (no active connections) at once, else as sed. */
function nq(svc: usize, n: u32): u32 {
  let least = NONE; let loh: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const w = weight(svc, i);
    if (w == 0) continue;
    const a = active(svc, i);
    if (a == 0) return i;
    const doh = a + 1;
    if (least == NONE || loh * w > doh * weight(svc, least)) { least = i; loh = doh; }
  }
  return least;
}

/**
 * ip_vs_sh_reassign fills 256 buckets in list order, max(weight, 1)
 * consecutive buckets per destination, cycling; ip_vs_dh_assign one bucket
 * per destination. Bucket b's destination, computed rather than stored.
 */
function shBucketSlot(svc: usize, n: u32, bucket: u32): u32 {
  let total: u32 = 0;
  for (let i: u32 = 0; i < n; i++) total += max(<u32>weight(svc, i), 1);
  let r = bucket % total;
  for (let i: u32 = 0; i < n; i++) {
    const take = max(<u32>weight(svc, i), 1);
    if (r < take) return i;
    r -= take;
  }
  return NONE;
}

/**
 * Slot of service `index` for a new flow, or NONE when the scheduler finds no
 * destination (kube-proxy's service then has no usable endpoint). sh hashes
 * the source address, dh the destination (the service address), each into
 * 256 buckets: ip_vs_sh.c since Linux 3.11 takes hash_32(ntohl(addr) + port, 8)
 * (port 0 without the sh-port flag, which kube-proxy does not set; hash_32 is
 * (x * GOLDEN_RATIO_32 0x61C88647) >> 24 since 4.7), ip_vs_dh.c still
 * (ntohl(addr) * 2654435761) & 255.
 */
export function ipvsSchedule(index: u32, svc: usize, algo: u8, saddr: u32, daddr: u32): u32 {
  const n = <u32>load<u16>(svc, S_COUNT);
  const x = sched + <usize>index * SCHED_SIZE;
  if (algo == ALGO_RR) return rr(x, svc, n);
  if (algo == ALGO_WRR) return wrr(x, svc, n);
  if (algo == ALGO_LC) return lc(svc, n);
  if (algo == ALGO_WLC) return weightedLeast(svc, n, false);
  if (algo == ALGO_SED) return weightedLeast(svc, n, true);
  if (algo == ALGO_NQ) return nq(svc, n);
  if (algo == ALGO_SH || algo == ALGO_DH) {
    const bucket = algo == ALGO_SH ? (saddr * 0x61c88647) >> 24 : (daddr * 2654435761) & TAB_MASK;
    const i = algo == ALGO_SH ? shBucketSlot(svc, n, bucket) : bucket % n;
    return i == NONE || weight(svc, i) == 0 ? NONE : i;
  }
  return NONE;
}
