// The per-packet pipeline: process(batch, count, now) walks a packed batch and
// writes each packet's fate into its own descriptor. No allocation, no host
// calls. processOne takes one of three paths by what conntrack knows of the packet
// (forwardEstablished, forwardReply, admitNewFlow); the batch is walked a group at a
// time, its cache misses put in flight together by prefetch.ts. Stages, in order (as
// a packet meets them in Cilium's bpf_lxc):
//   1. validate         malformed packets are dropped with a reason
//   2. conntrack        a live flow (either direction) is forwarded with its NAT
//   3. service lookup   frontend (vip, port, proto) -> service -> backend (lb.ts)
//   4. masquerade?      and the source port (nat.ts)
//   5. policy           egress of the client, ingress of the destination (policy.ts)
//   6. conntrack create then forward
// then, when the packet leaves toward a pod or node address another node owns, 7. the second hop: that
// node's conntrack (secondHop). Conntrack, NAT ports and affinity are per node (conntrack.ts, lb.ts).

import * as P from "./packet";
import { K_SADDR, K_DADDR, K_SPORT, K_DPORT, K_PORTS_WORD, R_FLOW_KEY, F_NAT_SADDR, F_NAT_DADDR, F_NAT_SPORT, F_NAT_DPORT,
  F_SERVICE, F_BACKEND, F_STATE, F_PACKETS, F_BYTES, R_PACKETS, R_BYTES, R_RETURN_NODE, S_FLAGS, S_ALGO, B_ADDR, B_PORT, B_NODE, N_ADDR, N_UP,
  SVC_SOURCE_RANGES, SVC_DROP_NO_BACKEND, SVC_MASQ_ALWAYS, SVC_MASQ_EXTERNAL } from "./records";
import { ctLookupFlowFrom, ctLookupFlow, ctLookupReply, ctReplyFlow, ctRefresh, ctCreate, ctWriteKey, CTF_SNAT,
  CTF_DST_REMOTE, CTF_IPVS_COUNTED } from "./conntrack";
import { ipvsWeighsConnections } from "./designs/ipvs";
import { allocAligned, allocZeroed } from "./alloc";
import { lookupService, selectBackend, selectedByAffinity } from "./lb";
import { needsMasquerade, allocateSourcePort } from "./nat";
import { ipcacheResolve, infoIdentity, infoEndpoint, infoNode, infoFlags, policyCheck, checkRule,
  CHECK_ALLOWED, CHECK_DENY, IPC_ENFORCE_EGRESS, IPC_ENFORCE_INGRESS, IPC_HOST, IPC_POD, DIR_EGRESS, DIR_INGRESS } from "./policy";
import { lpmLookupScoped } from "./maps/lpm";
import { services, backends, nodes, policyRevision, sourceRanges, ctFlows, shardCount, shardOf, selectShard } from "./tables";
import { GROUP, prefetchGroup, groupKey, groupHome } from "./prefetch";
import { prngUse } from "./prng";
import { lruHome4, lruSlotAddr, LRU_SLOT_KEY } from "./maps/lru";
import { arrayGet } from "./maps/array";
import { POLICY_RECHECK_ESTABLISHED, POLICY_ALLOW_SELF, POLICY_EGRESS_OWN_NODE, DESIGN, DESIGN_IPTABLES, DESIGN_IPVS, NAT_PORT_MIN, NAT_PORT_MAX } from "./config";
import { iptablesMark, iptablesPostrouting } from "./designs/iptables";
import { count, C_VERDICT, C_DROP, C_PACKETS, C_BYTES } from "./counters";

/** Write node entry `n`: packets may enter on it while it has an address. */
export function nodeWrite(n: usize, addr: u32, up: bool): void {
  store<u32>(n, addr, N_ADDR); store<u32>(n, addr != 0 && up ? 1 : 0, N_UP);
}

// Result of flowPolicy(): 0 allowed, else a drop reason; the deciding rule in policyRule; the node owning
// the destination (a pod's or a node's address; NODE_NONE for any other) in dstOwner.
let policyRule: u32 = 0;
let dstOwner: u16 = P.NODE_NONE;

/** The node owning the address ipcacheResolve last resolved: a pod's node or a node's own, else NODE_NONE. */
// @ts-ignore: decorator
@inline function ownerNode(): u16 { return (infoFlags & (IPC_POD | IPC_HOST)) != 0 ? infoNode : P.NODE_NONE; }

/**
 * Policy of a connection from `saddr` (leaving as `natSaddr`) to `daddr:dport`
 * (after DNAT): the client's egress against the destination's identity, then
 * the destination's ingress against the post-SNAT source (Kubernetes: service
 * traffic is judged against the backend pod). Exemptions, before any lookup:
 * a pod's traffic to itself (directly or hairpinned through a Service) when
 * POLICY_ALLOW_SELF; egress to the client's own node when POLICY_EGRESS_OWN_NODE;
 * ingress from the destination's own node, always (NetworkPolicy: "traffic to
 * and from the node where a Pod is running is always allowed", for kubelet probes).
 * The caller has resolved the client (ipcacheResolve(saddr)): its endpoint, flags and node.
 */
function flowPolicy(saddr: u32, srcEndpoint: u32, srcFlags: u16, srcNode: u16,
  natSaddr: u32, daddr: u32, dport: u16, proto: u8): u8 {
  policyRule = 0;
  if (saddr == daddr && POLICY_ALLOW_SELF) {
    dstOwner = (srcFlags & (IPC_POD | IPC_HOST)) != 0 ? srcNode : P.NODE_NONE;
    return 0;
  }
  ipcacheResolve(daddr);
  const dstIdentity = infoIdentity; const dstEndpoint = infoEndpoint;
  const dstNode = infoNode; const dstFlags = infoFlags;
  dstOwner = ownerNode();
  if ((srcFlags & IPC_ENFORCE_EGRESS) != 0
    && !(POLICY_EGRESS_OWN_NODE && (dstFlags & IPC_HOST) != 0 && dstNode == srcNode)) {
    const r = policyCheck(srcEndpoint, dstIdentity, DIR_EGRESS, proto, dport);
    policyRule = checkRule;
    if (r != CHECK_ALLOWED) return r == CHECK_DENY ? P.DROP_POLICY_DENY : P.DROP_POLICY_DENIED;
  }
  if ((dstFlags & IPC_ENFORCE_INGRESS) != 0) {
    ipcacheResolve(natSaddr);
    if ((infoFlags & IPC_HOST) != 0 && infoNode == dstNode) return 0;
    const r = policyCheck(dstEndpoint, infoIdentity, DIR_INGRESS, proto, dport);
    policyRule = checkRule;
    if (r != CHECK_ALLOWED) return r == CHECK_DENY ? P.DROP_POLICY_DENY : P.DROP_POLICY_DENIED;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function drop(p: usize, verdict: u8, reason: u8): void {
  store<u8>(p, verdict, P.PKT_VERDICT);
  store<u8>(p, reason, P.PKT_DROP_REASON);
  count(C_DROP + <i32>reason);
}

// @ts-ignore: decorator
@inline function validate(p: usize, proto: u8, saddr: u32, daddr: u32, sport: u16, dport: u16, node: u16): u8 {
  if (proto != P.PROTO_TCP && proto != P.PROTO_UDP && proto != P.PROTO_SCTP && proto != P.PROTO_ICMP)
    return P.DROP_UNKNOWN_L4_PROTOCOL;
  if (saddr == 0 || saddr >= 0xe0000000) return P.DROP_INVALID_SOURCE_IP; // 0/8-style, multicast, broadcast
  if (daddr == 0) return P.DROP_INVALID_PACKET;
  if (proto != P.PROTO_ICMP && (sport == 0 || dport == 0)) return P.DROP_INVALID_PACKET;
  const n = arrayGet(nodes, <u32>node);
  if (n == 0 || load<u32>(n, N_ADDR) == 0) return P.DROP_INVALID_PACKET; // unknown ingress node
  if (load<u32>(n, N_UP) == 0) return P.DROP_NODE_DOWN; // a failed node receives nothing
  return 0;
}

// @ts-ignore: decorator
@inline function writeUnchanged(p: usize, saddr: u32, daddr: u32, sport: u16, dport: u16): void {
  // The packet leaves as it came, with no verdict yet.
  store<u32>(p, saddr, P.PKT_OUT_SADDR); store<u32>(p, daddr, P.PKT_OUT_DADDR);
  store<u16>(p, sport, P.PKT_OUT_SPORT); store<u16>(p, dport, P.PKT_OUT_DPORT);
  store<u32>(p, 0, P.PKT_VERDICT); // verdict, drop reason, ct state, nat flags
  store<u32>(p, P.NONE, P.PKT_SERVICE); store<u32>(p, P.NONE, P.PKT_BACKEND);
  store<u32>(p, 0, P.PKT_POLICY_RULE);
  store<u64>(p, <u64>P.NODE_NONE, P.PKT_HOP_NODE); // no second hop (yet)
}

// Packets and bytes of valid packets, summed over a batch and added to the counters once.
let batchPackets: u64 = 0;
let batchBytes: u64 = 0;

/**
 * One packet: validated, then one of three paths by what conntrack knows of it, as Cilium's
 * handle_ipv4_from_lxc switches on ct_lookup4's result (CT_ESTABLISHED / CT_REPLY / CT_NEW).
 * `key` holds the packet's conntrack key, `home` its home slot in ctFlows (both from prefetch.ts).
 */
function processOne(p: usize, now: u32, key: usize, home: u32): void {
  prngUse(<u32>load<u16>(p, P.PKT_NODE)); // the entry node's own random numbers (prng.ts)
  const saddr = load<u32>(p, P.PKT_SADDR); const daddr = load<u32>(p, P.PKT_DADDR);
  const sport = load<u16>(p, P.PKT_SPORT); const dport = load<u16>(p, P.PKT_DPORT);
  const proto = load<u8>(p, P.PKT_PROTO); const flags = load<u8>(p, P.PKT_TCP_FLAGS);
  const node = load<u16>(p, P.PKT_NODE); const len = <u32>load<u16>(p, P.PKT_LEN);

  // 1. Validate.
  const bad = validate(p, proto, saddr, daddr, sport, dport, node);
  if (bad != 0) { writeUnchanged(p, saddr, daddr, sport, dport); drop(p, P.VERDICT_DROPPED, bad); return; }
  batchPackets++; batchBytes += len;

  // 2. Conntrack: a live flow in its original direction, a reply to one, or a new flow.
  // 7. Each path answers where the packet goes next: nowhere (NODE_NONE), the node owning its destination
  // (HOP_TO_DESTINATION), or, for a reply, the node its reply entry names.
  const flow = ctLookupFlowFrom(key, home, now);
  let hop: u32;
  if (flow != 0) hop = forwardEstablished(p, flow, saddr, daddr, sport, dport, proto, flags, len, now) ? HOP_TO_DESTINATION : P.NODE_NONE;
  else {
    writeUnchanged(p, saddr, daddr, sport, dport);
    const reply = ctLookupReply(key, now);
    hop = reply != 0 ? <u32>forwardReply(p, reply, proto, flags, len, now)
      : (admitNewFlow(p, key, saddr, daddr, sport, dport, proto, flags, node, len, now) ? HOP_TO_DESTINATION : P.NODE_NONE);
  }
  if (hop != P.NODE_NONE) {
    // Due a second hop: noted in the descriptor (hop verdict still 0), made in the run's second phase.
    const to = hopTarget(p, hop, node);
    if (to != P.NODE_NONE) store<u16>(p, to, P.PKT_HOP_NODE);
  }
}

/** The second hop goes to the node owning the packet's destination (destinationNode). */
const HOP_TO_DESTINATION: u32 = 0x10000;

/**
 * The node owning a flow's destination: its backend's node (the endpoint's nodeName; one array load, no
 * ipcache lookup on the fast path), or for a flow without a backend the ipcache's owner of `daddr`.
 */
// @ts-ignore: decorator
@inline function destinationNode(backend: u32, daddr: u32): u16 {
  if (backend != P.NONE) return load<u16>(arrayGet(backends, backend), B_NODE);
  ipcacheResolve(daddr);
  return ownerNode();
}

/**
 * The fast path: a packet of a live flow, original direction. It leaves with the flow's NAT; policy is
 * judged again only when it changed since the flow's verdict (Cilium checks established flows too).
 * Each output is written once, in the widest words the layout allows (flow and descriptor fields line up).
 */
// @ts-ignore: decorator
@inline function forwardEstablished(p: usize, flow: usize, saddr: u32, daddr: u32, sport: u16, dport: u16,
  proto: u8, flags: u8, len: u32, now: u32): bool {
  const rev = policyRevision & 0xffffff;
  if (POLICY_RECHECK_ESTABLISHED && (load<u32>(flow, F_STATE) >> 8) != rev) {
    writeUnchanged(p, saddr, daddr, sport, dport);
    store<u64>(p, load<u64>(flow, F_SERVICE), P.PKT_SERVICE); // service, backend
    ipcacheResolve(saddr);
    const r = flowPolicy(saddr, infoEndpoint, infoFlags, infoNode, load<u32>(flow, F_NAT_SADDR), load<u32>(flow, F_NAT_DADDR),
      load<u16>(flow, F_NAT_DPORT), proto);
    store<u32>(p, policyRule, P.PKT_POLICY_RULE);
    if (r != 0) {
      store<u8>(p, P.CT_ESTABLISHED, P.PKT_CT_STATE);
      drop(p, P.VERDICT_DROPPED, r);
      return false;
    }
    store<u32>(flow, (load<u32>(flow, F_STATE) & 0xff) | (rev << 8), F_STATE);
  } else {
    store<u32>(p, 0, P.PKT_POLICY_RULE);
    store<u64>(p, <u64>P.NODE_NONE, P.PKT_HOP_NODE); // no second hop (yet)
  }
  const ct = ctRefresh(flow, proto, flags, false, now);
  const service = load<u32>(flow, F_SERVICE);
  const nat = (service != P.NONE ? P.NAT_DNAT : 0) | ((load<u32>(flow, F_STATE) & CTF_SNAT) != 0 ? P.NAT_SNAT : 0);
  store<u64>(p, load<u64>(flow, F_NAT_SADDR), P.PKT_OUT_SADDR);  // outSaddr, outDaddr
  store<u32>(p, load<u32>(flow, F_NAT_SPORT), P.PKT_OUT_SPORT);  // outSport, outDport
  store<u32>(p, <u32>P.VERDICT_FORWARDED | (<u32>ct << 16) | (<u32>nat << 24), P.PKT_VERDICT);
  store<u64>(p, load<u64>(flow, F_SERVICE), P.PKT_SERVICE);      // service, backend
  store<u32>(flow, load<u32>(flow, F_PACKETS) + 1, F_PACKETS); store<u32>(flow, load<u32>(flow, F_BYTES) + len, F_BYTES);
  return (load<u32>(flow, F_STATE) & CTF_DST_REMOTE) != 0;
}

/**
 * A reply of a live flow: reverse NAT back to what the client sent to (the descriptor holds the packet unchanged).
 * Returns the node the reply goes on to (its reply entry's), or NODE_NONE.
 */
// @ts-ignore: decorator
@inline function forwardReply(p: usize, reply: usize, proto: u8, flags: u8, len: u32, now: u32): u16 {
  const flow = ctReplyFlow;
  const service = load<u32>(flow, F_SERVICE);
  store<u32>(p, service, P.PKT_SERVICE); store<u32>(p, load<u32>(flow, F_BACKEND), P.PKT_BACKEND);
  store<u8>(p, ctRefresh(flow, proto, flags, true, now), P.PKT_CT_STATE);
  // The flow's key is the original tuple: replies come from its destination, to its source.
  store<u32>(p, load<u32>(reply, R_FLOW_KEY + K_DADDR), P.PKT_OUT_SADDR); store<u32>(p, load<u32>(reply, R_FLOW_KEY + K_SADDR), P.PKT_OUT_DADDR);
  store<u16>(p, load<u16>(reply, R_FLOW_KEY + K_DPORT), P.PKT_OUT_SPORT); store<u16>(p, load<u16>(reply, R_FLOW_KEY + K_SPORT), P.PKT_OUT_DPORT);
  if (service != P.NONE || (load<u32>(flow, F_STATE) & CTF_SNAT) != 0) store<u8>(p, P.NAT_REVNAT, P.PKT_NAT_FLAGS);
  store<u32>(reply, load<u32>(reply, R_PACKETS) + 1, R_PACKETS); store<u32>(reply, load<u32>(reply, R_BYTES) + len, R_BYTES);
  store<u8>(p, P.VERDICT_FORWARDED, P.PKT_VERDICT);
  return load<u16>(reply, R_RETURN_NODE);
}

/**
 * A new flow (the descriptor holds the packet unchanged): 3. service lookup and endpoint choice,
 * 4. masquerade and a source port, 5. policy, 6. conntrack create, then forward.
 */
function admitNewFlow(p: usize, key: usize, saddr: u32, daddr: u32, sport: u16, dport: u16,
  proto: u8, flags: u8, node: u16, len: u32, now: u32): bool {
  // 3. Pods, and the node the packet enters on, are internal sources; anything else, other nodes
  // included, is external (kube-proxy exempts only the node's own addresses).
  let dstAddr = daddr; let dstPort = dport;
  let natFlags: u8 = 0; let masquerade = false; let counted: u32 = 0;
  ipcacheResolve(saddr); // once: the service lookup and the policy both need the client
  const srcEndpoint = infoEndpoint; const srcFlags = infoFlags; const srcNode = infoNode;
  const internal = (srcFlags & IPC_POD) != 0 || ((srcFlags & IPC_HOST) != 0 && srcNode == node);
  const index = lookupService(daddr, dport, proto, <u32>node, internal);
  let backend = P.NONE;
  if (index != P.NONE) {
    const svc = arrayGet(services, index);
    const svcFlags = load<u8>(svc, S_FLAGS);
    store<u32>(p, index, P.PKT_SERVICE);
    if ((svcFlags & SVC_SOURCE_RANGES) != 0 && lpmLookupScoped(sourceRanges, index + 1, saddr) == 0) {
      drop(p, P.VERDICT_DROPPED, P.DROP_NOT_IN_SRC_RANGE);
      return false;
    }
    backend = selectBackend(index, svc, saddr, daddr, sport, dport, proto, node, now);
    if (backend == P.NONE) {
      // kube-proxy rejects traffic to a service without endpoints (ICMP port
      // unreachable), but drops it when a Local policy leaves no local endpoint.
      if ((svcFlags & SVC_DROP_NO_BACKEND) != 0) drop(p, P.VERDICT_DROPPED, P.DROP_SERVICE_BACKEND_NOT_FOUND);
      else drop(p, P.VERDICT_REJECTED, P.DROP_SERVICE_BACKEND_NOT_FOUND);
      return false;
    }
    store<u32>(p, backend, P.PKT_BACKEND);
    if (DESIGN == DESIGN_IPVS && ipvsWeighsConnections(load<u8>(svc, S_ALGO))) counted = CTF_IPVS_COUNTED;
    const b = arrayGet(backends, backend);
    dstAddr = load<u32>(b, B_ADDR); dstPort = load<u16>(b, B_PORT);
    natFlags = P.NAT_DNAT | (selectedByAffinity ? P.NAT_AFFINITY : 0);
    masquerade = DESIGN == DESIGN_IPTABLES // the KUBE-MARK-MASQ mark, acted on in KUBE-POSTROUTING
      ? iptablesPostrouting(iptablesMark((svcFlags & SVC_MASQ_ALWAYS) != 0, (svcFlags & SVC_MASQ_EXTERNAL) != 0,
        (srcFlags & IPC_POD) != 0, saddr, dstAddr))
      : needsMasquerade(svcFlags, srcFlags, saddr, dstAddr);
    if (saddr == dstAddr) natFlags |= P.NAT_HAIRPIN;
  }
  // 4. Masquerade to the ingress node's address; pick a source port.
  const natSaddr = masquerade ? load<u32>(arrayGet(nodes, <u32>node), N_ADDR) : saddr;

  // 5. Policy.
  const verdict = flowPolicy(saddr, srcEndpoint, srcFlags, srcNode, natSaddr, dstAddr, dstPort, proto);
  store<u32>(p, policyRule, P.PKT_POLICY_RULE);
  if (verdict != 0) { drop(p, P.VERDICT_DROPPED, verdict); return false; }

  const port = allocateSourcePort(saddr, daddr, sport, dport, natSaddr, dstAddr, dstPort, proto, !masquerade, node, now);
  if (port < 0) { drop(p, P.VERDICT_DROPPED, P.DROP_NAT_NO_MAPPING); return false; }
  const snat = masquerade || <u16>port != sport;
  if (snat) natFlags |= P.NAT_SNAT;

  // 6. Create the flow and forward.
  // Where a second hop is due: toward the destination's node, and replies toward the client's.
  const srcOwner = (srcFlags & (IPC_POD | IPC_HOST)) != 0 ? srcNode : P.NODE_NONE;
  const dstNode = backend != P.NONE ? load<u16>(arrayGet(backends, backend), B_NODE) : dstOwner;
  const remote = dstNode != P.NODE_NONE && dstNode != node ? CTF_DST_REMOTE : 0;
  const flow = ctCreate(key, natSaddr, dstAddr, <u16>port, dstPort, index, backend, (snat ? CTF_SNAT : 0) | remote | counted,
    policyRevision & 0xffffff, srcOwner != node ? srcOwner : P.NODE_NONE, now);
  if (flow == 0) { drop(p, P.VERDICT_DROPPED, P.DROP_CT_MAP_INSERTION_FAILED); return false; }
  ctRefresh(flow, proto, flags, false, now);
  store<u32>(flow, 1, F_PACKETS); store<u32>(flow, len, F_BYTES);
  store<u8>(p, P.CT_NEW, P.PKT_CT_STATE);
  store<u8>(p, natFlags, P.PKT_NAT_FLAGS);
  store<u32>(p, natSaddr, P.PKT_OUT_SADDR); store<u32>(p, dstAddr, P.PKT_OUT_DADDR);
  store<u16>(p, <u16>port, P.PKT_OUT_SPORT); store<u16>(p, dstPort, P.PKT_OUT_DPORT);
  store<u8>(p, P.VERDICT_FORWARDED, P.PKT_VERDICT);
  return (remote & CTF_DST_REMOTE) != 0;
}

/** The node a packet due a second hop goes to (HOP_TO_DESTINATION: its destination's), or NODE_NONE for none. */
function hopTarget(p: usize, hop: u32, entry: u16): u16 {
  const node = hop == HOP_TO_DESTINATION ? destinationNode(load<u32>(p, P.PKT_BACKEND), load<u32>(p, P.PKT_OUT_DADDR)) : <u16>hop;
  if (node == P.NODE_NONE || node == entry) return P.NODE_NONE;
  const n = arrayGet(nodes, <u32>node);
  if (n == 0 || load<u32>(n, N_ADDR) == 0) return P.NODE_NONE; // a node the dataplane does not know: the packet leaves
  return node;
}

/**
 * 7. The second hop: the packet, as it left its entry node, reaches the node owning its destination (a pod there,
 * or the node's own address), whose conntrack sees it too (Cilium tracks a connection on both the client's node,
 * egress, and the backend's node, ingress). There it is a flow of its own (no NAT: the entry node did it), a live
 * one, or a reply, which that node reverse-NATs (a reply from a backend reaches the client's node, or the node
 * that masqueraded it, and is rewritten there, as kube-proxy's conntrack does on the node that DNAT'd). Policy
 * was judged on the entry node with the same maps every node holds. No packet needs a third hop.
 * `key` holds the packet's conntrack key on `node` and `home` its home slot (the caller selected node's shard).
 * Returns whether the hop dropped a packet the entry node forwarded.
 */
function secondHop(p: usize, node: u16, key: usize, home: u32, now: u32): bool {
  const proto = load<u8>(p, P.PKT_PROTO); const flags = load<u8>(p, P.PKT_TCP_FLAGS);
  const entry = load<u16>(p, P.PKT_NODE); const len = <u32>load<u16>(p, P.PKT_LEN);
  if (load<u32>(arrayGet(nodes, <u32>node), N_UP) == 0) { // the node has failed: the entry node sent the packet, nobody receives it
    store<u8>(p, P.CT_NONE, P.PKT_HOP_CT_STATE);
    store<u8>(p, P.VERDICT_DROPPED, P.PKT_HOP_VERDICT);
    drop(p, P.VERDICT_DROPPED, P.DROP_NODE_DOWN);
    return true;
  }
  let ct: u8; let nat: u8 = 0;
  const flow = ctLookupFlowFrom(key, home, now);
  if (flow != 0) {
    ct = ctRefresh(flow, proto, flags, false, now);
    store<u32>(flow, load<u32>(flow, F_PACKETS) + 1, F_PACKETS); store<u32>(flow, load<u32>(flow, F_BYTES) + len, F_BYTES);
  } else {
    const reply = ctLookupReply(key, now);
    if (reply != 0) {
      const f = ctReplyFlow;
      ct = ctRefresh(f, proto, flags, true, now);
      const service = load<u32>(f, F_SERVICE);
      if (service != P.NONE || (load<u32>(f, F_STATE) & CTF_SNAT) != 0) {
        nat = P.NAT_REVNAT;
        store<u32>(p, load<u32>(reply, R_FLOW_KEY + K_DADDR), P.PKT_OUT_SADDR); store<u32>(p, load<u32>(reply, R_FLOW_KEY + K_SADDR), P.PKT_OUT_DADDR);
        store<u16>(p, load<u16>(reply, R_FLOW_KEY + K_DPORT), P.PKT_OUT_SPORT); store<u16>(p, load<u16>(reply, R_FLOW_KEY + K_SPORT), P.PKT_OUT_DPORT);
      }
      if (service != P.NONE) { store<u32>(p, service, P.PKT_SERVICE); store<u32>(p, load<u32>(f, F_BACKEND), P.PKT_BACKEND); }
      store<u32>(reply, load<u32>(reply, R_PACKETS) + 1, R_PACKETS); store<u32>(reply, load<u32>(reply, R_BYTES) + len, R_BYTES);
    } else {
      // Its replies go back to the node it came from, which NATed it (and routes to the client).
      const created = ctCreate(key, load<u32>(p, P.PKT_OUT_SADDR), load<u32>(p, P.PKT_OUT_DADDR), load<u16>(p, P.PKT_OUT_SPORT),
        load<u16>(p, P.PKT_OUT_DPORT), P.NONE, P.NONE, 0, policyRevision & 0xffffff, entry, now);
      if (created == 0) {
        store<u8>(p, P.CT_NEW, P.PKT_HOP_CT_STATE);
        store<u8>(p, P.VERDICT_DROPPED, P.PKT_HOP_VERDICT);
        drop(p, P.VERDICT_DROPPED, P.DROP_CT_MAP_INSERTION_FAILED);
        return true;
      }
      ctRefresh(created, proto, flags, false, now);
      store<u32>(created, 1, F_PACKETS); store<u32>(created, len, F_BYTES);
      ct = P.CT_NEW;
    }
  }
  store<u8>(p, ct, P.PKT_HOP_CT_STATE);
  store<u8>(p, nat, P.PKT_HOP_NAT_FLAGS);
  store<u8>(p, P.VERDICT_FORWARDED, P.PKT_HOP_VERDICT);
  store<u8>(p, load<u8>(p, P.PKT_NAT_FLAGS) | nat, P.PKT_NAT_FLAGS);
  return false;
}

// Runs and phases: how a batch is walked, and how several workers share it.
//
// Every node's state is its own (conntrack, affinity, NAT ports, IPVS state, random numbers), kept in its shard's
// tables (tables.ts). A batch is processed in runs of packets; in each run every packet's first hop (on the node it
// enters) is made first, shard by shard and in input order within a shard, then every second hop (on the node it
// crossed to), likewise. A shard's tables therefore see the same operations in the same order however the shards
// are spread over workers (processShare: each worker makes the hops of the shards it owns, its second hops once every
// worker has published the hand-over list of the part, below), which is what keeps results byte-identical for any
// number of workers.
//
// Processing a run's second hops after its first hops differs from processing packet by packet only when a packet's
// first hop meets the conntrack entry an earlier packet's second hop meets, on the same node: a packet of the same
// connection. Either the later packet is a reply to the earlier one (which crossed to the replying pod's node), or
// the earlier one was a reply crossing back to the client's node and the later one is the client's next packet.
// So a run ends before a packet (planBatch), decided from the packets alone, when
//   - its destination (address, port) is an earlier packet's source, or the (address, port) an earlier packet
//     leaves its entry node with when masqueraded with its port kept; or its destination is the address of a node an
//     earlier packet entered, with a port of the NAT range (a masqueraded source): it may be a reply;
//   - its source (address, port), or its entry node's address with its source port, is an earlier packet's
//     destination, or an earlier packet went to its entry node's address with a port of the NAT range: an earlier
//     packet may be a reply to it.
// The endpoints are kept exactly (a table of (address, port) with role bits, reset per run by a generation), so
// runs end only where they must; the reference backend (src/reference/runs.ts) cuts them by the same rule.
// With fewer than two nodes known there are no second hops, and a run is simply RUN_MAX packets.
//
// The plan of a batch (runs, and the shard of each packet's entry node) is made by chunks of CHUNK packets, which
// the workers claim one at a time, then every worker reads all of it.

/**
 * At most this many packets a run. A run is processed in parts of PART packets: the first hops of both parts, then
 * the second hops of both, so that a worker makes the second part's first hops while the others finish the first
 * part's and publish its hand-over lists, and seldom waits for them (with runs of 512 and no parts, each worker spent
 * about 7% of its time waiting; measured: docs/design/per-node-and-workers.md, "Fourth pass"). Longer runs would
 * wait less still, but the planner's endpoint table (64 KiB here) leaves the fast caches: at 2,048 packets one
 * worker slowed by 1-3%; at 4,096 packets with a 128 KiB table, planning took 37 ns a packet.
 */
export const RUN_MAX: u32 = 1024;
/** The part of a run processed at once: each phase's buffers (the stage, the lists) and one hand-over list each. */
export const PART: u32 = 512;
/** Hand-over lists per worker, taken in turn by part: two runs' worth (see hopDirectory). */
const HOP_LISTS: u32 = 2 * (RUN_MAX / PART);
/** Nodes with an address (nodeSet): with fewer than two, no packet has a second hop. */
export let nodesKnown: u32 = 0;
export function nodesKnownAdd(delta: i32): void { nodesKnown += <u32>delta; }

// The plan of the batch being processed. Runs also end at every CHUNK packets, so that chunks can be planned apart:
// each worker plans the chunks it claims (planChunk) into the buffers the first worker reserved (planReserve), then
// every worker reads the whole plan.
const CHUNK: u32 = 4096;
let planCapacity: u32 = 0;
let planRuns: usize = 0;   // u32 per run: where it ends (exclusive); chunk c's at [c * CHUNK, ...)
let planChunkRuns: usize = 0; // u32 per chunk: its runs
let planChunkStamp: usize = 0; // 8 bytes per chunk: the chunk (+0) and batch serial (+4) it was planned for (workers > 1)
let planShard: usize = 0;  // u8 per packet: the shard of the node it enters
// The run rule's endpoint table: 2^ENDPOINT_BITS slots of u64 = address << 16 | port (48 bits), 4 role bits, 12
// generation bits (a slot is live in the run whose generation it carries). 64 KiB: at most 5 entries a packet.
const ENDPOINT_BITS: u32 = 13;
let endpoints: usize = 0;
let generation: u64 = 0;
const ROLE_SOURCE: u64 = 1;     // an earlier packet came from here (or would, masqueraded with its port kept)
const ROLE_DEST: u64 = 2;       // an earlier packet went here
const ROLE_MASQ: u64 = 4;       // (port 0) an earlier packet entered the node with this address
const ROLE_NAT_DEST: u64 = 8;   // (port 0) an earlier packet went to this address with a port of the NAT range
let natDests: u32 = 0;          // ROLE_NAT_DEST entries in the run (0: skip that check)

/**
 * The workers' pending second hops: per part (of a run, counted through the batch) mod HOP_LISTS and worker, an
 * entry of a cache line of its own (each worker writes its own every part while the others wait on theirs;
 * measured: docs/design/per-node-and-workers.md, "Fourth pass"): its list's address (+0), length (+4), then the
 * part (+8) and batch serial (+12) it was published for (publish). Two runs' worth, taken in turn: a worker writes
 * the next run's lists only after it has read every other worker's lists of this run, which each published after
 * reading the lists of the run before.
 */
let hopDirectory: usize = 0;
const MAX_WORKERS: u32 = 64;
const ENTRY_SHIFT: u32 = 6;

/** Control-plane instance's plan and hand-over structures (index.ts init). */
export function pipelineInit(): bool {
  hopDirectory = allocZeroed(<usize>(HOP_LISTS * MAX_WORKERS) << ENTRY_SHIFT, 64);
  return hopDirectory != 0;
}

let hopsOut: usize = 0;   // HOP_LISTS x PART u32: this worker's pending second hops of a part (index | shard << 24)
let marks: usize = 0;     // PART u8: the part's packets whose second hop this worker makes
let hopShard: usize = 0;  // PART u8: and the shard of the node they cross to
let phaseList: usize = 0; // PART u32 (and a spare): those packets, by shard
let phaseStart: usize = 0; // 65 u32: where each shard's start in phaseList

/** This instance's buffers for runs and hops (index.ts workerAttach: each worker its own). */
export function pipelineScratchInit(): void {
  endpoints = allocAligned(<usize>8 << ENDPOINT_BITS, 64); // each worker plans chunks of its own with its own table
  memory.fill(endpoints, 0, <usize>8 << ENDPOINT_BITS); generation = 0;
  hopsOut = allocAligned(<usize>(HOP_LISTS * PART) << 2, 64);
  marks = allocZeroed(<usize>PART, 64);
  hopShard = allocZeroed(<usize>PART, 64); // a valid shard in every entry: gatherByShard reads unmarked ones too
  phaseList = allocAligned(<usize>(PART + 1) << 2, 64); // and a spare entry (gatherByShard)
  phaseStart = allocAligned(65 << 2, 64);
  hopKeys = allocAligned(<usize>GROUP << 4, 64);
  stage = allocAligned(<usize>PART * P.PKT_STRIDE, 64);
  stageOrder = allocAligned(<usize>PART << 2, 64);
  for (let k: u32 = 0; k < PART; k++) store<u32>(stageOrder + (<usize>k << 2), k);
  hopHomes = allocAligned(<usize>GROUP << 2, 64);
}

/** Whether `port` is in the NAT source port range (a masqueraded connection's port may be). */
// @ts-ignore: decorator
@inline function natPort(port: u32): bool { return port >= NAT_PORT_MIN && port <= NAT_PORT_MAX; }

/** The address of the node packet `p` enters (0 for an unknown node). */
// @ts-ignore: decorator
@inline function entryAddress(p: usize): u32 {
  const n = arrayGet(nodes, <u32>load<u16>(p, P.PKT_NODE));
  return n == 0 ? 0 : load<u32>(n, N_ADDR);
}

/** The endpoint table's slot of (addr, port) in this run, claimed (no roles) when absent. */
// @ts-ignore: decorator
@inline function endpointSlot(addr: u32, port: u32): usize {
  const key = (<u64>addr << 16) | <u64>port;
  const mask: u32 = (1 << ENDPOINT_BITS) - 1;
  let i = <u32>((key * 0x9e3779b97f4a7c15) >> (64 - ENDPOINT_BITS));
  while (true) {
    const s = endpoints + (<usize>i << 3);
    const v = load<u64>(s);
    if ((v >> 52) != generation) { store<u64>(s, key | (generation << 52)); return s; } // free in this run
    if ((v & 0xffffffffffff) == key) return s;
    i = (i + 1) & mask;
  }
  return 0;
}
// @ts-ignore: decorator
@inline function roles(s: usize): u64 { return (load<u64>(s) >> 48) & 15; }
// @ts-ignore: decorator
@inline function addRole(s: usize, role: u64): void { store<u64>(s, load<u64>(s) | (role << 48)); }

let lastEntered: u32 = 0xffffffff; // the node whose address was last marked entered (ROLE_MASQ) in this run

/** A new run: every endpoint of the last one forgotten. */
function newRun(): void {
  lastEntered = 0xffffffff;
  generation = (generation + 1) & 0xfff;
  if (generation == 0) { memory.fill(endpoints, 0, <usize>8 << ENDPOINT_BITS); generation = 1; } // no stale slot looks live
  natDests = 0;
}

/** Room for the plan of `n` packets (the first worker, before the others start): 0, or -1 without memory for it. */
export function planReserve(n: u32): i32 {
  if (n <= planCapacity) return 0;
  const cap = max(n, CHUNK);
  planRuns = allocAligned(<usize>cap << 2, 64); planShard = allocAligned(<usize>cap, 64);
  planChunkRuns = allocAligned(<usize>(cap / CHUNK + 1) << 2, 64);
  planChunkStamp = allocZeroed(<usize>(cap / CHUNK + 1) << 3, 64);
  if (planRuns == 0 || planShard == 0 || planChunkRuns == 0 || planChunkStamp == 0) { planCapacity = 0; return -1; }
  planCapacity = cap;
  return 0;
}

/** Plan chunk `c` of the `n` packets at `batch`: its runs, and the shard of each packet. */
function planChunk(batch: usize, n: u32, c: u32): void {
  const first = c * CHUNK;
  const end = min(n, first + CHUNK);
  let runs: u32 = 0;
  let a = first;
  while (a < end) {
    const last = min(end, a + RUN_MAX);
    let b = last;
    if (nodesKnown > 1) {
      newRun();
      for (let i = a; i < last; i++) {
        const p = batch + <usize>i * P.PKT_STRIDE;
        const saddr = load<u32>(p, P.PKT_SADDR); const sport = <u32>load<u16>(p, P.PKT_SPORT);
        const daddr = load<u32>(p, P.PKT_DADDR); const dport = <u32>load<u16>(p, P.PKT_DPORT);
        const node = <u32>load<u16>(p, P.PKT_NODE);
        const nd = arrayGet(nodes, node);
        const entry = nd == 0 ? 0 : load<u32>(nd, N_ADDR);
        const src = endpointSlot(saddr, sport), dst = endpointSlot(daddr, dport), masq = endpointSlot(entry, sport);
        if (i > a && ((roles(dst) & ROLE_SOURCE) != 0 || ((roles(src) | roles(masq)) & ROLE_DEST) != 0
          || (natPort(dport) && (roles(endpointSlot(daddr, 0)) & ROLE_MASQ) != 0)
          || (natDests != 0 && (roles(endpointSlot(entry, 0)) & ROLE_NAT_DEST) != 0))) {
          b = i;
          break;
        }
        addRole(src, ROLE_SOURCE); addRole(masq, ROLE_SOURCE); addRole(dst, ROLE_DEST);
        if (node != lastEntered) { addRole(endpointSlot(entry, 0), ROLE_MASQ); lastEntered = node; }
        if (natPort(dport)) { addRole(endpointSlot(daddr, 0), ROLE_NAT_DEST); natDests++; }
        store<u8>(planShard + i, <u8>shardOf(node));
      }
    } else {
      for (let i = a; i < last; i++) store<u8>(planShard + i, <u8>shardOf(<u32>load<u16>(batch + <usize>i * P.PKT_STRIDE, P.PKT_NODE)));
    }
    store<u32>(planRuns + (<usize>(first + runs) << 2), b);
    runs++;
    a = b;
  }
  store<u32>(planChunkRuns + (<usize>c << 2), runs);
}

/** Plan `n` packets at `batch` on one worker (processBatch, and the tests of runs): 0, or -1 without memory. */
export function planBatch(batch: usize, n: u32): i32 {
  if (planReserve(n) != 0) return -1;
  const chunks = (n + CHUNK - 1) / CHUNK;
  for (let c: u32 = 0; c < chunks; c++) planChunk(batch, n, c);
  return 0;
}

/** Whether this worker (`self` of `workers`) owns shard `s`. */
// @ts-ignore: decorator
@inline function owns(s: u32, self: u32, workers: u32): bool { return workers == 1 || s % workers == self; }


/**
 * Put the packets of run [a, b) whose shard (`shardAt`: u8 per packet, indexed from `base`) this worker owns (and,
 * when `onlyMarked`, that are marked) into phaseList, by shard in input order (a counting sort), phaseStart[s] ending
 * each shard's. Returns how many.
 *
 * Without branches on the packet: a run's packets come from the shards in no order a branch predictor could learn,
 * and every worker walks the whole run, so a branch per packet cost each worker as much as one worker's whole walk
 * (measured: docs/design/per-node-and-workers.md, "Second pass"). Every packet is written, and only those taken
 * move the cursor on; the others are overwritten, or written to phaseList's spare last entry.
 */
function gatherByShard(a: u32, b: u32, self: u32, workers: u32, shardAt: usize, base: u32, onlyMarked: bool): u32 {
  const shards = shardCount;
  if (shards == 1 || (workers == shards)) { // one shard of this worker's: no sort
    let k: u32 = 0;
    const mine: u32 = shards == 1 ? 0 : self;
    if (shards == 1 && !owns(0, self, workers)) return 0;
    if (onlyMarked) {
      for (let i = a; i < b; i++) {
        store<u32>(phaseList + (<usize>k << 2), i);
        k += <u32>(<u32>load<u8>(shardAt + (i - base)) == mine) & <u32>load<u8>(marks + (i - a));
      }
    } else {
      for (let i = a; i < b; i++) {
        store<u32>(phaseList + (<usize>k << 2), i);
        k += <u32>(<u32>load<u8>(shardAt + (i - base)) == mine);
      }
    }
    memory.fill(phaseStart, 0, <usize>shards << 2);
    store<u32>(phaseStart + (<usize>mine << 2), k);
    for (let s = mine + 1; s < shards; s++) store<u32>(phaseStart + (<usize>s << 2), k);
    return k;
  }
  let owned: u64 = 0; // bit s: this worker owns shard s
  for (let s: u32 = 0; s < shards; s++) if (owns(s, self, workers)) owned |= <u64>1 << s;
  memory.fill(phaseStart, 0, <usize>shards << 2);
  for (let i = a; i < b; i++) {
    const s = <u32>load<u8>(shardAt + (i - base));
    const take = <u32>(owned >> s) & 1 & (onlyMarked ? <u32>load<u8>(marks + (i - a)) : 1);
    const c = phaseStart + (<usize>s << 2);
    store<u32>(c, load<u32>(c) + take);
  }
  let at: u32 = 0; // counts to starts
  for (let s: u32 = 0; s < shards; s++) { const c = phaseStart + (<usize>s << 2); const k = load<u32>(c); store<u32>(c, at); at += k; }
  for (let i = a; i < b; i++) {
    const s = <u32>load<u8>(shardAt + (i - base));
    const take = <u32>(owned >> s) & 1 & (onlyMarked ? <u32>load<u8>(marks + (i - a)) : 1);
    const c = phaseStart + (<usize>s << 2);
    const k = load<u32>(c);
    store<u32>(phaseList + (<usize>select<u32>(k, PART, take != 0) << 2), i);
    store<u32>(c, k + take);
  }
  return at; // phaseStart[s] is now the end of shard s's packets, the start of shard s + 1's
}

let forwardedHere: i32 = 0;
let hopCount: u32 = 0;

/** Worker `w`'s hand-over entry for part `part` (hopDirectory). */
// @ts-ignore: decorator
@inline function hopEntry(part: u32, w: u32): usize {
  return hopDirectory + (<usize>((part % HOP_LISTS) * MAX_WORKERS + w) << ENTRY_SHIFT);
}

/** Phase 1: the first hops of part [a, b)'s packets on this worker's shards, GROUP at a time with their prefetches. */
function firstHops(batch: usize, a: u32, b: u32, now: u32, self: u32, workers: u32, part: u32, serial: u32): void {
  hopCount = 0;
  hopsInto = hopsOut + (<usize>((part % HOP_LISTS) * PART) << 2);
  if (gatherByShard(a, b, self, workers, planShard, 0, false) != 0) eachShardGroup(batch, now, false);
  const entry = hopEntry(part, self);
  store<u32>(entry, <u32>hopsInto); store<u32>(entry, hopCount, 4);
  if (workers > 1) publish(entry + 8, part, serial); // the list first, then its stamp
}
let hopsInto: usize = 0; // the hand-over list firstHops is writing

// Staging. With several workers, the descriptors of a run are in more than one core's cache: the host wrote them,
// and a second hop is made on a descriptor another worker's first hop wrote (a descriptor has a cache line of its
// own, packet.ts, so two workers' packets never share one). A store into a line another core holds waits for the
// line (a few hundred ns when the two cores are far apart), and the processing's own stores (conntrack, counters, keys) queue up
// behind it until the core stalls; and while both workers walk the same run, each one's writes take away the lines
// the other is reading. So with several workers a phase copies this worker's descriptors of the run into a buffer
// only it touches (reads, which every core may make at once), processes them there, and copies the outputs back at
// the end in one loop of stores, whose waits overlap as in any copy (measured: docs/design/per-node-and-workers.md,
// "Staging"). One worker processes in place: its lines are its own. So does the first worker in its first hops: it runs
// on the thread that called process(), the host's, which has just written the batch, so its packets' lines are in its
// own core already (measured: docs/design/per-node-and-workers.md, "Fourth pass").
let stage: usize = 0;      // PART descriptors: this worker's copies of the phase's packets, in phaseList order
let stageOrder: usize = 0; // PART u32: 0, 1, 2, ...: the stage's own list (stage slot k holds phaseList[k])
let staged: bool = false;  // this batch's phases are staged (more than one worker)
let firstInPlace: bool = false; // this worker makes its first hops on the batch itself (the first worker, the host's thread)

/** Copy the descriptors of phaseList[0, n) into the stage. */
function stageIn(batch: usize, n: u32): void {
  for (let k: u32 = 0; k < n; k++) {
    P.copyDescriptor(stage + <usize>k * P.PKT_STRIDE, batch + <usize>load<u32>(phaseList + (<usize>k << 2)) * P.PKT_STRIDE);
  }
}

/** Copy the staged outputs of phaseList[0, n) back to their descriptors. */
function stageOut(batch: usize, n: u32): void {
  for (let k: u32 = 0; k < n; k++) {
    P.copyOutputs(batch + <usize>load<u32>(phaseList + (<usize>k << 2)) * P.PKT_STRIDE, stage + <usize>k * P.PKT_STRIDE);
  }
}

/**
 * The packets gatherByShard put in phaseList, shard by shard (phaseStart[s] ends shard s's), GROUP at a time: their
 * first hops (firstHopGroup) or their second hops (secondHopGroup), on their descriptors (`base` + index x stride,
 * index from `list`): the batch's and phaseList, or the stage's and stageOrder.
 */
function eachShardGroup(batch: usize, now: u32, second: bool): void {
  const total = load<u32>(phaseStart + (<usize>(shardCount - 1) << 2));
  let base = batch, list = phaseList;
  const st = staged && (second || !firstInPlace);
  if (st) { stageIn(batch, total); base = stage; list = stageOrder; }
  let from: u32 = 0;
  for (let s: u32 = 0; s < shardCount; s++) {
    const to = load<u32>(phaseStart + (<usize>s << 2));
    if (to > from) {
      selectShard(s);
      for (let k = from; k < to; k += GROUP) {
        if (second) secondHopGroup(base, list, k, min(GROUP, to - k), now);
        else firstHopGroup(base, list, k, min(GROUP, to - k), now);
      }
    }
    from = to;
  }
  if (st) stageOut(batch, total);
}

/** First hops of phaseList[k, k + g), the group's cache misses put in flight together first (prefetch.ts). */
function firstHopGroup(base: usize, list: usize, k: u32, g: u32, now: u32): void {
  prefetchGroup(base, list, k, g);
  for (let j: u32 = 0; j < g; j++) {
    const p = base + <usize>load<u32>(list + (<usize>(k + j) << 2)) * P.PKT_STRIDE;
    processOne(p, now, groupKey(j), groupHome(j));
    const v = load<u8>(p, P.PKT_VERDICT);
    if (v == P.VERDICT_FORWARDED) forwardedHere++;
    else count(C_VERDICT + <i32>v);
    const hop = load<u16>(p, P.PKT_HOP_NODE);
    if (hop != P.NODE_NONE) { // handed over as (index, shard): the others read the list, not the descriptor
      const index = load<u32>(phaseList + (<usize>(k + j) << 2));
      store<u32>(hopsInto + (<usize>hopCount << 2), index | (shardOf(<u32>hop) << 24));
      hopCount++;
    }
  }
}

let hopKeys: usize = 0;  // GROUP conntrack keys of second hops
let hopHomes: usize = 0; // and their home slots
let hopSink: u32 = 0;

/**
 * Phase 2: the second hops of part [a, b) to this worker's shards, from every worker's list: marked, then taken in
 * input order, by shard, GROUP at a time (keys hashed and slots touched first).
 */
function secondHops(batch: usize, a: u32, b: u32, now: u32, self: u32, workers: u32, part: u32, serial: u32): bool {
  let any = false;
  for (let w: u32 = 0; w < workers; w++) {
    const entry = hopEntry(part, w);
    if (w != self && !awaitPublished(entry + 8, part, serial)) return false;
    const list = <usize>load<u32>(entry); const n = load<u32>(entry, 4);
    for (let k: u32 = 0; k < n; k++) {
      const e = load<u32>(list + (<usize>k << 2));
      const index = e & 0xffffff; const s = e >> 24;
      if (owns(s, self, workers)) { store<u8>(marks + (index - a), 1); store<u8>(hopShard + (index - a), <u8>s); any = true; }
    }
  }
  if (!any) return true;
  gatherByShard(a, b, self, workers, hopShard, a, true);
  memory.fill(marks, 0, <usize>(b - a));
  eachShardGroup(batch, now, true);
  return true;
}

/** Second hops of phaseList[i, i + g) on the selected shard (descriptors as in firstHopGroup): keys hashed and home slots touched first. */
function secondHopGroup(base: usize, list: usize, i: u32, g: u32, now: u32): void {
  let sink: u32 = 0;
  for (let j: u32 = 0; j < g; j++) {
    const p = base + <usize>load<u32>(list + (<usize>(i + j) << 2)) * P.PKT_STRIDE;
    const k = hopKeys + (<usize>j << 4);
    const saddr = load<u32>(p, P.PKT_OUT_SADDR); const daddr = load<u32>(p, P.PKT_OUT_DADDR);
    const ports = load<u32>(p, P.PKT_OUT_SPORT); // outSport, outDport: the key's port word
    const protoNode = <u32>load<u8>(p, P.PKT_PROTO) | (<u32>load<u16>(p, P.PKT_HOP_NODE) << 16);
    store<u64>(k, <u64>saddr | (<u64>daddr << 32)); // the layout of ctWriteKey
    store<u64>(k, <u64>ports | (<u64>protoNode << 32), K_PORTS_WORD);
    store<u32>(hopHomes + (<usize>j << 2), lruHome4(ctFlows, saddr, daddr, ports, protoNode));
  }
  for (let j: u32 = 0; j < g; j++) sink += load<u32>(lruSlotAddr(ctFlows, load<u32>(hopHomes + (<usize>j << 2))), LRU_SLOT_KEY);
  hopSink += sink;
  for (let j: u32 = 0; j < g; j++) {
    const p = base + <usize>load<u32>(list + (<usize>(i + j) << 2)) * P.PKT_STRIDE;
    if (secondHop(p, load<u16>(p, P.PKT_HOP_NODE), hopKeys + (<usize>j << 4), load<u32>(hopHomes + (<usize>j << 2)), now)) {
      forwardedHere--; count(C_VERDICT + <i32>P.VERDICT_DROPPED); // the entry node forwarded it; the hop dropped it
    }
  }
}

// The workers' block (64 bytes, made by the host: src/workers.ts), u32 words:
//   +0 sleepers: workers asleep waiting for a stamp (awaitPublished), which a publisher then wakes
//   +4 batch serial (the host adds one per shared batch)   +8 plan chunks claimed (the host zeroes it before each)
//   +12 spin budget: how many times a worker looks before it sleeps (the host's: long when every worker has a
//       core of its own, as a sleeping worker takes tens of microseconds to wake; short when they share cores)
const SLEEPERS: usize = 0;
const BATCH_SERIAL: usize = 4;
const PLAN_CLAIMS: usize = 8;
const SPIN_BUDGET: usize = 12;
let shareBlock: usize = 0; // this batch's block
let spinBudget: u32 = 0;   // this batch's (awaitPublished)

/**
 * Wait until the words at `at` (a part or chunk, then the batch serial) say another worker published what they stamp
 * (a chunk's plan, a part's hand-over list): its writes before the stamp are then visible here. Spins a while, then
 * sleeps a millisecond at a time, on the word the publication will change (the part's, or the serial's when the
 * entry still holds the same part of an earlier batch), counted in the block's sleepers so that the publisher wakes
 * it. False after half a minute (a worker gone).
 */
function awaitPublished(at: usize, id: u32, serial: u32): bool {
  for (let spin: u32 = 0; spin < spinBudget; spin++) if (isPublished(at, id, serial)) return true;
  for (let waited: u32 = 0; waited < 30000; waited++) {
    atomic.add<u32>(shareBlock + SLEEPERS, 1); // counted before the look: a publisher that does not see it has published
    const seenId = atomic.load<u32>(at); const seenSerial = atomic.load<u32>(at, 4);
    const done = seenSerial == serial && seenId == id;
    if (!done) {
      if (seenId != id) atomic.wait<i32>(at, <i32>seenId, 1000000);
      else atomic.wait<i32>(at + 4, <i32>seenSerial, 1000000);
    }
    atomic.sub<u32>(shareBlock + SLEEPERS, 1);
    if (done || isPublished(at, id, serial)) return true;
  }
  return false;
}

/** Whether the stamp at `at` says `id` (a chunk, a part) of batch `serial` is published. */
// @ts-ignore: decorator
@inline function isPublished(at: usize, id: u32, serial: u32): bool {
  return atomic.load<u32>(at, 4) == serial && atomic.load<u32>(at) == id;
}

/** Stamp `id` of batch `serial` at `at`, after what it publishes, and wake the workers asleep waiting for a stamp. */
function publish(at: usize, id: u32, serial: u32): void {
  atomic.store<u32>(at, id); atomic.store<u32>(at, serial, 4);
  if (atomic.load<u32>(shareBlock + SLEEPERS) != 0) { atomic.notify(at, MAX_WORKERS); atomic.notify(at + 4, MAX_WORKERS); }
}

/** Returned by processShare when another worker never published what it waited for. */
export const SHARE_BROKEN: u32 = 0x80000000;

/**
 * Process this worker's share of `n` packets of the batch at `batch` (planned: planBatch) at virtual time `now` (ms):
 * the hops on the shards it owns (`self` of `workers`; one worker owns them all), run by run. `block`: the
 * workers' block (0 with one worker). Returns the packets forwarded whose fate this worker decided last,
 * which the host sums over the workers (two's complement: a second hop dropping another worker's packet counts -1
 * here), or SHARE_BROKEN.
 */
export function processShare(batch: usize, n: u32, now: u32, self: u32, workers: u32, block: usize): u32 {
  forwardedHere = 0;
  batchPackets = 0; batchBytes = 0;
  staged = workers > 1; firstInPlace = self == 0;
  let broken = false;
  const chunks = (n + CHUNK - 1) / CHUNK;
  // The batch's serial (the host counts shared batches in the block): what plans and lists are stamped with.
  const serial = workers > 1 ? atomic.load<u32>(block, BATCH_SERIAL) : 0;
  spinBudget = workers > 1 ? load<u32>(block, SPIN_BUDGET) : 0;
  shareBlock = block;
  if (workers > 1) {
    // The plan: every worker claims chunks until none is left (the host zeroed the claim count), so a worker that
    // wakes late plans fewer; a chunk's plan is the same whoever makes it, and is read once its stamp says it was
    // made for this batch (awaitPublished).
    for (let c = atomic.add<u32>(block, 1, PLAN_CLAIMS); c < chunks; c = atomic.add<u32>(block, 1, PLAN_CLAIMS)) {
      planChunk(batch, n, c);
      publish(planChunkStamp + (<usize>c << 3), c, serial);
    }
  }
  let a: u32 = 0; let part: u32 = 0; // parts of runs, counted through the batch
  for (let c: u32 = 0; c < chunks && !broken; c++) {
    if (workers > 1 && !awaitPublished(planChunkStamp + (<usize>c << 3), c, serial)) { broken = true; break; }
    const runs = load<u32>(planChunkRuns + (<usize>c << 2));
    for (let k: u32 = 0; k < runs; k++) {
      const b = load<u32>(planRuns + (<usize>(c * CHUNK + k) << 2));
      // A run's parts: their first hops, then their second hops (each waiting for the others' list of the part).
      let q = part;
      for (let p = a; p < b; p += PART, q++) firstHops(batch, p, min(b, p + PART), now, self, workers, q, serial);
      if (nodesKnown > 1) {
        q = part;
        for (let p = a; p < b && !broken; p += PART, q++) {
          if (!secondHops(batch, p, min(b, p + PART), now, self, workers, q, serial)) broken = true;
        }
        if (broken) break;
      }
      part = q;
      a = b;
    }
  }
  count(C_VERDICT + <i32>P.VERDICT_FORWARDED, <u64><i64>forwardedHere);
  count(C_PACKETS, batchPackets); count(C_BYTES, batchBytes);
  return broken ? SHARE_BROKEN : <u32>forwardedHere;
}

/** Process `n` packets of the batch at `batch` at virtual time `now` (ms), on one worker. Returns packets forwarded. */
export function processBatch(batch: usize, n: u32, now: u32): u32 {
  if (planBatch(batch, n) != 0) return 0;
  return processShare(batch, n, now, 0, 1, 0);
}
