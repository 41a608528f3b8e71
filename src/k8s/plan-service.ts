// Planning one service port: what kube-proxy writes for it on every node, as plan entries (service entries
// and the frontends that lead to them). The two halves follow proxier.go syncProxyRules' sections: the
// cluster IP ("Capture the clusterIP", the internal traffic chain) and the external destinations
// ("Capture externalIPs", "Capture load-balancer ingress", "Capture nodeports", all through KUBE-EXT and,
// with source ranges, KUBE-FW). Endpoint selection per node follows pkg/proxy/topology.go.

import { TopologyChoice, hasTopologyHint, topologyEndpoints } from './topology.js';
import { LOCALHOST, nodePortIPs } from './node-ports.js';
import { SVC_FLAG } from '../dataplane.js';
import { maglevTableSize } from '../controlplane/maglev.js';
import { dottedQuad, formatIPv4, parseCidr, parseIPv4, prefixMask } from '../common/ip.js';
import { Node, Protocol, Service, ServicePort, slicesForService } from './model.js';
import { EligibleEndpoints, ProxyEndpoint, eligibleEndpoints } from './endpoints.js';
import { Allocations, backendNumber } from './ids.js';
import {
  EntryRole, EntryScope, FrontendKind, Plan, PlannedFrontend, PlannedNode, PlannedService, ResolvedCompileOptions, frontendKey,
} from './plan.js';

/** A model address as a number (the loader has validated every address; anything odd still goes through parseIPv4). */
export const ipNum = (s: string): number => dottedQuad(s, true) ?? parseIPv4(s)!;

const endpointKey = (e: ProxyEndpoint) => `${e.address}:${e.port}`;
const sameSet = (a: ProxyEndpoint[], b: ProxyEndpoint[]) =>
  a.length === b.length && a.every((e, i) => endpointKey(e) === endpointKey(b[i]));

function cidrHas(cidr: string, addr: number): boolean {
  const c = parseCidr(cidr)!;
  const m = prefixMask(c.plen);
  return ((addr & m) >>> 0) === ((c.addr & m) >>> 0);
}

export function canonicalCidr(cidr: string): { cidr: string; addr: number; plen: number } {
  const c = parseCidr(cidr)!;
  const addr = (c.addr & prefixMask(c.plen)) >>> 0;
  return { cidr: `${formatIPv4(addr)}/${c.plen}`, addr, plen: c.plen };
}

/** Node addresses NodePorts are served on (--nodeport-addresses). */
function nodePortAddresses(n: Node, opts: ResolvedCompileOptions): number[] {
  return nodePortIPs(n, opts.nodePortAddresses, opts.nodePortMode);
}

/** Address a node is known by in the dataplane (masquerade source): its InternalIP, else its first IPv4 address. */
export function nodeAddress(n: Node): number | undefined {
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
 * with same-zone hints only if every ready endpoint has a zone hint and at least one is for the
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
export function backendAllocator(plan: Plan, alloc: Allocations): (e: ProxyEndpoint, protocol: Protocol) => number {
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
/** A node of the plan with its model object. */
export interface LiveNode { pn: PlannedNode; node: Node }

/** What both halves of a service port's planning share: the port, its endpoints, and how to add entries and frontends. */
interface PortPlanning {
  plan: Plan;
  opts: ResolvedCompileOptions;
  svc: Service;
  sp: ServicePort;
  liveNodes: LiveNode[];
  view: PortView;
  /** Per-node endpoint sets, only where they can differ from the cluster-wide one (else empty). */
  per: { pn: PlannedNode; node: Node; cluster: TopologyChoice; local: { eps: ProxyEndpoint[]; terminating: boolean } }[];
  /** CategorizeEndpoints hasAnyEndpoints: some ready or serving-terminating endpoint. */
  hasEndpoints: boolean;
  /** serviceport.go / util.go ExternallyAccessible: a nodePort, an LB VIP or an external IP. */
  externallyAccessible: boolean;
  /** ExternalPolicyLocal and InternalPolicyLocal. */
  etpLocal: boolean;
  itpLocal: boolean;
  nodePort: number | undefined;
  /** Size of the cluster-wide endpoint set, and the words saying it fell back to terminating endpoints. */
  total: number;
  fallback: string;
  /** Add a service entry; returns its key. */
  entry(role: EntryRole, scope: EntryScope, node: string | undefined, eps: ProxyEndpoint[], flags: number, rule: string, sourceRanges?: string[]): string;
  /** Add a frontend leading to entry `service` (the first one to claim an address keeps it). */
  frontend(addr: number, kind: FrontendKind, port: number, scope: 'any' | 'internal' | 'external', node: string | undefined, service: string): void;
}

const NO_ENDPOINTS = 'no endpoints: rejected (ICMP port unreachable)';

/**
 * Plan one service port into `plan`: its entries and frontends, its UDP serving set, its PlannedServicePort.
 * Returns the keys of the port's entries. `keys`: the port's label and key, when the caller has them.
 */
export function planServicePort(plan: Plan, alloc: Allocations, serviceLimit: number, opts: ResolvedCompileOptions,
  svc: Service, sp: ServicePort, slices: ReturnType<typeof slicesForService>,
  liveNodes: LiveNode[], backendOf: (e: ProxyEndpoint, p: Protocol) => number,
  keys?: { label: string; key: string }): string[] {
  const label = keys?.label ?? `${svc.namespace}/${svc.name}:${sp.name || String(sp.port)}`;
  const portKey = keys?.key ?? `${label}/${sp.protocol}`;
  const eligible = eligibleEndpoints(slices, { name: sp.name, protocol: sp.protocol });
  const view = portView(eligible);
  const entryKeys: string[] = [];
  plan.servicePorts.set(portKey, { key: portKey, label, service: svc, port: sp, eligible, entries: entryKeys });

  // conntrack/cleanup.go CleanStaleEntries: for UDP, flows to endpoints that are no longer serving are removed.
  if (sp.protocol === 'UDP') plan.udpServing.set(portKey, new Set(view.all.filter((e) => e.serving).map((e) => `${endpointKey(e)}/UDP`)));

  const proto = sp.protocol;
  const hasEndpoints = view.cluster.length > 0;
  const nodePort = (svc.type === 'NodePort' || svc.type === 'LoadBalancer') ? sp.nodePort : undefined;
  // pkg/api/v1/service/util.go + serviceport.go ExternallyAccessible: a nodePort, an LB VIP or an external IP.
  const externallyAccessible = nodePort !== undefined || svc.loadBalancerIngress.length > 0 || svc.externalIPs.length > 0;
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

  const p: PortPlanning = {
    plan, opts, svc, sp, liveNodes, view, per, hasEndpoints, externallyAccessible, etpLocal, itpLocal, nodePort, total, fallback, entry, frontend,
  };
  planClusterIP(p);
  if (externallyAccessible) planExternal(p);
  return entryKeys;
}

/** The cluster IP: proxier.go's "cluster IP" rule into the internal traffic chain (KUBE-SVC, or KUBE-SVL under ITP Local). */
function planClusterIP(p: PortPlanning): void {
  const { opts, svc, sp, view, per, hasEndpoints, total, fallback, entry, frontend } = p;
  const clusterIP = ipNum(svc.clusterIP!);
  // proxier.go: --masquerade-all marks every packet to the cluster IP; else `localDetector.IfNotLocal()`
  // (`! -s clusterCIDR`) does: off-cluster traffic to a service VIP is masqueraded.
  const cipFlags = opts.masqueradeAll ? SVC_FLAG.MASQ_ALWAYS : opts.clusterCIDR !== null ? SVC_FLAG.MASQ_EXTERNAL : 0;
  const cipMasq = opts.masqueradeAll ? '; --masquerade-all' : opts.clusterCIDR !== null ? `; sources outside ${opts.clusterCIDR} masqueraded` : '';
  if (!p.itpLocal) {
    const any = entry('cluster-ip', 'any', undefined, view.cluster,
      cipFlags, hasEndpoints ? `internalTrafficPolicy=Cluster: ${plural(total, 'endpoint')}${fallback}${cipMasq}` : NO_ENDPOINTS);
    frontend(clusterIP, 'ClusterIP', sp.port, 'any', undefined, any);
    // Topology hints narrow the cluster chain per node (only where they change it).
    for (const n of per) {
      if (!n.cluster.topology || sameSet(n.cluster.eps, view.cluster)) continue;
      const k = entry('cluster-ip', 'node', n.pn.name, n.cluster.eps, cipFlags,
        `topology hints: ${n.cluster.eps.length} of ${plural(total, 'endpoint')} hinted for ${n.cluster.hintedFor} (node ${n.pn.name})${cipMasq}`);
      // The cluster IP chain serves every source (pods, nodes, and routed-in external clients).
      frontend(clusterIP, 'ClusterIP', sp.port, 'internal', n.pn.name, k);
      frontend(clusterIP, 'ClusterIP', sp.port, 'external', n.pn.name, k);
    }
  } else {
    // ITP Local: the node's local endpoints; none there but some elsewhere: DROP ("has no local endpoints").
    for (const n of per) {
      const eps = n.local.eps;
      const rule = !hasEndpoints ? NO_ENDPOINTS
        : `internalTrafficPolicy=Local: ${eps.length ? plural(eps.length, 'local endpoint') : 'no local endpoint'} of ${total} on ${n.pn.name}`
          + (eps.length && n.local.terminating ? ' (serving terminating)' : '') + (eps.length ? cipMasq : ': dropped');
      const k = entry('cluster-ip', 'node', n.pn.name, eps, cipFlags | (hasEndpoints ? SVC_FLAG.DROP_NO_BACKEND : 0), rule);
      frontend(clusterIP, 'ClusterIP', sp.port, 'internal', n.pn.name, k);
      frontend(clusterIP, 'ClusterIP', sp.port, 'external', n.pn.name, k);
    }
  }
}

/** An external destination of the port: a NodePort on one node's address, an LB VIP or an external IP. */
interface ExternalFrontend { addr: number; port: number; kind: FrontendKind; owner?: string; loopback?: boolean }

/**
 * The external destinations: NodePorts, LB VIPs and external IPs, all jumping to KUBE-EXT (proxier.go
 * "Capture externalIPs", "Capture load-balancer ingress", "Capture nodeports"); with
 * loadBalancerSourceRanges the LB VIPs go through KUBE-FW instead (an entry of their own).
 */
function planExternal(p: PortPlanning): void {
  const { opts, svc, sp, liveNodes, view, per, hasEndpoints, total, fallback, entry, frontend } = p;
  const nodePorts: ExternalFrontend[] = [];
  if (p.nodePort !== undefined) {
    for (const { pn, node } of liveNodes) for (const a of nodePortAddresses(node, opts)) nodePorts.push({ addr: a, port: p.nodePort, kind: 'NodePort', owner: pn.name });
    // localhostNodePorts: 127.0.0.1 on every node; its clients are the node itself (--src-type LOCAL).
    if (opts.localhostNodePorts) nodePorts.push({ addr: LOCALHOST, port: p.nodePort, kind: 'NodePort', loopback: true });
  }
  // serviceport.go: status.loadBalancer.ingress[].ip
  const lbs: ExternalFrontend[] = svc.loadBalancerIngress.map((a) => ({ addr: ipNum(a), port: sp.port, kind: 'LoadBalancer' }));
  const eips: ExternalFrontend[] = svc.externalIPs.map((a) => ({ addr: ipNum(a), port: sp.port, kind: 'externalIP' }));
  // proxier.go usesFWChain: hasEndpoints && LB VIPs && loadBalancerSourceRanges; other sources are dropped
  // (KUBE-PROXY-FIREWALL). NodePorts and external IPs are not subject to the ranges.
  const usesFW = hasEndpoints && lbs.length > 0 && svc.loadBalancerSourceRanges.length > 0;
  const groups: { role: EntryRole; fes: ExternalFrontend[]; ranges: string[] }[] = [];
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
    const scoped = (fe: ExternalFrontend, scope: 'internal' | 'external', node: string, k: string) => {
      // A NodePort is only captured on its own node (KUBE-NODEPORTS matches --dst-type LOCAL); 127.0.0.1 is
      // every node's, and its (local) clients take KUBE-EXT's --src-type LOCAL path, not the Local policy's.
      if (fe.loopback ? !(p.etpLocal && scope === 'external') : fe.kind !== 'NodePort' || fe.owner === node) frontend(fe.addr, fe.kind, fe.port, scope, node, k);
    };
    if (!p.etpLocal) {
      // ETP Cluster: KUBE-EXT marks everything for masquerade, then the cluster chain.
      const any = entry(g.role, 'any', undefined, view.cluster, SVC_FLAG.MASQ_ALWAYS | fwFlag,
        hasEndpoints ? `externalTrafficPolicy=Cluster: ${plural(total, 'endpoint')}${fallback}, source masqueraded${fwText}` : NO_ENDPOINTS, g.ranges);
      for (const fe of g.fes) frontend(fe.addr, fe.kind, fe.port, 'any', undefined, any);
      for (const n of per) {
        if (!n.cluster.topology || sameSet(n.cluster.eps, view.cluster)) continue;
        const k = entry(g.role, 'node', n.pn.name, n.cluster.eps, SVC_FLAG.MASQ_ALWAYS | fwFlag,
          `externalTrafficPolicy=Cluster, topology hints: ${n.cluster.eps.length} of ${plural(total, 'endpoint')} hinted for ${n.cluster.hintedFor} (node ${n.pn.name}), source masqueraded${fwText}`, g.ranges);
        for (const fe of g.fes) { scoped(fe, 'internal', n.pn.name, k); scoped(fe, 'external', n.pn.name, k); }
      }
    } else {
      // ETP Local, sources inside the cluster: pods (`-s clusterCIDR`) go to the cluster chain with
      // their own address; the node itself (`--src-type LOCAL`) is masqueraded and goes there too.
      const any = entry(g.role, 'any', undefined, view.cluster, SVC_FLAG.MASQ_EXTERNAL | fwFlag,
        hasEndpoints ? `externalTrafficPolicy=Local, source inside the cluster: all ${plural(total, 'endpoint')}${fallback} (pods keep their address, nodes are masqueraded)${fwText}` : NO_ENDPOINTS, g.ranges);
      for (const fe of g.fes) frontend(fe.addr, fe.kind, fe.port, 'any', undefined, any);
      for (const n of per) {
        if (!n.cluster.topology || sameSet(n.cluster.eps, view.cluster)) continue;
        const k = entry(g.role, 'internal', n.pn.name, n.cluster.eps, SVC_FLAG.MASQ_EXTERNAL | fwFlag,
          `externalTrafficPolicy=Local, source inside the cluster, topology hints: ${n.cluster.eps.length} of ${plural(total, 'endpoint')} hinted for ${n.cluster.hintedFor} (node ${n.pn.name})${fwText}`, g.ranges);
        for (const fe of g.fes) scoped(fe, 'internal', n.pn.name, k);
      }
      // ETP Local, external sources: the node's local endpoints, client address kept; none: DROP.
      for (const n of per) {
        const eps = n.local.eps;
        const rule = !hasEndpoints ? NO_ENDPOINTS
          : `externalTrafficPolicy=Local: ${eps.length ? plural(eps.length, 'local endpoint') : 'no local endpoint'} of ${total} on ${n.pn.name}`
            + (eps.length && n.local.terminating ? ' (serving terminating)' : '') + (eps.length ? ', client address kept' : ': dropped') + fwText;
        const k = entry(g.role, 'external', n.pn.name, eps, (hasEndpoints ? SVC_FLAG.DROP_NO_BACKEND : 0) | fwFlag, rule, g.ranges);
        for (const fe of g.fes) scoped(fe, 'external', n.pn.name, k);
      }
    }
  }
}
