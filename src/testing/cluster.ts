// The clusters the kit generates, stated plainly: nodes, pods, Services (and NetworkPolicies), valid by
// construction, with every address known in advance so that a property can say what must happen to a
// packet without asking the dataplane under test. `manifests()` writes a cluster as the Kubernetes objects
// it is applied as; `expectedEndpoints()` is kube-proxy's endpoint eligibility for it, written again here
// from the rules (pkg/proxy/topology.go) rather than taken from dpemu's compiler, so that a broken
// compiler cannot agree with itself.

import fc from 'fast-check';

export type KitProtocol = 'TCP' | 'UDP';

export interface KitNode { name: string; ip: string; podCIDR: string; zone: string }
export interface KitPod { name: string; node: string; ip: string; app: string; ready: boolean }
export interface KitService {
  name: string;
  /** The pods it selects: app=<app>. */
  app: string;
  clusterIP: string;
  port: number;
  protocol: KitProtocol;
  /** targetPort by name (the pods' named container port) or by number. */
  targetPort: string | number;
  /** ClientIP session affinity timeout in seconds (0: none). */
  affinity: number;
  /** internalTrafficPolicy: Local (only endpoints on the client's node). */
  internalLocal: boolean;
  /** A NodePort Service's node port (externalTrafficPolicy Cluster), or undefined for ClusterIP. */
  nodePort?: number;
}
export interface KitPolicy {
  name: string;
  /** The pods it isolates for ingress: app=<app>. */
  app: string;
  /** Pods allowed in (app=<from>) and on which port; empty: isolated, nothing allowed. */
  allowFrom: { app: string; port?: number }[];
}
export interface KitCluster {
  namespace: string;
  nodes: KitNode[];
  pods: KitPod[];
  services: KitService[];
  policies: KitPolicy[];
}

/** The port every pod serves, by protocol: named `http` (TCP 8080) and `dgram` (UDP 9090). */
export const POD_PORT: Record<KitProtocol, { name: string; port: number }> = {
  TCP: { name: 'http', port: 8080 }, UDP: { name: 'dgram', port: 9090 },
};
const APPS = ['a', 'b', 'c'] as const;

export interface ClusterShape {
  /** Nodes (default 1..3). */
  nodes?: { min?: number; max?: number };
  /** Pods (default 1..8). */
  pods?: { min?: number; max?: number };
  /** Services (default 1..3). */
  services?: { min?: number; max?: number };
  /** NetworkPolicies (default none). */
  policies?: { min?: number; max?: number };
  /** Protocols of the Services (default TCP and UDP). */
  protocols?: KitProtocol[];
  /** Whether Services may have ClientIP affinity (default true). */
  affinity?: boolean;
  /** Whether Services may have internalTrafficPolicy Local (default true). */
  internalLocal?: boolean;
  /** Whether Services may be NodePort (default true). */
  nodePort?: boolean;
  /** Whether pods may be not ready (default true). */
  notReady?: boolean;
}

/**
 * Clusters of one namespace: 1-3 nodes (zones a/b, podCIDR 10.244.N.0/24, InternalIP 192.168.0.N+1), pods
 * with label app=a|b|c, ready or not, each serving TCP 8080 (`http`) and UDP 9090 (`dgram`), and Services
 * (ClusterIP 10.96.0.10+k, port 80+k, TCP or UDP, targetPort by name or number, optionally ClientIP affinity
 * of 300 s, internalTrafficPolicy Local, or NodePort 30000+k) each of whose apps has at least one ready pod
 * (so every Service has an endpoint somewhere). Optional NetworkPolicies isolate an app for ingress and
 * allow some apps in, on a port or all. Shrinks towards one node, one pod, one plain TCP Service.
 */
export function cluster(shape: ClusterShape = {}): fc.Arbitrary<KitCluster> {
  const range = (r: { min?: number; max?: number } | undefined, min: number, max: number) => ({ minLength: r?.min ?? min, maxLength: r?.max ?? max });
  const protocols = shape.protocols ?? ['TCP', 'UDP'];
  return fc.record({
    nodes: fc.integer({ min: shape.nodes?.min ?? 1, max: shape.nodes?.max ?? 3 }),
    pods: fc.array(fc.record({ node: fc.nat(2), app: fc.constantFrom(...APPS), ready: shape.notReady === false ? fc.constant(true) : fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }), range(shape.pods, 1, 8)),
    services: fc.array(fc.record({
      app: fc.constantFrom(...APPS), protocol: fc.constantFrom(...protocols), named: fc.boolean(),
      affinity: shape.affinity === false ? fc.constant(false) : fc.boolean(),
      internalLocal: shape.internalLocal === false ? fc.constant(false) : fc.boolean(),
      nodePort: shape.nodePort === false ? fc.constant(false) : fc.boolean(),
    }), range(shape.services, 1, 3)),
    policies: fc.array(fc.record({
      app: fc.constantFrom(...APPS),
      allowFrom: fc.array(fc.record({ app: fc.constantFrom(...APPS), port: fc.option(fc.constantFrom(8080, 9090), { nil: undefined }) }), { maxLength: 2 }),
    }), range(shape.policies, 0, 0)),
  }).map(({ nodes: n, pods, services, policies }) => {
    const nodes: KitNode[] = Array.from({ length: n }, (_, i) => ({
      name: `node-${i}`, ip: `192.168.0.${i + 1}`, podCIDR: `10.244.${i}.0/24`, zone: i % 2 === 0 ? 'zone-a' : 'zone-b',
    }));
    const kitPods: KitPod[] = pods.map((p, i) => {
      const node = p.node % n;
      return { name: `pod-${i}`, node: nodes[node].name, ip: `10.244.${node}.${10 + i}`, app: p.app, ready: p.ready };
    });
    // Every Service's app gets a ready pod (on node 0) if it has none: each Service has an endpoint.
    for (const s of services) {
      if (!kitPods.some((p) => p.app === s.app && p.ready)) {
        const i = kitPods.length;
        kitPods.push({ name: `pod-${i}`, node: nodes[0].name, ip: `10.244.0.${10 + i}`, app: s.app, ready: true });
      }
    }
    const kitServices: KitService[] = services.map((s, k) => ({
      name: `svc-${k}`, app: s.app, clusterIP: `10.96.0.${10 + k}`, port: 80 + k, protocol: s.protocol,
      targetPort: s.named ? POD_PORT[s.protocol].name : POD_PORT[s.protocol].port,
      affinity: s.affinity ? 300 : 0, internalLocal: s.internalLocal, nodePort: s.nodePort ? 30000 + k : undefined,
    }));
    const kitPolicies: KitPolicy[] = policies.map((p, i) => ({ name: `policy-${i}`, app: p.app, allowFrom: p.allowFrom }));
    return { namespace: 'kit', nodes, pods: kitPods, services: kitServices, policies: kitPolicies };
  });
}

/** The cluster as Kubernetes objects (Namespace, Nodes, Pods, Services, NetworkPolicies). */
export function manifests(c: KitCluster): Record<string, unknown>[] {
  const ns = c.namespace;
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    ...c.nodes.map((n) => ({
      apiVersion: 'v1', kind: 'Node', metadata: { name: n.name, labels: { 'topology.kubernetes.io/zone': n.zone } },
      spec: { podCIDR: n.podCIDR }, status: { addresses: [{ type: 'InternalIP', address: n.ip }] },
    })),
    ...c.pods.map((p) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: ns, labels: { app: p.app } },
      spec: {
        nodeName: p.node,
        containers: [{ name: 'c', ports: [
          { name: POD_PORT.TCP.name, containerPort: POD_PORT.TCP.port, protocol: 'TCP' },
          { name: POD_PORT.UDP.name, containerPort: POD_PORT.UDP.port, protocol: 'UDP' },
        ] }],
      },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }] },
    })),
    ...c.services.map((s) => ({
      apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: ns },
      spec: {
        type: s.nodePort !== undefined ? 'NodePort' : 'ClusterIP', clusterIP: s.clusterIP, selector: { app: s.app },
        ports: [{ name: 'p', port: s.port, protocol: s.protocol, targetPort: s.targetPort, ...(s.nodePort !== undefined ? { nodePort: s.nodePort } : {}) }],
        ...(s.affinity ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinity } } } : {}),
        ...(s.internalLocal ? { internalTrafficPolicy: 'Local' } : {}),
      },
    })),
    ...c.policies.map((p) => ({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.name, namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: p.app } }, policyTypes: ['Ingress'],
        ingress: p.allowFrom.map((a) => ({
          from: [{ podSelector: { matchLabels: { app: a.app } } }],
          ...(a.port !== undefined ? { ports: [{ port: a.port, protocol: a.port === POD_PORT.UDP.port ? 'UDP' : 'TCP' }] } : {}),
        })),
      },
    })),
  ];
}

/**
 * The endpoints (`ip:port`) kube-proxy may send a new connection from `client` to Service `s` to: the ready
 * pods it selects, on the target port; with internalTrafficPolicy Local only those on the client's node
 * (topology.go: CategorizeEndpoints). Empty: the connection is rejected (no endpoints) or dropped (Local,
 * none on this node).
 */
export function expectedEndpoints(c: KitCluster, s: KitService, clientNode: string): string[] {
  return c.pods
    .filter((p) => p.app === s.app && p.ready && (!s.internalLocal || p.node === clientNode))
    .map((p) => `${p.ip}:${POD_PORT[s.protocol].port}`);
}
