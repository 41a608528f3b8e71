// The core's maps, created once by init() with capacities fixed by the host.
// Definitions only (as Cilium's bpf/lib keeps its map definitions apart from
// the logic); every record is laid out in records.ts, and each concern's module
// reads and writes its own:
//   ctFlows      LRU hash  CtKey(16) -> flow (conntrack.ts)
//   ctReplies    hash      reply CtKey(16) -> reply entry (conntrack.ts)
//   frontends    hash      (vip, port, proto, scope, node)(16) -> service index (lb.ts)
//   sourceRanges LPM       (service, CIDR) -> present (loadBalancerSourceRanges)
//   services     array     service index -> service (lb.ts)
//   backendSlots array     u32 backend id per slot; a service owns a run of slots
//   backends     array     backend id -> backend (lb.ts)
//   backendIdle  array     backend id -> u32: of its live flows, those IPVS counts inactive (conntrack.ts)
//   maglevCells  array     u16 slot index per Maglev cell; a service owns a run of M cells
//   affinity     LRU hash  (client, affinity group, node)(12) -> (backend, last used)(8)
//   ipcache      LPM       CIDR -> (identity, endpoint, node, flags) (policy.ts)
//   policy       hash      (subject, identity, port block, proto, dir)(16) -> (rule, verdict)(8) (policy.ts)
//   policyLengths hash     (subject, dir)(8) -> port block lengths in use (80) (policy.ts)
//   nodes        array     node id -> (address, flags)
// Every node's own state (ctFlows, ctReplies, affinity, and the ipvs design's per-node tables) is kept in
// `shardCount` sets of these tables, node n's in shard n & (shardCount - 1), each with 1/shardCount of the
// capacity: a shard's tables are only ever touched for its nodes' packets, so shards can be processed apart
// (by several workers, each owning some shards) with the same results. selectShard points the globals
// above at one shard's tables; the pipeline selects the shard of the node whose packet it handles.
// The iptables, ipvs and nftables designs (config.ts DESIGN) add structures
// of their own, created by index.ts designInit() and laid out in designs/*.ts:
// the KUBE-SERVICES rule list, the IPVS scheduler state, the nftables vmap.

import { hashCreate } from "./maps/hash";
import { lruCreate } from "./maps/lru";
import { lpmCreate } from "./maps/lpm";
import { arrayCreate } from "./maps/array";
import { countersInit } from "./counters";
import { allocZeroed } from "./alloc";

import { CT_KEY_SIZE, CT_FLOW_SIZE, CT_REPLY_SIZE, FE_KEY_SIZE, FE_VALUE_SIZE, SERVICE_SIZE, BACKEND_SIZE, AFFINITY_KEY_SIZE,
  AFFINITY_VALUE_SIZE, IPCACHE_SIZE, POLICY_KEY_SIZE, POLICY_VALUE_SIZE, LENGTHS_KEY_SIZE, LENGTHS_VALUE_SIZE, NODE_SIZE } from "./records";

export let ctFlows: usize = 0;
export let ctReplies: usize = 0;
export let frontends: usize = 0;
export let services: usize = 0;
export let backendSlots: usize = 0;
export let backends: usize = 0;
export let backendIdle: usize = 0;
export let maglevCells: usize = 0;
export let affinity: usize = 0;
export let ipcache: usize = 0;
export let sourceRanges: usize = 0;
export let policy: usize = 0;
export let policyLengths: usize = 0;
export let nodes: usize = 0;
/** The ipvs design's per-node tables of the selected shard (designs/ipvs.ts): connection counts, scheduler LRU. */
export let ipvsNodeConns: usize = 0;
export let ipvsNodeSched: usize = 0;

export let shardCount: u32 = 1;
let shardMask: u32 = 0;
/** Per shard, SHARD_SIZE bytes: ctFlows +0, ctReplies +4, affinity +8, ipvsNodeConns +12, ipvsNodeSched +16. */
let shardTables: usize = 0;
const SHARD_SIZE: u32 = 32;
export const SHARD_CT_FLOWS = 0; export const SHARD_CT_REPLIES = 4; export const SHARD_AFFINITY = 8;
export const SHARD_IPVS_CONNS = 12; export const SHARD_IPVS_SCHED = 16;
/** The shard whose tables the globals point at. */
export let shardSelected: u32 = 0;

/** The shard holding node `node`'s state. */
// @ts-ignore: decorator
@inline export function shardOf(node: u32): u32 { return node & shardMask; }

/** Point ctFlows, ctReplies, affinity and the ipvs per-node tables at shard `s`'s. */
// @ts-ignore: decorator
@inline export function selectShard(s: u32): void {
  if (s == shardSelected) return;
  const t = shardTables + <usize>s * SHARD_SIZE;
  ctFlows = <usize>load<u32>(t, SHARD_CT_FLOWS); ctReplies = <usize>load<u32>(t, SHARD_CT_REPLIES);
  affinity = <usize>load<u32>(t, SHARD_AFFINITY);
  ipvsNodeConns = <usize>load<u32>(t, SHARD_IPVS_CONNS); ipvsNodeSched = <usize>load<u32>(t, SHARD_IPVS_SCHED);
  shardSelected = s;
}

/** Record table `m` as shard `s`'s table at `field` (SHARD_*), for the design's own per-node tables. */
export function shardTableSet(s: u32, field: u32, m: usize): void {
  store<u32>(shardTables + <usize>s * SHARD_SIZE + field, <u32>m);
  if (s == shardSelected) { shardSelected = 0xffffffff; selectShard(s); }
}

/** Bumped by the host on every policy change; flows remember the revision their verdict was made under. */
export let policyRevision: u32 = 1;
export function setPolicyRevision(r: u32): void { policyRevision = r; }

/**
 * Create every map. Returns 0, or the 1-based number of the map that could not
 * be created (out of memory or a bad capacity), so the host can say which.
 */
export function tablesInit(
  maxFlows: u32, maxServices: u32, maxFrontends: u32, maxBackends: u32, maxSlots: u32,
  maxMaglevCells: u32, maxAffinity: u32, maxIpcache: u32, maxPolicy: u32, maxNodes: u32, shards: u32,
): i32 {
  countersInit();
  if (shards == 0 || shards > 64 || (shards & (shards - 1)) != 0) return 15;
  shardCount = shards; shardMask = shards - 1;
  shardTables = allocZeroed(<usize>shards * SHARD_SIZE, 64); if (shardTables == 0) return 15;
  const flowsEach = (maxFlows + shards - 1) / shards;
  const affinityEach = (maxAffinity + shards - 1) / shards;
  for (let s: u32 = 0; s < shards; s++) {
    const t = shardTables + <usize>s * SHARD_SIZE;
    const flows = lruCreate(CT_KEY_SIZE, CT_FLOW_SIZE, flowsEach); if (flows == 0) return 1;
    const replies = hashCreate(CT_KEY_SIZE, CT_REPLY_SIZE, flowsEach); if (replies == 0) return 2;
    const aff = lruCreate(AFFINITY_KEY_SIZE, AFFINITY_VALUE_SIZE, affinityEach); if (aff == 0) return 8;
    store<u32>(t, <u32>flows, SHARD_CT_FLOWS); store<u32>(t, <u32>replies, SHARD_CT_REPLIES); store<u32>(t, <u32>aff, SHARD_AFFINITY);
  }
  shardSelected = 0xffffffff; selectShard(0);
  frontends = hashCreate(FE_KEY_SIZE, FE_VALUE_SIZE, maxFrontends); if (frontends == 0) return 3;
  services = arrayCreate(SERVICE_SIZE, maxServices); if (services == 0) return 4;
  backendSlots = arrayCreate(4, maxSlots); if (backendSlots == 0) return 5;
  backends = arrayCreate(BACKEND_SIZE, maxBackends); if (backends == 0) return 6;
  maglevCells = arrayCreate(2, maxMaglevCells); if (maglevCells == 0) return 7;
  ipcache = lpmCreate(IPCACHE_SIZE, maxIpcache); if (ipcache == 0) return 9;
  policy = hashCreate(POLICY_KEY_SIZE, POLICY_VALUE_SIZE, maxPolicy); if (policy == 0) return 10;
  nodes = arrayCreate(NODE_SIZE, maxNodes); if (nodes == 0) return 11;
  sourceRanges = lpmCreate(4, maxFrontends); if (sourceRanges == 0) return 12;
  policyLengths = hashCreate(LENGTHS_KEY_SIZE, LENGTHS_VALUE_SIZE, maxPolicy); if (policyLengths == 0) return 13;
  // Apart from the 16-byte backend entry (one line, read by every new flow): written only when
  // a flow becomes or stops being an inactive connection.
  backendIdle = arrayCreate(4, maxBackends); if (backendIdle == 0) return 14;
  return 0;
}
