// The iptables design: what kube-proxy's iptables mode makes the kernel do
// for the first packet of a connection (later packets hit conntrack, shared
// with every design). pkg/proxy/iptables/proxier.go writes, per service port:
//
//   -A KUBE-SERVICES -d <vip> -p <proto> --dport <port> -j KUBE-SVC-<hash>      (one rule per frontend)
//   -A KUBE-SVC-<hash> ! -s <clusterCIDR> -j KUBE-MARK-MASQ                      (or -j KUBE-MARK-MASQ with --masquerade-all)
//   -A KUBE-SVC-<hash> -m statistic --mode random --probability 1/(n-i) -j KUBE-SEP-<i>   for i < n-1
//   -A KUBE-SVC-<hash> -j KUBE-SEP-<n-1>                                         (the last one unconditional)
//   -A KUBE-SEP-<i> -s <endpoint ip> -j KUBE-MARK-MASQ                           (hairpin)
//   -A KUBE-SEP-<i> -p <proto> -j DNAT --to-destination <endpoint ip:port>
//   -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
//   -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN ; -j MARK --xor-mark 0x4000 ; -j MASQUERADE
//
// KUBE-SERVICES is walked rule by rule: a new flow costs O(frontends). The
// service chains are the service's backend slots (tables.ts backendSlots),
// one KUBE-SEP per slot, tried in order with one PRNG draw per rule tried.
// ClientIP affinity (`-m recent --rcheck --seconds T --reap` before the
// probability rules, `-m recent --set` in KUBE-SEP) is the shared affinity
// map in lb.ts: the same observable rule, a client's last endpoint while it
// is fresh and still in the chain.
//
// The rule list (host-written, in KUBE-SERVICES order), `capacity` rules (records.ts Rule).
// One dataplane emulates every node: a rule with scope EXTERNAL/INTERNAL is
// what only `node`'s kube-proxy writes (its KUBE-EXT / KUBE-SVL chains for a
// Local traffic policy), matched only for new flows entering on that node
// from that side. The host keeps every scoped rule ahead of the unscoped
// ones, so the first match is the node's own rule when it has one, as in
// that node's ruleset (and as the ebpf design's scoped lookup).

import { allocZeroed } from "../alloc";
import { prngNext } from "../prng";
import { NONE } from "../packet";
import { RULE_SIZE, RULE_SCOPE, RULE_NODE, RULE_TARGET } from "../records";

const SCOPE_EXTERNAL: u64 = 1; const SCOPE_INTERNAL: u64 = 2;

let rules: usize = 0;
let capacity: u32 = 0;
let count: u32 = 0;

export function iptablesInit(maxRules: u32): bool {
  rules = allocZeroed(<usize>maxRules * RULE_SIZE, 64);
  if (rules == 0) return false;
  capacity = maxRules;
  return true;
}
export function iptablesRulesBase(): usize { return rules; }

/**
 * The host has written rules [first, n): check them and make the list n long.
 * 0, or -ERANGE naming nothing written wrong: a rule whose target is out of
 * range or whose scope is unknown refuses the whole update.
 */
export function iptablesSetRules(n: u32, first: u32, maxServices: u32): i32 {
  if (n > capacity || first > n) return -34;
  for (let i = first; i < n; i++) {
    const r = rules + <usize>i * RULE_SIZE;
    if (load<u8>(r, RULE_SCOPE) > 2 || load<u32>(r, RULE_TARGET) >= maxServices) return -34;
  }
  count = n;
  return 0;
}

/** KUBE-SERVICES: the target of the first rule matching the packet, or NONE. */
export function iptablesLookup(daddr: u32, dport: u16, proto: u8, node: u32, internal: bool): u32 {
  const any = <u64>daddr | (<u64>(<u32>dport | (<u32>proto << 16)) << 32);
  const scoped = any | ((internal ? SCOPE_INTERNAL : SCOPE_EXTERNAL) << 56);
  const end = rules + <usize>count * RULE_SIZE;
  for (let r = rules; r < end; r += RULE_SIZE) {
    const w = load<u64>(r); // -d vip -p proto --dport port, and the node scope
    if (w == any || (w == scoped && load<u32>(r, RULE_NODE) == node)) return load<u32>(r, RULE_TARGET);
  }
  return NONE;
}

/**
 * `--probability` of the i-th of k remaining endpoints as the kernel holds it:
 * kube-proxy prints 1/k with "%0.10f" (proxier.go probability()), iptables'
 * libxt_statistic stores lround(0x80000000 * p), and xt_statistic matches when
 * (get_random_u32() & 0x7FFFFFFF) < that.
 */
export function statisticThreshold(k: u32): u32 {
  const p = Math.round(1e10 / <f64>k) / 1e10;
  return <u32>Math.round(2147483648.0 * p);
}

/** KUBE-SVC chain of n endpoints: slot of the first statistic rule that matches, the last unconditionally. */
export function iptablesPickSlot(n: u32): u32 {
  for (let i: u32 = 0; i + 1 < n; i++) {
    if ((prngNext() & 0x7fffffff) < statisticThreshold(n - i)) return i;
  }
  return n - 1;
}

export const MARK_MASQ: u32 = 0x4000; // KUBE-MARK-MASQ (kube-proxy --iptables-masquerade-bit 14)

/**
 * The packet mark after KUBE-SVC/KUBE-EXT and KUBE-SEP: KUBE-MARK-MASQ for
 * every packet with --masquerade-all (SVC_MASQ_ALWAYS), for sources outside
 * the pod network where the service asks it (SVC_MASQ_EXTERNAL: `! -s
 * clusterCIDR`, and the external chain of a Cluster traffic policy), and for
 * the endpoint reaching itself (KUBE-SEP `-s <endpoint ip>`).
 */
// @ts-ignore: decorator
@inline export function iptablesMark(masqAll: bool, masqExternal: bool, srcIsPod: bool, saddr: u32, backendAddr: u32): u32 {
  let mark: u32 = 0;
  if (masqAll || (masqExternal && !srcIsPod)) mark |= MARK_MASQ;
  if (saddr == backendAddr) mark |= MARK_MASQ;
  return mark;
}

/** KUBE-POSTROUTING: masquerade the packets that carry the mark. */
// @ts-ignore: decorator
@inline export function iptablesPostrouting(mark: u32): bool { return (mark & MARK_MASQ) != 0; }
