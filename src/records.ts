// The host's mirrors of the core records it reads or writes directly in the core's memory (the layouts are
// drawn once, in assembly/records.ts; test/layout.test.ts holds every offset and size here to the core's
// exported values). The packet descriptor's mirror is PKT in src/packet.ts.

/** A conntrack key: a flow's original tuple and the node whose conntrack holds it. */
export const CT_KEY = { SADDR: 0, DADDR: 4, SPORT: 8, DPORT: 10, PROTO: 12, NODE: 14, SIZE: 16 } as const;

/** The flow state bits FlowInfo.state shows (assembly/conntrack.ts CTF_*): the conntrack state and SNAT, not the hop routing bits. */
export const FLOW_STATE_SHOWN = 0x1f;

/** A flow (the conntrack LRU's value). */
export const FLOW = {
  NAT_SADDR: 0, NAT_DADDR: 4, NAT_SPORT: 8, NAT_DPORT: 10, SERVICE: 12, BACKEND: 16, EXPIRES: 20, STATE: 24,
  PACKETS: 28, BYTES: 32, SIZE: 36,
} as const;

/** A KUBE-SERVICES rule of the iptables design (the host writes the rule list). */
export const RULE = { DADDR: 0, DPORT: 4, PROTO: 6, SCOPE: 7, NODE: 8, TARGET: 12, SIZE: 16 } as const;
