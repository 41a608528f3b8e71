// Dataplane knobs, set by the host (src/wasm.ts: configure()). Defaults are
// Cilium's (bpf/lib/conntrack.h, pkg/option) and Linux's where they define one.

export let CT_LIFETIME_TCP: u32 = 21600 * 1000;  // established TCP: 6 h (CT_CONNECTION_LIFETIME_TCP)
export let CT_LIFETIME_SYN: u32 = 60 * 1000;     // until a non-SYN packet is seen (CT_SYN_TIMEOUT)
export let CT_LIFETIME_CLOSE: u32 = 10 * 1000;   // after FIN/RST in both directions (CT_CLOSE_TIMEOUT)
export let CT_LIFETIME_NONTCP: u32 = 60 * 1000;  // UDP, SCTP, ICMP (CT_CONNECTION_LIFETIME_NONTCP)
export let NAT_PORT_MIN: u32 = 32768;            // Linux ip_local_port_range
export let NAT_PORT_MAX: u32 = 60999;
export let NAT_PORT_TRIES: u32 = 32;             // candidates tried before NO_MAPPING
export let POLICY_RECHECK_ESTABLISHED: bool = true; // Cilium re-applies policy to established flows
export let HASH_SEED: u32 = 0x5eed;
// A pod's traffic to itself, directly or hairpinned through a Service, skips policy (Cilium:
// loopback/hairpin flows bypass policy enforcement in bpf_lxc; the upstream e2e suite never
// expects such traffic to be dropped). Default true.
export let POLICY_ALLOW_SELF: bool = true;
// Egress from a pod to its own node's address skips the pod's egress policy. Default false:
// NetworkPolicy leaves it implementation-defined and Cilium enforces egress to the host.
export let POLICY_EGRESS_OWN_NODE: bool = false;

export function setLifetimes(tcp: u32, syn: u32, close: u32, nontcp: u32): void {
  CT_LIFETIME_TCP = tcp; CT_LIFETIME_SYN = syn; CT_LIFETIME_CLOSE = close; CT_LIFETIME_NONTCP = nontcp;
}
export function setNatPorts(min: u32, max: u32, tries: u32): void {
  NAT_PORT_MIN = min; NAT_PORT_MAX = max; NAT_PORT_TRIES = tries;
}
export function setPolicyRecheck(on: bool): void { POLICY_RECHECK_ESTABLISHED = on; }
export function setPolicyKnobs(allowSelf: bool, egressOwnNode: bool): void {
  POLICY_ALLOW_SELF = allowSelf; POLICY_EGRESS_OWN_NODE = egressOwnNode;
}
export function setHashSeed(seed: u32): void { HASH_SEED = seed; }

// Dataplane design (issue 5): which data structures a new flow's service
// lookup and endpoint choice go through (lb.ts dispatches). Everything else
// (conntrack, NAT, policy, affinity) is shared. Set once, before any map is written.
export const DESIGN_EBPF: u8 = 0;     // Cilium-style hash maps (lb.ts)
export const DESIGN_IPTABLES: u8 = 1; // KUBE-SERVICES rule list (designs/iptables.ts)
export const DESIGN_IPVS: u8 = 2;     // virtual-service hash + kernel schedulers (designs/ipvs.ts)
export const DESIGN_NFTABLES: u8 = 3; // verdict maps (designs/nftables.ts)
export let DESIGN: u8 = DESIGN_EBPF;
export function setDesignConfig(d: u8): void { DESIGN = d; }
