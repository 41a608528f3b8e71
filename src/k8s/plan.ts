// What the compiler computes before it writes anything: its options, and the plan (what every map should
// hold, as keyed data). planCluster (plan-cluster.ts) makes a plan; programPlan (program.ts) writes the
// difference between two plans into a dataplane.

import { NodePortMode, nodePortMode, servesLocalhost } from './node-ports.js';
import { Algorithm, ALGO, DEFAULT_ALGO, Design, EndpointInfo } from '../dataplane.js';
import { MAGLEV_PRIMES } from '../controlplane/maglev.js';
import { formatIPv4, parseCidr } from '../common/ip.js';
import { PROTO } from '../protocols.js';
import { ClusterModel, PROTOCOLS, Protocol, Service, ServicePort } from './model.js';
import type { EligibleEndpoints } from './endpoints.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { DEFAULT_POLICY_KNOBS, PolicyKnobs } from '../policy/model.js';
import type { BackendMap } from './ids.js';

export type { PlannedBackend } from './ids.js';

// ---------------------------------------------------------------- options

export interface CompileOptions {
  /**
   * Endpoint selection for every service entry. Default: the dataplane design's own
   * (DEFAULT_ALGO: iptables and nftables random, `-m statistic --mode random` / `numgen random`;
   * ipvs rr, kube-proxy's --ipvs-scheduler default; ebpf random). It must be one the design has
   * (DESIGN_ALGOS).
   */
  algo?: Algorithm;
  /** The dataplane design compiled for (default: the dataplane's, else ebpf); it decides the default algo. */
  design?: Design;
  /**
   * kube-proxy --masquerade-all (default false): SNAT all traffic sent to a cluster IP.
   * In proxier.go the rule is written in the internal (cluster IP) chain only, so it sets
   * SVC_FLAG.MASQ_ALWAYS on the ClusterIP entries; external destinations keep their own rules.
   */
  masqueradeAll?: boolean;
  /**
   * kube-proxy --cluster-cidr (its LocalDetector). Default: the model's config.clusterCIDR.
   * Traffic to a cluster IP from outside it is masqueraded (SVC_FLAG.MASQ_EXTERNAL on ClusterIP
   * entries; the CIDR is an ipcache POD prefix, so its sources count as pods). `null`: no local
   * detector, no such masquerade (proxier.go: `localDetector.IsImplemented()` false).
   */
  clusterCIDR?: string | null;
  /**
   * kube-proxy --nodeport-addresses: CIDRs; NodePorts are served on the node addresses (InternalIP
   * and ExternalIP) inside them. Default as kube-proxy's (src/k8s/node-ports.ts): every address of
   * the node, or in the nftables design the node's primary IP (its InternalIP).
   */
  nodePortAddresses?: string[];
  /**
   * kube-proxy localhostNodePorts (iptables mode only; default true): NodePorts also answer on
   * 127.0.0.1 for the node's own clients (route_localnet).
   */
  localhostNodePorts?: boolean;
  /**
   * What ClientIP session affinity is shared by. 'service-port': every frontend of a service port
   * (ClusterIP, NodePorts, LoadBalancer IPs, external IPs), as kube-proxy's per-endpoint `recent`
   * lists (iptables) and affinity sets (nftables) are: a client keeps its endpoint whichever address
   * it uses. 'entry': each dataplane entry on its own (the ClusterIP apart from the external addresses),
   * closer to Cilium's per-frontend affinity and IPVS's per-virtual-server persistence. Default:
   * 'service-port' in the iptables and nftables designs, 'entry' in ebpf and ipvs.
   */
  affinityScope?: 'service-port' | 'entry';
  /**
   * Maglev table size M (one of MAGLEV_PRIMES) for every entry. Default: per entry, the smallest
   * size with M > 100 x its endpoints, and never smaller than what the entry had before (so that
   * removing an endpoint keeps M and only moves that endpoint's cells).
   */
  maglevTableSize?: number;
  /**
   * Policy knobs the compiler needs (src/policy/model.ts; default DEFAULT_POLICY_KNOBS). The
   * self-traffic and egress-to-own-node knobs are the dataplane's options policyAllowSelf and
   * policyEgressToOwnNode, since the core applies them.
   */
  policyKnobs?: Partial<PolicyKnobs>;
}

export interface ResolvedCompileOptions {
  algo: Algorithm;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  nodePortAddresses: string[] | null;
  /** Which node addresses an unset nodePortAddresses means (all, or the primary one in nftables mode). */
  nodePortMode: NodePortMode;
  /** NodePorts on 127.0.0.1 (iptables design with localhostNodePorts). */
  localhostNodePorts: boolean;
  affinityScope: 'service-port' | 'entry';
  maglevTableSize: number | null;
  policyKnobs: PolicyKnobs;
}

export function resolveCompileOptions(model: ClusterModel, o: CompileOptions = {}, dpDesign?: Design): ResolvedCompileOptions {
  const design = o.design ?? dpDesign ?? 'ebpf';
  const algo = o.algo ?? DEFAULT_ALGO[design];
  if (!(algo in ALGO)) throw new RangeError(`algo: ${JSON.stringify(algo)} is not one of ${Object.keys(ALGO).join(', ')}`);
  const clusterCIDR = o.clusterCIDR === undefined ? model.config.clusterCIDR : o.clusterCIDR;
  if (clusterCIDR !== null && !parseCidr(clusterCIDR)) throw new RangeError(`clusterCIDR: ${JSON.stringify(clusterCIDR)} is not an IPv4 CIDR`);
  for (const c of o.nodePortAddresses ?? []) {
    if (!parseCidr(c)) throw new RangeError(`nodePortAddresses: ${JSON.stringify(c)} is not an IPv4 CIDR`);
  }
  const m = o.maglevTableSize ?? null;
  if (m !== null && !MAGLEV_PRIMES.includes(m)) throw new RangeError(`maglevTableSize: ${m} is not one of ${MAGLEV_PRIMES.join(', ')}`);
  const nodePortAddresses = o.nodePortAddresses ?? null, mode = nodePortMode(design);
  return { algo, masqueradeAll: o.masqueradeAll ?? false, clusterCIDR, nodePortAddresses, maglevTableSize: m, nodePortMode: mode,
    localhostNodePorts: design === 'iptables' && servesLocalhost(nodePortAddresses, mode, o.localhostNodePorts ?? true),
    affinityScope: o.affinityScope ?? (design === 'iptables' || design === 'nftables' ? 'service-port' : 'entry'),
    policyKnobs: { ...DEFAULT_POLICY_KNOBS, ...o.policyKnobs } };
}

// ---------------------------------------------------------------- plan types

export type FrontendKind = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'externalIP';
/** Which chain an entry stands for: the cluster IP's, the external destinations' (KUBE-EXT), or the LB firewall's (KUBE-FW). */
export type EntryRole = 'cluster-ip' | 'external' | 'load-balancer';
/** 'any': the frontend's own entry; 'node': one node's entry for every source; 'internal' / 'external': one node's entry for that side. */
export type EntryScope = 'any' | 'node' | 'internal' | 'external';

/** The IP protocol number of a Kubernetes protocol. */
export const PROTOCOL_NUMBER = Object.fromEntries(PROTOCOLS.map((p) => [p, PROTO[p]])) as Record<Protocol, number>;


export interface PlannedService {
  index: number;
  /** Stable identity: "ns/name:port/PROTO|role|scope|node". */
  key: string;
  /** "ns/name:port" (port name, or number when unnamed). */
  label: string;
  /** The service port this entry belongs to (key of Plan.servicePorts). */
  portKey: string;
  role: EntryRole;
  scope: EntryScope;
  node?: string;
  /** Backend ids in slot order. */
  backends: number[];
  flags: number;
  affinityTimeout: number;
  /** Entries with the same group share ClientIP affinity (ResolvedCompileOptions.affinityScope): a service index of the port. */
  affinityGroup: number;
  /** loadBalancerSourceRanges (and VIPs kube-proxy lets through), canonical CIDRs. */
  sourceRanges: string[];
  /** Maglev table size, when the algorithm is maglev. */
  maglevM: number;
  /** Why this entry holds these endpoints, in words. */
  rule: string;
}

export interface PlannedFrontend {
  addr: number; port: number; protocol: Protocol;
  scope: 'any' | 'internal' | 'external';
  node?: string;
  kind: FrontendKind;
  /** PlannedService.key */
  service: string;
}

export interface PlannedServicePort {
  key: string;
  label: string;
  service: Service;
  port: ServicePort;
  eligible: EligibleEndpoints;
  /** Service entry keys of this port. */
  entries: string[];
}

export interface PlannedIpcache {
  cidr: string; addr: number; plen: number; info: EndpointInfo;
  /** What the entry is: "pod ns/name", "node name", "podCIDR of node", "cluster CIDR". */
  what: string;
}

/** A node as the dataplane holds it; `failed`: the node is down (ClusterRuntime.failNode), packets to it are lost. */
export interface PlannedNode { id: number; name: string; addr: number; zone?: string; failed?: boolean }

export interface Plan {
  options: ResolvedCompileOptions;
  nodes: PlannedNode[];
  /** By backend key. */
  backends: BackendMap;
  /** By entry key. */
  services: Map<string, PlannedService>;
  /** By frontendKey(). */
  frontends: Map<string, PlannedFrontend>;
  ipcache: Map<string, PlannedIpcache>;
  servicePorts: Map<string, PlannedServicePort>;
  /** UDP service port key -> backend keys of its serving endpoints (conntrack cleanup). */
  udpServing: Map<string, Set<string>>;
  /** NetworkPolicy and admin policies, compiled (src/policy/compile.ts); absent without model.policies. */
  policy?: CompiledPolicy;
  warnings: string[];
}

export function frontendKey(fe: { addr: number; port: number; protocol: Protocol; scope: string; node?: string }): string {
  return `${formatIPv4(fe.addr)}:${fe.port}/${fe.protocol}|${fe.scope}|${fe.scope === 'any' ? '' : fe.node ?? ''}`;
}

/** The node id of "no node" (an endpoint or pod whose node is unknown or not in the cluster). */
export const NODE_NONE = 0xffff;
