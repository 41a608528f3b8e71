// The summary report of a run (what `dpemu run` prints, `--json` writes and `--html` draws): plain data,
// JSON as it is. RunCollector (collector.ts) makes it; render-terminal.ts and render-html.ts show it.

import type { ChiSquareResult } from './chisquare.js';

/** Counts by name, in a fixed order of names (the verdicts, the conntrack states, the NAT kinds). */
export type Tally = Record<string, number>;

export interface RunReport {
  /** The report's shape (raised when a field changes meaning). */
  format: 1;
  run: {
    /** What ran: the dataplane design and backend, the seed, the inputs (as the caller names them). */
    design: string | null;
    backend: string | null;
    seed: number | null;
    inputs: Record<string, string>;
    /** Packets the traffic source made, and the packets that went through the dataplane. */
    generated: number;
    processed: number;
    bytes: number;
    /** Wall-clock time of the run (milliseconds) and the virtual time it covered (seconds). */
    wallMs: number;
    virtualSeconds: number;
    /** Processed packets per wall-clock second. */
    packetsPerSecond: number;
  };
  packets: {
    byVerdict: Tally;
    /** Conntrack's view of each packet: NEW, ESTABLISHED, REPLY, REOPENED, NONE (not tracked: dropped first packets). */
    byCtState: Tally;
    /** Packets that were translated, by kind (a packet may have several). */
    nat: Tally;
  };
  /**
   * Connection attempts, by the verdict of their first packet: a packet that created a conntrack entry (NEW,
   * REOPENED), or a dropped or rejected packet that would have (untracked, and a TCP SYN or not TCP). A
   * retransmitted SYN that is dropped again counts again.
   */
  flows: { total: number; byVerdict: Tally };
  /** Dropped and rejected packets by reason (Hubble's drop reason names), most first. */
  drops: { reason: string; packets: number; share: number }[];
  /** Per service entry (and per period between changes of its backends): new flows by backend against the expected weights. */
  services: ServiceDistribution[];
  conntrack: {
    /** Live entries at the end, the table's capacity, and entries / capacity. */
    entries: number;
    capacity: number;
    occupancy: number;
    /** Over the dataplane's life (its counters): entries created, evicted (table full), expired. */
    created: number;
    evicted: number;
    expired: number;
    affinityEvicted: number;
    /** Live entries by state (SYN_SENT, ESTABLISHED, CLOSING, OPEN) and by protocol. */
    byState: Tally;
    byProto: Tally;
  };
  nat: {
    /** The masquerade source-port range and how many ports it has. */
    portRange: { min: number; max: number; size: number };
    /** Live masqueraded flows by the address and protocol they leave with: distinct source ports in use. */
    addresses: { address: string; proto: string; portsInUse: number; flows: number; share: number }[];
    /** Flows whose destination was translated (service traffic) and whose source was (masquerade), live at the end. */
    dnatFlows: number;
    snatFlows: number;
    /** Packets dropped because no masquerade port was free. */
    noPortDrops: number;
  };
  /** Name lookups of the clients (null when the run made none). */
  dns: DnsSummary | null;
  policy: {
    /** Packets dropped by policy (POLICY_DENIED: isolated and no rule allowed; POLICY_DENY: a rule denied). */
    drops: number;
    byRule: { rule: number | null; text: string; direction: string | null; action: string | null; packets: number }[];
  };
  /** Cumulative counts at the virtual times the run sampled (at most about 2,000 points, evenly thinned). */
  timeline: TimelinePoint[];
  /** What the traffic generator of `dpemu run` knows (absent for a capture or a caller's own packets). */
  traffic?: TrafficSummary;
}

/** The generated traffic by entry of the spec, the cluster changes made during the run, and the defaults applied. */
export interface TrafficSummary {
  /** What dpemu assumed for the cluster (default nodes, load-balancer addresses, the cluster DNS added). */
  notes: string[];
  entries: {
    from: string; to: string[]; proto: string; rate: number;
    /** Connections opened, completed (every packet of their lifecycle forwarded), and failed, by the step that failed. */
    opened: number; completed: number; failed: number;
    failedAt: Record<string, number>;
    /** Name lookups before the connections: lookups, queries (search-list tries), failed, and failed because a query was dropped. */
    dns: { lookups: number; queries: number; failed: number; blocked: number };
    packets: number; retransmissions: number;
    /** HTTP requests by the status the Gateway or Ingress gave (entries with an `http` request only). */
    http?: Record<string, number>;
  }[];
  /** Cluster changes during the run, at virtual seconds. */
  changes: { at: number; what: string }[];
}

export interface ServiceDistribution {
  /** `ns/name:port`, the entry's scope (`any`, or one node's `external` / `internal` entry) and node. */
  service: string;
  scope: string;
  node: string | null;
  algorithm: string;
  /** Virtual seconds the period covers: from the last change of the entry's backends (null: the start) to the next (null: the end). */
  from: number | null;
  to: number | null;
  /** New flows the entry sent to a backend in the period. */
  flows: number;
  backends: {
    backend: string;
    pod: string | null;
    node: string | null;
    /** The backend's weight in the entry (its slots), and the share of new flows that promises. */
    weight: number;
    expectedShare: number;
    flows: number;
    share: number;
  }[];
  /** Pearson's test of the flows against the weights (df = backends − 1); null with fewer than two backends. */
  chiSquare: ChiSquareResult | null;
}

export interface DnsSummary {
  /** Lookups (one name resolved by one client) and the queries they cost (search-list expansion). */
  lookups: number;
  queries: number;
  queriesPerLookup: number;
  /** How many lookups took 1, 2, ... queries. */
  queriesHistogram: { queries: number; lookups: number }[];
  /** Lookups by final answer code (NOERROR, NXDOMAIN, SERVFAIL, ...), and those a policy blocked (no answer). */
  byRcode: Tally;
  blocked: number;
  failed: number;
  /** The failed lookups by name, most first (at most 20). */
  failures: { name: string; type: string; rcode: string; blocked: boolean; lookups: number; clients: number }[];
}

export interface TimelinePoint {
  /** Virtual seconds. */
  t: number;
  /** Wall-clock milliseconds since the collector started. */
  wallMs: number;
  packets: number;
  forwarded: number;
  dropped: number;
  rejected: number;
  flows: number;
  /** Live conntrack entries, when the run gave them. */
  conntrack: number | null;
}
