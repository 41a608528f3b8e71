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
import { K_SADDR, K_DADDR, K_SPORT, K_DPORT, R_FLOW_KEY, F_NAT_SADDR, F_NAT_DADDR, F_NAT_SPORT, F_NAT_DPORT,
  F_SERVICE, F_BACKEND, F_STATE, F_PACKETS, F_BYTES, R_PACKETS, R_BYTES, R_RETURN_NODE, S_FLAGS, S_ALGO, B_ADDR, B_PORT, B_NODE, N_ADDR, N_UP,
  SVC_SOURCE_RANGES, SVC_DROP_NO_BACKEND, SVC_MASQ_ALWAYS, SVC_MASQ_EXTERNAL } from "./records";
import { ctLookupFlowFrom, ctLookupFlow, ctLookupReply, ctReplyFlow, ctRefresh, ctCreate, ctWriteKey, CTF_SNAT,
  CTF_DST_REMOTE, CTF_IPVS_COUNTED } from "./conntrack";
import { ipvsWeighsConnections } from "./designs/ipvs";
import { allocAligned } from "./alloc";
import { lookupService, selectBackend, selectedByAffinity } from "./lb";
import { needsMasquerade, allocateSourcePort } from "./nat";
import { ipcacheResolve, infoIdentity, infoEndpoint, infoNode, infoFlags, policyCheck, checkRule,
  CHECK_ALLOWED, CHECK_DENY, IPC_ENFORCE_EGRESS, IPC_ENFORCE_INGRESS, IPC_HOST, IPC_POD, DIR_EGRESS, DIR_INGRESS } from "./policy";
import { lpmLookupScoped } from "./maps/lpm";
import { services, backends, nodes, policyRevision, sourceRanges } from "./tables";
import { GROUP, prefetchGroup, groupKey, groupHome } from "./prefetch";
import { arrayGet } from "./maps/array";
import { POLICY_RECHECK_ESTABLISHED, POLICY_ALLOW_SELF, POLICY_EGRESS_OWN_NODE, DESIGN, DESIGN_IPTABLES, DESIGN_IPVS } from "./config";
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
  if (hop != P.NODE_NONE) secondHop(p, hop, proto, flags, node, len, now);
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

let hopKey: usize = 0;

/**
 * 7. The second hop: the packet, as it left its entry node, reaches the node owning its destination (a pod there,
 * or the node's own address), whose conntrack sees it too (Cilium tracks a connection on both the client's node,
 * egress, and the backend's node, ingress). There it is a flow of its own (no NAT: the entry node did it), a live
 * one, or a reply, which that node reverse-NATs (a reply from a backend reaches the client's node, or the node
 * that masqueraded it, and is rewritten there, as kube-proxy's conntrack does on the node that DNAT'd). Policy
 * was judged on the entry node with the same maps every node holds. No packet needs a third hop.
 */
function secondHop(p: usize, hop: u32, proto: u8, flags: u8, entry: u16, len: u32, now: u32): void {
  const saddr = load<u32>(p, P.PKT_OUT_SADDR); const daddr = load<u32>(p, P.PKT_OUT_DADDR);
  const sport = load<u16>(p, P.PKT_OUT_SPORT); const dport = load<u16>(p, P.PKT_OUT_DPORT);
  const node = hop == HOP_TO_DESTINATION ? destinationNode(load<u32>(p, P.PKT_BACKEND), daddr) : <u16>hop;
  if (node == P.NODE_NONE || node == entry) return;
  const n = arrayGet(nodes, <u32>node);
  if (n == 0 || load<u32>(n, N_ADDR) == 0) return; // a node the dataplane does not know: the packet leaves
  store<u16>(p, node, P.PKT_HOP_NODE);
  if (load<u32>(n, N_UP) == 0) { // the node has failed: the entry node sent the packet, nobody receives it
    store<u8>(p, P.CT_NONE, P.PKT_HOP_CT_STATE);
    store<u8>(p, P.VERDICT_DROPPED, P.PKT_HOP_VERDICT);
    drop(p, P.VERDICT_DROPPED, P.DROP_NODE_DOWN);
    return;
  }
  if (hopKey == 0) hopKey = allocAligned(16, 16);
  ctWriteKey(hopKey, saddr, daddr, sport, dport, proto, node);
  let ct: u8; let nat: u8 = 0;
  const flow = ctLookupFlow(hopKey, now);
  if (flow != 0) {
    ct = ctRefresh(flow, proto, flags, false, now);
    store<u32>(flow, load<u32>(flow, F_PACKETS) + 1, F_PACKETS); store<u32>(flow, load<u32>(flow, F_BYTES) + len, F_BYTES);
  } else {
    const reply = ctLookupReply(hopKey, now);
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
      const created = ctCreate(hopKey, saddr, daddr, sport, dport, P.NONE, P.NONE, 0, policyRevision & 0xffffff, entry, now);
      if (created == 0) {
        store<u8>(p, P.CT_NEW, P.PKT_HOP_CT_STATE);
        store<u8>(p, P.VERDICT_DROPPED, P.PKT_HOP_VERDICT);
        drop(p, P.VERDICT_DROPPED, P.DROP_CT_MAP_INSERTION_FAILED);
        return;
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
}

/** Process `n` packets of the batch at `batch` at virtual time `now` (ms). Returns packets forwarded. */
export function processBatch(batch: usize, n: u32, now: u32): u32 {
  let forwarded: u32 = 0;
  batchPackets = 0; batchBytes = 0;
  for (let i: u32 = 0; i < n; i += GROUP) {
    const g = min(GROUP, n - i);
    prefetchGroup(batch, i, g); // prefetch.ts: keys, home slots, and the group's cache misses in flight together
    for (let j: u32 = 0; j < g; j++) {
      const p = batch + <usize>(i + j) * P.PKT_STRIDE;
      processOne(p, now, groupKey(j), groupHome(j));
      const v = load<u8>(p, P.PKT_VERDICT);
      if (v == P.VERDICT_FORWARDED) forwarded++;
      else count(C_VERDICT + <i32>v);
    }
  }
  count(C_VERDICT + <i32>P.VERDICT_FORWARDED, forwarded);
  count(C_PACKETS, batchPackets); count(C_BYTES, batchBytes);
  return forwarded;
}
