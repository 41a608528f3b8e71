// EndpointSlices the way the EndpointSlice controller derives them from pods,
// and the endpoints kube-proxy then uses for one service port.
//
// Sources (kubernetes/kubernetes):
// - staging/src/k8s.io/endpointslice/reconciler.go  reconcileByAddressType
// - staging/src/k8s.io/endpointslice/utils.go       podToEndpoint, getEndpointPorts, FindPort
// - staging/src/k8s.io/endpointslice/util/controller_utils.go  ShouldPodBeInEndpoints, ShouldSetHostname
// - pkg/controller/endpointslice/endpointslice_controller.go  syncService
// - pkg/proxy/endpointslicecache.go  (how kube-proxy reads slices)
// - pkg/proxy/topology.go  CategorizeEndpoints (ready, else serving+terminating: KEP-1669)

import {
  EndpointPort, EndpointSlice, Endpoint, IP, Node, Pod, Protocol, Service, ServicePort,
} from './model.js';
import { stableJSON, suffix5 } from './validate.js';
import { dottedQuad } from '../common/ip.js';

/** kube-controller-manager --max-endpoints-per-slice default. */
export const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/** labels.Set(selector).AsSelector(): every key/value of the selector is in the labels. */
export function selectorMatches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** Pods of the Service's namespace whose labels match its selector (any phase), in the order of `pods`. */
export function selectedPods(svc: Pick<Service, 'namespace' | 'selector'>, pods: readonly Pod[] | PodIndex): Pod[] {
  if (!svc.selector) return [];
  const sel = svc.selector;
  if (pods instanceof PodIndex) return pods.candidates(svc.namespace, sel).filter((p) => selectorMatches(sel, p.labels));
  return pods.filter((p) => p.namespace === svc.namespace && selectorMatches(sel, p.labels));
}

/**
 * Pods by namespace and by each label (key and value), in their order: the pods a selector can match
 * are those of one of its labels, so that selecting for 10,000 Services among 150,000 pods does not test
 * every pod for every Service. Made once for a fixed list of pods (the loader's).
 */
export class PodIndex {
  private readonly byNs = new Map<string, { all: Pod[]; byLabel: Map<string, Pod[]> }>();
  constructor(pods: readonly Pod[]) {
    for (const p of pods) {
      let ns = this.byNs.get(p.namespace);
      if (!ns) this.byNs.set(p.namespace, (ns = { all: [], byLabel: new Map() }));
      ns.all.push(p);
      for (const k in p.labels) {
        const key = `${k}=${p.labels[k]}`;
        const l = ns.byLabel.get(key);
        if (l) l.push(p); else ns.byLabel.set(key, [p]);
      }
    }
  }
  /** Pods of `namespace` carrying the selector's first label (every pod of it for an empty selector). */
  candidates(namespace: string, selector: Record<string, string>): Pod[] {
    const ns = this.byNs.get(namespace);
    if (!ns) return [];
    for (const k in selector) return ns.byLabel.get(`${k}=${selector[k]}`) ?? [];
    return ns.all;
  }
}

/**
 * ShouldPodBeInEndpoints(pod, includeTerminating=true): not terminal (Succeeded or
 * Failed) and has a pod IP. Terminating pods stay in (with terminating=true).
 */
export function shouldPodBeInEndpoints(pod: Pod): boolean {
  if (pod.phase === 'Succeeded' || pod.phase === 'Failed') return false;
  return pod.podIP !== undefined;
}

/**
 * FindPort: a numeric targetPort is used as is; a named one is looked up in the
 * pod's containers (then in its sidecars, initContainers with restartPolicy
 * Always) for a port of that name AND the service port's protocol.
 */
export function findPort(pod: Pod, sp: Pick<ServicePort, 'targetPort' | 'protocol'>): number | undefined {
  if (typeof sp.targetPort === 'number') return sp.targetPort;
  const hit = pod.ports.find((p) => !p.sidecar && p.name === sp.targetPort && p.protocol === sp.protocol)
    ?? pod.ports.find((p) => p.sidecar && p.name === sp.targetPort && p.protocol === sp.protocol);
  return hit?.containerPort;
}

/** ShouldSetHostname: the pod's hostname is published when its subdomain is the Service's name. */
function shouldSetHostname(pod: Pod, svc: Service): boolean {
  return !!pod.hostname && pod.subdomain === svc.name && pod.namespace === svc.namespace;
}

/** podToEndpoint for the IPv4 address type. */
export function podToEndpoint(pod: Pod, node: Node | undefined, svc: Service): Endpoint {
  const serving = pod.ready;
  const terminating = pod.terminating;
  // "ready" is never true for a terminating pod, unless publishNotReadyAddresses.
  const ready = svc.publishNotReadyAddresses || (serving && !terminating);
  const ep: Endpoint = {
    addresses: [...pod.podIPs],
    conditions: { ready, serving, terminating },
    targetRef: { kind: 'Pod', namespace: pod.namespace, name: pod.name },
  };
  if (pod.nodeName) ep.nodeName = pod.nodeName;
  if (node?.zone) ep.zone = node.zone;
  if (shouldSetHostname(pod, svc)) ep.hostname = pod.hostname;
  return ep;
}

/** getEndpointPorts: one port per service port whose targetPort resolves in this pod. */
export function endpointPortsFor(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.ports) {
    const port = findPort(pod, sp);
    if (port === undefined) continue; // the controller logs "Failed to find port" and leaves it out
    const ep: EndpointPort = { name: sp.name, port, protocol: sp.protocol };
    if (sp.appProtocol !== undefined) ep.appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

function portMapKey(ports: EndpointPort[]): string {
  return stableJSON([...ports].map((p) => [p.name, p.port, p.protocol, p.appProtocol ?? null]).sort());
}

const ipKey = (ip: IP) => ip.split('.').map((p) => p.padStart(3, '0')).join('.');

export interface DeriveOptions {
  maxEndpointsPerSlice?: number;
  /** `pods` indexed (PodIndex) and `nodes` by name, made once by a caller deriving for many Services. */
  podIndex?: PodIndex;
  nodeByName?: ReadonlyMap<string, Node>;
}

/**
 * The EndpointSlices the controller would publish for one Service: none for
 * ExternalName services or services without a selector (those get slices out of
 * band); otherwise the selected pods that should be in endpoints, grouped by
 * their resolved port set (pods whose named targetPort does not resolve land in
 * a slice without that port), at most maxEndpointsPerSlice per slice. Pods whose
 * node is unknown are skipped, unless publishNotReadyAddresses.
 * Unlike the controller, no empty placeholder slice is produced.
 */
export function deriveEndpointSlices(svc: Service, pods: readonly Pod[], nodes: readonly Node[], opts: DeriveOptions = {}): EndpointSlice[] {
  if (svc.type === 'ExternalName' || !svc.selector) return [];
  const max = opts.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE;
  const nodeByName = opts.nodeByName ?? new Map(nodes.map((n) => [n.name, n]));
  const groups = new Map<string, { ports: EndpointPort[]; endpoints: Endpoint[] }>();
  for (const pod of selectedPods(svc, opts.podIndex ?? pods)) {
    if (!shouldPodBeInEndpoints(pod)) continue;
    const node = pod.nodeName !== undefined ? nodeByName.get(pod.nodeName) : undefined;
    if (!node && !svc.publishNotReadyAddresses) continue; // "skipping Pod for Service, Node not found"
    // Headless services may have no ports; then every endpoint has none.
    const ports = endpointPortsFor(svc, pod);
    const key = portMapKey(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    const ep = podToEndpoint(pod, node, svc);
    trafficDistributionHints(ep, svc.trafficDistribution);
    if (ep.addresses.length > 0) g.endpoints.push(ep);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc.labels)) {
    if (k !== SERVICE_NAME_LABEL && k !== MANAGED_BY_LABEL && k !== HEADLESS_LABEL) labels[k] = v;
  }
  if (svc.headless) labels[HEADLESS_LABEL] = '';
  labels[SERVICE_NAME_LABEL] = svc.name;
  labels[MANAGED_BY_LABEL] = CONTROLLER_NAME;

  const out: EndpointSlice[] = [];
  const names = new Set<string>();
  for (const [key, g] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    g.endpoints.sort((a, b) => (ipKey(a.addresses[0]) < ipKey(b.addresses[0]) ? -1 : 1));
    for (let off = 0; off < g.endpoints.length; off += max) {
      // generateName "<service>-" plus five random characters; here derived from the content.
      let name: string;
      let salt = 0;
      do name = `${svc.name}-${suffix5(`${svc.namespace}/${svc.name}/${key}/${off}/${salt++}`)}`; while (names.has(name));
      names.add(name);
      out.push({
        namespace: svc.namespace, name, serviceName: svc.name, addressType: 'IPv4',
        endpoints: g.endpoints.slice(off, off + max), ports: g.ports.map((p) => ({ ...p })),
        labels: { ...labels }, derived: true,
      });
    }
  }
  return out;
}

// ---- kube-proxy's view -----------------------------------------------------------

export interface ProxyEndpoint {
  /** The endpoint's first address (kube-proxy uses only Addresses[0]). */
  address: IP;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  hintsForZones?: string[];
  hintsForNodes?: string[];
  slice: string;
  targetRef?: Endpoint['targetRef'];
}

export type ExclusionReason =
  | 'not-ready'                 // not ready and not terminating (e.g. failing its readiness probe)
  | 'terminating'               // terminating while ready endpoints exist (no fallback)
  | 'terminating-not-serving'   // terminating and not serving: never used
  | 'not-ready-not-terminating' // during the terminating fallback: a not-ready endpoint that is not terminating
  | 'duplicate'                 // same address:port already seen in another slice
  | 'no-address'                // endpoint without addresses
  | 'port-not-in-slice';        // its slice has no port with this name and protocol (e.g. unresolved named targetPort)

export const EXCLUSION_TEXT: Record<ExclusionReason, string> = {
  'not-ready': 'not ready',
  terminating: 'terminating (ready endpoints exist, so terminating ones are not used)',
  'terminating-not-serving': 'terminating and no longer serving',
  'not-ready-not-terminating': 'not ready (and not terminating, so not eligible for the terminating fallback)',
  duplicate: 'duplicate of an endpoint in another slice',
  'no-address': 'has no address',
  'port-not-in-slice': 'its EndpointSlice has no port with this name and protocol',
};

export interface EligibleEndpoints {
  /** The endpoints kube-proxy load-balances over for this service port. */
  endpoints: ProxyEndpoint[];
  /** True when no endpoint was ready and serving terminating endpoints are used instead (KEP-1669). */
  usingTerminating: boolean;
  excluded: { endpoint: ProxyEndpoint | { slice: string; address?: IP }; reason: ExclusionReason }[];
}

/**
 * The endpoints of one service port as kube-proxy sees them: from every slice
 * of the service, the port with the same name and protocol (ports without a
 * number are ignored), each endpoint's first address, deduplicated by
 * address:port; then CategorizeEndpoints' cluster-wide rule: the ready ones, or,
 * if none is ready, the serving-and-terminating ones (ProxyTerminatingEndpoints).
 * Topology hints and traffic policies (node-local views) are not applied here.
 */
/** An endpoint's address:port as one number when the address is a dotted quad, else as text. */
function pairKey(e: ProxyEndpoint): number | string {
  const addr = dottedQuad(e.address, false);
  return addr !== undefined ? addr * 65536 + e.port : `${e.address}:${e.port}`;
}

export function eligibleEndpoints(slices: readonly EndpointSlice[], port: { name: string; protocol: Protocol }): EligibleEndpoints {
  const candidates: ProxyEndpoint[] = [];
  const excluded: EligibleEndpoints['excluded'] = [];
  // Seen address:port pairs (for the slices of a service, usually a few endpoints): compared one by one
  // while there are few; past that, in a set, as one number when the address is a dotted quad (as the
  // loader's are): a string built and hashed per endpoint cost more than the rest of this function.
  let seen: Set<number | string> | undefined;
  const SCAN = 16;
  const ordered = slices.length < 2 ? slices : [...slices].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const slice of ordered) {
    const sp = slice.ports.find((p) => p.name === port.name && p.protocol === port.protocol && p.port !== undefined && p.port !== 0);
    for (const ep of slice.endpoints) {
      if (ep.addresses.length === 0) {
        excluded.push({ endpoint: { slice: slice.name }, reason: 'no-address' });
        continue;
      }
      if (!sp) {
        excluded.push({ endpoint: { slice: slice.name, address: ep.addresses[0] }, reason: 'port-not-in-slice' });
        continue;
      }
      let pe: ProxyEndpoint;
      if (ep.nodeName !== undefined && ep.zone === undefined && ep.hintsForZones === undefined && ep.targetRef !== undefined) {
        // The usual endpoint, made whole at once (the same fields, in the same order, as below): an object
        // given fields after it is made needs a second allocation for them, and there is one per endpoint.
        pe = {
          address: ep.addresses[0], port: sp.port!, slice: slice.name,
          ready: ep.conditions.ready, serving: ep.conditions.serving, terminating: ep.conditions.terminating,
          nodeName: ep.nodeName, targetRef: ep.targetRef,
        };
      } else {
        pe = {
          address: ep.addresses[0], port: sp.port!, slice: slice.name,
          ready: ep.conditions.ready, serving: ep.conditions.serving, terminating: ep.conditions.terminating,
        };
        if (ep.nodeName !== undefined) pe.nodeName = ep.nodeName;
        if (ep.zone !== undefined) pe.zone = ep.zone;
        if (ep.hintsForZones !== undefined) pe.hintsForZones = ep.hintsForZones;
        if (ep.hintsForNodes !== undefined) pe.hintsForNodes = ep.hintsForNodes;
        if (ep.targetRef !== undefined) pe.targetRef = ep.targetRef;
      }
      let duplicate = false;
      if (candidates.length < SCAN) {
        for (const c of candidates) if (c.port === pe.port && c.address === pe.address) { duplicate = true; break; }
      } else {
        if (!seen) { seen = new Set(); for (const c of candidates) seen.add(pairKey(c)); }
        const key = pairKey(pe);
        duplicate = seen.has(key);
        if (!duplicate) seen.add(key);
      }
      if (duplicate) {
        excluded.push({ endpoint: pe, reason: 'duplicate' });
        continue;
      }
      candidates.push(pe);
    }
  }
  const anyReady = candidates.some((e) => e.ready);
  const endpoints: ProxyEndpoint[] = [];
  for (const e of candidates) {
    if (anyReady) {
      if (e.ready) endpoints.push(e);
      else excluded.push({ endpoint: e, reason: e.terminating ? (e.serving ? 'terminating' : 'terminating-not-serving') : 'not-ready' });
    } else if (e.serving && e.terminating) {
      endpoints.push(e);
    } else {
      excluded.push({ endpoint: e, reason: e.terminating ? 'terminating-not-serving' : 'not-ready-not-terminating' });
    }
  }
  return { endpoints, usingTerminating: !anyReady && endpoints.length > 0, excluded };
}

/**
 * The hints the EndpointSlice controller writes for spec.trafficDistribution (staging/src/k8s.io/endpointslice/
 * trafficdist): PreferClose, and PreferSameZone (its new name, KEP-3015), give each endpoint with a zone the
 * hint forZones [its zone]; PreferSameNode gives forNodes [its node] and, where it has a zone, forZones [its
 * zone] too (so that a proxy without node hints still prefers the zone). Any other value is treated as unset:
 * no hints.
 */
export function trafficDistributionHints(ep: Endpoint, distribution: string | undefined): void {
  if (distribution === 'PreferClose' || distribution === 'PreferSameZone' || distribution === 'PreferSameNode') {
    if (ep.zone !== undefined) ep.hintsForZones = [ep.zone];
    if (distribution === 'PreferSameNode' && ep.nodeName !== undefined) ep.hintsForNodes = [ep.nodeName];
  }
}
