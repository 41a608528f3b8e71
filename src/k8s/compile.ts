// Compiling a ClusterModel into a Dataplane the way kube-proxy in iptables mode
// programs every node: one dataplane emulates all nodes, so what kube-proxy
// writes differently per node (Local traffic policies, topology hints) becomes
// node-scoped frontend entries (src/dataplane.ts Frontend.scope).
//
// Sources (kubernetes/kubernetes), each rule cites the one it follows:
// - pkg/proxy/iptables/proxier.go   syncProxyRules (chains KUBE-SERVICES, -EXT, -SVC, -SVL, -FW, -SEP)
// - pkg/proxy/topology.go           CategorizeEndpoints, topologyModeFromHints, availableForTopology
// - pkg/proxy/serviceport.go        UsesClusterEndpoints, UsesLocalEndpoints, ExternallyAccessible, newBaseServiceInfo
// - pkg/api/v1/service/util.go      ExternallyAccessible, ExternalPolicyLocal, InternalPolicyLocal
// - pkg/proxy/conntrack/cleanup.go  CleanStaleEntries (UDP flows to endpoints that stopped serving)
// - kubernetes.io/docs: concepts/services-networking/service-traffic-policy, topology-aware-routing,
//   reference/command-line-tools-reference/kube-proxy (--masquerade-all, --cluster-cidr, --nodeport-addresses)
//
// The work is split in two: planCluster() computes, as plain keyed data, what
// every map should hold (it allocates stable ids as it goes); programPlan()
// writes the difference between two plans into a dataplane. compileCluster()
// is both, from nothing; the runtime (runtime.ts) keeps the last plan and
// applies only what changed.

import {
  Dataplane, Algorithm, ALGO, DEFAULT_ALGO, Design, IPC_FLAG, SVC_FLAG, IDENTITY, EndpointInfo, Limits, DEFAULT_LIMITS,
} from '../dataplane.js';
import { maglevTable, maglevTableSize, MAGLEV_PRIMES } from '../controlplane/maglev.js';
import { dottedQuad, formatIPv4, parseCidr, parseIPv4, prefixMask } from '../common/ip.js';
import { IdTable } from '../common/idtable.js';
import { CapacityError } from '../errors.js';
import { PROTO } from '../packet.js';
import { ClusterModel, Endpoint, EndpointSlice, Node, Protocol, Service, ServicePort, slicesForService } from './model.js';
import { EligibleEndpoints, ProxyEndpoint, eligibleEndpoints } from './endpoints.js';
import { CompiledPolicy, PolicyIds, compilePolicies, programPolicy } from '../policy/compile.js';
import { DEFAULT_POLICY_KNOBS, PolicyKnobs } from '../policy/model.js';
import { PolicySpec } from '../policy/spec.js';
import { TopologyChoice, hasTopologyHint, topologyEndpoints } from './topology.js';
import { LOCALHOST, NodePortMode, nodePortIPs, nodePortMode, servesLocalhost } from './node-ports.js';

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

export const PROTOCOL_NUMBER: Record<Protocol, number> = { TCP: PROTO.TCP, UDP: PROTO.UDP, SCTP: PROTO.SCTP };

export interface PlannedBackend {
  id: number;
  /** "ip:port/PROTO" */
  key: string;
  addr: number;
  port: number;
  protocol: Protocol;
  /** The endpoint's node (EndpointSlice nodeName), when known. */
  node?: string;
  /** targetRef name of the endpoint (a pod), when known. */
  target?: string;
}

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

export interface PlannedNode { id: number; name: string; addr: number; zone?: string }

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

// ---------------------------------------------------------------- stable ids

/** Id allocation kept across compilations, so that an unchanged object keeps its number. */
export class Allocations {
  readonly nodeIds = new Map<string, number>();
  /** Backend ids by backendNumber (endpoint address, port and protocol). */
  private backendIds = new IdTable(1024);
  readonly serviceIndex = new Map<string, number>();
  readonly identities = new Map<string, number>();
  readonly endpointIds = new Map<string, number>();
  readonly maglevM = new Map<string, number>();
  readonly policyIds = new PolicyIds();
  private nextNode = 0;
  private nextBackend = 0;
  private nextService = 0;
  private nextIdentity = 256; // Cilium: cluster-local identities start at 256
  private nextEndpoint = 1;
  private readonly freeServices: number[] = [];

  node(name: string): number {
    let id = this.nodeIds.get(name);
    if (id === undefined) this.nodeIds.set(name, (id = this.nextNode++));
    return id;
  }
  /** The id of the backend with this backendNumber. */
  backend(num: number): number {
    let id = this.backendIds.get(num);
    if (id === undefined) this.backendIds.set(num, (id = this.nextBackend++));
    return id;
  }
  /** The id the backend "ip:port/PROTO" was given, if any. */
  backendId(key: string): number | undefined {
    const num = backendNumberOfKey(key);
    return num === undefined ? undefined : this.backendIds.get(num);
  }
  hasBackend(num: number): boolean { return this.backendIds.has(num); }
  identity(key: string): number {
    let id = this.identities.get(key);
    if (id === undefined) this.identities.set(key, (id = this.nextIdentity++));
    return id;
  }
  endpoint(key: string): number {
    let id = this.endpointIds.get(key);
    if (id === undefined) this.endpointIds.set(key, (id = this.nextEndpoint++));
    return id;
  }
  /** A service index: the entry's own, else a never-used one, else (when `limit` is reached) a freed one. */
  service(key: string, limit = Infinity): number {
    let id = this.serviceIndex.get(key);
    if (id === undefined) {
      id = this.nextService < limit || this.freeServices.length === 0 ? this.nextService++ : this.freeServices.shift()!;
      this.serviceIndex.set(key, id);
    }
    return id;
  }
  releaseService(key: string): void {
    const id = this.serviceIndex.get(key);
    if (id === undefined) return;
    this.serviceIndex.delete(key);
    this.maglevM.delete(key);
    this.freeServices.push(id);
  }
  get nodeCount(): number { return this.nextNode; }
  /** Backend ids handed out so far (the next one is this number). */
  get backendCount(): number { return this.nextBackend; }

  /**
   * The allocations as they are now; calling the result puts them back (a change that failed must not
   * keep the ids it was given, or they would be lost to later changes).
   */
  checkpoint(): () => void {
    const maps: [Map<string, number>, Map<string, number>][] = [this.nodeIds, this.serviceIndex, this.identities, this.endpointIds, this.maglevM]
      .map((m) => [m, new Map(m)]);
    const backendIds = this.backendIds.clone();
    const policy = this.policyIds.checkpoint();
    const { nextNode, nextBackend, nextService, nextIdentity, nextEndpoint } = this;
    const freeServices = [...this.freeServices];
    return () => {
      for (const [live, saved] of maps) { live.clear(); for (const [k, v] of saved) live.set(k, v); }
      this.backendIds = backendIds;
      policy();
      Object.assign(this, { nextNode, nextBackend, nextService, nextIdentity, nextEndpoint });
      this.freeServices.length = 0;
      this.freeServices.push(...freeServices);
    };
  }
}

/**
 * Whether `plan` fits the dataplane's maps; a CapacityError naming the first that would overfill. Checked
 * before anything is written, so that a change too big for the maps changes nothing.
 */
export function checkCapacity(plan: Plan, limits: Limits): void {
  const over = (map: string, need: number, max: number, option: string) => {
    if (need > max) throw new CapacityError(`${map}: this change needs ${need} entries, the map holds ${max}; raise ${option}`, map, max);
  };
  let maxIndex = -1, ranges = 0, slots = 0;
  for (const s of plan.services.values()) {
    if (s.index > maxIndex) maxIndex = s.index;
    ranges += s.sourceRanges.length;
    slots += s.backends.length;
  }
  over('services', maxIndex + 1, limits.maxServices, 'maxServices');
  let maxBackend = -1;
  for (const b of plan.backends.values()) if (b.id > maxBackend) maxBackend = b.id;
  over('backends', maxBackend + 1, limits.maxBackends, 'maxBackends');
  let maxNode = -1;
  for (const n of plan.nodes) if (n.id > maxNode) maxNode = n.id;
  over('nodes', maxNode + 1, limits.maxNodes, 'maxNodes');
  over('frontends', plan.frontends.size, limits.maxFrontends, 'maxFrontends');
  over('source ranges', ranges, limits.maxFrontends, 'maxFrontends');
  over('backendSlots', slots, limits.maxSlots, 'maxSlots');
  over('ipcache', plan.ipcache.size, limits.maxIpcache, 'maxIpcache');
  over('policy', plan.policy?.entries.size ?? 0, limits.maxPolicy, 'maxPolicy');
}

// ---------------------------------------------------------------- planning

/**
 * A model address as a number. The loader has validated every address (dotted quad, IPv4), so this reads
 * digits without the checks of parseIPv4 (whose regular expressions dominated planning 100,000 endpoints);
 * anything unexpected still goes through parseIPv4.
 */
function ipNum(s: string): number {
  let v = 0, part = 0, dots = 0, digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c >= 0 && c <= 9) { part = part * 10 + c; digits++; continue; }
    if (c !== -2 || digits === 0 || part > 255) return parseIPv4(s)!; // '.' is 46
    v = v * 256 + part; part = 0; digits = 0; dots++;
  }
  if (dots !== 3 || digits === 0 || digits > 3 || part > 255) return parseIPv4(s)!;
  return (v * 256 + part) >>> 0;
}
const PROTOCOL_INDEX: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2 };
const PROTOCOL_OF_INDEX: Protocol[] = ['TCP', 'UDP', 'SCTP'];

/**
 * A backend's address, port and protocol as one number (32 + 16 + 2 bits, exact in a double): what the
 * backend indices are keyed by. With 100,000 backends, a Map lookup by a freshly built "ip:port/PROTO"
 * string costs about ten times one by number (the string is flattened, hashed and compared).
 */
function backendNumber(addr: number, port: number, protocol: Protocol): number {
  return (addr * 65536 + port) * 4 + PROTOCOL_INDEX[protocol];
}

/** backendNumber of a backend key "ip:port/PROTO" as the planner writes them (canonical), or undefined. */
function backendNumberOfKey(key: string): number | undefined {
  const colon = key.indexOf(':'), slash = key.indexOf('/', colon);
  if (colon < 0 || slash < 0) return undefined;
  const addr = dottedQuad(key.slice(0, colon), false), portText = key.slice(colon + 1, slash), port = Number(portText);
  const proto = key.slice(slash + 1) as Protocol;
  if (addr === undefined || !(port >= 0 && port <= 65535 && String(port) === portText) || !Object.hasOwn(PROTOCOL_INDEX, proto)) return undefined;
  return backendNumber(addr, port, proto);
}

/**
 * Plan.backends: a Map from "ip:port/PROTO" to the backend, stored by id. The planner looks a backend up per
 * endpoint (100,000 in the control-plane benchmark), and with string keys building and hashing them was most
 * of its time; here it finds the id in Allocations (by backendNumber) and the backend in an array. The index
 * by backendNumber (for lookups by key string, and the single-service replans) is built when first asked for.
 * Backend ids and numbers correspond one to one (Allocations hands them out), and the backends iterate in
 * id order. Keys are the backends' own (`set` refuses a key that is not the backend's).
 */
export class BackendMap implements Map<string, PlannedBackend> {
  private readonly byId: (PlannedBackend | undefined)[] = [];
  private count = 0;
  private byNumber?: IdTable; // backendNumber -> id
  get size(): number { return this.count; }
  get [Symbol.toStringTag](): string { return 'BackendMap'; }
  getById(id: number): PlannedBackend | undefined { return this.byId[id]; }
  getByNumber(num: number): PlannedBackend | undefined {
    const id = this.index().get(num);
    return id === undefined ? undefined : this.byId[id];
  }
  /** The index by backendNumber (to ids), built on first use and kept up to date from then on. */
  index(): IdTable {
    if (!this.byNumber) {
      this.byNumber = new IdTable(this.count);
      for (const b of this.byId) if (b) this.byNumber.set(backendNumber(b.addr, b.port, b.protocol), b.id);
    }
    return this.byNumber;
  }
  /** Add (or replace) the backend with this id. */
  add(b: PlannedBackend): void {
    if (this.byId[b.id] === undefined) this.count++;
    this.byId[b.id] = b;
    this.byNumber?.set(backendNumber(b.addr, b.port, b.protocol), b.id);
  }
  deleteByNumber(num: number): boolean {
    const id = this.index().get(num);
    if (id === undefined) return false;
    this.byNumber!.delete(num);
    this.byId[id] = undefined;
    this.count--;
    return true;
  }
  get(key: string): PlannedBackend | undefined {
    const num = backendNumberOfKey(key);
    return num === undefined ? undefined : this.getByNumber(num);
  }
  has(key: string): boolean { return this.get(key) !== undefined; }
  set(key: string, b: PlannedBackend): this {
    if (key !== b.key || backendNumberOfKey(key) !== backendNumber(b.addr, b.port, b.protocol)) {
      throw new RangeError(`backends: key ${JSON.stringify(key)} is not the key of backend ${JSON.stringify(b.key)}`);
    }
    this.add(b);
    return this;
  }
  delete(key: string): boolean {
    const num = backendNumberOfKey(key);
    return num !== undefined && this.deleteByNumber(num);
  }
  clear(): void { this.byId.length = 0; this.count = 0; this.byNumber = undefined; }
  forEach(f: (b: PlannedBackend, key: string, map: Map<string, PlannedBackend>) => void, thisArg?: unknown): void {
    for (const b of this.byId) if (b) f.call(thisArg, b, b.key, this);
  }
  *entries(): MapIterator<[string, PlannedBackend]> { for (const b of this.byId) if (b) yield [b.key, b]; }
  *keys(): MapIterator<string> { for (const b of this.byId) if (b) yield b.key; }
  *values(): MapIterator<PlannedBackend> { for (const b of this.byId) if (b) yield b; }
  [Symbol.iterator](): MapIterator<[string, PlannedBackend]> { return this.entries(); }
}

const endpointKey = (e: ProxyEndpoint) => `${e.address}:${e.port}`;
const sameSet = (a: ProxyEndpoint[], b: ProxyEndpoint[]) =>
  a.length === b.length && a.every((e, i) => endpointKey(e) === endpointKey(b[i]));

function cidrHas(cidr: string, addr: number): boolean {
  const c = parseCidr(cidr)!;
  const m = prefixMask(c.plen);
  return ((addr & m) >>> 0) === ((c.addr & m) >>> 0);
}

function canonicalCidr(cidr: string): { cidr: string; addr: number; plen: number } {
  const c = parseCidr(cidr)!;
  const addr = (c.addr & prefixMask(c.plen)) >>> 0;
  return { cidr: `${formatIPv4(addr)}/${c.plen}`, addr, plen: c.plen };
}

/** Node addresses NodePorts are served on (--nodeport-addresses; src/k8s/node-ports.ts). */
function nodePortAddresses(n: Node, opts: ResolvedCompileOptions): number[] {
  return nodePortIPs(n, opts.nodePortAddresses, opts.nodePortMode);
}

/** Address a node is known by in the dataplane (masquerade source): its InternalIP, else its first IPv4 address. */
function nodeAddress(n: Node): number | undefined {
  const a = n.internalIP ?? n.addresses[0]?.address;
  return a === undefined ? undefined : ipNum(a);
}

interface PortView {
  /** All endpoints of the port kube-proxy knows (minus duplicates and unusable ones), by address. */
  all: ProxyEndpoint[];
  /** The cluster-wide usable set (ready, else serving+terminating). */
  cluster: ProxyEndpoint[];
  usingTerminating: boolean;
}

/** Sorted by address (then port), each address parsed once rather than once per comparison; `eps` itself when it is in order. */
function sortedByAddress(eps: ProxyEndpoint[]): ProxyEndpoint[] {
  if (eps.length < 2) return eps;
  // The common case (controllers list endpoints in order) is only checked, allocating nothing.
  let prev = ipNum(eps[0].address), sorted = true;
  for (let i = 1; i < eps.length && sorted; i++) {
    const a = ipNum(eps[i].address);
    if (a < prev || (a === prev && eps[i].port < eps[i - 1].port)) sorted = false;
    prev = a;
  }
  if (sorted) return eps;
  const a = new Float64Array(eps.length);
  for (let i = 0; i < eps.length; i++) a[i] = ipNum(eps[i].address);
  const order = Array.from(eps.keys()).sort((x, y) => a[x] - a[y] || eps[x].port - eps[y].port);
  return order.map((i) => eps[i]);
}

function portView(e: EligibleEndpoints): PortView {
  // Excluded endpoints kube-proxy still knows (not ready, terminating); usually none, and then `all` is `cluster`.
  let extra: ProxyEndpoint[] | undefined;
  for (const x of e.excluded) {
    if ('port' in x.endpoint && x.reason !== 'duplicate') (extra ??= []).push(x.endpoint);
  }
  const cluster = sortedByAddress(e.endpoints); // a new array when it sorts (e.endpoints is left as it is)
  return { all: extra ? sortedByAddress([...e.endpoints, ...extra]) : cluster, cluster, usingTerminating: e.usingTerminating };
}

/**
 * The node's Cluster-policy endpoints (topology.go CategorizeEndpoints / topologyModeFromHints):
 * with same-node hints as below for nodes, else with same-zone hints only if every ready endpoint has a zone hint and at least one is for the
 * node's zone; otherwise every ready endpoint; if none is ready, the serving terminating ones.
 */
function clusterEndpointsFor(v: PortView, node: string, zone: string | undefined): TopologyChoice {
  return topologyEndpoints(v.all, v.cluster, node, zone); // node hints first (PreferSameNode): topology.ts
}

/** The node's Local-policy endpoints (CategorizeEndpoints): local ready ones, else local serving terminating ones. */
function localEndpointsFor(v: PortView, node: string): { eps: ProxyEndpoint[]; terminating: boolean } {
  const local = v.all.filter((e) => e.nodeName === node);
  const ready = local.filter((e) => e.ready);
  if (ready.length) return { eps: ready, terminating: false };
  return { eps: local.filter((e) => e.serving && e.terminating), terminating: true };
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The backend id of an endpoint (ip:port/PROTO), adding it to the plan the first time it is seen. */
function backendAllocator(plan: Plan, alloc: Allocations): (e: ProxyEndpoint, protocol: Protocol) => number {
  return (e, protocol) => {
    const addr = ipNum(e.address);
    // The id first (one lookup, which a new backend needs anyway), then whether the plan has it: by id.
    const id = alloc.backend(backendNumber(addr, e.port, protocol));
    let b = plan.backends.getById(id);
    if (!b) {
      const key = `${e.address}:${e.port}/${protocol}`;
      const target = e.targetRef ? `${e.targetRef.namespace ? `${e.targetRef.namespace}/` : ''}${e.targetRef.name}` : undefined;
      if (e.nodeName !== undefined && target !== undefined) {
        b = { id, key, addr, port: e.port, protocol, node: e.nodeName, target }; // whole at once: one allocation
      } else {
        b = { id, key, addr, port: e.port, protocol };
        if (e.nodeName !== undefined) b.node = e.nodeName;
        if (target !== undefined) b.target = target;
      }
      plan.backends.add(b);
    }
    return b.id;
  };
}

/**
 * What every node's kube-proxy would program for `model`, as keyed data; ids come from `alloc`
 * (new objects get new ids, known ones keep theirs). `serviceLimit`: the dataplane's maxServices,
 * past which freed service indices are reused.
 */
export function planCluster(model: ClusterModel, opts: ResolvedCompileOptions, alloc = new Allocations(), serviceLimit = Infinity): Plan {
  const plan: Plan = {
    options: opts, nodes: [], backends: new BackendMap(), services: new Map(), frontends: new Map(), ipcache: new Map(),
    servicePorts: new Map(), udpServing: new Map(), warnings: [],
  };

  // Nodes: ids in model order (stable afterwards); the dataplane knows a node by one address.
  for (const n of model.nodes) {
    const addr = nodeAddress(n);
    const id = alloc.node(n.name);
    if (addr === undefined) {
      plan.warnings.push(`node ${n.name} has no IPv4 address: packets cannot enter on it and it serves no NodePort`);
      continue;
    }
    plan.nodes.push({ id, name: n.name, addr, zone: n.zone });
  }
  const nodeByName = new Map(model.nodes.map((n) => [n.name, n]));
  const liveNodes = plan.nodes.map((pn) => ({ pn, node: nodeByName.get(pn.name)! }));

  // ipcache: the cluster CIDR and each node's pod CIDRs are pods (so unknown pod IPs count as in-cluster:
  // kube-proxy's LocalDetector tests `-s clusterCIDR`); nodes are the host; every pod IP a pod.
  const ipc = (cidr: string, info: EndpointInfo, what: string) => {
    const c = canonicalCidr(cidr);
    plan.ipcache.set(c.cidr, { cidr: c.cidr, addr: c.addr, plen: c.plen, info, what });
  };
  const UNMANAGED = 3; // Cilium's reserved:unmanaged: in the pod network, not a known endpoint
  const NODE_NONE = 0xffff;
  if (opts.clusterCIDR !== null) ipc(opts.clusterCIDR, { identity: UNMANAGED, endpoint: 0, node: NODE_NONE, flags: IPC_FLAG.POD }, 'cluster CIDR');
  for (const { pn, node } of liveNodes) {
    for (const c of node.podCIDRs) ipc(c, { identity: UNMANAGED, endpoint: 0, node: pn.id, flags: IPC_FLAG.POD }, `podCIDR of node ${pn.name}`);
  }
  for (const { pn } of liveNodes) {
    ipc(`${formatIPv4(pn.addr)}/32`, { identity: IDENTITY.HOST, endpoint: 0, node: pn.id, flags: IPC_FLAG.HOST }, `node ${pn.name}`);
  }
  const nodeIdByName = new Map(plan.nodes.map((n) => [n.name, n.id]));
  for (const p of model.pods) {
    // hostNetwork pods use their node's address (already HOST); terminal pods have given their IP back.
    if (p.hostNetwork || p.phase === 'Succeeded' || p.phase === 'Failed') continue;
    const identity = alloc.identity(`${p.namespace}|${JSON.stringify(Object.entries(p.labels).sort())}`);
    const endpoint = alloc.endpoint(`${p.namespace}/${p.name}`);
    const node = p.nodeName !== undefined ? nodeIdByName.get(p.nodeName) ?? NODE_NONE : NODE_NONE;
    for (const a of p.podIPs) {
      const k = `${a}/32`;
      const prev = plan.ipcache.get(k);
      if (prev) {
        plan.warnings.push(`pod ${p.namespace}/${p.name} has address ${a}, already used by ${prev.what}; the ipcache keeps the first`);
        continue;
      }
      ipc(k, { identity, endpoint, node, flags: IPC_FLAG.POD }, `pod ${p.namespace}/${p.name}`);
    }
  }
  if (model.policies) {
    // Policy identities, subjects and enforcement flags replace the ipcache's; policy CIDRs join it.
    plan.policy = compilePolicies({ cluster: model, policies: model.policies, knobs: opts.policyKnobs, infra: plan.ipcache,
      identity: (k) => alloc.identity(k), ids: alloc.policyIds });
    plan.ipcache = plan.policy.ipcache;
  }

  const backendOf = backendAllocator(plan, alloc);


  // The slices of each service, indexed once (slicesForService per service would be quadratic).
  const slicesOf = new Map<string, EndpointSlice[]>();
  for (const s of model.endpointSlices) {
    const k = `${s.namespace}/${s.serviceName}`;
    const l = slicesOf.get(k);
    if (l) l.push(s); else slicesOf.set(k, [s]);
  }
  for (const svc of model.services) {
    // Headless and ExternalName services get no rules (proxier.go: only services with a cluster IP are proxied).
    if (svc.type === 'ExternalName' || svc.headless || svc.clusterIP === undefined) continue;
    const slices = slicesOf.get(`${svc.namespace}/${svc.name}`) ?? [];
    for (const sp of svc.ports) planServicePort(plan, alloc, serviceLimit, opts, svc, sp, slices, liveNodes, backendOf);
  }
  return plan;
}

function planServicePort(plan: Plan, alloc: Allocations, serviceLimit: number, opts: ResolvedCompileOptions,
  svc: Service, sp: ServicePort, slices: ReturnType<typeof slicesForService>,
  liveNodes: { pn: PlannedNode; node: Node }[], backendOf: (e: ProxyEndpoint, p: Protocol) => number,
  keys?: { label: string; key: string }): string[] { // the keys of the port's entries
  const label = keys?.label ?? `${svc.namespace}/${svc.name}:${sp.name || String(sp.port)}`;
  const portKey = keys?.key ?? `${label}/${sp.protocol}`;
  const eligible = eligibleEndpoints(slices, { name: sp.name, protocol: sp.protocol });
  const view = portView(eligible);
  const entryKeys: string[] = [];
  plan.servicePorts.set(portKey, { key: portKey, label, service: svc, port: sp, eligible, entries: entryKeys });

  // conntrack/cleanup.go CleanStaleEntries: for UDP, flows to endpoints that are no longer serving are removed.
  if (sp.protocol === 'UDP') plan.udpServing.set(portKey, new Set(view.all.filter((e) => e.serving).map((e) => `${endpointKey(e)}/UDP`)));

  const proto = sp.protocol;
  const hasEndpoints = view.cluster.length > 0; // CategorizeEndpoints hasAnyEndpoints: some ready or serving-terminating endpoint
  const lbVIPs = svc.loadBalancerIngress; // serviceport.go: status.loadBalancer.ingress[].ip
  const nodePort = (svc.type === 'NodePort' || svc.type === 'LoadBalancer') ? sp.nodePort : undefined;
  // pkg/api/v1/service/util.go + serviceport.go ExternallyAccessible: a nodePort, an LB VIP or an external IP.
  const externallyAccessible = nodePort !== undefined || lbVIPs.length > 0 || svc.externalIPs.length > 0;
  const etpLocal = externallyAccessible && svc.externalTrafficPolicy === 'Local'; // ExternalPolicyLocal
  const itpLocal = svc.internalTrafficPolicy === 'Local';                          // InternalPolicyLocal
  // serviceport.go UsesClusterEndpoints: ITP Cluster, or externally accessible (ETP Local short-circuits pods there).
  const usesCluster = !itpLocal || externallyAccessible;
  // proxier.go writes `-m recent --rcheck --seconds stickyMaxAgeSeconds` for ClientIP affinity.
  const affinityTimeout = svc.sessionAffinity === 'ClientIP' ? svc.sessionAffinityTimeout : 0;

  // Per-node views, computed only where they can differ from the cluster-wide one: clusterEndpointsFor
  // only narrows when some ready endpoint carries zone hints, and the local sets are only read under a
  // Local traffic policy (a cluster of 10,000 services on 100 nodes would otherwise build 2 million sets).
  const hinted = usesCluster && view.all.some((e) => e.ready && hasTopologyHint(e));
  const needLocal = itpLocal || etpLocal;
  const unhinted = { eps: view.cluster, topology: false }, unused = { eps: [] as ProxyEndpoint[], terminating: false };
  const per = !hinted && !needLocal ? [] : liveNodes.map(({ pn, node }) => ({
    pn, node,
    cluster: hinted ? clusterEndpointsFor(view, node.name, node.zone) : unhinted as TopologyChoice,
    local: needLocal ? localEndpointsFor(view, node.name) : unused,
  }));
  const total = view.cluster.length;
  const fallback = view.usingTerminating ? ` (no ready endpoint: ${plural(total, 'serving terminating endpoint')})` : '';

  const entry = (role: EntryRole, scope: EntryScope, node: string | undefined, eps: ProxyEndpoint[], flags: number, rule: string, sourceRanges: string[] = []): string => {
    const key = `${portKey}|${role}|${scope}|${node ?? ''}`;
    const index = alloc.service(key, serviceLimit);
    let maglevM = 0;
    if (opts.algo === 'maglev') {
      maglevM = opts.maglevTableSize ?? Math.max(alloc.maglevM.get(key) ?? 0, maglevTableSize(eps.length));
      alloc.maglevM.set(key, maglevM);
    }
    if (affinityTimeout > 0 && eps.length > 0) rule += `; sessionAffinity=ClientIP (${affinityTimeout} s)`;
    const s: PlannedService = {
      index, key, label, portKey, role, scope, backends: eps.map((e) => backendOf(e, proto)), flags, affinityTimeout,
      affinityGroup: opts.affinityScope === 'service-port' && entryKeys.length > 0 ? plan.services.get(entryKeys[0])!.index : index,
      sourceRanges, maglevM, rule,
    };
    if (node !== undefined) s.node = node;
    plan.services.set(key, s);
    entryKeys.push(key);
    return key;
  };
  const frontend = (addr: number, kind: FrontendKind, port: number, scope: 'any' | 'internal' | 'external', node: string | undefined, service: string) => {
    const fe: PlannedFrontend = { addr, port, protocol: proto, scope, kind, service };
    if (node !== undefined) fe.node = node;
    const k = frontendKey(fe);
    const prev = plan.frontends.get(k);
    if (prev) {
      // The entry key's first field is its port key (no key part holds a '|': names are DNS labels).
      if (!(prev.service.startsWith(portKey) && prev.service.charCodeAt(portKey.length) === 124)) {
        plan.warnings.push(`${kind} ${formatIPv4(addr)}:${port}/${proto} of ${label} is already a ${prev.kind} frontend of ${plan.services.get(prev.service)?.label}; the first keeps it`);
      }
      return;
    }
    plan.frontends.set(k, fe);
  };
  const noEndpoints = 'no endpoints: rejected (ICMP port unreachable)';

  // ---- the cluster IP (proxier.go "cluster IP" rule into the internal traffic chain)
  const clusterIP = ipNum(svc.clusterIP!);
  // proxier.go: --masquerade-all marks every packet to the cluster IP; else `localDetector.IfNotLocal()`
  // (`! -s clusterCIDR`) does: off-cluster traffic to a service VIP is masqueraded.
  const cipFlags = opts.masqueradeAll ? SVC_FLAG.MASQ_ALWAYS : opts.clusterCIDR !== null ? SVC_FLAG.MASQ_EXTERNAL : 0;
  const cipMasq = opts.masqueradeAll ? '; --masquerade-all' : opts.clusterCIDR !== null ? `; sources outside ${opts.clusterCIDR} masqueraded` : '';
  if (!itpLocal) {
    const any = entry('cluster-ip', 'any', undefined, view.cluster,
      cipFlags, hasEndpoints ? `internalTrafficPolicy=Cluster: ${plural(total, 'endpoint')}${fallback}${cipMasq}` : noEndpoints);
    frontend(clusterIP, 'ClusterIP', sp.port, 'any', undefined, any);
    // Topology hints narrow the cluster chain per node (only where they change it).
    for (const p of per) {
      if (!p.cluster.topology || sameSet(p.cluster.eps, view.cluster)) continue;
      const k = entry('cluster-ip', 'node', p.pn.name, p.cluster.eps, cipFlags,
        `topology hints: ${p.cluster.eps.length} of ${plural(total, 'endpoint')} hinted for ${p.cluster.hintedFor} (node ${p.pn.name})${cipMasq}`);
      // The cluster IP chain serves every source (pods, nodes, and routed-in external clients).
      frontend(clusterIP, 'ClusterIP', sp.port, 'internal', p.pn.name, k);
      frontend(clusterIP, 'ClusterIP', sp.port, 'external', p.pn.name, k);
    }
  } else {
    // ITP Local: the node's local endpoints; none there but some elsewhere: DROP ("has no local endpoints").
    for (const p of per) {
      const eps = p.local.eps;
      const rule = !hasEndpoints ? noEndpoints
        : `internalTrafficPolicy=Local: ${eps.length ? plural(eps.length, 'local endpoint') : 'no local endpoint'} of ${total} on ${p.pn.name}`
          + (eps.length && p.local.terminating ? ' (serving terminating)' : '') + (eps.length ? cipMasq : ': dropped');
      const k = entry('cluster-ip', 'node', p.pn.name, eps, cipFlags | (hasEndpoints ? SVC_FLAG.DROP_NO_BACKEND : 0), rule);
      frontend(clusterIP, 'ClusterIP', sp.port, 'internal', p.pn.name, k);
      frontend(clusterIP, 'ClusterIP', sp.port, 'external', p.pn.name, k);
    }
  }

  if (!externallyAccessible) return entryKeys;

  // ---- external destinations: NodePorts, LB VIPs, external IPs (all jump to KUBE-EXT)
  interface ExtFe { addr: number; port: number; kind: FrontendKind; owner?: string; loopback?: boolean }
  const nodePorts: ExtFe[] = [];
  if (nodePort !== undefined) {
    for (const { pn, node } of liveNodes) for (const a of nodePortAddresses(node, opts)) nodePorts.push({ addr: a, port: nodePort, kind: 'NodePort', owner: pn.name });
    // localhostNodePorts: 127.0.0.1 on every node; its clients are the node itself (--src-type LOCAL).
    if (opts.localhostNodePorts) nodePorts.push({ addr: LOCALHOST, port: nodePort, kind: 'NodePort', loopback: true });
  }
  const lbs: ExtFe[] = lbVIPs.map((a) => ({ addr: ipNum(a), port: sp.port, kind: 'LoadBalancer' }));
  const eips: ExtFe[] = svc.externalIPs.map((a) => ({ addr: ipNum(a), port: sp.port, kind: 'externalIP' }));
  // proxier.go usesFWChain: hasEndpoints && LB VIPs && loadBalancerSourceRanges; other sources are dropped
  // (KUBE-PROXY-FIREWALL). NodePorts and external IPs are not subject to the ranges.
  const usesFW = hasEndpoints && lbs.length > 0 && svc.loadBalancerSourceRanges.length > 0;
  const groups: { role: EntryRole; fes: ExtFe[]; ranges: string[] }[] = [];
  if (usesFW) {
    const ranges = svc.loadBalancerSourceRanges.map((c) => canonicalCidr(c).cidr);
    // proxier.go allowFromNode: when a range holds the node's IP, traffic from the LB VIP itself
    // (a node reaching a VIP routed locally) is let through too.
    if (liveNodes.some(({ pn }) => ranges.some((c) => cidrHas(c, pn.addr)))) {
      for (const l of lbs) { const c = `${formatIPv4(l.addr)}/32`; if (!ranges.includes(c)) ranges.push(c); }
    }
    groups.push({ role: 'external', fes: [...nodePorts, ...eips], ranges: [] }, { role: 'load-balancer', fes: lbs, ranges });
  } else {
    groups.push({ role: 'external', fes: [...nodePorts, ...lbs, ...eips], ranges: [] });
  }

  for (const g of groups) {
    if (g.fes.length === 0) continue;
    const fwFlag = g.ranges.length ? SVC_FLAG.SOURCE_RANGES : 0;
    const fwText = g.ranges.length ? `; loadBalancerSourceRanges ${g.ranges.join(', ')}` : '';
    const scoped = (fe: ExtFe, scope: 'internal' | 'external', node: string, k: string) => {
      // A NodePort is only captured on its own node (KUBE-NODEPORTS matches --dst-type LOCAL); 127.0.0.1 is
      // every node's, and its (local) clients take KUBE-EXT's --src-type LOCAL path, not the Local policy's.
      if (fe.loopback ? !(etpLocal && scope === 'external') : fe.kind !== 'NodePort' || fe.owner === node) frontend(fe.addr, fe.kind, fe.port, scope, node, k);
    };
    if (!etpLocal) {
      // ETP Cluster: KUBE-EXT marks everything for masquerade, then the cluster chain.
      const any = entry(g.role, 'any', undefined, view.cluster, SVC_FLAG.MASQ_ALWAYS | fwFlag,
        hasEndpoints ? `externalTrafficPolicy=Cluster: ${plural(total, 'endpoint')}${fallback}, source masqueraded${fwText}` : noEndpoints, g.ranges);
      for (const fe of g.fes) frontend(fe.addr, fe.kind, fe.port, 'any', undefined, any);
      for (const p of per) {
        if (!p.cluster.topology || sameSet(p.cluster.eps, view.cluster)) continue;
        const k = entry(g.role, 'node', p.pn.name, p.cluster.eps, SVC_FLAG.MASQ_ALWAYS | fwFlag,
          `externalTrafficPolicy=Cluster, topology hints: ${p.cluster.eps.length} of ${plural(total, 'endpoint')} hinted for ${p.cluster.hintedFor} (node ${p.pn.name}), source masqueraded${fwText}`, g.ranges);
        for (const fe of g.fes) { scoped(fe, 'internal', p.pn.name, k); scoped(fe, 'external', p.pn.name, k); }
      }
    } else {
      // ETP Local, sources inside the cluster: pods (`-s clusterCIDR`) go to the cluster chain with
      // their own address; the node itself (`--src-type LOCAL`) is masqueraded and goes there too.
      const any = entry(g.role, 'any', undefined, view.cluster, SVC_FLAG.MASQ_EXTERNAL | fwFlag,
        hasEndpoints ? `externalTrafficPolicy=Local, source inside the cluster: all ${plural(total, 'endpoint')}${fallback} (pods keep their address, nodes are masqueraded)${fwText}` : noEndpoints, g.ranges);
      for (const fe of g.fes) frontend(fe.addr, fe.kind, fe.port, 'any', undefined, any);
      for (const p of per) {
        if (!p.cluster.topology || sameSet(p.cluster.eps, view.cluster)) continue;
        const k = entry(g.role, 'internal', p.pn.name, p.cluster.eps, SVC_FLAG.MASQ_EXTERNAL | fwFlag,
          `externalTrafficPolicy=Local, source inside the cluster, topology hints: ${p.cluster.eps.length} of ${plural(total, 'endpoint')} hinted for ${p.cluster.hintedFor} (node ${p.pn.name})${fwText}`, g.ranges);
        for (const fe of g.fes) scoped(fe, 'internal', p.pn.name, k);
      }
      // ETP Local, external sources: the node's local endpoints, client address kept; none: DROP.
      for (const p of per) {
        const eps = p.local.eps;
        const rule = !hasEndpoints ? noEndpoints
          : `externalTrafficPolicy=Local: ${eps.length ? plural(eps.length, 'local endpoint') : 'no local endpoint'} of ${total} on ${p.pn.name}`
            + (eps.length && p.local.terminating ? ' (serving terminating)' : '') + (eps.length ? ', client address kept' : ': dropped') + fwText;
        const k = entry(g.role, 'external', p.pn.name, eps, (hasEndpoints ? SVC_FLAG.DROP_NO_BACKEND : 0) | fwFlag, rule, g.ranges);
        for (const fe of g.fes) scoped(fe, 'external', p.pn.name, k);
      }
    }
  }
  return entryKeys;
}

// ---------------------------------------------------------------- programming

export interface ProgramReport {
  nodes: number;
  ipcache: { upserted: number; deleted: number };
  backends: { set: number };
  services: { set: number; removed: number };
  frontends: { upserted: number; deleted: number };
  sourceRanges: { upserted: number; deleted: number };
  policy: { upserted: number; deleted: number };
  /** UDP flows removed per backend ("ip:port/UDP") whose endpoint stopped serving. */
  flushed: { backend: string; flows: number }[];
}

const sameInfo = (a: EndpointInfo, b: EndpointInfo) =>
  a.identity === b.identity && a.endpoint === b.endpoint && a.node === b.node && a.flags === b.flags;

function sameService(a: PlannedService, b: PlannedService, algo: Algorithm, prevAlgo: Algorithm): boolean {
  return algo === prevAlgo && a.index === b.index && a.flags === b.flags && a.affinityTimeout === b.affinityTimeout && a.affinityGroup === b.affinityGroup && a.maglevM === b.maglevM
    && a.backends.length === b.backends.length && a.backends.every((x, i) => x === b.backends[i]);
}

const toFrontend = (fe: PlannedFrontend, nodeIds: Map<string, number>) => {
  const out: { addr: number; port: number; proto: number; scope?: 'any' | 'internal' | 'external'; node?: number } =
    { addr: fe.addr, port: fe.port, proto: PROTOCOL_NUMBER[fe.protocol] };
  if (fe.scope !== 'any') { out.scope = fe.scope; out.node = nodeIds.get(fe.node!); }
  return out;
};

/**
 * Write `next` into `dp`, given that `prev` (or nothing) is what it holds: only the differences.
 * Order: nodes, ipcache, backends, services (and their source ranges), frontends; then entries
 * that went away are emptied and their indices freed; last, UDP flows to endpoints that stopped
 * serving are flushed (TCP flows are left alone, as kube-proxy leaves them).
 */
export function programPlan(dp: Dataplane, next: Plan, prev: Plan | undefined, alloc: Allocations): ProgramReport {
  const report: ProgramReport = {
    nodes: 0, ipcache: { upserted: 0, deleted: 0 }, backends: { set: 0 }, services: { set: 0, removed: 0 },
    frontends: { upserted: 0, deleted: 0 }, sourceRanges: { upserted: 0, deleted: 0 }, policy: { upserted: 0, deleted: 0 }, flushed: [],
  };
  const algo = next.options.algo, prevAlgo = prev?.options.algo ?? algo;

  // Nodes (a node that left is given address 0: packets can no longer enter on it).
  const prevNodes = new Map(prev?.nodes.map((n) => [n.name, n]) ?? []);
  for (const n of next.nodes) {
    const p = prevNodes.get(n.name);
    if (!p || p.addr !== n.addr || p.id !== n.id) { dp.setNode(n.id, n.addr); report.nodes++; }
    prevNodes.delete(n.name);
  }
  for (const n of prevNodes.values()) { dp.setNode(n.id, 0); report.nodes++; }
  const nodeIds = new Map<string, number>();
  for (const n of next.nodes) nodeIds.set(n.name, n.id);
  // Frontends of nodes that left still need their ids to be deleted.
  for (const n of prev?.nodes ?? []) if (!nodeIds.has(n.name)) nodeIds.set(n.name, n.id);

  // ipcache (entries that went away first: a full map has room for the new ones)
  for (const [k, e] of prev?.ipcache ?? []) {
    if (!next.ipcache.has(k)) { dp.deleteIpcache(e.addr, e.plen); report.ipcache.deleted++; }
  }
  for (const [k, e] of next.ipcache) {
    const p = prev?.ipcache.get(k);
    if (!p || !sameInfo(p.info, e.info)) { dp.upsertIpcache(e.addr, e.plen, e.info); report.ipcache.upserted++; }
  }
  report.policy = programPolicy(dp, next.policy, prev?.policy);
  if ((next.policy || prev?.policy) && report.policy.upserted + report.policy.deleted + report.ipcache.upserted + report.ipcache.deleted > 0) {
    dp.policyChanged(); // established flows are judged again (Options.policyRecheckEstablished)
  }

  // Backends (never deleted: a backend id keeps naming its endpoint, for flows still using it).
  const NODE_NONE = 0xffff;
  for (const b of next.backends.values()) {
    // The same endpoint in the previous plan has the same id (both plans take their ids from `alloc`).
    const q = prev?.backends.getById(b.id);
    const p = q && q.addr === b.addr && q.port === b.port && q.protocol === b.protocol ? q : undefined;
    const node = b.node !== undefined ? nodeIds.get(b.node) ?? NODE_NONE : NODE_NONE;
    const pnode = p?.node !== undefined ? nodeIds.get(p.node) ?? NODE_NONE : NODE_NONE;
    if (!p || pnode !== node) { dp.setBackend(b.id, { addr: b.addr, port: b.port, node }); report.backends.set++; }
  }

  // Services and their source ranges.
  // Maglev tables are keyed by "ip:port" (only built when some table is).
  const backendKeyById = new Map<number, string>();
  if (algo === 'maglev') for (const b of next.backends.values()) backendKeyById.set(b.id, `${formatIPv4(b.addr)}:${b.port}`);
  for (const [k, s] of next.services) {
    const p = prev?.services.get(k);
    if (!p || !sameService(p, s, algo, prevAlgo)) {
      const maglev = algo === 'maglev' && s.backends.length > 0
        ? maglevTable(s.backends.map((id) => ({ key: backendKeyById.get(id)! })), s.maglevM) : undefined;
      dp.setService(s.index, { algo, flags: s.flags, affinityTimeout: s.affinityTimeout, affinityGroup: s.affinityGroup, backends: s.backends, maglev });
      report.services.set++;
    }
    const had = p && p.index === s.index ? p.sourceRanges : [];
    if (had.length === 0 && s.sourceRanges.length === 0) continue; // most entries: no ranges, no Set to make
    const before = new Set(had);
    for (const c of s.sourceRanges) {
      if (before.delete(c)) continue;
      const r = parseCidr(c)!;
      dp.upsertSourceRange(s.index, r.addr, r.plen);
      report.sourceRanges.upserted++;
    }
    for (const c of before) {
      const r = parseCidr(c)!;
      dp.deleteSourceRange(s.index, r.addr, r.plen);
      report.sourceRanges.deleted++;
    }
  }

  // Frontends (those that went away first: a full map has room for the new ones)
  for (const [k, fe] of prev?.frontends ?? []) {
    if (!next.frontends.has(k)) { dp.deleteFrontend(toFrontend(fe, nodeIds)); report.frontends.deleted++; }
  }
  for (const [k, fe] of next.frontends) {
    const p = prev?.frontends.get(k);
    const index = next.services.get(fe.service)!.index;
    if (!p || prev!.services.get(p.service)?.index !== index) { dp.upsertFrontend(toFrontend(fe, nodeIds), index); report.frontends.upserted++; }
  }

  // Entries that went away: empty them (frees their slots and cells), drop their ranges, free the index.
  const liveIndices = prev ? new Set([...next.services.values()].map((s) => s.index)) : undefined;
  for (const [k, s] of prev?.services ?? []) {
    if (next.services.has(k)) continue;
    if (!liveIndices!.has(s.index)) {
      dp.setService(s.index, { algo, backends: [] }); // the plan's algorithm: the only kind the design may have
      for (const c of s.sourceRanges) { const r = parseCidr(c)!; dp.deleteSourceRange(s.index, r.addr, r.plen); report.sourceRanges.deleted++; }
    }
    alloc.releaseService(k);
    report.services.removed++;
  }

  // conntrack/cleanup.go: UDP entries of a (still existing) UDP service whose endpoint no longer
  // serves are removed. A backend id is per endpoint ip:port/UDP, so it is flushed only when it
  // serves no UDP service port any more.
  if (prev) {
    const stillServing = new Set<string>();
    for (const set of next.udpServing.values()) for (const b of set) stillServing.add(b);
    const stale = new Set<string>();
    for (const [portKey, before] of prev.udpServing) {
      const now = next.udpServing.get(portKey);
      if (!now) continue; // a deleted service's flows are not cleaned up (CleanStaleEntries only visits live ones)
      for (const b of before) if (!now.has(b) && !stillServing.has(b)) stale.add(b);
    }
    for (const b of [...stale].sort()) {
      const id = alloc.backendId(b);
      if (id === undefined) continue;
      report.flushed.push({ backend: b, flows: dp.flushBackend(id, PROTO.UDP) });
    }
  }
  return report;
}

// ---------------------------------------------------------------- one service's endpoints

/** What replanServiceEndpoints changed: the entries and UDP serving sets as they were, the backends it added. */
export interface EndpointsDelta {
  portKeys: string[];
  portsBefore: Map<string, PlannedServicePort>;
  entriesBefore: Map<string, PlannedService>;
  udpBefore: Map<string, Set<string> | undefined>;
  backendsAdded: string[];
  /** Backends no entry uses any more, taken out of the plan. */
  backendsDropped: PlannedBackend[];
}

/** The plan's nodes with their model objects, kept between single-service replans (nodes do not change there). */
const liveNodesOf = new WeakMap<Plan, { model: ClusterModel; nodes: { pn: PlannedNode; node: Node }[] }>();

/** How many service entries of a plan use each backend id, and each id's key, kept between single-service replans. */
const backendRefsOf = new WeakMap<Plan, IdCounts>();

/** Counts by backend id (ids are dense from 0), in a typed array that grows: no hashing per count. */
class IdCounts {
  private a = new Int32Array(1024);
  get(id: number): number { return id < this.a.length ? this.a[id] : 0; }
  add(id: number, d: number): void {
    if (id >= this.a.length) {
      const b = new Int32Array(Math.max(id + 1, 2 * this.a.length));
      b.set(this.a);
      this.a = b;
    }
    this.a[id] += d;
  }
}

const hasHints = (eps: Iterable<{ hintsForZones?: string[]; hintsForNodes?: string[] }>) => {
  for (const e of eps) if (hasTopologyHint(e)) return true;
  return false;
};

/**
 * Only the EndpointSlices of `svc` changed (now `slices`; `changed`: the one slice that did, before and
 * after, when that is what happened): plan its ports again, in `plan`, as planCluster
 * would, and return what was there before, for programEndpointsDelta. This is what makes one endpoint change
 * cost microseconds instead of a replan of the whole cluster (kube-proxy's endpointslicecache also rebuilds
 * only the changed service's endpoints).
 *
 * It applies only where the result is certain to equal planCluster's; otherwise it returns undefined and
 * changes nothing (the caller then replans everything): the service is proxied and its ports are planned;
 * no endpoint, old or new, carries topology hints (with hints the set of per-node entries and frontends can
 * change); no plan warning concerns the service (frontend conflicts); and every endpoint already known as a
 * backend keeps its node and target (a backend is shared by every service port that uses it).
 */
export function replanServiceEndpoints(plan: Plan, model: ClusterModel, svc: Service, slices: EndpointSlice[],
  alloc: Allocations, limits: Pick<Limits, 'maxServices' | 'maxBackends'>,
  changed?: { before: EndpointSlice; after: EndpointSlice }): EndpointsDelta | undefined {
  const serviceLimit = limits.maxServices;
  if (svc.type === 'ExternalName' || svc.headless || svc.clusterIP === undefined) return undefined;
  // With loadBalancerSourceRanges, whether there are endpoints decides the entries (proxier.go usesFWChain).
  if (svc.loadBalancerSourceRanges.length > 0) return undefined;
  const prefix = `${svc.namespace}/${svc.name}:`;
  const ports = svc.ports.map((sp) => {
    const label = `${prefix}${sp.name || String(sp.port)}`;
    return { sp, key: `${label}/${sp.protocol}`, label };
  });
  const old = ports.map((p) => plan.servicePorts.get(p.key));
  if (old.some((o) => o === undefined || o.service !== svc && (o.service.namespace !== svc.namespace || o.service.name !== svc.name))) return undefined;
  for (const o of old) {
    if (hasHints(o!.eligible.endpoints)) return undefined;
    for (const x of o!.eligible.excluded) if ('port' in x.endpoint && hasHints([x.endpoint])) return undefined;
  }
  for (const sl of slices) if (hasHints(sl.endpoints)) return undefined;
  if (plan.warnings.some((w) => w.includes(prefix))) return undefined;
  // Known backends keep their node and target, and new ones fit in the backend map (else the full path
  // reports it). Only the changed slice can bring a different endpoint: each of its endpoints x numbered
  // ports (a superset of the eligible ones, which is enough to be sure) is compared with the same address in
  // the slice it replaces when the ports are the same (cheap), else looked up in the plan's backend map.
  const targetOf = (t: { namespace?: string; name: string } | undefined) => (t ? `${t.namespace ? `${t.namespace}/` : ''}${t.name}` : undefined);
  let fresh = 0;
  const samePorts = changed !== undefined && changed.before.ports.length === changed.after.ports.length
    && changed.before.ports.every((p, i) => p.name === changed.after.ports[i].name && p.port === changed.after.ports[i].port && p.protocol === changed.after.ports[i].protocol);
  // The endpoint with the same address in the slice replaced: usually at the same place, or one further on
  // (endpoints are listed in order, and a change adds or removes a few); else found by a map built then.
  const before = samePorts ? changed!.before.endpoints : undefined;
  let oldByAddr: Map<string, Endpoint> | undefined;
  let cursor = 0;
  const previous = (addr: string): Endpoint | undefined => {
    if (!before) return undefined;
    for (let k = cursor; k < before.length && k <= cursor + 1; k++) {
      if (before[k].addresses[0] === addr) { cursor = k + 1; return before[k]; }
    }
    oldByAddr ??= new Map(before.filter((e) => e.addresses.length).map((e) => [e.addresses[0], e]));
    return oldByAddr.get(addr);
  };
  for (const sl of changed ? [changed.after] : slices) {
    for (const e of sl.endpoints) {
      if (!e.addresses.length) continue;
      const prev = previous(e.addresses[0]);
      if (prev && prev.nodeName === e.nodeName && prev.targetRef?.name === e.targetRef?.name
        && (prev.targetRef?.namespace || undefined) === (e.targetRef?.namespace || undefined)) continue;
      const addr = ipNum(e.addresses[0]);
      for (const p of sl.ports) {
        if (p.port === undefined || p.port === 0) continue;
        const num = backendNumber(addr, p.port, p.protocol);
        const b = plan.backends.getByNumber(num);
        if (!b) { if (!alloc.hasBackend(num)) fresh++; continue; }
        if (b.node !== e.nodeName || b.target !== targetOf(e.targetRef)) return undefined;
      }
    }
  }
  if (alloc.backendCount + fresh > limits.maxBackends) return undefined;
  const delta: EndpointsDelta = { portKeys: ports.map((p) => p.key), portsBefore: new Map(), entriesBefore: new Map(), udpBefore: new Map(), backendsAdded: [], backendsDropped: [] };
  const entryKeys = new Set<string>();
  for (const o of old) {
    for (const k of o!.entries) { delta.entriesBefore.set(k, plan.services.get(k)!); entryKeys.add(k); }
    delta.udpBefore.set(o!.key, plan.udpServing.get(o!.key));
    delta.portsBefore.set(o!.key, o!);
  }
  let liveNodes = liveNodesOf.get(plan);
  if (!liveNodes || liveNodes.model !== model) {
    const nodeByName = new Map(model.nodes.map((n) => [n.name, n]));
    liveNodes = { model, nodes: plan.nodes.map((pn) => ({ pn, node: nodeByName.get(pn.name)! })) };
    liveNodesOf.set(plan, liveNodes);
  }
  const allocate = backendAllocator(plan, alloc);
  const backendOf = (e: ProxyEndpoint, p: Protocol) => {
    const before = plan.backends.size;
    const id = allocate(e, p);
    if (plan.backends.size !== before) delta.backendsAdded.push(`${e.address}:${e.port}/${p}`);
    return id;
  };
  // Backends referenced by no entry leave the plan, as planCluster would never have added them.
  let refs = backendRefsOf.get(plan);
  if (!refs) {
    refs = new IdCounts();
    for (const e of plan.services.values()) for (const id of e.backends) refs.add(id, 1);
    backendRefsOf.set(plan, refs);
  }
  for (const e of delta.entriesBefore.values()) for (const id of e.backends) refs.add(id, -1);
  const warnings = plan.warnings.length;
  const after: string[] = [];
  for (const p of ports) after.push(...planServicePort(plan, alloc, serviceLimit, plan.options, svc, p.sp, slices, liveNodes.nodes, backendOf, p));
  // Without hints the entries are keyed by port, role and node only: the same keys as before.
  if (plan.warnings.length !== warnings || after.length !== entryKeys.size || after.some((k) => !entryKeys.has(k))) {
    throw new Error(`internal: re-planning ${prefix} changed its entries (${after.length} vs ${entryKeys.size}) or warnings`);
  }
  for (const k of after) for (const id of plan.services.get(k)!.backends) refs.add(id, 1);
  let unused: Set<number> | undefined;
  for (const e of delta.entriesBefore.values()) for (const id of e.backends) if (refs.get(id) === 0) (unused ??= new Set()).add(id);
  if (unused) {
    for (const id of unused) {
      const b = plan.backends.getById(id)!;
      delta.backendsDropped.push(b);
      plan.backends.deleteByNumber(backendNumber(b.addr, b.port, b.protocol));
    }
  }
  return delta;
}

/**
 * Put the plan back as it was before replanServiceEndpoints (when programming it failed: the plan then
 * says what the full path's would, the last one programmed; the maps may hold part of the change, as
 * after a failed programPlan).
 */
export function undoEndpointsDelta(plan: Plan, delta: EndpointsDelta): void {
  for (const [k, s] of delta.entriesBefore) plan.services.set(k, s);
  for (const [k, p] of delta.portsBefore) plan.servicePorts.set(k, p);
  for (const [k, u] of delta.udpBefore) { if (u) plan.udpServing.set(k, u); else plan.udpServing.delete(k); }
  for (const k of delta.backendsAdded) plan.backends.delete(k);
  for (const b of delta.backendsDropped) plan.backends.add(b);
  backendRefsOf.delete(plan); // rebuilt from the entries on next use
}

/** Write what replanServiceEndpoints changed into `dp`, as programPlan would write the whole difference. */
export function programEndpointsDelta(dp: Dataplane, plan: Plan, delta: EndpointsDelta, alloc: Allocations): ProgramReport {
  const report: ProgramReport = {
    nodes: 0, ipcache: { upserted: 0, deleted: 0 }, backends: { set: 0 }, services: { set: 0, removed: 0 },
    frontends: { upserted: 0, deleted: 0 }, sourceRanges: { upserted: 0, deleted: 0 }, policy: { upserted: 0, deleted: 0 }, flushed: [],
  };
  const NODE_NONE = 0xffff;
  let nodeIds: Map<string, number> | undefined;
  for (const k of delta.backendsAdded) {
    const b = plan.backends.get(k)!;
    nodeIds ??= new Map(plan.nodes.map((n) => [n.name, n.id]));
    dp.setBackend(b.id, { addr: b.addr, port: b.port, node: b.node !== undefined ? nodeIds.get(b.node) ?? NODE_NONE : NODE_NONE });
    report.backends.set++;
  }
  const algo = plan.options.algo;
  for (const [k, before] of delta.entriesBefore) {
    const s = plan.services.get(k)!;
    if (sameService(before, s, algo, algo)) continue;
    let maglev: Uint16Array | undefined;
    if (algo === 'maglev' && s.backends.length > 0) {
      // The entry's backends are endpoints of its port: their keys, by id, from the port's endpoints.
      const keyById = new Map<number, string>();
      const sp = plan.servicePorts.get(s.portKey)!;
      for (const e of [...sp.eligible.endpoints, ...sp.eligible.excluded.map((x) => x.endpoint)]) {
        if (!('port' in e)) continue;
        const b = plan.backends.get(`${e.address}:${e.port}/${sp.port.protocol}`);
        if (b) keyById.set(b.id, `${formatIPv4(b.addr)}:${b.port}`);
      }
      maglev = maglevTable(s.backends.map((id) => ({ key: keyById.get(id)! })), s.maglevM);
    }
    dp.setService(s.index, { algo, flags: s.flags, affinityTimeout: s.affinityTimeout, affinityGroup: s.affinityGroup, backends: s.backends, maglev });
    report.services.set++;
  }
  // conntrack/cleanup.go, as in programPlan: UDP flows of endpoints that stopped serving every UDP port.
  const stale: string[] = [];
  for (const [portKey, before] of delta.udpBefore) {
    const now = plan.udpServing.get(portKey);
    if (!before || !now) continue;
    for (const b of before) if (!now.has(b)) stale.push(b);
  }
  if (stale.length) {
    const stillServing = new Set<string>();
    for (const set of plan.udpServing.values()) for (const b of set) stillServing.add(b);
    for (const b of [...new Set(stale)].sort()) {
      if (stillServing.has(b)) continue;
      const id = alloc.backendId(b);
      if (id === undefined) continue;
      report.flushed.push({ backend: b, flows: dp.flushBackend(id, PROTO.UDP) });
    }
  }
  return report;
}

// ---------------------------------------------------------------- the compiled cluster

/** What was compiled, with the lookups `dpemu trace` needs to explain a packet. */
/** (address, port, protocol) as one number: address x 2^24 + port x 2^8 + protocol (< 2^56, exact in a double). */
const frontendNumber = (addr: number, port: number, proto: number) => addr * 0x1000000 + port * 0x100 + (proto & 0xff);

export class CompiledCluster {
  readonly nodeIdByName: Map<string, number>;
  readonly nodeNameById: Map<number, string>;
  /** By backend id (every backend ever programmed, so that old flows can still be named). */
  readonly backendsById: Map<number, PlannedBackend>;
  /** By service index (entries ever programmed; a reused index names its latest entry). */
  readonly servicesByIndex: Map<number, PlannedService>;
  /** By frontendNumber (a number key: this is looked up for every traced packet). */
  private readonly frontendKinds = new Map<number, PlannedFrontend>();
  private readonly owners = new Map<number, { node: string; pod?: string }>();

  constructor(readonly model: ClusterModel, readonly plan: Plan, readonly alloc: Allocations, previous?: CompiledCluster) {
    this.nodeIdByName = new Map(plan.nodes.map((n) => [n.name, n.id]));
    this.nodeNameById = new Map(plan.nodes.map((n) => [n.id, n.name]));
    this.backendsById = new Map(previous?.backendsById ?? []);
    for (const b of plan.backends.values()) this.backendsById.set(b.id, b);
    this.servicesByIndex = new Map(previous?.servicesByIndex ?? []);
    for (const s of plan.services.values()) this.servicesByIndex.set(s.index, s);
    for (const fe of plan.frontends.values()) {
      const k = frontendNumber(fe.addr, fe.port, PROTOCOL_NUMBER[fe.protocol]);
      if (!this.frontendKinds.has(k) || fe.scope === 'any') this.frontendKinds.set(k, fe);
    }
    for (const n of plan.nodes) this.owners.set(n.addr, { node: n.name });
    for (const p of model.pods) {
      if (p.hostNetwork || p.nodeName === undefined || p.phase === 'Succeeded' || p.phase === 'Failed') continue;
      for (const a of p.podIPs) if (!this.owners.has(ipNum(a))) this.owners.set(ipNum(a), { node: p.nodeName, pod: `${p.namespace}/${p.name}` });
    }
  }

  /** After programEndpointsDelta: the entries and backends it wrote (the plan itself was updated in place). */
  noteEndpointsDelta(delta: EndpointsDelta): void {
    for (const k of delta.backendsAdded) { const b = this.plan.backends.get(k)!; this.backendsById.set(b.id, b); }
    for (const k of delta.entriesBefore.keys()) { const s = this.plan.services.get(k)!; this.servicesByIndex.set(s.index, s); }
  }

  get options(): ResolvedCompileOptions { return this.plan.options; }
  get warnings(): string[] { return this.plan.warnings; }

  private spec?: PolicySpec;
  /** The spec evaluator of this cluster's policies (for explanations), or undefined without policies. */
  policySpec(): PolicySpec | undefined {
    if (!this.model.policies) return undefined;
    return (this.spec ??= new PolicySpec(this.model, this.model.policies, this.plan.options.policyKnobs));
  }

  /** The frontend (address, port, protocol) is: ClusterIP, NodePort, LoadBalancer or externalIP, and whose. */
  frontend(addr: number, port: number, proto: number): PlannedFrontend | undefined {
    return this.frontendKinds.get(frontendNumber(addr, port, proto));
  }

  /** Who has this address: a node (its own address) or a pod (and its node). */
  owner(addr: number): { node: string; pod?: string } | undefined { return this.owners.get(addr); }

  /** The service port an entry belongs to. */
  servicePort(s: PlannedService): PlannedServicePort | undefined { return this.plan.servicePorts.get(s.portKey); }
}

/** Compile `model` into `dp` (which should be fresh) as kube-proxy would program every node. */
export function compileCluster(dp: Dataplane, model: ClusterModel, opts: CompileOptions = {}): CompiledCluster {
  const alloc = new Allocations();
  const plan = planCluster(model, resolveCompileOptions(model, opts, dp.options.design), alloc, dp.options.limits.maxServices);
  programPlan(dp, plan, undefined, alloc);
  return new CompiledCluster(model, plan, alloc);
}

/**
 * Dataplane limits that fit `model` compiled with `opts` and `flows` live flows, with room to
 * grow (twice what the model needs now, for runtime apply).
 */
export function limitsForModel(model: ClusterModel, flows: number, opts: CompileOptions = {}): Limits {
  const plan = planCluster(model, resolveCompileOptions(model, opts));
  let slots = 0, cells = 0, ranges = 0, affinity = 0;
  for (const s of plan.services.values()) {
    slots += s.backends.length;
    if (plan.options.algo === 'maglev') cells += s.maglevM;
    ranges += s.sourceRanges.length;
    if (s.affinityTimeout > 0) affinity++;
  }
  const room = (n: number, min: number) => Math.max(min, 2 * n);
  const clients = model.pods.length + model.nodes.length + 64;
  return {
    ...DEFAULT_LIMITS,
    maxFlows: Math.max(1024, Math.ceil(flows * 1.25)),
    maxServices: room(plan.services.size, 16),
    maxFrontends: room(plan.frontends.size + ranges, 64),
    maxBackends: room(plan.backends.size, 16),
    maxSlots: room(slots, 64),
    maxMaglevCells: room(cells, 1),
    // ClientIP affinity keeps one entry per (client, service entry).
    maxAffinity: Math.max(1024, Math.min(Math.ceil(flows * 1.25), clients * affinity)),
    maxIpcache: room(plan.ipcache.size, 64),
    maxPolicy: room(plan.policy?.entries.size ?? 0, 1024),
    maxNodes: Math.min(0xffff, room(model.nodes.length, 4)),
  };
}
