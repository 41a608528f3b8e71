// fast-check arbitraries of the property kit. Each builds valid objects by construction (no filtering) and
// shrinks towards fewer nodes, services, endpoints, packets and steps, so a failure comes out small.
import fc from 'fast-check';
import type { GenCluster, GenEndpoint, GenNode, GenPod, GenService, GenServicePort, ServiceType } from './cluster.js';
import { externalClient, node } from './cluster.js';

/** What a cluster arbitrary may produce. */
export interface ClusterConstraints {
  /** Nodes (1..maxNodes, default 3). */
  maxNodes?: number;
  /** Services (1..maxServices, default 3). */
  maxServices?: number;
  /** Endpoints per service (minEndpoints..maxEndpoints, defaults 0..5). */
  minEndpoints?: number;
  maxEndpoints?: number;
  /** Ports per service (1..maxPorts, default 2). */
  maxPorts?: number;
  /** Service types to draw from (default all three). */
  types?: ServiceType[];
  /** Protocols of service ports (default TCP and UDP). */
  protocols?: ('TCP' | 'UDP')[];
  /** Endpoint conditions: 'any' (ready, not ready, serving/not serving terminating), or 'ready' only. */
  conditions?: 'any' | 'ready';
  /** Traffic policies: 'any' or 'cluster' (both Cluster). */
  trafficPolicies?: 'any' | 'cluster';
  /** ClientIP affinity: 'sometimes' (default), 'always', 'never'. */
  affinity?: 'sometimes' | 'always' | 'never';
  /** Topology hints, loadBalancerSourceRanges and externalIPs (default true). */
  extras?: boolean;
  /** Client pods (1..maxClients, default 3). */
  maxClients?: number;
}

const CONDITIONS = [
  { ready: true, serving: true, terminating: false },
  { ready: false, serving: false, terminating: false },
  { ready: false, serving: true, terminating: true },
  { ready: false, serving: false, terminating: true },
];

const endpointArb = (nodes: number, conditions: 'any' | 'ready') => fc.record({
  node: fc.nat({ max: nodes - 1 }),
  cond: conditions === 'ready' ? fc.constant(0) : fc.oneof({ arbitrary: fc.constant(0), weight: 5 }, { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 2 }),
  slice: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.constant(1), weight: 1 }),
  unhinted: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
});

const serviceArb = (nodes: number, k: ClusterConstraints) => fc.record({
  type: fc.constantFrom(...(k.types ?? ['ClusterIP', 'NodePort', 'LoadBalancer'] as ServiceType[])),
  ports: fc.array(fc.record({
    protocol: fc.constantFrom(...(k.protocols ?? ['TCP', 'UDP'] as const)),
    named: fc.boolean(),
  }), { minLength: 1, maxLength: k.maxPorts ?? 2 }),
  itp: k.trafficPolicies === 'cluster' ? fc.constant('Cluster' as const) : fc.constantFrom('Cluster' as const, 'Cluster' as const, 'Local' as const),
  etp: k.trafficPolicies === 'cluster' ? fc.constant('Cluster' as const) : fc.constantFrom('Cluster' as const, 'Local' as const),
  affinity: k.affinity === 'always' ? fc.integer({ min: 30, max: 10800 }).map((t): number | undefined => t)
    : k.affinity === 'never' ? fc.constant(undefined)
    : fc.option(fc.integer({ min: 30, max: 10800 }), { nil: undefined, freq: 3 }),
  hints: k.extras === false ? fc.constant(false) : fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 }),
  sourceRange: k.extras === false ? fc.constant(undefined) : fc.option(fc.constantFrom('198.51.100.0/30', '198.51.100.4/30', '198.51.100.0/24'), { nil: undefined, freq: 3 }),
  externalIP: k.extras === false ? fc.constant(false) : fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
  endpoints: fc.array(endpointArb(nodes, k.conditions ?? 'any'), { minLength: k.minEndpoints ?? 0, maxLength: k.maxEndpoints ?? 5 }),
});

type ServiceDraw = ReturnType<typeof serviceArb> extends fc.Arbitrary<infer T> ? T : never;

/** Build the service `i` and its backend pods from a draw. */
function buildService(i: number, d: ServiceDraw, nodes: GenNode[], pods: GenPod[]): GenService {
  const name = `svc-${i}`;
  const ports: GenServicePort[] = d.ports.map((p, j) => ({
    name: `p${j}`, port: 80 + j, protocol: p.protocol,
    targetPort: p.named ? `port${j}` : 8080 + j, endpointPort: 8080 + j,
    nodePort: 30000 + i * 10 + j,
  }));
  const endpoints: GenEndpoint[] = d.endpoints.map((e, k) => {
    const n = nodes[e.node];
    const c = CONDITIONS[e.cond];
    const pod: GenPod = {
      name: `${name}-be-${k}`, namespace: 'default', node: n.name, ip: `10.244.${e.node}.${100 + i * 20 + k}`,
      labels: { app: name }, ports: ports.map((p, j) => ({ name: `port${j}`, containerPort: p.endpointPort, protocol: p.protocol })),
      ready: c.ready, terminating: c.terminating,
    };
    pods.push(pod);
    const ep: GenEndpoint = { pod: pod.name, address: pod.ip, nodeName: n.name, zone: n.zone, ...c, slice: e.slice };
    if (d.hints && !(e.unhinted && c.ready)) ep.hints = [n.zone];
    return ep;
  });
  const s: GenService = {
    namespace: 'default', name, type: d.type, clusterIP: `10.96.0.${10 + i}`, ports,
    internalTrafficPolicy: d.itp, externalTrafficPolicy: d.type === 'ClusterIP' ? 'Cluster' : d.etp, affinityTimeout: d.affinity, endpoints,
  };
  if (d.type === 'LoadBalancer') {
    s.loadBalancerIP = `203.0.113.${10 + i}`;
    if (d.sourceRange) s.sourceRanges = [d.sourceRange];
  }
  if (d.externalIP) s.externalIPs = [`203.0.113.${100 + i}`];
  return s;
}

/**
 * Clusters of Services. Produces: 1..maxNodes nodes (zones z0, z1, InternalIPs, podCIDRs); client pods
 * `client-<i>` (label app=client) on random nodes; 1..maxServices selectorless Services of the given
 * types (ClusterIP, NodePort with fixed node ports, LoadBalancer with an ingress IP and sometimes
 * loadBalancerSourceRanges, sometimes an externalIP), TCP/UDP ports with numeric or named target ports,
 * internal/external traffic policies, sometimes ClientIP affinity (timeout 30..10800 s); each with
 * EndpointSlices (one or two) of backend pods on random nodes whose conditions are ready, not ready,
 * serving terminating or terminating not serving, sometimes with zone hints (occasionally one endpoint
 * without). Shrinks towards one node, one service, fewer endpoints, all ready, no extras.
 */
export function cluster(k: ClusterConstraints = {}): fc.Arbitrary<GenCluster> {
  return fc.integer({ min: 1, max: k.maxNodes ?? 3 }).chain((n) => fc.record({
    clients: fc.array(fc.nat({ max: n - 1 }), { minLength: 1, maxLength: k.maxClients ?? 3 }),
    services: fc.array(serviceArb(n, k), { minLength: 1, maxLength: k.maxServices ?? 3 }),
  }).map(({ clients, services }) => {
    const nodes = Array.from({ length: n }, (_, i) => node(i));
    const pods: GenPod[] = clients.map((ni, i) => ({
      name: `client-${i}`, namespace: 'default', node: nodes[ni].name, ip: `10.244.${ni}.${10 + i}`,
      labels: { app: 'client' }, ports: [], ready: true, terminating: false,
    }));
    const svcs = services.map((d, i) => buildService(i, d, nodes, pods));
    return described({ nodes, namespaces: [{ name: 'default', labels: {} }], pods, services: svcs, policies: [] });
  }));
}

/** fast-check prints a cluster by this summary; the failure message has the whole cluster as YAML. */
function described(c: GenCluster): GenCluster {
  const eps = c.services.reduce((a, s) => a + s.endpoints.length, 0);
  const text = `cluster(${c.nodes.length} node${c.nodes.length > 1 ? 's' : ''}, ${c.pods.length} pods, ${c.services.length} services, ${eps} endpoints, ${c.policies.length} policies: the YAML is in the error below)`;
  Object.defineProperty(c, fc.toStringMethod, { value: () => text, enumerable: false });
  return c;
}

/** An external client address (198.51.100.1 .. 198.51.100.<count>). */
export const externalAddress = (count = 8): fc.Arbitrary<string> => fc.integer({ min: 0, max: count - 1 }).map(externalClient);

/** A TCP flow's life after the SYN. */
export type FlowStep =
  | { kind: 'synAck' } | { kind: 'ack' } | { kind: 'data' } | { kind: 'reply' }
  | { kind: 'retransmitSyn' } | { kind: 'fin' } | { kind: 'rst' }
  | { kind: 'wait'; seconds: number };

/**
 * TCP lifecycles: the SYN-ACK, then ACKs, data both ways, retransmitted SYNs and waits (0..30 s, always
 * within the established lifetime), ending open, with a FIN from each side, or with a RST. Shrinks towards
 * SYN, SYN-ACK, ACK.
 */
export function tcpLifecycle(maxSteps = 6): fc.Arbitrary<FlowStep[]> {
  const middle = fc.array(fc.oneof(
    fc.constant<FlowStep>({ kind: 'data' }), fc.constant<FlowStep>({ kind: 'reply' }),
    fc.constant<FlowStep>({ kind: 'retransmitSyn' }),
    fc.integer({ min: 0, max: 30 }).map((seconds): FlowStep => ({ kind: 'wait', seconds })),
  ), { maxLength: maxSteps });
  const end = fc.constantFrom<FlowStep[]>([], [{ kind: 'fin' }, { kind: 'fin' }], [{ kind: 'rst' }]);
  return fc.tuple(middle, end).map(([m, e]) => [{ kind: 'synAck' }, { kind: 'ack' }, ...m, ...e]);
}

/** UDP exchanges: requests and replies with waits (0..30 s), shrinking towards one request and one reply. */
export function udpExchange(maxSteps = 6): fc.Arbitrary<FlowStep[]> {
  return fc.array(fc.oneof(
    fc.constant<FlowStep>({ kind: 'data' }), fc.constant<FlowStep>({ kind: 'reply' }),
    fc.integer({ min: 0, max: 30 }).map((seconds): FlowStep => ({ kind: 'wait', seconds })),
  ), { maxLength: maxSteps }).map((m) => [{ kind: 'reply' }, ...m]);
}

/** Time steps: within lifetimes (0..30 s) or past them (61..200 s: the SYN and non-TCP lifetimes are 60 s). */
export function timeStep(): fc.Arbitrary<number> {
  return fc.oneof({ arbitrary: fc.integer({ min: 0, max: 30 }), weight: 4 }, { arbitrary: fc.integer({ min: 61, max: 200 }), weight: 1 });
}

/** A change of one service's endpoints: one added, one removed, or one turned terminating (index taken modulo the endpoints). */
export type EndpointChange = { kind: 'add' | 'remove' | 'terminate'; service: number; endpoint: number; node: number };

/** Endpoint changes: added (on a node), removed, turned terminating (serving). Shrinks towards "add to the first service". */
export function endpointChange(): fc.Arbitrary<EndpointChange> {
  return fc.record({
    kind: fc.constantFrom<EndpointChange['kind']>('add', 'remove', 'terminate'),
    service: fc.nat({ max: 7 }), endpoint: fc.nat({ max: 15 }), node: fc.nat({ max: 7 }),
  });
}

/**
 * Apply an endpoint change to a cluster: returns the changed service (a new object; the cluster's list
 * is updated) and the pod added, if any. `keep` lists endpoint addresses that must not be removed or
 * turned terminating (e.g. the backend of a flow under test); the change then picks another one, or none.
 */
export function applyEndpointChange(c: GenCluster, ch: EndpointChange, keep: ReadonlySet<string> = new Set()): { service: GenService; pod?: GenPod } | undefined {
  if (c.services.length === 0) return undefined;
  const si = ch.service % c.services.length;
  const s = c.services[si];
  if (ch.kind === 'add') {
    const ni = ch.node % c.nodes.length;
    const n = c.nodes[ni];
    const k = 10 + c.pods.filter((p) => p.name.startsWith(`${s.name}-add-`)).length;
    if (k > 19) return undefined;
    const pod: GenPod = {
      name: `${s.name}-add-${k}`, namespace: s.namespace, node: n.name, ip: `10.244.${ni}.${100 + si * 20 + k}`,
      labels: { app: s.name }, ports: s.ports.map((p, j) => ({ name: `port${j}`, containerPort: p.endpointPort, protocol: p.protocol })),
      ready: true, terminating: false,
    };
    c.pods.push(pod);
    const hinted = s.endpoints.some((e) => e.hints);
    const ep: GenEndpoint = { pod: pod.name, address: pod.ip, nodeName: n.name, zone: n.zone, ready: true, serving: true, terminating: false, slice: 0, ...(hinted ? { hints: [n.zone] } : {}) };
    const next = { ...s, endpoints: [...s.endpoints, ep] };
    c.services[si] = next;
    return { service: next, pod };
  }
  const candidates = s.endpoints.filter((e) => !keep.has(e.address) && (ch.kind === 'remove' || !e.terminating));
  if (candidates.length === 0) return undefined;
  const victim = candidates[ch.endpoint % candidates.length];
  const endpoints = ch.kind === 'remove' ? s.endpoints.filter((e) => e !== victim)
    : s.endpoints.map((e) => (e === victim ? { ...e, ready: false, serving: true, terminating: true } : e));
  const next = { ...s, endpoints };
  c.services[si] = next;
  return { service: next };
}

// ------------------------------------------------------------------------------------------- policies

const NS = ['a', 'b'];
const APP = ['web', 'db', 'api'];
const POLICY_PORTS = [53, 80, 443, 8080];

const matchLabels = (vocab: Record<string, string[]>) =>
  fc.option(fc.constantFrom(...Object.keys(vocab)).chain((key) => fc.constantFrom(...vocab[key]).map((v) => ({ [key]: v }))), { nil: undefined, freq: 3 })
    .map((m) => ({ matchLabels: m ?? {} }));

const npPort = fc.oneof(
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP') }),
  fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constantFrom(...POLICY_PORTS) }),
  fc.record({ protocol: fc.constant('TCP'), port: fc.constant('http') }),
  fc.record({ protocol: fc.constant('TCP'), port: fc.constant(80), endPort: fc.constantFrom(443, 8080) }),
);
const npPeer = fc.oneof(
  matchLabels({ app: APP }).map((podSelector) => ({ podSelector })),
  matchLabels({ team: ['x', 'y'] }).map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(matchLabels({ app: APP }), matchLabels({ team: ['x', 'y'] })).map(([podSelector, namespaceSelector]) => ({ podSelector, namespaceSelector })),
  fc.constantFrom('10.244.0.0/16', '10.244.0.0/24', '198.51.100.0/24', '0.0.0.0/0').map((cidr) => ({ ipBlock: { cidr } })),
);
const npRule = (dir: 'from' | 'to') => fc.record({ peers: fc.array(npPeer, { maxLength: 2 }), ports: fc.array(npPort, { maxLength: 2 }) })
  .map((r) => ({ ...(r.peers.length ? { [dir]: r.peers } : {}), ...(r.ports.length ? { ports: r.ports } : {}) }));

const networkPolicy = (i: number) => fc.record({
  ns: fc.constantFrom(...NS), podSelector: matchLabels({ app: APP }),
  ingress: fc.option(fc.array(npRule('from'), { maxLength: 2 }), { nil: undefined }),
  egress: fc.option(fc.array(npRule('to'), { maxLength: 2 }), { nil: undefined }),
}).map((p) => {
  const spec: Record<string, unknown> = { podSelector: p.podSelector, policyTypes: [] as string[] };
  if (p.ingress) { spec.ingress = p.ingress; (spec.policyTypes as string[]).push('Ingress'); }
  if (p.egress) { spec.egress = p.egress; (spec.policyTypes as string[]).push('Egress'); }
  if ((spec.policyTypes as string[]).length === 0) spec.policyTypes = ['Ingress'];
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: `np-${i}`, namespace: p.ns }, spec };
});

const adminPeer = fc.oneof(
  matchLabels({ team: ['x', 'y'] }).map((namespaces) => ({ namespaces })),
  fc.tuple(matchLabels({ team: ['x', 'y'] }), matchLabels({ app: APP })).map(([namespaceSelector, podSelector]) => ({ pods: { namespaceSelector, podSelector } })),
);
const adminRule = (dir: 'from' | 'to', actions: string[], j: number) => fc.record({
  action: fc.constantFrom(...actions), peers: fc.array(adminPeer, { minLength: 1, maxLength: 2 }),
  ports: fc.option(fc.array(fc.record({ protocol: fc.constantFrom('TCP', 'UDP'), port: fc.constantFrom(...POLICY_PORTS) }), { minLength: 1, maxLength: 2 }), { nil: undefined }),
}).map((r) => ({ name: `r${j}`, action: r.action, [dir]: r.peers, ...(r.ports ? { ports: r.ports.map((p) => ({ portNumber: p })) } : {}) }));
const adminRules = (dir: 'from' | 'to', actions: string[]) => fc.integer({ min: 0, max: 2 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, j) => adminRule(dir, actions, j))));

const adminPolicy = (i: number) => fc.record({
  priority: fc.integer({ min: 0, max: 20 }), subject: matchLabels({ team: ['x', 'y'] }),
  ingress: adminRules('from', ['Allow', 'Deny', 'Pass']), egress: adminRules('to', ['Allow', 'Deny', 'Pass']),
}).map((p) => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'AdminNetworkPolicy', metadata: { name: `anp-${i}` },
  spec: { priority: p.priority, subject: { namespaces: p.subject }, ...(p.ingress.length ? { ingress: p.ingress } : {}), ...(p.egress.length ? { egress: p.egress } : {}) },
}));

const baselinePolicy = fc.record({
  subject: matchLabels({ team: ['x', 'y'] }),
  ingress: adminRules('from', ['Allow', 'Deny']), egress: adminRules('to', ['Allow', 'Deny']),
}).map((p) => ({
  apiVersion: 'policy.networking.k8s.io/v1alpha1', kind: 'BaselineAdminNetworkPolicy', metadata: { name: 'default' },
  spec: { subject: { namespaces: p.subject }, ...(p.ingress.length ? { ingress: p.ingress } : {}), ...(p.egress.length ? { egress: p.egress } : {}) },
}));

/**
 * Clusters with policies: 1..2 nodes, namespaces a and b (labels team=x|y), 2..6 pods with app labels
 * (web, db, api) and named ports (http 80, dns 53), 0..3 NetworkPolicies (pod/namespace selectors,
 * ipBlocks, numeric, named and ranged ports, Ingress and/or Egress), 0..2 AdminNetworkPolicies
 * (Allow/Deny/Pass, priorities, namespace and pod peers, ports) and sometimes a
 * BaselineAdminNetworkPolicy. No Services. Shrinks towards fewer pods and no policies.
 */
export function policyCluster(): fc.Arbitrary<GenCluster> {
  return fc.record({
    nodes: fc.integer({ min: 1, max: 2 }),
    nsTeams: fc.tuple(fc.constantFrom('x', 'y'), fc.constantFrom('x', 'y')),
    pods: fc.array(fc.record({ ns: fc.nat({ max: 1 }), node: fc.nat({ max: 1 }), app: fc.constantFrom(...APP) }), { minLength: 2, maxLength: 6 }),
    nps: fc.integer({ min: 0, max: 3 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => networkPolicy(i)))),
    anps: fc.integer({ min: 0, max: 2 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => adminPolicy(i)))),
    banp: fc.option(baselinePolicy, { nil: undefined, freq: 3 }),
  }).map((d) => {
    const nodes = Array.from({ length: d.nodes }, (_, i) => node(i));
    const pods: GenPod[] = d.pods.map((p, i) => {
      const ni = p.node % d.nodes;
      return {
        name: `pod-${i}`, namespace: NS[p.ns], node: nodes[ni].name, ip: `10.244.${ni}.${10 + i}`, labels: { app: p.app },
        ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }], ready: true, terminating: false,
      };
    });
    const policies: Record<string, unknown>[] = [...d.nps, ...d.anps, ...(d.banp ? [d.banp] : [])];
    return described({ nodes, namespaces: NS.map((name, i) => ({ name, labels: { team: d.nsTeams[i] } })), pods, services: [], policies });
  });
}

/** A connection of a policy cluster: source and destination (pod indices, or an external client), protocol and port. */
export interface Connection { src: number | 'external'; dst: number | 'external'; protocol: 'TCP' | 'UDP'; port: number; sport: number }

/** Connections between the pods of a policy cluster (indices taken modulo the pods), sometimes from or to outside. */
export function connection(): fc.Arbitrary<Connection> {
  const party = fc.oneof({ arbitrary: fc.nat({ max: 5 }).map((i): number | 'external' => i), weight: 5 }, { arbitrary: fc.constant<'external'>('external'), weight: 1 });
  return fc.record({
    src: party, dst: party, protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
    port: fc.constantFrom(...POLICY_PORTS, 9000), sport: fc.integer({ min: 1024, max: 65535 }),
  });
}
