// Packet descriptor: one fixed-stride record per packet in a packed batch.
// The host writes the input fields; process() writes the output fields.
// Mirrored field for field by src/packet.ts; keep the two in step.
//
//  offset size field       dir  meaning
//   0     4    saddr       in   IPv4 source (host byte order, 10.0.0.1 = 0x0a000001)
//   4     4    daddr       in   IPv4 destination
//   8     2    sport       in   L4 source port (ICMP: echo identifier)
//  10     2    dport       in   L4 destination port
//  12     1    proto       in   IP protocol: 1 ICMP, 6 TCP, 17 UDP, 132 SCTP
//  13     1    tcpFlags    in   FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10
//  14     2    node        in   node id the packet enters on
//  16     2    len         in   IP total length in bytes (for counters)
//  18     2    (reserved, 0)
//  20     4    outSaddr    out  source as the packet leaves
//  24     4    outDaddr    out  destination as the packet leaves
//  28     2    outSport    out
//  30     2    outDport    out
//  32     1    verdict     out  VERDICT_*
//  33     1    dropReason  out  DROP_*
//  34     1    ctState     out  CT_*
//  35     1    natFlags    out  NAT_* bits
//  36     4    serviceId   out  service index, NONE if the packet hit no service
//  40     4    backendId   out  backend index, NONE if none was chosen
//  44     4    policyRule  out  rule id that allowed or denied it (0: no policy applied)
//  48     2    hopNode     out  the second hop's node: NODE_NONE when the packet was processed on one node
//  50     1    hopVerdict  out  the second hop's VERDICT_*
//  51     1    hopCtState  out  the second hop's CT_* (what that node's conntrack knew of the packet)
//  52     1    hopNatFlags out  NAT_* bits done at the second hop (natFlags holds both hops')
//  53    11    (reserved, 0)
//  64          (stride: a 64-byte cache line to a packet, so that no line holds two packets, which two
//              worker threads could be writing at once: measured, docs/design/per-node-and-workers.md,
//              "Third pass")
//
// Hops: a packet is processed on the node it enters (`node`); when it leaves toward a pod or node address
// owned by another node, that node processes it again with its own conntrack (pipeline.ts secondHop). The
// top-level outputs are the packet's end to end (the tuple as it finally leaves, verdict, drop reason);
// ctState is the entry node's.

// The record, laid out by the compiler (fields in order, each at its natural alignment): the offsets and
// the stride below are derived from it, so the table above and this class are the one statement of it.
@unmanaged class Packet {
  saddr: u32; daddr: u32; sport: u16; dport: u16; proto: u8; tcpFlags: u8; node: u16; len: u16; reserved: u16;
  outSaddr: u32; outDaddr: u32; outSport: u16; outDport: u16;
  verdict: u8; dropReason: u8; ctState: u8; natFlags: u8;
  service: u32; backend: u32; policyRule: u32;
  hopNode: u16; hopVerdict: u8; hopCtState: u8; hopNatFlags: u8; reserved1: u8; reserved2: u16;
  reserved3: u64;
}
export const PKT_SADDR = offsetof<Packet>("saddr"); export const PKT_DADDR = offsetof<Packet>("daddr");
export const PKT_SPORT = offsetof<Packet>("sport"); export const PKT_DPORT = offsetof<Packet>("dport");
export const PKT_PROTO = offsetof<Packet>("proto"); export const PKT_TCP_FLAGS = offsetof<Packet>("tcpFlags");
export const PKT_NODE = offsetof<Packet>("node"); export const PKT_LEN = offsetof<Packet>("len");
export const PKT_OUT_SADDR = offsetof<Packet>("outSaddr"); export const PKT_OUT_DADDR = offsetof<Packet>("outDaddr");
export const PKT_OUT_SPORT = offsetof<Packet>("outSport"); export const PKT_OUT_DPORT = offsetof<Packet>("outDport");
export const PKT_VERDICT = offsetof<Packet>("verdict"); export const PKT_DROP_REASON = offsetof<Packet>("dropReason");
export const PKT_CT_STATE = offsetof<Packet>("ctState"); export const PKT_NAT_FLAGS = offsetof<Packet>("natFlags");
export const PKT_SERVICE = offsetof<Packet>("service"); export const PKT_BACKEND = offsetof<Packet>("backend");
export const PKT_POLICY_RULE = offsetof<Packet>("policyRule");
export const PKT_HOP_NODE = offsetof<Packet>("hopNode"); export const PKT_HOP_VERDICT = offsetof<Packet>("hopVerdict");
export const PKT_HOP_CT_STATE = offsetof<Packet>("hopCtState"); export const PKT_HOP_NAT_FLAGS = offsetof<Packet>("hopNatFlags");
export const PKT_STRIDE: usize = offsetof<Packet>();

// The outputs are the descriptor's tail: [PKT_OUTPUTS, PKT_STRIDE).
export const PKT_OUTPUTS = PKT_OUT_SADDR;

// The copies below move a descriptor in as few loads and stores as the layout allows (16 bytes at a time): the
// workers copy descriptors out of lines another core wrote, and the fewer the instructions a descriptor takes, the
// more descriptors' misses a core has in flight at once (measured: docs/design/per-node-and-workers.md, "Second pass").
// They are written for the stride and the outputs' span above; the compiler stops here if either changes.
if (PKT_STRIDE != 64 || PKT_OUTPUTS != 20) ERROR("packet.ts: the descriptor copies assume a 64-byte stride with outputs from 20");

/** Copy the descriptor at `src` to `dst`, whole. */
// @ts-ignore: decorator
@inline export function copyDescriptor(dst: usize, src: usize): void {
  v128.store(dst, v128.load(src)); v128.store(dst, v128.load(src, 16), 16); v128.store(dst, v128.load(src, 32), 32);
  v128.store(dst, v128.load(src, 48), 48);
}

/** Copy the outputs of the descriptor at `src` to `dst` ([20, 56): 4 + 16 + 16 bytes); its inputs (and the reserved tail) are left as they are. */
// @ts-ignore: decorator
@inline export function copyOutputs(dst: usize, src: usize): void {
  store<u32>(dst, load<u32>(src, 20), 20); v128.store(dst, v128.load(src, 24), 24); v128.store(dst, v128.load(src, 40), 40);
}

export const NONE: u32 = 0xffffffff;
export const NODE_NONE: u16 = 0xffff;

export const PROTO_ICMP: u8 = 1; export const PROTO_TCP: u8 = 6;
export const PROTO_UDP: u8 = 17; export const PROTO_SCTP: u8 = 132;

export const TCP_FIN: u8 = 0x01; export const TCP_SYN: u8 = 0x02; export const TCP_RST: u8 = 0x04;
export const TCP_ACK: u8 = 0x10;

export const VERDICT_FORWARDED: u8 = 1; export const VERDICT_DROPPED: u8 = 2; export const VERDICT_REJECTED: u8 = 3;

// Drop reasons, named after Hubble's flow.DropReason values.
export const DROP_NONE: u8 = 0;
export const DROP_INVALID_SOURCE_IP: u8 = 1;
export const DROP_INVALID_PACKET: u8 = 2;          // INVALID_PACKET_DROPPED
export const DROP_UNKNOWN_L4_PROTOCOL: u8 = 3;
export const DROP_POLICY_DENIED: u8 = 4;          // isolated, no rule allows
export const DROP_POLICY_DENY: u8 = 5;            // an explicit deny rule matched
export const DROP_SERVICE_BACKEND_NOT_FOUND: u8 = 6;
export const DROP_CT_MAP_INSERTION_FAILED: u8 = 7;
export const DROP_NAT_NO_MAPPING: u8 = 8;         // NO_MAPPING_FOR_NAT_MASQUERADE: no free source port
export const DROP_NOT_IN_SRC_RANGE: u8 = 9;      // DENIED_BY_LB_SRC_RANGE_CHECK (loadBalancerSourceRanges)
// dpemu's own (no Cilium code: the node's datapath is gone, the network loses the packet): the packet enters,
// or crosses to, a node that has failed.
export const DROP_NODE_DOWN: u8 = 10;
export const DROP_REASONS: u8 = 11;

export const CT_NONE: u8 = 0; export const CT_NEW: u8 = 1; export const CT_ESTABLISHED: u8 = 2;
export const CT_REPLY: u8 = 3; export const CT_REOPENED: u8 = 4;

export const NAT_DNAT: u8 = 1; export const NAT_SNAT: u8 = 2; export const NAT_REVNAT: u8 = 4;
export const NAT_AFFINITY: u8 = 8; export const NAT_HAIRPIN: u8 = 16;
