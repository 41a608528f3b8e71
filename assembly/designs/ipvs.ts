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
// Every node's kernel has its own IPVS: kube-proxy programs the same virtual servers on each node, and each
// keeps its own scheduler state and connection counts. So both are per node here:
//
//   nodeSched  scheduler records (16 bytes) by (service index, node): an array [index][node] when
//              services x nodes <= DENSE_RECORDS (one load, nothing evicted), else an LRU hash keyed (index, node)(8):
//                +0 rr cursor i32 (slot last chosen; -1: the list head)
//                +4 wrr cl i32 (slot last chosen; -1: the list head)  +8 wrr cw i32 (current weight)
//                +12 flags u32 (1: initialised)
//              made when the node first schedules a connection of the service (rr, wrr), initialised from the
//              service's destinations then (ip_vs_wrr_init_svc); the kernel makes it when kube-proxy first
//              syncs the service, which differs only for wrr when weights changed before the node's first
//              connection. The LRU's capacity: services x nodes, or the conntrack's if that is fewer (a record is
//              made by a connection); when full the oldest unreferenced record is evicted (its node's scheduler
//              restarts at the list head) and counted.
//   schedNodes array service index -> u32: how many nodes hold a record of the service (ipvsServiceChanged
//              visits those records; a service no node has scheduled yet costs nothing to change).
//   nodeConns  hash (backend, node)(8) -> (live u32, inactive u32): the node's connections to the
//              destination, split as IPVS splits them into activeconns and inactconns (conntrack.ts
//              ipvsInactive: TCP closing states and UDP/ICMP are inactive); what lc, wlc, sed and nq weigh.
//              Kept by conntrack.ts as flows come and go (the flow's node is the key's); removed at zero, so
//              it never holds more entries than the conntrack holds flows. Only flows of services whose
//              scheduler weighs the counts (lc, wlc, sed, nq: ipvsWeighsConnections) are counted (CTF_IPVS_COUNTED
//              marks them), which spares rr and the others two hash probes per connection; a service moved to such
//              a scheduler by a change counts its connections from then on.
// The cluster-wide counts (backends' B_ACTIVE, backendIdle) stay for the host's inspection.
// The OVERLOAD flag (upper thresholds) is not modelled: no destination is ever overloaded.

import { backends, services, nodes, ipvsNodeConns, ipvsNodeSched, shardCount, shardTableSet, selectShard, shardOf,
  SHARD_IPVS_CONNS, SHARD_IPVS_SCHED } from "../tables";
import { arrayGet, arrayCreate, arrayCapacity, arrayBase } from "../maps/array";
import { lruCreate, lruPeek, lruUpdate, lruEvicted, lruInserted, lruScratch, lruHome, lruSlotAddr } from "../maps/lru";
import { hashCreate, hashLookup, hashUpdate, hashDelete } from "../maps/hash";
import { allocAligned, allocZeroed } from "../alloc";
import { NONE } from "../packet";
import { slotBackend } from "../slots";
import { count, C_IPVS_SCHED_EVICTED } from "../counters";
import { S_COUNT, SERVICE_SIZE, B_WEIGHT, ALGO_RR, ALGO_LC, ALGO_SH, ALGO_WRR, ALGO_WLC, ALGO_DH, ALGO_SED, ALGO_NQ } from "../records";

const SCHED_SIZE: u32 = 16;
const X_RR = 0; const X_CL = 4; const X_CW = 8; const X_FLAGS = 12;
const TAB_MASK: u32 = 255; // IP_VS_SH_TAB_BITS / IP_VS_DH_TAB_BITS 8: 256 buckets
/** nodeConns value: live connections, of them inactive. */
const C_LIVE = 0; const C_IDLE = 4;

// nodeSched and nodeConns are per shard (tables.ts: ipvsNodeSched, ipvsNodeConns of the selected shard), as
// conntrack is: a node's records and counts are in its shard's tables.
/** The records as an array [service index][node] (0: the LRU nodeSched holds them), and its row length. */
let denseSched: usize = 0;
let denseNodes: u32 = 0;
/** Up to this many (service, node) pairs the records are an array (64 MiB). */
const DENSE_RECORDS: u64 = 1 << 22;
let schedNodes: usize = 0;
let key: usize = 0;   // (service index or backend, node): the key of either map
let conns: usize = 0; // a nodeConns value being written

/**
 * Create the per-node tables: connection counts for up to `maxFlows` connections, and scheduler records for
 * every (service, node) pair or as many as there can be connections, whichever is fewer.
 */
export function ipvsInit(maxServices: u32, maxFlows: u32, maxNodes: u32): bool {
  const pairs = max(<u64>maxServices * maxNodes, 1);
  if (pairs <= DENSE_RECORDS) {
    denseSched = allocZeroed(<usize>pairs * SCHED_SIZE, 64); denseNodes = maxNodes;
    if (denseSched == 0) return false;
  }
  for (let s: u32 = 0; s < shardCount; s++) { // maxFlows: a shard's conntrack capacity
    if (denseSched == 0) {
      const sched = lruCreate(8, SCHED_SIZE, <u32>min(<u64>maxFlows, pairs));
      if (sched == 0) return false;
      shardTableSet(s, SHARD_IPVS_SCHED, sched);
    }
    const c = hashCreate(8, 8, maxFlows);
    if (c == 0) return false;
    shardTableSet(s, SHARD_IPVS_CONNS, c);
  }
  schedNodes = arrayCreate(4, maxServices);
  ipvsScratchInit();
  return schedNodes != 0 && key != 0 && conns != 0;
}

/** This instance's scratch buffers (index.ts workerAttach gives each worker its own). */
export function ipvsScratchInit(): void { key = allocAligned(8, 8); conns = allocAligned(8, 8); }

/** Prefetch (lb.ts): the home slot of `node`'s scheduler record of the service at `svc` (where a lookup starts). */
// @ts-ignore: decorator
@inline export function ipvsSchedAddr(svc: usize, node: u16): usize {
  const index = <u32>((svc - arrayBase(services)) / SERVICE_SIZE); // SERVICE_SIZE 32
  if (denseSched != 0) return denseAt(index, node);
  writeKey(index, node);
  return lruSlotAddr(ipvsNodeSched, lruHome(ipvsNodeSched, key));
}

/**
 * Prefetch (lb.ts): the slot rr will probably choose next on `node` for the service at `svc` (weight-0 slots
 * aside; NONE: not rr, or the records are in the LRU, where reading the cursor is a lookup of its own).
 */
// @ts-ignore: decorator
@inline export function ipvsPredictSlot(svc: usize, algo: u8, n: u32, node: u16): u32 {
  if (algo != ALGO_RR || denseSched == 0) return NONE;
  const x = denseAt(<u32>((svc - arrayBase(services)) / SERVICE_SIZE), node);
  return load<u32>(x, X_FLAGS) == 0 ? 0 : <u32>(load<i32>(x, X_RR) + 1) % n;
}

/** Whether the scheduler `algo` weighs the destinations' connection counts (lc, wlc, sed, nq). */
// @ts-ignore: decorator
@inline export function ipvsWeighsConnections(algo: u8): bool {
  return algo == ALGO_LC || algo == ALGO_WLC || algo == ALGO_SED || algo == ALGO_NQ;
}

// @ts-ignore: decorator
@inline function denseAt(index: u32, node: u32): usize {
  return denseSched + ((<usize>index * denseNodes + node) << 4); // SCHED_SIZE 16
}

// @ts-ignore: decorator
@inline function writeKey(a: u32, node: u16): void { store<u64>(key, <u64>a | (<u64>node << 32)); }

/** The node's live connections to `backend`, and of them inactive ones: its nodeConns value, or 0 for none. */
// @ts-ignore: decorator
@inline function connsOf(backend: u32, node: u16): usize { writeKey(backend, node); return hashLookup(ipvsNodeConns, key); }

/**
 * conntrack.ts: a flow of `node` to `backend` came (+1) or went (-1); `inactive` counts it among the
 * inactive connections too. The entry goes when no connection is left.
 */
export function ipvsCountConn(backend: u32, node: u16, delta: i32, inactive: bool): void {
  const c = connsOf(backend, node);
  if (c == 0) {
    if (delta < 0) return;
    store<u32>(conns, 1, C_LIVE); store<u32>(conns, inactive ? 1 : 0, C_IDLE);
    hashUpdate(ipvsNodeConns, key, conns); // never full: an entry per (backend, node) with a live flow, at most maxFlows
    return;
  }
  const live = load<u32>(c, C_LIVE);
  if (delta < 0 && live <= 1) { hashDelete(ipvsNodeConns, key); return; }
  store<u32>(c, live + <u32>delta, C_LIVE);
  if (inactive) ipvsCountIdleAt(c, delta);
}

/** conntrack.ts: a flow of `node` to `backend` moved between the active (-1) and inactive (+1) connections. */
export function ipvsCountIdle(backend: u32, node: u16, delta: i32): void {
  const c = connsOf(backend, node);
  if (c != 0) ipvsCountIdleAt(c, delta);
}

// @ts-ignore: decorator
@inline function ipvsCountIdleAt(c: usize, delta: i32): void {
  const idle = load<u32>(c, C_IDLE);
  if (delta > 0 || idle > 0) store<u32>(c, idle + <u32>delta, C_IDLE);
}

// @ts-ignore: decorator
@inline function backendAt(svc: usize, i: u32): usize {
  return arrayGet(backends, slotBackend(svc, i));
}
// @ts-ignore: decorator
@inline function weight(svc: usize, i: u32): i64 { return <i64>load<u16>(backendAt(svc, i), B_WEIGHT); }
/** activeconns on `node`: its live connections to the destination less those counted inactive. */
// @ts-ignore: decorator
@inline function active(svc: usize, i: u32, node: u16): i64 {
  const c = connsOf(slotBackend(svc, i), node);
  return c == 0 ? 0 : <i64>load<u32>(c, C_LIVE) - <i64>load<u32>(c, C_IDLE);
}
/** inactconns on `node`. */
// @ts-ignore: decorator
@inline function inactive(svc: usize, i: u32, node: u16): i64 {
  const c = connsOf(slotBackend(svc, i), node);
  return c == 0 ? 0 : <i64>load<u32>(c, C_IDLE);
}
/** ip_vs_dest_conn_overhead: (activeconns << 8) + inactconns, what lc and wlc weigh. */
// @ts-ignore: decorator
@inline function overhead(svc: usize, i: u32, node: u16): i64 { return (active(svc, i, node) << 8) + inactive(svc, i, node); }

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
 * The service's destinations changed (serviceSet): every node's record of it changes as that node's kernel's
 * would (kube-proxy syncs every node).
 */
export function ipvsServiceChanged(index: u32): void {
  const holders = arrayGet(schedNodes, index);
  if (holders == 0 || load<u32>(holders) == 0) return;
  const svc = arrayGet(services, index);
  const last = arrayCapacity(nodes);
  for (let node: u32 = 0; node < last; node++) {
    let x: usize;
    if (denseSched != 0) { x = denseAt(index, node); if (load<u32>(x, X_FLAGS) == 0) continue; }
    else { selectShard(shardOf(node)); writeKey(index, <u16>node); x = lruPeek(ipvsNodeSched, key); if (x == 0) continue; }
    schedChanged(x, svc);
  }
}

/**
 * One node's record after a change of the destinations (or, made just now, its first state). rr keeps its cursor
 * where it still names a slot; wrr does ip_vs_wrr_dest_changed (and, the first time, ip_vs_wrr_init_svc): back to
 * the list head, cw clamped to the new max weight mw = max - (gcd - 1) and realigned to the gcd steps.
 */
function schedChanged(x: usize, svc: usize): void {
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

/** The node's scheduler record of service `index`, made (and counted in schedNodes) on first use. */
function schedRecord(index: u32, svc: usize, node: u16): usize {
  if (denseSched != 0) {
    const x = denseAt(index, node);
    if (load<u32>(x, X_FLAGS) == 0) { // first use
      const holders = arrayGet(schedNodes, index);
      if (holders != 0) atomic.add<u32>(holders, 1); // shared by every node, so by every worker
      schedChanged(x, svc);
    }
    return x;
  }
  writeKey(index, node);
  const x = lruUpdate(ipvsNodeSched, key);
  if (lruEvicted) {
    const gone = arrayGet(schedNodes, load<u32>(lruScratch(ipvsNodeSched)));
    if (gone != 0) atomic.sub<u32>(gone, 1);
    count(C_IPVS_SCHED_EVICTED);
  }
  if (lruInserted) {
    const holders = arrayGet(schedNodes, index);
    if (holders != 0) atomic.add<u32>(holders, 1);
    schedChanged(x, svc); // flags 0: initialised from the destinations now
  }
  return x;
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
function lc(svc: usize, n: u32, node: u16): u32 {
  let least = NONE; let loh: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (weight(svc, i) == 0) continue;
    const doh = overhead(svc, i, node);
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
function weightedLeast(svc: usize, n: u32, sed: bool, node: u16): u32 {
  let least = NONE; let loh: i64 = 0;
  let i: u32 = 0;
  for (; i < n; i++) {
    if (weight(svc, i) > 0) { least = i; loh = sed ? active(svc, i, node) + 1 : overhead(svc, i, node); break; }
  }
  if (least == NONE) return NONE;
  for (i = least + 1; i < n; i++) {
    const doh = sed ? active(svc, i, node) + 1 : overhead(svc, i, node);
    if (loh * weight(svc, i) > doh * weight(svc, least)) { least = i; loh = doh; }
  }
  return least;
}

/** ip_vs_nq_schedule: an idle destination (no active connections) at once, else as sed. */
function nq(svc: usize, n: u32, node: u16): u32 {
  let least = NONE; let loh: i64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const w = weight(svc, i);
    if (w == 0) continue;
    const a = active(svc, i, node);
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
 * Slot of service `index` for a new flow entering `node` (that node's IPVS), or NONE when the scheduler finds no
 * destination (kube-proxy's service then has no usable endpoint). sh hashes
 * the source address, dh the destination (the service address), each into
 * 256 buckets: ip_vs_sh.c since Linux 3.11 takes hash_32(ntohl(addr) + port, 8)
 * (port 0 without the sh-port flag, which kube-proxy does not set; hash_32 is
 * (x * GOLDEN_RATIO_32 0x61C88647) >> 24 since 4.7), ip_vs_dh.c still
 * (ntohl(addr) * 2654435761) & 255.
 */
export function ipvsSchedule(index: u32, svc: usize, algo: u8, saddr: u32, daddr: u32, node: u16): u32 {
  const n = <u32>load<u16>(svc, S_COUNT);
  if (algo == ALGO_RR) return rr(schedRecord(index, svc, node), svc, n);
  if (algo == ALGO_WRR) return wrr(schedRecord(index, svc, node), svc, n);
  if (algo == ALGO_LC) return lc(svc, n, node);
  if (algo == ALGO_WLC) return weightedLeast(svc, n, false, node);
  if (algo == ALGO_SED) return weightedLeast(svc, n, true, node);
  if (algo == ALGO_NQ) return nq(svc, n, node);
  if (algo == ALGO_SH || algo == ALGO_DH) {
    const bucket = algo == ALGO_SH ? (saddr * 0x61c88647) >> 24 : (daddr * 2654435761) & TAB_MASK;
    const i = algo == ALGO_SH ? shBucketSlot(svc, n, bucket) : bucket % n;
    return i == NONE || weight(svc, i) == 0 ? NONE : i;
  }
  return NONE;
}
