// Every record the core's maps hold, laid out once (as Katran keeps balancer_structs.h apart from its maps
// and logic). Each is an @unmanaged class the compiler lays out (fields in order, each at its natural
// alignment, as AssemblyScript's rt/tlsf.ts lays out its blocks); the offsets and sizes the code uses are
// derived from the class with offsetof, so a field moves in one place. Nothing here is ever instantiated:
// the classes are layouts, read and written with load/store at the derived offsets, which the compiler folds
// into constant immediates (the optimized core is byte for byte the build with literal offsets).
//
// Each record's writers live with its owner (lb.ts writes services and backends, policy.ts ipcache values,
// conntrack.ts flows); tables.ts sizes the maps with the sizes below. The packet descriptor, the host's
// interface, is laid out in packet.ts.

// ---------------------------------------------------------------- conntrack (conntrack.ts)

/**
 * A flow's original tuple and the node whose conntrack holds it: the ctFlows key (and, reversed after NAT,
 * the ctReplies key). One table holds every node's flows; a node sees only its own, as each node's
 * conntrack holds only the flows that cross it (bytes per flow unchanged: the node was padding).
 */
@unmanaged class CtKey {
  saddr: u32; daddr: u32;
  sport: u16; dport: u16;
  proto: u8; pad0: u8; node: u16; // pad0 zero
}
export const K_SADDR = offsetof<CtKey>("saddr"); export const K_DADDR = offsetof<CtKey>("daddr");
export const K_SPORT = offsetof<CtKey>("sport"); export const K_DPORT = offsetof<CtKey>("dport");
export const K_PROTO = offsetof<CtKey>("proto"); export const K_NODE = offsetof<CtKey>("node");
/** The key as two u64 words (conntrack.ts ctWriteKey stores it so): the addresses, then ports, protocol and node. */
export const K_PORTS_WORD = offsetof<CtKey>("sport");
export const CT_KEY_SIZE: u32 = offsetof<CtKey>();

/** A flow, the ctFlows value (with the LRU's 12-byte slot header and the key, one 64-byte line). */
@unmanaged class Flow {
  natSaddr: u32; natDaddr: u32; natSport: u16; natDport: u16; // the tuple as it leaves
  service: u32; backend: u32; // NONE when not a service flow
  expires: u32;               // virtual ms; the flow is gone once now >= expires
  state: u32;                 // bits 0-7 CTF_* (conntrack.ts); bits 8-31 the policy revision its verdict was made under
  packets: u32; bytes: u32;   // original direction, wrapping at 2^32
}
export const F_NAT_SADDR = offsetof<Flow>("natSaddr"); export const F_NAT_DADDR = offsetof<Flow>("natDaddr");
export const F_NAT_SPORT = offsetof<Flow>("natSport"); export const F_NAT_DPORT = offsetof<Flow>("natDport");
export const F_SERVICE = offsetof<Flow>("service"); export const F_BACKEND = offsetof<Flow>("backend");
export const F_EXPIRES = offsetof<Flow>("expires"); export const F_STATE = offsetof<Flow>("state");
export const F_PACKETS = offsetof<Flow>("packets"); export const F_BYTES = offsetof<Flow>("bytes");
export const CT_FLOW_SIZE: u32 = offsetof<Flow>();

/**
 * A reply entry, the ctReplies value: the flow's key, the reply direction's counters, and the node replies go on
 * to after this one (NODE_NONE: none): the client's node when it is another, or, for a flow a second hop
 * created, the node that flow came from (which NATed it and must reverse it).
 */
@unmanaged class Reply {
  flowKey: u64; flowKeyHigh: u64; // the flow's CtKey, inline (a field of class type would be a pointer)
  packets: u32; bytes: u32;
  returnNode: u16; pad0: u16;
}
export const R_FLOW_KEY = offsetof<Reply>("flowKey"); export const R_RETURN_NODE = offsetof<Reply>("returnNode");
export const R_PACKETS = offsetof<Reply>("packets"); export const R_BYTES = offsetof<Reply>("bytes");
export const CT_REPLY_SIZE: u32 = offsetof<Reply>();

// ---------------------------------------------------------------- services (lb.ts)

/**
 * A frontend, the frontends key (-> the service index, u32). Scope ANY with node 0 is the frontend's own
 * entry; EXTERNAL / INTERNAL with a node is that node's. Written as two u64 words (designs/ebpf.ts frontendKey).
 */
@unmanaged class FrontendKey {
  vip: u32; port: u16; proto: u8; scope: u8;
  node: u32; zero: u32;
}
export const FE_KEY_SIZE: u32 = offsetof<FrontendKey>();
export const FE_NODE_WORD = offsetof<FrontendKey>("node");
export const FE_VALUE_SIZE: u32 = sizeof<u32>();

// The numbers the service records hold: endpoint-selection algorithms (Service.algo; which design has
// which: src/dataplane.ts DESIGNS), service flags (Service.flags), frontend scopes (FrontendKey.scope),
// backend flags (Backend.flags).
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

/** A service entry, the services value, indexed by service index. */
@unmanaged class Service {
  slots: u32;    // first backend slot (backendSlots: u32 backend id per slot)
  count: u16;    // backend slots from `slots`
  algo: u8;      // ALGO_*
  flags: u8;     // SVC_*
  affinity: u32; // ClientIP affinity timeout, ms (0: no session affinity)
  maglev: u32;   // first Maglev cell (maglevCells: u16 slot index per cell)
  maglevM: u32;  // Maglev table size M
  rr: u32;       // round-robin cursor, kept across rewrites of the entry
  affinityGroup: u32; // entries of one group share a client's affinity (kube-proxy's service port)
  reserved: u32; // padding to 32 bytes: two entries a cache line, never one across two
}
export const S_SLOTS = offsetof<Service>("slots"); export const S_COUNT = offsetof<Service>("count");
export const S_ALGO = offsetof<Service>("algo"); export const S_FLAGS = offsetof<Service>("flags");
export const S_AFFINITY = offsetof<Service>("affinity"); export const S_MAGLEV = offsetof<Service>("maglev");
export const S_MAGLEV_M = offsetof<Service>("maglevM"); export const S_RR = offsetof<Service>("rr");
export const S_AFFINITY_GROUP = offsetof<Service>("affinityGroup");
export const SERVICE_SIZE: u32 = offsetof<Service>();

/** A backend, the backends value, indexed by backend id (one 16-byte line read by every new flow). */
@unmanaged class Backend {
  addr: u32; port: u16; node: u16;
  weight: u16; flags: u16; // BE_VALID
  active: u32;             // live flows (of them, those IPVS counts inactive: backendIdle, conntrack.ts)
}
export const B_ADDR = offsetof<Backend>("addr"); export const B_PORT = offsetof<Backend>("port");
export const B_NODE = offsetof<Backend>("node"); export const B_WEIGHT = offsetof<Backend>("weight");
export const B_FLAGS = offsetof<Backend>("flags"); export const B_ACTIVE = offsetof<Backend>("active");
export const BACKEND_SIZE: u32 = offsetof<Backend>();

/**
 * ClientIP session affinity: the affinity key (client, service's affinity group, node) and value (backend, last
 * use in ms). Per node, as kube-proxy's `recent` lists live in each node's kernel.
 */
@unmanaged class AffinityKey { client: u32; group: u32; node: u32 } // group: the entry's affinityGroup
@unmanaged class AffinityValue { backend: u32; lastUsed: u32 }
export const AFFINITY_KEY_SIZE: u32 = offsetof<AffinityKey>();
export const AK_NODE = offsetof<AffinityKey>("node");
export const A_BACKEND = offsetof<AffinityValue>("backend"); export const A_LAST_USED = offsetof<AffinityValue>("lastUsed");
export const AFFINITY_VALUE_SIZE: u32 = offsetof<AffinityValue>();

// ---------------------------------------------------------------- identities and policy (policy.ts)

/** An ipcache value: what an address is. */
@unmanaged class IpcacheValue {
  identity: u32;
  subject: u32; // policy subject (0: no policy, not a local endpoint)
  node: u16;
  flags: u16;   // IPC_*
}
export const X_IDENTITY = offsetof<IpcacheValue>("identity"); export const X_SUBJECT = offsetof<IpcacheValue>("subject");
export const X_NODE = offsetof<IpcacheValue>("node"); export const X_FLAGS = offsetof<IpcacheValue>("flags");
export const IPCACHE_SIZE: u32 = offsetof<IpcacheValue>();

/** A policy value (the key's layout is drawn in policy.ts, written as two u64 words by its writeKey). */
@unmanaged class PolicyValue { rule: u32; verdict: u8; pad0: u8; pad1: u16 }
export const PV_RULE = offsetof<PolicyValue>("rule"); export const PV_VERDICT = offsetof<PolicyValue>("verdict");
export const POLICY_VALUE_SIZE: u32 = offsetof<PolicyValue>();
/** A policy key (drawn in policy.ts; written as two u64 words by its writeKey). */
@unmanaged class PolicyKey { subject: u32; identity: u32; port: u16; proto: u8; dir: u8; plen: u8; pad0: u8; pad1: u16 }
export const POLICY_KEY_SIZE: u32 = offsetof<PolicyKey>();
/** The key's second u64 word: port, protocol, direction, port prefix length. */
export const PK_PORT_WORD = offsetof<PolicyKey>("port");

/**
 * The block lengths in use per (subject, direction): the policyLengths key and value. The value holds, per
 * identity layer (0: the peer's, 1: any identity), a bitmap (bit L < 17: an entry with a /L port block; bit
 * 17: an any-protocol entry), then per layer a u16 count of the entries behind each bit.
 */
@unmanaged class LengthsKey { subject: u32; dir: u32 }
@unmanaged class LengthsBitmaps { peer: u32; any: u32 } // then the counts
export const LENGTHS_KEY_SIZE: u32 = offsetof<LengthsKey>();
export const LENGTH_BITS: u32 = 18;
/** Layer l's bitmap is at L_BITMAP + 4 l; its counts at L_COUNTS + L_LAYER_COUNTS l. */
export const L_BITMAP = offsetof<LengthsBitmaps>("peer");
export const L_COUNTS = offsetof<LengthsBitmaps>();
export const L_LAYER_COUNTS: u32 = LENGTH_BITS * sizeof<u16>();
export const LENGTHS_VALUE_SIZE: u32 = <u32>L_COUNTS + 2 * L_LAYER_COUNTS;

// ---------------------------------------------------------------- nodes (pipeline.ts)

/** A node, the nodes value, indexed by node id: the address packets enter on and leave masqueraded as. */
@unmanaged class NodeEntry { addr: u32; up: u32 } // up: 1 while the node has an address and has not failed
export const N_ADDR = offsetof<NodeEntry>("addr"); export const N_UP = offsetof<NodeEntry>("up");
export const NODE_SIZE: u32 = offsetof<NodeEntry>();

// ---------------------------------------------------------------- the iptables design (designs/iptables.ts)

/** A KUBE-SERVICES rule: `-d daddr -p proto --dport dport` (and the node scope) `-j` the target service. */
@unmanaged class Rule {
  daddr: u32; dport: u16; proto: u8; scope: u8; // one u64 word, compared whole
  node: u32;
  target: u32;
}
export const RULE_DADDR = offsetof<Rule>("daddr"); export const RULE_DPORT = offsetof<Rule>("dport");
export const RULE_PROTO = offsetof<Rule>("proto"); export const RULE_SCOPE = offsetof<Rule>("scope"); export const RULE_NODE = offsetof<Rule>("node");
export const RULE_TARGET = offsetof<Rule>("target");
export const RULE_SIZE: u32 = offsetof<Rule>();
