// NAT decisions (per node: the source-port check probes the node's own reply entries, as each node's
// nf_nat checks its own conntrack): DNAT comes from the chosen backend (lb.ts); this module
// decides when to masquerade (SNAT to the ingress node's address) and picks a
// source port so that no two live flows leave with the same 5-tuple, which is
// what Linux's nf_nat guarantees (nf_nat_used_tuple) and what keeps replies
// unambiguous.
//
// Masquerade when (kube-proxy's KUBE-MARK-MASQ rules):
//   - the client is the chosen backend itself (hairpin), or
//   - the service masquerades everything (SVC_MASQ_ALWAYS, --masquerade-all), or
//   - the source is outside the pod network and the service asks for it
//     (SVC_MASQ_EXTERNAL: ClusterIP from outside --cluster-cidr, NodePort and
//     LoadBalancer with externalTrafficPolicy Cluster).
//
// Source port: keep the client's port when it is free and the address is not
// rewritten; otherwise try NAT_PORT_TRIES ports of NAT_PORT_MIN..NAT_PORT_MAX
// starting at a hash of the flow (fully random mapping, as kube-proxy's
// --random-fully), first free wins.

import { NAT_PORT_MIN, NAT_PORT_MAX, NAT_PORT_TRIES, HASH_SEED } from "./config";
import { ctReplyKeyTaken, ctWriteKey } from "./conntrack";
import { SVC_MASQ_ALWAYS, SVC_MASQ_EXTERNAL } from "./records";
import { IPC_POD } from "./policy";
import { hashTuple } from "./hash";
import { allocAligned } from "./alloc";

let replyKey: usize = 0;
export function natInit(): void { replyKey = allocAligned(16, 16); }

// @ts-ignore: decorator
@inline export function needsMasquerade(svcFlags: u8, srcFlags: u16, saddr: u32, backendAddr: u32): bool {
  if (saddr == backendAddr) return true;
  if ((svcFlags & SVC_MASQ_ALWAYS) != 0) return true;
  return (svcFlags & SVC_MASQ_EXTERNAL) != 0 && (srcFlags & IPC_POD) == 0;
}

/**
 * Source port for a flow leaving as natSaddr -> daddr:dport, or -1 when every
 * candidate is taken (the packet is dropped: NO_MAPPING_FOR_NAT_MASQUERADE).
 */
// Inlined: its one caller on the packet path is processOne (pipeline.ts); assembly/bench.ts calls it too, and
// without this the optimizer would stop inlining it there.
// @ts-ignore: decorator
@inline export function allocateSourcePort(origSaddr: u32, origDaddr: u32, origSport: u16, origDport: u16,
  natSaddr: u32, daddr: u32, dport: u16, proto: u8, keepPort: bool, node: u16, now: u32): i32 {
  if (keepPort) {
    ctWriteKey(replyKey, daddr, natSaddr, dport, origSport, proto, node);
    if (!ctReplyKeyTaken(replyKey, now)) return <i32>origSport;
  }
  const range = NAT_PORT_MAX - NAT_PORT_MIN + 1;
  const start = hashTuple(origSaddr, origDaddr, origSport, origDport, proto, HASH_SEED ^ 0x5a5a5a5a) % range;
  for (let i: u32 = 0; i < NAT_PORT_TRIES; i++) {
    const port = <u16>(NAT_PORT_MIN + (start + i) % range);
    ctWriteKey(replyKey, daddr, natSaddr, dport, port, proto, node);
    if (!ctReplyKeyTaken(replyKey, now)) return <i32>port;
  }
  return -1;
}
