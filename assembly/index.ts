// The module's exports: the control-plane API the host calls to create and
// write maps (never per packet), process() for whole batches, and thin map
// shims used by the model-based tests. Everything returns a status; bad
// arguments are refused, never trapped on.

import { tablesInit, ctFlows, shardCount, shardOf, selectShard, sourceRanges, nodes, services, backends, backendIdle, backendSlots, maglevCells, ipcache, policy,
  setPolicyRevision, policyRevision } from "./tables";
import { NODE_SIZE, N_ADDR } from "./records";
import { arrayGet, arrayCapacity, arrayBase } from "./maps/array";
import { hashUpdate, hashDelete, hashLookup } from "./maps/hash";
import { lpmUpdate, lpmDelete, lpmUpdateScoped, lpmDeleteScoped } from "./maps/lpm";
import { ctFlushNode } from "./conntrack";
import { affinityFlushNode } from "./lb";
import { ctFlushBackend, ctInit, ctGc, ctRebase, ctFlowCount, ctReplyCount, ctClearRevisions, ctLookupFlow, ctWriteKey, ctScratchKey } from "./conntrack";
import { lbInit, affinityRebase, serviceWrite, backendWrite, backendActive as backendFlows } from "./lb";
import { ebpfFrontendUpsert, ebpfFrontendDelete } from "./designs/ebpf";
import { ALGO_MAGLEV, ALGO_MAX } from "./records";
import { ipcacheWrite } from "./policy";
import { nodeWrite } from "./pipeline";
import { DESIGN, DESIGN_IPTABLES, DESIGN_IPVS, DESIGN_NFTABLES, setDesignConfig } from "./config";
import { iptablesInit, iptablesSetRules } from "./designs/iptables";
import { nftInit, nftElementUpsert, nftElementDelete } from "./designs/nftables";
import { ipvsInit, ipvsServiceChanged } from "./designs/ipvs";
import { natInit } from "./nat";
import { processBatch, processShare as shareOfBatch, planReserve, pipelineInit, pipelineScratchInit, nodesKnown, nodesKnownAdd } from "./pipeline";
import { prngInit, prngNodeAddress } from "./prng";
import { lpmScratchInit } from "./maps/lpm";
import { policyScratchInit } from "./policy";
import { prefetchInit } from "./prefetch";
import { ipvsScratchInit } from "./designs/ipvs";
import { nftScratchInit } from "./designs/nftables";
import { countersInit } from "./counters";
import { heapMoveTo } from "./alloc";
import { countersPtr, COUNTERS } from "./counters";
import { allocAligned, allocatedBytes } from "./alloc";
import { PKT_STRIDE } from "./packet";

export { setLifetimes, setNatPorts, setPolicyRecheck, setPolicyKnobs, setHashSeed } from "./config";
export { policyUpsert, policyDelete } from "./policy";
export { prngSeed, prngState } from "./prng";
export { allocatedBytes } from "./alloc";
export { iptablesRulesBase } from "./designs/iptables";
// Micro benchmarks of single stages (src/bench/micro.ts); never called on the packet path.
export { benchHashCreate, benchHashLookup, benchCtLookup, benchServiceLookup, benchPolicyCheck, benchNatRewrite } from "./bench";

const E_RANGE: i32 = -34;  // -ERANGE: index or size out of the map's capacity
const E_INVAL: i32 = -22;

let ready = false;

/** Create every map. 0 on success, else the number of the map that failed (see tables.ts). */
export function init(maxFlows: u32, maxServices: u32, maxFrontends: u32, maxBackends: u32, maxSlots: u32,
  maxMaglevCells: u32, maxAffinity: u32, maxIpcache: u32, maxPolicy: u32, maxNodes: u32, shards: u32): i32 {
  if (ready) return -1;
  const rc = tablesInit(maxFlows, maxServices, maxFrontends, maxBackends, maxSlots, maxMaglevCells,
    maxAffinity, maxIpcache, maxPolicy, maxNodes, shards);
  if (rc != 0) return rc;
  if (!prngInit(maxNodes)) return 16;
  if (!pipelineInit()) return 17;
  ctInit(); lbInit(); natInit(); pipelineScratchInit(); lpmScratchInit();
  ready = true;
  return 0;
}

export function process(batch: usize, n: u32, now: u32): u32 { return ready ? processBatch(batch, n, now) : 0; }

/**
 * Worker `self` of `workers` processes its share of a batch (pipeline.ts processShare; `block`: the workers'
 * block). Returns its forwarded count (the host sums the workers'), or 0x80000000 when another worker never
 * published what it waited for.
 */
export function processShare(batch: usize, n: u32, now: u32, self: u32, workers: u32, block: usize): u32 {
  return ready && self < workers ? shareOfBatch(batch, n, now, self, workers, block) : 0;
}

/** Room for the plan of a batch of `n` (the first worker, before the others start): 0, or -1 without memory for it. */
export function planRoom(n: u32): i32 { return ready ? planReserve(n) : -1; }

/**
 * Make this instance a worker of the instance whose globals the host copied into it: same maps (the memory is
 * shared), but scratch buffers and counters of its own, allocated from [region, region + size), which the control
 * plane's instance reserved (scratchAlloc). Done again after every copy of the globals: the same addresses each
 * time, and the counters keep their counts. 0, or -1 when the region is too small.
 */
export function workerAttach(region: usize, size: u32): i32 {
  // Every buffer a packet uses is made here, none on first use: this instance's allocations stay in its region
  // (one on first use would land in the control plane's heap, where its next allocation would overlap it).
  heapMoveTo(region);
  countersInit();
  ctInit(); lbInit(); natInit(); pipelineScratchInit(); lpmScratchInit(); prefetchInit(); policyScratchInit();
  if (DESIGN == DESIGN_IPVS) ipvsScratchInit();
  if (DESIGN == DESIGN_NFTABLES) nftScratchInit();
  scratchK = 0; scratchV = 0;
  const top = heapMoveTo(0); heapMoveTo(top); // where the region's allocations ended
  return top - region <= <usize>size ? 0 : -1;
}

/** The workers' block (64 bytes, zero; pipeline.ts draws it) and worker regions are reserved with scratchAlloc. */
export function shards(): u32 { return shardCount; }

export function gc(now: u32): u32 {
  if (!ready) return 0;
  let removed: u32 = 0;
  for (let s: u32 = 0; s < shardCount; s++) { selectShard(s); removed += ctGc(now); }
  return removed;
}
/** Move the time origin forward by `delta` ms: every stored time (flow expiry, affinity use) moves back by as much. */
export function timeRebase(delta: u32): void {
  if (!ready) return;
  for (let s: u32 = 0; s < shardCount; s++) { selectShard(s); ctRebase(delta); affinityRebase(delta); }
}

let designSet = false;
/**
 * Choose the dataplane design (config.ts DESIGN_*) and create its own
 * structures; once, after init() and before any map is written. 0, -EINVAL
 * for an unknown design or a second call, or 1 when its structures do not fit.
 */
export function designInit(design: u32, maxServices: u32, maxFrontends: u32): i32 {
  if (!ready || designSet || design > <u32>DESIGN_NFTABLES) return E_INVAL;
  setDesignConfig(<u8>design);
  designSet = true;
  if (design == <u32>DESIGN_IPTABLES && !iptablesInit(maxFrontends)) return 1;
  if (design == <u32>DESIGN_NFTABLES && !nftInit(maxFrontends)) return 1;
  if (design == <u32>DESIGN_IPVS && !ipvsInit(maxServices, lruMaxEntries(ctFlows), arrayCapacity(nodes))) return 1; // a shard's flows
  return 0;
}

/** iptables: the host wrote KUBE-SERVICES rules [first, n) at iptablesRulesBase(); the list is now n rules. */
export function iptablesRulesSet(n: u32, first: u32): i32 {
  if (DESIGN != DESIGN_IPTABLES) return E_INVAL;
  return iptablesSetRules(n, first, arrayCapacity(services));
}

/** A batch buffer for `n` packets in linear memory (allocated once and reused by the host). */
export function batchAlloc(n: u32): usize { return allocAligned(<usize>n * PKT_STRIDE, 64); }
export function scratchAlloc(size: u32): usize { return allocAligned(size, 16); }

/** Node `id` has address `addr` (0: no such node) and is up (1) or has failed (0: packets entering it are lost). */
export function nodeSet(id: u32, addr: u32, up: u32): i32 {
  const n = arrayGet(nodes, id);
  if (n == 0) return E_RANGE;
  const had = load<u32>(n, N_ADDR) != 0;
  if (had != (addr != 0)) nodesKnownAdd(addr != 0 ? 1 : -1);
  nodeWrite(n, addr, up != 0);
  prngNodeAddress(id, addr);
  return 0;
}

/** Map frontend (vip, port, proto) to service `index`; scope 1/2 with `node` makes it that node's external/internal entry. */
export function frontendUpsert(vip: u32, port: u32, proto: u32, scope: u32, node: u32, index: u32): i32 {
  if (index >= arrayCapacity(services) || scope > 2) return E_RANGE;
  if (DESIGN == DESIGN_IPTABLES) return E_INVAL; // the host writes the rule list (iptablesRulesSet)
  if (DESIGN == DESIGN_NFTABLES) return nftElementUpsert(vip, <u16>port, <u8>proto, <u8>scope, node, index, scratchValue());
  return ebpfFrontendUpsert(vip, <u16>port, <u8>proto, <u8>scope, node, index, scratchValue()); // ebpf, and ipvs's virtual services
}
export function frontendDelete(vip: u32, port: u32, proto: u32, scope: u32, node: u32): bool {
  if (scope > 2 || DESIGN == DESIGN_IPTABLES) return false;
  if (DESIGN == DESIGN_NFTABLES) return nftElementDelete(vip, <u16>port, <u8>proto, <u8>scope, node);
  return ebpfFrontendDelete(vip, <u16>port, <u8>proto, <u8>scope, node);
}

/** loadBalancerSourceRanges: allow sources in addr/plen to service `index` (with SVC_SOURCE_RANGES set). */
export function sourceRangeUpsert(index: u32, addr: u32, plen: u32): i32 {
  if (index >= arrayCapacity(services)) return E_RANGE;
  const v = scratchValue(); store<u32>(v, 1);
  return lpmUpdateScoped(sourceRanges, index + 1, addr, plen, v);
}
export function sourceRangeDelete(index: u32, addr: u32, plen: u32): bool {
  return index < arrayCapacity(services) && lpmDeleteScoped(sourceRanges, index + 1, addr, plen);
}

/** Drop the flows to a backend of one protocol (0: all); returns how many. */
export function ctFlush(backend: u32, proto: u32): u32 {
  if (!ready) return 0;
  let removed: u32 = 0;
  for (let s: u32 = 0; s < shardCount; s++) { selectShard(s); removed += ctFlushBackend(backend, <u8>proto); }
  return removed;
}
/** Node `node` failed: its conntrack entries and ClientIP affinity go. Returns the conntrack entries removed. */
export function nodeFail(node: u32): u32 {
  if (!ready) return 0;
  selectShard(shardOf(node));
  affinityFlushNode(<u16>node);
  return ctFlushNode(<u16>node);
}

/** Point service `index` at `count` backend slots from `slots` and (Maglev) M cells from `maglev`. */
export function serviceSet(index: u32, slots: u32, count: u32, algo: u32, flags: u32, affinityMs: u32,
  maglev: u32, maglevM: u32, affinityGroup: u32): i32 {
  const s = arrayGet(services, index);
  if (s == 0 || count > 0xffff || <u64>slots + count > <u64>arrayCapacity(backendSlots)) return E_RANGE;
  if (algo == <u32>ALGO_MAGLEV && count > 0 && (maglevM == 0 || <u64>maglev + maglevM > <u64>arrayCapacity(maglevCells))) return E_RANGE;
  if (algo > <u32>ALGO_MAX) return E_INVAL;
  for (let i: u32 = 0; i < count; i++) {
    if (load<u32>(arrayBase(backendSlots) + ((<usize>slots + i) << 2)) >= arrayCapacity(backends)) return E_RANGE;
  }
  if (algo == <u32>ALGO_MAGLEV && count > 0) {
    for (let i: u32 = 0; i < maglevM; i++) {
      if (<u32>load<u16>(arrayBase(maglevCells) + ((<usize>maglev + i) << 1)) >= count) return E_RANGE;
    }
  }
  serviceWrite(s, slots, <u16>count, <u8>algo, <u8>flags, affinityMs, maglev, maglevM, affinityGroup);
  if (DESIGN == DESIGN_IPVS) ipvsServiceChanged(index);
  return 0;
}

export function backendSet(id: u32, addr: u32, port: u32, node: u32, weight: u32, flags: u32): i32 {
  const b = arrayGet(backends, id);
  if (b == 0) return E_RANGE;
  backendWrite(b, addr, <u16>port, <u16>node, <u16>weight, <u16>flags);
  return 0;
}
export function backendActive(id: u32): u32 {
  const b = arrayGet(backends, id);
  return b == 0 ? 0 : backendFlows(b);
}
export function backendInactive(id: u32): u32 {
  const c = arrayGet(backendIdle, id);
  return c == 0 ? 0 : load<u32>(c);
}

export function backendSlotsBase(): usize { return arrayBase(backendSlots); }
export function backendSlotsCapacity(): u32 { return arrayCapacity(backendSlots); }
export function maglevBase(): usize { return arrayBase(maglevCells); }
export function maglevCapacity(): u32 { return arrayCapacity(maglevCells); }

export function ipcacheUpsert(addr: u32, plen: u32, identity: u32, endpoint: u32, node: u32, flags: u32): i32 {
  const v = scratchValue();
  ipcacheWrite(v, identity, endpoint, <u16>node, <u16>flags);
  return lpmUpdate(ipcache, addr, plen, v);
}
export function ipcacheDelete(addr: u32, plen: u32): bool { return lpmDelete(ipcache, addr, plen); }

/** Announce a policy change: established flows are judged again on their next packet. */
export function policyBump(): u32 {
  let r = (policyRevision + 1) & 0xffffff;
  if (r == 0) { // revision 0 means "never judged"
    for (let s: u32 = 0; s < shardCount; s++) { selectShard(s); ctClearRevisions(); }
    r = 1;
  }
  setPolicyRevision(r);
  return r;
}

export function countersBase(): usize { return countersPtr; }
export function countersLength(): u32 { return COUNTERS; }
export function ctCount(): u32 {
  let n: u32 = 0;
  for (let s: u32 = 0; s < shardCount; s++) { selectShard(s); n += ctFlowCount(); }
  return n;
}
export function ctReplies(): u32 {
  let n: u32 = 0;
  for (let s: u32 = 0; s < shardCount; s++) { selectShard(s); n += ctReplyCount(); }
  return n;
}

/** The live flow with this original tuple on `node` (without promoting it), or 0. For inspection. */
export function ctPeek(saddr: u32, daddr: u32, sport: u32, dport: u32, proto: u32, now: u32, node: u32): usize {
  const k = ctScratchKey();
  selectShard(shardOf(node));
  ctWriteKey(k, saddr, daddr, <u16>sport, <u16>dport, <u8>proto, <u16>node);
  return ctLookupFlow(k, now, false);
}

/** Shard `s`'s conntrack flow map (s < shards()), for walking the live flows (lruOldest / lruNewer / lruKeyOf / lruValueOf). */
export function ctFlowsMap(s: u32): usize {
  if (s >= shardCount) return 0;
  selectShard(s);
  return ctFlows;
}

let scratchK: usize = 0; let scratchV: usize = 0;
function scratchKey(): usize { if (scratchK == 0) scratchK = allocAligned(64, 16); return scratchK; }
function scratchValue(): usize { if (scratchV == 0) scratchV = allocAligned(64, 16); return scratchV; }

// Map shims for the model-based tests (test/maps.test.ts): the same code the pipeline runs.
export { hashCreate, hashLookup, hashUpdate, hashDelete, hashCount, hashFailures } from "./maps/hash";
export { lruCreate, lruLookup, lruPeek, lruUpdate, lruDelete, lruCount, lruEvictions, lruOldest, lruNewer,
  lruKeyOf, lruValueOf, lruReferenced } from "./maps/lru";
export { lpmCreate, lpmUpdate, lpmDelete, lpmLookup, lpmGet, lpmCount } from "./maps/lpm";
export { arrayCreate, arrayGet, arrayCapacity } from "./maps/array";
export function lruLastEvicted(): bool { return lruEvictedFlag(); }
import { lruEvicted, lruMaxEntries } from "./maps/lru";
function lruEvictedFlag(): bool { return lruEvicted; }
export { NODE_SIZE };
export { httpDecide, httpSeed, httpPrngState } from "./http";

// The layouts and numbers the host mirrors (src/packet.ts, src/dataplane.ts), exported as globals so that one
// test (test/layout.test.ts) holds every mirror to the core's own values, as Cilium's alignchecker holds the
// agent's structs to the datapath's.
export {
  PKT_SADDR, PKT_DADDR, PKT_SPORT, PKT_DPORT, PKT_PROTO, PKT_TCP_FLAGS, PKT_NODE, PKT_LEN, PKT_OUT_SADDR, PKT_OUT_DADDR,
  PKT_OUT_SPORT, PKT_OUT_DPORT, PKT_VERDICT, PKT_DROP_REASON, PKT_CT_STATE, PKT_NAT_FLAGS, PKT_SERVICE, PKT_BACKEND,
  PKT_POLICY_RULE, PKT_HOP_NODE, PKT_HOP_VERDICT, PKT_HOP_CT_STATE, PKT_HOP_NAT_FLAGS, PKT_STRIDE, NONE, PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_SCTP, TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK,
  VERDICT_FORWARDED, VERDICT_DROPPED, VERDICT_REJECTED, DROP_INVALID_SOURCE_IP, DROP_INVALID_PACKET, DROP_UNKNOWN_L4_PROTOCOL,
  DROP_POLICY_DENIED, DROP_POLICY_DENY, DROP_SERVICE_BACKEND_NOT_FOUND, DROP_CT_MAP_INSERTION_FAILED, DROP_NAT_NO_MAPPING,
  DROP_NOT_IN_SRC_RANGE, DROP_NODE_DOWN, DROP_REASONS, CT_NONE, CT_NEW, CT_ESTABLISHED, CT_REPLY, CT_REOPENED,
  NAT_DNAT, NAT_SNAT, NAT_REVNAT, NAT_AFFINITY, NAT_HAIRPIN,
} from "./packet";
export { C_VERDICT, C_DROP, C_CT_CREATED, C_CT_EVICTED, C_CT_EXPIRED, C_AFFINITY_EVICTED, C_PACKETS, C_BYTES, C_POLICY_LOOKUPS, C_CT_REOPENED, C_IPVS_SCHED_EVICTED, COUNTERS } from "./counters";
export {
  ALGO_RANDOM, ALGO_WEIGHTED, ALGO_MAGLEV, ALGO_RR, ALGO_LC, ALGO_SH, ALGO_WRR, ALGO_WLC, ALGO_DH, ALGO_SED, ALGO_NQ,
  SVC_MASQ_EXTERNAL, SVC_MASQ_ALWAYS, SVC_SOURCE_RANGES, SVC_DROP_NO_BACKEND, SCOPE_ANY, SCOPE_EXTERNAL, SCOPE_INTERNAL,
} from "./records";
export { IDENTITY_HOST, IDENTITY_WORLD, IPC_POD, IPC_HOST, IPC_ENFORCE_INGRESS, IPC_ENFORCE_EGRESS, DIR_INGRESS, DIR_EGRESS, POLICY_ALLOW, POLICY_DENY, POLICY_DENIED } from "./policy";
export {
  K_SADDR, K_DADDR, K_SPORT, K_DPORT, K_PROTO, K_NODE, CT_KEY_SIZE, F_NAT_SADDR, F_NAT_DADDR, F_NAT_SPORT, F_NAT_DPORT, F_SERVICE, F_BACKEND,
  F_EXPIRES, F_STATE, F_PACKETS, F_BYTES, CT_FLOW_SIZE, RULE_DADDR, RULE_DPORT, RULE_PROTO, RULE_SCOPE, RULE_NODE, RULE_TARGET, RULE_SIZE,
} from "./records";
export { DESIGN_EBPF, DESIGN_IPTABLES, DESIGN_IPVS, DESIGN_NFTABLES, CT_LIFETIME_TCP, CT_LIFETIME_SYN, CT_LIFETIME_CLOSE, CT_LIFETIME_NONTCP, NAT_PORT_MIN, NAT_PORT_MAX, NAT_PORT_TRIES } from "./config";
