// The plain-data cluster the property kit generates, and its Kubernetes manifests. Everything is valid by
// construction: addresses come from fixed plans (nodes 192.168.0.N, pod CIDRs 10.244.N.0/24, cluster IPs
// 10.96.0.N, node ports 30000+, load-balancer IPs 203.0.113.N, external clients 198.51.100.N), so a shrunk
// counterexample reads as a small cluster a person can follow and feed to `dpemu trace`.

/** A node: name `n<i>`, zone `z<i mod 2>`, InternalIP 192.168.0.<i+1>, podCIDR 10.244.<i>.0/24. */
export interface GenNode { name: string; zone: string; address: string; podCIDR: string }

/** A pod: Running, with its IP in its node's podCIDR, Ready unless `ready` is false, terminating when `terminating`. */
export interface GenPod {
  name: string; namespace: string; node: string; ip: string;
  labels: Record<string, string>;
  ports: { name: string; containerPort: number; protocol: string }[];
  ready: boolean; terminating: boolean;
}

/** An endpoint of a service's EndpointSlice, for one backend pod. Conditions are a valid combination. */
export interface GenEndpoint {
  pod: string; address: string; nodeName: string; zone: string;
  ready: boolean; serving: boolean; terminating: boolean;
  /** hints.forZones (the zones this endpoint is hinted for); undefined: no hints. */
  hints?: string[];
  /** The EndpointSlice it is listed in (a service's endpoints are spread over one or two slices). */
  slice: number;
}

export interface GenServicePort {
  name: string; port: number; protocol: 'TCP' | 'UDP';
  /** A number, or the name of the backend pods' container port. */
  targetPort: number | string;
  /** What the EndpointSlice says the port is (the resolved target port). */
  endpointPort: number;
  nodePort?: number;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

export interface GenService {
  namespace: string; name: string; type: ServiceType;
  clusterIP: string;
  ports: GenServicePort[];
  internalTrafficPolicy: 'Cluster' | 'Local';
  externalTrafficPolicy: 'Cluster' | 'Local';
  /** ClientIP affinity timeout in seconds, or undefined for sessionAffinity None. */
  affinityTimeout?: number;
  /** status.loadBalancer.ingress[0].ip (LoadBalancer only). */
  loadBalancerIP?: string;
  /** spec.loadBalancerSourceRanges (LoadBalancer only). */
  sourceRanges?: string[];
  /** spec.externalIPs. */
  externalIPs?: string[];
  endpoints: GenEndpoint[];
}

/** A whole generated cluster: nodes, namespaces (with labels), pods, Services with their EndpointSlices, and policy objects. */
export interface GenCluster {
  nodes: GenNode[];
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: GenPod[];
  services: GenService[];
  /** NetworkPolicy, AdminNetworkPolicy and BaselineAdminNetworkPolicy objects, as manifests. */
  policies: Record<string, unknown>[];
}

export const node = (i: number): GenNode => ({ name: `n${i}`, zone: `z${i % 2}`, address: `192.168.0.${i + 1}`, podCIDR: `10.244.${i}.0/24` });
export const externalClient = (i: number): string => `198.51.100.${i + 1}`;
export const CLUSTER_CIDR = '10.244.0.0/16';

/** The manifests of a cluster, as objects (Nodes, Namespaces, Pods, Services, EndpointSlices, policies). */
export function clusterManifests(c: GenCluster): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  for (const n of c.nodes) {
    docs.push({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: n.name, labels: { 'topology.kubernetes.io/zone': n.zone } },
      spec: { podCIDR: n.podCIDR },
      status: { addresses: [{ type: 'InternalIP', address: n.address }] },
    });
  }
  for (const ns of c.namespaces) docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: ns.labels } });
  for (const p of c.pods) docs.push(podManifest(p));
  for (const s of c.services) docs.push(...serviceManifests(s));
  docs.push(...c.policies);
  return docs;
}

export function podManifest(p: GenPod): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: p.name, namespace: p.namespace, labels: p.labels };
  if (p.terminating) metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
  return {
    apiVersion: 'v1', kind: 'Pod', metadata,
    spec: { nodeName: p.node, containers: [{ name: 'c', ports: p.ports }] },
    status: { phase: 'Running', podIP: p.ip, conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }] },
  };
}

/** The Service and its EndpointSlices (the Service has no selector: its slices are given, as a controller would write them). */
export function serviceManifests(s: GenService): Record<string, unknown>[] {
  const spec: Record<string, unknown> = {
    type: s.type, clusterIP: s.clusterIP,
    ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, targetPort: p.targetPort, ...(p.nodePort !== undefined && s.type !== 'ClusterIP' ? { nodePort: p.nodePort } : {}) })),
    internalTrafficPolicy: s.internalTrafficPolicy,
  };
  if (s.type !== 'ClusterIP') spec.externalTrafficPolicy = s.externalTrafficPolicy;
  if (s.affinityTimeout !== undefined) {
    spec.sessionAffinity = 'ClientIP';
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: s.affinityTimeout } };
  }
  if (s.sourceRanges) spec.loadBalancerSourceRanges = s.sourceRanges;
  if (s.externalIPs) spec.externalIPs = s.externalIPs;
  const svc: Record<string, unknown> = { apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: s.namespace }, spec };
  if (s.loadBalancerIP) svc.status = { loadBalancer: { ingress: [{ ip: s.loadBalancerIP }] } };
  const slices: Record<string, unknown>[] = [];
  for (const k of [0, 1]) {
    const eps = s.endpoints.filter((e) => e.slice === k);
    slices.push({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { name: `${s.name}-${k}`, namespace: s.namespace, labels: { 'kubernetes.io/service-name': s.name } },
      ports: s.ports.map((p) => ({ name: p.name, port: p.endpointPort, protocol: p.protocol })),
      endpoints: eps.map((e) => ({
        addresses: [e.address], nodeName: e.nodeName, zone: e.zone,
        conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
        targetRef: { kind: 'Pod', namespace: s.namespace, name: e.pod },
        ...(e.hints ? { hints: { forZones: e.hints.map((name) => ({ name })) } } : {}),
      })),
    });
  }
  return [svc, ...slices];
}

/** The EndpointSlice objects of one service (what a cluster change re-applies). */
export function sliceManifests(s: GenService): Record<string, unknown>[] {
  return serviceManifests(s).slice(1);
}

/** "ns/name:port" as the dataplane names a service port. */
export const servicePortLabel = (s: GenService, p: GenServicePort): string => `${s.namespace}/${s.name}:${p.name}`;
