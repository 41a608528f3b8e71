// Connection tracking: one LRU entry per flow keyed by its original tuple, plus
// a reply entry keyed by the tuple replies carry (after DNAT/SNAT), which leads
// back to the flow. One lifetime per flow, refreshed by packets either way, as
// Linux conntrack keeps it; lifetimes and TCP handling follow Cilium's
// bpf/lib/conntrack.h (SYN until a non-SYN packet is seen, FIN/RST closing per
// direction, a SYN on a closing entry re-opens it).
//
// The key (the original tuple and the node), the flow and the reply entry are laid out in records.ts (CtKey,
// Flow, Reply). Every node has its own flows (the node is in the key): a node's conntrack holds the flows that
// cross it, as each Linux node's nf_conntrack (and each Cilium agent's CT map) does, so a flow entering on one
// node is new on another, and NAT source ports are free or taken per node.

import { ctFlows, ctReplies, backends, backendIdle } from "./tables";
import { K_PROTO, K_NODE, K_PORTS_WORD, CT_KEY_SIZE, CT_REPLY_SIZE, F_NAT_SADDR, F_NAT_DADDR, F_NAT_SPORT, F_NAT_DPORT, F_SERVICE, F_BACKEND,
  F_EXPIRES, F_STATE, F_PACKETS, F_BYTES, R_FLOW_KEY, R_PACKETS, R_BYTES, R_RETURN_NODE, B_ACTIVE } from "./records";
import { lruLookup, lruLookupFrom, lruPeek, lruFind, lruUpdate, lruDeleteSlot, lruEvicted, lruScratch, lruSlotAt, lruSlotCount,
  lruKeyOf, lruValueOf, lruCount } from "./maps/lru";
import { hashLookup, hashUpdate, hashDelete, hashCount } from "./maps/hash";
import { arrayGet } from "./maps/array";
import { allocAligned } from "./alloc";
import { copySmall } from "./maps/common";
import { count, C_CT_CREATED, C_CT_EVICTED, C_CT_EXPIRED } from "./counters";
import { CT_LIFETIME_TCP, CT_LIFETIME_SYN, CT_LIFETIME_CLOSE, CT_LIFETIME_NONTCP, DESIGN, DESIGN_IPVS } from "./config";
import { ipvsCountConn, ipvsCountIdle } from "./designs/ipvs";
import { NONE, PROTO_TCP, PROTO_SCTP, TCP_SYN, TCP_FIN, TCP_RST, CT_ESTABLISHED, CT_REOPENED, CT_REPLY } from "./packet";


export const CTF_SEEN_NON_SYN: u32 = 1; // a packet without SYN was seen: established lifetime
export const CTF_TX_CLOSING: u32 = 2;   // FIN/RST seen in the original direction
export const CTF_RX_CLOSING: u32 = 4;   // FIN/RST seen in the reply direction
export const CTF_SEEN_REPLY: u32 = 8;
export const CTF_SNAT: u32 = 16;
export const CTF_DST_REMOTE: u32 = 32; // the flow leaves toward an address another node owns: a second hop there
export const CTF_IPVS_COUNTED: u32 = 64; // ipvs: counted in its node's connections to the backend (designs/ipvs.ts)
export const CTF_MASK: u32 = 0xff;

let keyA: usize = 0; // scratch keys
let keyB: usize = 0;
let replyBuf: usize = 0;

/** This instance's scratch buffers (index.ts workerAttach gives each worker its own). */
export function ctInit(): void {
  keyA = allocAligned(CT_KEY_SIZE, 16); keyB = allocAligned(CT_KEY_SIZE, 16); replyBuf = allocAligned(CT_REPLY_SIZE, 16);
}

/**
 * Keys are written as two whole u64 words: the hash and the compare read them
 * back in words, and a wide load of several narrow stores cannot be forwarded
 * from the store buffer. It then waits for the stores to retire, behind the
 * previous packet's cache miss, and no two packets' misses overlap (that was
 * a factor of 2.5 at a million flows).
 */
// @ts-ignore: decorator
@inline export function ctWriteKey(k: usize, saddr: u32, daddr: u32, sport: u16, dport: u16, proto: u8, node: u16): void {
  store<u64>(k, <u64>saddr | (<u64>daddr << 32));
  store<u64>(k, <u64>sport | (<u64>dport << 16) | (<u64>proto << 32) | (<u64>node << 48), K_PORTS_WORD);
}

export function ctScratchKey(): usize { return keyA; }

/** The key replies of a flow carry: the leaving tuple reversed, on the flow's node. */
// @ts-ignore: decorator
@inline function writeReplyKey(k: usize, flow: usize, proto: u8, node: u16): void {
  ctWriteKey(k, load<u32>(flow, F_NAT_DADDR), load<u32>(flow, F_NAT_SADDR),
    load<u16>(flow, F_NAT_DPORT), load<u16>(flow, F_NAT_SPORT), proto, node);
}

/**
 * Whether IPVS would count a flow in this state among its destination's
 * inactive connections (inactconns) rather than the active ones: TCP once a
 * FIN or RST is seen (FIN_WAIT, CLOSE_WAIT, TIME_WAIT, CLOSE: SYN_SENT,
 * SYN_RECV and ESTABLISHED count active since Linux 4.8, "count
 * pre-established TCP states as active"); UDP and ICMP always (a connection
 * starts IP_VS_CONN_F_INACTIVE and only TCP and SCTP state changes clear it);
 * SCTP until the association answers (IPVS: until ESTABLISHED; conntrack here
 * keeps no SCTP states, so a seen reply stands for it). The ipvs design's lc,
 * wlc, sed and nq read the counts (designs/ipvs.ts).
 */
// @ts-ignore: decorator
@inline export function ipvsInactive(proto: u8, state: u32): bool {
  if (proto == PROTO_TCP) return (state & (CTF_TX_CLOSING | CTF_RX_CLOSING)) != 0;
  if (proto == PROTO_SCTP) return (state & CTF_SEEN_REPLY) == 0;
  return true;
}

/** Add `delta` (+1 or -1, never below 0) to a backend's inactive connections. */
function countIdle(backend: u32, delta: i32): void {
  const c = arrayGet(backendIdle, backend);
  if (c != 0) atomicCount(c, delta);
}

/**
 * Add +1 or -1 (never below 0) to a count every node's flows share (a backend's): atomically, as workers
 * processing different nodes update it at once (a sum: the same in any order).
 */
function atomicCount(c: usize, delta: i32): void {
  if (delta > 0) { atomic.add<u32>(c, 1); return; }
  let v = atomic.load<u32>(c);
  while (v > 0) {
    const seen = atomic.cmpxchg<u32>(c, v, v - 1);
    if (seen == v) return;
    v = seen;
  }
}

/**
 * Add `delta` (+1 or -1) to a backend's live flows and, when `inactive`, to its inactive connections: the
 * cluster-wide counts, and (ipvs) the counts of the flow's node, which its IPVS schedulers weigh.
 */
function countOnBackend(backend: u32, delta: i32, inactive: bool, node: u16, state: u32): void {
  if (backend == NONE) return;
  const b = arrayGet(backends, backend);
  if (b == 0) return;
  atomicCount(b + B_ACTIVE, delta);
  if (inactive) countIdle(backend, delta);
  if (DESIGN == DESIGN_IPVS && (state & CTF_IPVS_COUNTED) != 0) ipvsCountConn(backend, node, delta, inactive);
}

/** Undo what hangs off a flow that is going away (its reply entry, the backend's connection counts). */
function releaseFlow(key: usize, flow: usize): void {
  const proto = load<u8>(key, K_PROTO);
  writeReplyKey(keyB, flow, proto, load<u16>(key, K_NODE));
  hashDelete(ctReplies, keyB);
  const state = load<u32>(flow, F_STATE);
  countOnBackend(load<u32>(flow, F_BACKEND), -1, ipvsInactive(proto, state), load<u16>(key, K_NODE), state);
}

function removeFlowSlot(slot: usize): void {
  releaseFlow(lruKeyOf(slot), lruValueOf(ctFlows, slot));
  lruDeleteSlot(ctFlows, slot);
}

/**
 * Live flow stored under `key`, or 0 (an expired one is removed on the way).
 * A packet's lookup marks the flow referenced for the LRU; a probe does not.
 */
export function ctLookupFlow(key: usize, now: u32, touch: bool = true): usize {
  const v = touch ? lruLookup(ctFlows, key) : lruPeek(ctFlows, key);
  return v == 0 ? 0 : liveOrRemove(key, v, now);
}

/** ctLookupFlow for a packet whose home slot the batch loop already hashed (and prefetched). */
// @ts-ignore: decorator
@inline export function ctLookupFlowFrom(key: usize, home: u32, now: u32): usize {
  const v = lruLookupFrom(ctFlows, key, home);
  return v == 0 ? 0 : liveOrRemove(key, v, now);
}

// @ts-ignore: decorator
@inline function liveOrRemove(key: usize, v: usize, now: u32): usize {
  if (load<u32>(v, F_EXPIRES) <= now) {
    removeFlowSlot(lruFind(ctFlows, key));
    count(C_CT_EXPIRED);
    return 0;
  }
  return v;
}

/** Reply entry stored under `key` whose flow is live, or 0. Sets ctReplyFlow to that flow. */
export let ctReplyFlow: usize = 0;
export function ctLookupReply(key: usize, now: u32, touch: bool = true): usize {
  const r = hashLookup(ctReplies, key);
  if (r == 0) return 0;
  ctReplyFlow = ctLookupFlow(r + R_FLOW_KEY, now, touch);
  return ctReplyFlow == 0 ? 0 : r; // an expired flow took its reply entry with it
}

/** Whether a live flow already leaves with the tuple whose replies carry `replyKey`. */
export function ctReplyKeyTaken(replyKey: usize, now: u32): bool {
  return ctLookupReply(replyKey, now, false) != 0;
}

/**
 * Update a flow's TCP state and lifetime for a packet with `flags` going
 * `reply` or original way. Returns CT_ESTABLISHED, CT_REPLY or CT_REOPENED.
 */
// @ts-ignore: decorator
@inline export function ctRefresh(flow: usize, proto: u8, flags: u8, reply: bool, now: u32): u8 {
  // The common case first: an established TCP packet with nothing but ACK/PSH changes only the lifetime.
  const state = load<u32>(flow, F_STATE);
  if (!reply && proto == PROTO_TCP && (flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0 &&
      (state & (CTF_SEEN_NON_SYN | CTF_TX_CLOSING | CTF_RX_CLOSING)) == CTF_SEEN_NON_SYN) {
    const expires = now + CT_LIFETIME_TCP;
    store<u32>(flow, expires < now ? 0xffffffff : expires, F_EXPIRES);
    return CT_ESTABLISHED;
  }
  return ctRefreshSlow(flow, proto, flags, reply, now);
}

function ctRefreshSlow(flow: usize, proto: u8, flags: u8, reply: bool, now: u32): u8 {
  let state = load<u32>(flow, F_STATE);
  const wasInactive = ipvsInactive(proto, state);
  let result: u8 = reply ? CT_REPLY : CT_ESTABLISHED;
  let lifetime = CT_LIFETIME_NONTCP;
  if (reply) state |= CTF_SEEN_REPLY;
  if (proto == PROTO_TCP) {
    if ((flags & TCP_SYN) != 0 && (state & (CTF_TX_CLOSING | CTF_RX_CLOSING)) != 0) {
      // A new SYN on a closing connection re-opens it (Cilium: CT_REOPENED).
      state &= ~(CTF_TX_CLOSING | CTF_RX_CLOSING | CTF_SEEN_NON_SYN);
      result = CT_REOPENED;
    }
    if ((flags & TCP_RST) != 0) state |= CTF_TX_CLOSING | CTF_RX_CLOSING;
    else if ((flags & TCP_FIN) != 0) state |= reply ? CTF_RX_CLOSING : CTF_TX_CLOSING;
    if ((flags & TCP_SYN) == 0) state |= CTF_SEEN_NON_SYN;
    if ((state & (CTF_TX_CLOSING | CTF_RX_CLOSING)) == (CTF_TX_CLOSING | CTF_RX_CLOSING)) lifetime = CT_LIFETIME_CLOSE;
    else lifetime = (state & CTF_SEEN_NON_SYN) != 0 ? CT_LIFETIME_TCP : CT_LIFETIME_SYN;
  }
  store<u32>(flow, state, F_STATE);
  const inactive = ipvsInactive(proto, state);
  if (inactive != wasInactive && load<u32>(flow, F_BACKEND) != NONE) { // moved between IPVS's active and inactive connections
    countIdle(load<u32>(flow, F_BACKEND), inactive ? 1 : -1);
    // The flow's node is in its key, which sits just before its value in the ctFlows slot (maps/lru.ts).
    if (DESIGN == DESIGN_IPVS && (state & CTF_IPVS_COUNTED) != 0) ipvsCountIdle(load<u32>(flow, F_BACKEND), load<u16>(flow - CT_KEY_SIZE, K_NODE), inactive ? 1 : -1);
  }
  const expires = now + lifetime;
  store<u32>(flow, expires < now ? 0xffffffff : expires, F_EXPIRES); // saturate, never wrap
  return result;
}

/**
 * Create a flow (original tuple in `key`) leaving as natSaddr:natSport -> natDaddr:natDport.
 * A full table evicts its least recently used flow first. Returns the flow, or 0
 * if the reply entry could not be stored (CT_MAP_INSERTION_FAILED).
 */
export function ctCreate(key: usize, natSaddr: u32, natDaddr: u32, natSport: u16, natDport: u16,
  service: u32, backend: u32, stateBits: u32, revision: u32, returnNode: u16, now: u32): usize {
  const flow = lruUpdate(ctFlows, key);
  if (lruEvicted) {
    const victim = lruScratch(ctFlows);
    releaseFlow(victim, victim + CT_KEY_SIZE);
    count(C_CT_EVICTED);
  }
  store<u32>(flow, natSaddr, F_NAT_SADDR); store<u32>(flow, natDaddr, F_NAT_DADDR);
  store<u16>(flow, natSport, F_NAT_SPORT); store<u16>(flow, natDport, F_NAT_DPORT);
  store<u32>(flow, service, F_SERVICE); store<u32>(flow, backend, F_BACKEND);
  store<u32>(flow, stateBits | (revision << 8), F_STATE);
  store<u32>(flow, 0, F_PACKETS); store<u32>(flow, 0, F_BYTES);
  store<u32>(flow, 0, F_EXPIRES);
  copySmall(replyBuf, key, CT_KEY_SIZE);
  store<u32>(replyBuf, 0, R_PACKETS); store<u32>(replyBuf, 0, R_BYTES);
  store<u32>(replyBuf, <u32>returnNode, R_RETURN_NODE); // and the zero pad
  writeReplyKey(keyB, flow, load<u8>(key, K_PROTO), load<u16>(key, K_NODE));
  if (hashUpdate(ctReplies, keyB, replyBuf) != 0) {
    lruDeleteSlot(ctFlows, lruFind(ctFlows, key));
    return 0;
  }
  countOnBackend(backend, 1, ipvsInactive(load<u8>(key, K_PROTO), stateBits), load<u16>(key, K_NODE), stateBits);
  count(C_CT_CREATED);
  return flow;
}

/**
 * The host moved its time origin forward by `delta` ms (src/wasm.ts: virtual time longer than a u32 of
 * ms): every expiry moves back by as much; one already in the past stays in the past (0).
 */
export function ctRebase(delta: u32): void {
  const n = lruSlotCount(ctFlows);
  for (let i: u32 = 0; i < n; i++) {
    const s = lruSlotAt(ctFlows, i);
    if (s == 0) continue;
    const v = lruValueOf(ctFlows, s);
    const e = load<u32>(v, F_EXPIRES);
    store<u32>(v, e > delta ? e - delta : 0, F_EXPIRES);
  }
}

/** Remove every expired flow (the GC pass). Returns how many went. */
export function ctGc(now: u32): u32 {
  let removed: u32 = 0;
  const n = lruSlotCount(ctFlows);
  for (let i: u32 = 0; i < n; i++) {
    // Backward shift may pull a later entry into slot i: look at i again after a removal.
    while (true) {
      const s = lruSlotAt(ctFlows, i);
      if (s == 0 || load<u32>(lruValueOf(ctFlows, s), F_EXPIRES) > now) break;
      removeFlowSlot(s);
      removed++;
    }
  }
  count(C_CT_EXPIRED, removed);
  return removed;
}

/**
 * Remove the flows to `backend` of protocol `proto` (0: any). kube-proxy does
 * this for UDP when an endpoint goes away (conntrack -D), and leaves TCP alone.
 */
export function ctFlushBackend(backend: u32, proto: u8): u32 {
  let removed: u32 = 0;
  const n = lruSlotCount(ctFlows);
  for (let i: u32 = 0; i < n; i++) {
    while (true) { // as in ctGc: a removal may pull the next entry into slot i
      const s = lruSlotAt(ctFlows, i);
      if (s == 0) break;
      const v = lruValueOf(ctFlows, s);
      if (load<u32>(v, F_BACKEND) != backend || (proto != 0 && load<u8>(lruKeyOf(s), K_PROTO) != proto)) break;
      removeFlowSlot(s);
      removed++;
    }
  }
  return removed;
}

/**
 * Remove every flow of `node` (the node failed: its conntrack is gone with it). Returns how many went.
 */
export function ctFlushNode(node: u16): u32 {
  let removed: u32 = 0;
  const n = lruSlotCount(ctFlows);
  for (let i: u32 = 0; i < n; i++) {
    while (true) { // as in ctGc: a removal may pull the next entry into slot i
      const s = lruSlotAt(ctFlows, i);
      if (s == 0 || load<u16>(lruKeyOf(s), K_NODE) != node) break;
      removeFlowSlot(s);
      removed++;
    }
  }
  return removed;
}

export function ctFlowCount(): u32 { return lruCount(ctFlows); }
export function ctReplyCount(): u32 { return hashCount(ctReplies); }

/** Forget the policy revision of every flow (when the 24-bit revision wraps). */
export function ctClearRevisions(): void {
  const n = lruSlotCount(ctFlows);
  for (let i: u32 = 0; i < n; i++) {
    const s = lruSlotAt(ctFlows, i);
    if (s != 0) {
      const v = lruValueOf(ctFlows, s);
      store<u32>(v, load<u32>(v, F_STATE) & CTF_MASK, F_STATE);
    }
  }
}
