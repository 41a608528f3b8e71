// The normalized cluster model: what the Kubernetes loader (load.ts) reads out
// of manifests, after validation, defaulting, workload expansion, address
// allocation and EndpointSlice derivation. A later step compiles it into the
// dataplane's maps with kube-proxy semantics.
//
// Conventions (everywhere in this model):
// - IPv4 addresses are canonical dotted-quad strings ("10.96.0.10": no leading
//   zeros, no whitespace); convert with src/common/ip.ts `ip()` / `parseIPv4()`
//   when programming the dataplane. The dataplane is IPv4-only, so IPv6
//   addresses in dual-stack objects are dropped (with a warning when an object
//   is left without any IPv4 address).
// - CIDRs are canonical "a.b.c.d/len" strings with the host bits cleared.
// - Every optional Kubernetes field is defaulted the way the API server
//   defaults it (protocol TCP, targetPort = port, externalTrafficPolicy Cluster,
//   sessionAffinity timeout 10800 s, ...), so consumers never see "unset".
// - Lists are sorted deterministically (namespace, then name) so the same
//   manifests always give the same model, whatever the file or document order.

import type { ClusterPolicies } from '../policy/model.js';
import type { NorthSouth } from '../gateway/model.js';

export { PROTOCOLS, formatSource } from './basics.js';
export type { IP, CIDR, Protocol, SourceRef } from './basics.js';
import type { IP, CIDR, Protocol, SourceRef } from './basics.js';

/** A finding of the loader (warnings) or of checkCluster (errors and warnings). */
/**
 * Every kind of finding a Diagnostic can report, listed once (a new check adds its code here). Stable: tools
 * may match on them.
 */
export type DiagnosticCode =
  // loading and parsing manifests
  | 'api-version' | 'unknown-kind' | 'legacy-endpoints' | 'unknown-field' | 'ipv6-ignored' | 'ipv6-rule-dropped' | 'empty-selector' | 'ingress-on-non-lb' | 'address-type-ignored' | 'slice-without-service'
  | 'cluster-ip-outside-range' | 'deprecated-annotation' | 'duplicate-object'
  // defaults applied to what the manifests leave out (severity info)
  | 'default-nodes' | 'lb-addresses' | 'lb-pool-full'
  // policy manifests
  | 'cidr-host-bits' | 'ignored-rules' | 'domain-names-unsupported' | 'named-port-never-matches' | 'admin-priority-tie'
  // workloads: pods, scheduling, addresses
  | 'pod-exists' | 'no-feasible-node' | 'cluster-cidr-full' | 'unknown-node' | 'no-node-ip'
  // check: services and endpoints
  | 'selector-matches-nothing' | 'target-port-unresolved' | 'no-endpoints' | 'all-endpoints-unready' | 'duplicate-endpoints'
  | 'node-port-out-of-range' | 'node-port-conflict' | 'cluster-ip-conflict' | 'pod-on-unknown-node'
  // check: policies
  | 'policy-selects-nothing' | 'peer-matches-nothing' | 'egress-without-dns'
  // Gateway API and Ingress
  // (an HTTPRoute whose Accepted or ResolvedRefs condition is False: `route-` and the Gateway API's reason,
  // e.g. route-NoMatchingParent, route-BackendNotFound; the reasons are src/gateway/router.ts's)
  | `route-${string}`
  | 'route-unsupported' | 'gateway-class-missing' | 'gateway-no-address' | 'listener-unsupported' | 'ingress-not-served' | 'ingress-tls'
  // compiling the cluster into the maps
  | 'compile';

export interface Diagnostic {
  /** `info`: a note on what dpemu assumed (defaults it applied); not a problem. */
  severity: 'error' | 'warning' | 'info';
  /** Stable machine-readable kind of finding, e.g. 'selector-matches-nothing'. */
  code: DiagnosticCode;
  /** Human-readable, self-contained message. */
  message: string;
  /** "Kind namespace/name" (or "Kind name" for cluster-scoped kinds) of the object concerned. */
  object?: string;
  source?: SourceRef;
}

export interface Namespace {
  name: string;
  labels: Record<string, string>;
  /** True when no Namespace object was given and the namespace is only referred to. */
  implicit: boolean;
  source?: SourceRef;
}

export type TaintEffect = 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
export interface Taint { key: string; value: string; effect: TaintEffect }
export interface Toleration {
  key?: string;
  operator: 'Exists' | 'Equal';
  value?: string;
  effect?: TaintEffect;
}

export interface Node {
  name: string;
  labels: Record<string, string>;
  /** Label topology.kubernetes.io/zone (what the EndpointSlice controller copies into endpoints). */
  zone?: string;
  /** Label topology.kubernetes.io/region. */
  region?: string;
  /** First IPv4 status.addresses entry of type InternalIP. */
  internalIP?: IP;
  /** First IPv4 status.addresses entry of type ExternalIP. */
  externalIP?: IP;
  /** All IPv4 status.addresses, in order. */
  addresses: { type: string; address: IP }[];
  /** IPv4 pod CIDRs (spec.podCIDRs, or spec.podCIDR), canonical. */
  podCIDRs: CIDR[];
  /** True when podCIDRs were not in the manifest and were assigned from the cluster CIDR (as kube-controller-manager's node IPAM does). */
  podCIDRAllocated: boolean;
  unschedulable: boolean;
  taints: Taint[];
  /** status.conditions Ready; true when the manifest has no Ready condition. */
  ready: boolean;
  /**
   * True while the node is down (ClusterRuntime.failNode: dpemu's fault injection, not from a manifest): it is
   * NotReady, its pods are not ready, and packets entering or crossing to it are lost.
   */
  failed?: boolean;
  /** True for a node dpemu made because the input has no Node objects (default-nodes.ts). */
  defaulted?: boolean;
  source?: SourceRef;
}

export interface ContainerPort {
  container: string;
  name?: string;
  containerPort: number;
  protocol: Protocol;
  hostPort?: number;
  /** Port of a sidecar (an initContainer with restartPolicy Always); FindPort looks there too. */
  sidecar?: boolean;
}

export type DNSPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';
export interface PodDNSConfig { nameservers: string[]; searches: string[]; options: { name: string; value?: string }[] }

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface OwnerRef { kind: string; name: string }

export interface Pod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** spec.nodeName; undefined when the pod is not scheduled. */
  nodeName?: string;
  hostNetwork: boolean;
  hostname?: string;
  subdomain?: string;
  /** spec.dnsPolicy (API default ClusterFirst) and spec.dnsConfig: what the kubelet writes into the pod's resolv.conf. */
  dnsPolicy?: DNSPolicy;
  dnsConfig?: PodDNSConfig;
  ports: ContainerPort[];
  /** First IPv4 pod IP (status.podIP / podIPs); undefined when the pod has none. */
  podIP?: IP;
  /** All IPv4 pod IPs. */
  podIPs: IP[];
  hostIP?: IP;
  phase: PodPhase;
  /** status.conditions Ready == True. */
  ready: boolean;
  /** metadata.deletionTimestamp is set. */
  terminating: boolean;
  /** The controller that owns the pod (metadata.ownerReferences, or the expanded workload). */
  owner?: OwnerRef;
  /** True when dpemu created the pod (workload expansion) or filled in its status (a Pod manifest without status). */
  simulated: boolean;
  source?: SourceRef;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type TrafficPolicy = 'Cluster' | 'Local';

export interface ServicePort {
  /** '' for the single unnamed port. */
  name: string;
  protocol: Protocol;
  port: number;
  /** A container port number, or the name of a container port (IANA_SVC_NAME). Defaults to port. */
  targetPort: number | string;
  /** Set for NodePort and LoadBalancer services (explicit or allocated); undefined otherwise. */
  nodePort?: number;
  appProtocol?: string;
}

export interface Service {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  type: ServiceType;
  /** The IPv4 cluster IP; undefined for headless and ExternalName services. */
  clusterIP?: IP;
  /** All IPv4 cluster IPs (spec.clusterIPs). */
  clusterIPs: IP[];
  /** The IPv6 cluster IPs of a dual-stack Service (canonical text), for the cluster DNS (AAAA, PTR) only: the
   * packet dataplane is IPv4 and never reads them. */
  ipv6ClusterIPs?: IP[];
  /** spec.clusterIP: None. */
  headless: boolean;
  /** True when the loader allocated clusterIP from the service CIDR. */
  clusterIPAllocated: boolean;
  /** spec.externalName (ExternalName services only). */
  externalName?: string;
  ports: ServicePort[];
  /** spec.selector; undefined when the Service has no (or an empty) selector, i.e. its EndpointSlices are managed by hand. */
  selector?: Record<string, string>;
  externalIPs: IP[];
  /** Deprecated spec.loadBalancerIP, when set. */
  loadBalancerIP?: IP;
  /** status.loadBalancer.ingress[].ip (IPv4). */
  loadBalancerIngress: IP[];
  /** True when the loader gave the Service its ingress address from the load-balancer pool (no status in the input). */
  loadBalancerAllocated?: boolean;
  /** status.loadBalancer.ingress[].hostname. */
  loadBalancerHostnames: string[];
  externalTrafficPolicy: TrafficPolicy;
  internalTrafficPolicy: TrafficPolicy;
  /**
   * spec.trafficDistribution (PreferClose, PreferSameZone, PreferSameNode; other values are kept and act as
   * unset): the EndpointSlice controller derives the hints kube-proxy reads from it (endpoints.ts).
   */
  trafficDistribution?: string;
  sessionAffinity: 'None' | 'ClientIP';
  /** sessionAffinityConfig.clientIP.timeoutSeconds (default 10800); only meaningful with ClientIP affinity. */
  sessionAffinityTimeout: number;
  /** spec.loadBalancerSourceRanges (or the legacy annotation), canonical IPv4 CIDRs. */
  loadBalancerSourceRanges: CIDR[];
  /** spec.allocateLoadBalancerNodePorts; true unless set false on a LoadBalancer. */
  allocateLoadBalancerNodePorts: boolean;
  /** spec.healthCheckNodePort (LoadBalancer with externalTrafficPolicy Local; explicit or allocated). */
  healthCheckNodePort?: number;
  publishNotReadyAddresses: boolean;
  source?: SourceRef;
}

/**
 * Endpoint conditions, with the API's nil rules already applied
 * (EndpointConditions docs; kube-proxy pkg/proxy/endpointslicecache.go):
 * ready nil → true, serving nil → true, terminating nil → false.
 */
export interface EndpointConditions { ready: boolean; serving: boolean; terminating: boolean }

export interface Endpoint {
  /** IPv4 addresses; consumers use the first (kube-proxy does, see issue 106267). */
  addresses: IP[];
  conditions: EndpointConditions;
  nodeName?: string;
  zone?: string;
  hostname?: string;
  /** hints.forZones[].name */
  hintsForZones?: string[];
  /** hints.forNodes[].name (trafficDistribution PreferSameNode) */
  hintsForNodes?: string[];
  targetRef?: { kind: string; namespace?: string; name: string };
}

export interface EndpointPort {
  /** Matches ServicePort.name ('' for an unnamed port). */
  name: string;
  /** undefined when the slice port has no number (kube-proxy ignores such ports). */
  port?: number;
  protocol: Protocol;
  appProtocol?: string;
}

export interface EndpointSlice {
  namespace: string;
  name: string;
  /** Label kubernetes.io/service-name. */
  serviceName: string;
  /** IPv4 slices are in endpointSlices; IPv6 ones only in ipv6EndpointSlices (addresses in canonical text). */
  addressType: 'IPv4' | 'IPv6';
  endpoints: Endpoint[];
  ports: EndpointPort[];
  labels: Record<string, string>;
  /** True when the loader derived the slice from pods (EndpointSlice controller rules). */
  derived: boolean;
  source?: SourceRef;
}

export interface ClusterConfig {
  serviceCIDR: CIDR;
  /** Inclusive, as kube-apiserver --service-node-port-range. */
  nodePortRange: [number, number];
  clusterCIDR: CIDR;
  nodeCIDRMaskSize: number;
  maxEndpointsPerSlice: number;
}

export interface ClusterModel {
  config: ClusterConfig;
  namespaces: Namespace[];
  nodes: Node[];
  pods: Pod[];
  services: Service[];
  /** User-provided slices and, for selector Services without any, derived ones. */
  endpointSlices: EndpointSlice[];
  /** EndpointSlices of addressType IPv6, for the cluster DNS (AAAA, PTR) only; the dataplane never reads them. */
  ipv6EndpointSlices?: EndpointSlice[];
  /** NetworkPolicy and admin-tier policies (src/policy/model.ts); absent = none. */
  policies?: ClusterPolicies;
  /** Gateway API and Ingress objects (src/gateway/model.ts); absent = none. */
  northSouth?: NorthSouth;
}

export function objectName(kind: string, namespace: string | undefined, name: string): string {
  return namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}


/** The slices of one Service (by the kubernetes.io/service-name label, in the Service's namespace). */
export function slicesForService(model: Pick<ClusterModel, 'endpointSlices'>, svc: Pick<Service, 'namespace' | 'name'>): EndpointSlice[] {
  return model.endpointSlices.filter((s) => s.namespace === svc.namespace && s.serviceName === svc.name);
}
