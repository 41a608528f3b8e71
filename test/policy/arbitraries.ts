// Random clusters with policies (fast-check arbitraries), shared by the property tests of the policy
// compiler: against the spec evaluator (property.test.ts) and against the old compiler (compile-oracle.test.ts).
import fc from 'fast-check';
import type { Protocol } from '../../src/k8s/model.js';
import type { AdminPeer, AdminRule, AdminSubject, LabelSelector, NetworkPolicy, NetworkPolicyPeer, PortClause } from '../../src/policy/model.js';
import { anp, banp, cnp, cport, node, np, pod } from './helpers.js';

export const NS = ['a', 'b', 'c'];
export const NODES = [node('n1', '192.168.0.1', '10.0.1.0/24', { role: 'worker' }), node('n2', '192.168.0.2', '10.0.2.0/24', { role: 'infra' })];
export const PORTS = [53, 80, 443, 8080, 8443, 9000, 9001, 9002, 9003];
export const CIDRS = ['10.0.0.0/16', '10.0.1.0/24', '10.0.1.0/28', '10.0.1.8/29', '10.0.1.12/32', '10.0.2.0/25', '10.0.2.128/25',
  '192.168.0.0/24', '192.168.0.2/32', '203.0.113.0/24', '203.0.113.0/28', '0.0.0.0/0'];
export const EXTERNAL = ['203.0.113.5', '203.0.113.77', '10.0.1.200', '10.0.3.7', '8.8.8.8', '192.168.0.9'];
export const LABELS: Record<string, string[]> = { app: ['web', 'db', 'api'], tier: ['fe', 'be'] };
export const NS_LABELS: Record<string, string[]> = { team: ['x', 'y'], env: ['prod', 'dev'] };

export const labelsArb = (vocab: Record<string, string[]>) =>
  fc.record(Object.fromEntries(Object.entries(vocab).map(([k, vs]) => [k, fc.option(fc.constantFrom(...vs), { nil: undefined })])))
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Record<string, string>);

export const selectorArb = (vocab: Record<string, string[]>): fc.Arbitrary<LabelSelector> => {
  const keys = Object.keys(vocab);
  const expr = fc.constantFrom(...keys).chain((key) => fc.record({
    key: fc.constant(key),
    operator: fc.constantFrom('In', 'NotIn', 'Exists', 'DoesNotExist') as fc.Arbitrary<'In' | 'NotIn' | 'Exists' | 'DoesNotExist'>,
    values: fc.subarray(vocab[key], { minLength: 1 }),
  })).map((e) => (e.operator === 'Exists' || e.operator === 'DoesNotExist' ? { ...e, values: [] } : e));
  return fc.record({
    matchLabels: fc.option(fc.constantFrom(...keys).chain((k) => fc.constantFrom(...vocab[k]).map((v) => ({ [k]: v }))), { nil: undefined }),
    matchExpressions: fc.array(expr, { maxLength: 2 }),
  }).map((s) => ({ matchLabels: s.matchLabels ?? {}, matchExpressions: s.matchExpressions }));
};

export const protoArb = fc.constantFrom<Protocol>('TCP', 'TCP', 'UDP', 'SCTP');
export const portClauseArb: fc.Arbitrary<PortClause> = fc.oneof(
  fc.record({ protocol: protoArb }),
  fc.record({ protocol: protoArb, port: fc.constantFrom(...PORTS) }),
  fc.record({ protocol: protoArb, port: fc.constantFrom('http', 'dns', 'metrics') }),
  fc.record({ protocol: protoArb, port: fc.constantFrom(80, 443, 9000, 9001), endPort: fc.constantFrom(443, 8080, 9002, 9003) })
    .filter((p) => p.endPort >= p.port),
);
export const adminPortArb: fc.Arbitrary<PortClause> = fc.oneof(
  portClauseArb.filter((p) => typeof p.port !== 'string'),
  fc.record({ protocol: fc.constant<Protocol>('TCP'), port: fc.constantFrom('http', 'dns'), anyProtocol: fc.constant(true) }),
);

export const cidrPeerArb: fc.Arbitrary<NetworkPolicyPeer> = fc.constantFrom(...CIDRS).chain((cidr) => {
  const plen = Number(cidr.split('/')[1]);
  const inside = CIDRS.filter((c) => Number(c.split('/')[1]) > plen && containsCidr(cidr, c));
  return fc.subarray(inside, { maxLength: Math.min(2, inside.length) }).map((except) => ({ kind: 'ipBlock' as const, cidr, except }));
});
export const npPeerArb: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  fc.record({ kind: fc.constant('selector' as const), podSelector: selectorArb(LABELS) }),
  fc.record({ kind: fc.constant('selector' as const), namespaceSelector: selectorArb(NS_LABELS) }),
  fc.record({ kind: fc.constant('selector' as const), podSelector: selectorArb(LABELS), namespaceSelector: selectorArb(NS_LABELS) }),
  cidrPeerArb,
);
export const npRuleArb = fc.record({ peers: fc.array(npPeerArb, { maxLength: 2 }), ports: fc.array(portClauseArb, { maxLength: 2 }) });
export const npArb = (i: number): fc.Arbitrary<NetworkPolicy> => fc.record({
  namespace: fc.constantFrom(...NS), podSelector: selectorArb(LABELS),
  ingress: fc.array(npRuleArb, { maxLength: 2 }), egress: fc.array(npRuleArb, { maxLength: 2 }),
  types: fc.constantFrom<('Ingress' | 'Egress')[] | undefined>(undefined, undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']),
}).map((p) => np(p.namespace, `np${i}`, { podSelector: p.podSelector, ingress: p.ingress, egress: p.egress, policyTypes: p.types }));

export const adminPeerArb = (egress: boolean): fc.Arbitrary<AdminPeer> => fc.oneof(
  fc.record({ kind: fc.constant('namespaces' as const), namespaceSelector: selectorArb(NS_LABELS) }),
  fc.record({ kind: fc.constant('pods' as const), namespaceSelector: selectorArb(NS_LABELS), podSelector: selectorArb(LABELS) }),
  ...(egress ? [
    fc.record({ kind: fc.constant('nodes' as const), nodeSelector: selectorArb({ role: ['worker', 'infra'] }) }),
    fc.record({ kind: fc.constant('networks' as const), cidrs: fc.subarray(CIDRS, { minLength: 1, maxLength: 2 }) }),
  ] : []),
);
export const adminRuleArb = (egress: boolean, baseline: boolean, i: number): fc.Arbitrary<AdminRule> => fc.record({
  action: baseline ? fc.constantFrom<AdminRule['action']>('Allow', 'Deny') : fc.constantFrom<AdminRule['action']>('Allow', 'Deny', 'Pass'),
  peers: fc.array(adminPeerArb(egress), { minLength: 1, maxLength: 2 }),
  ports: fc.option(fc.array(adminPortArb, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  named: fc.boolean(),
}).map((r) => ({ name: r.named ? `r${i}` : '', action: r.action, peers: r.peers, ...(r.ports ? { ports: r.ports } : {}) }));
export const subjectArb: fc.Arbitrary<AdminSubject> = fc.oneof(
  fc.record({ kind: fc.constant('namespaces' as const), namespaceSelector: selectorArb(NS_LABELS) }),
  fc.record({ kind: fc.constant('pods' as const), namespaceSelector: selectorArb(NS_LABELS), podSelector: selectorArb(LABELS) }),
);
export const adminArb = (i: number, baseline: boolean) => fc.record({
  subject: subjectArb,
  priority: fc.integer({ min: 0, max: 3 }),
  ingress: fc.array(fc.nat(9).chain((k) => adminRuleArb(false, baseline, k)), { maxLength: 2 }),
  egress: fc.array(fc.nat(9).chain((k) => adminRuleArb(true, baseline, k)), { maxLength: 2 }),
  clusterKind: fc.boolean(),
}).map((a) => baseline
  ? (a.clusterKind ? cnp(`base${i}`, 'Baseline', a.priority, a.subject, a) : banp(a.subject, a))
  : (a.clusterKind ? cnp(`cnp${i}`, 'Admin', a.priority, a.subject, a) : anp(`anp${i}`, a.priority, a.subject, a)));

export const podArb = (i: number) => fc.record({
  ns: fc.constantFrom(...NS), labels: labelsArb(LABELS), node: fc.nat(1),
  done: fc.nat(9).map((x) => x === 0), // a finished pod has given its address back
  ports: fc.subarray([cport('http', 8080), cport('http', 8080, 'UDP'), cport('dns', 53, 'UDP'), cport('dns', 53), cport('metrics', 9001), cport(undefined, 80)], { maxLength: 2 }),
}).map((p) => ({
  ...pod(p.ns, `p${i}`, p.labels, `10.0.${p.node + 1}.${[5, 9, 12, 130, 140, 20][i]}`, `n${p.node + 1}`,
    // a pod has each port name once
    p.ports.filter((c, k) => !c.name || p.ports.findIndex((d) => d.name === c.name) === k)),
  ...(p.done ? { phase: 'Succeeded' as const } : {}),
}));

export const clusterArb = fc.record({
  nsLabels: fc.tuple(labelsArb(NS_LABELS), labelsArb(NS_LABELS), labelsArb(NS_LABELS)),
  pods: fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => podArb(i)))),
  nps: fc.integer({ min: 0, max: 3 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => npArb(i)))),
  anps: fc.integer({ min: 0, max: 2 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => adminArb(i, false)))),
  banp: fc.option(adminArb(0, true), { nil: undefined, freq: 2 }),
  knobs: fc.record({ ipBlockMatchesPods: fc.boolean(), allowEgressToOwnNode: fc.boolean(), allowSelf: fc.boolean() }),
  conns: fc.array(fc.record({ src: fc.nat(20), dst: fc.nat(20), protocol: fc.oneof({ weight: 9, arbitrary: protoArb }, { weight: 1, arbitrary: fc.constant('ICMP' as const) }),
    port: fc.constantFrom(...PORTS) }), { minLength: 8, maxLength: 24 }),
});

export function containsCidr(outer: string, inner: string): boolean {
  const n = (s: string) => s.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const [oa, ol] = outer.split('/'), [ia] = inner.split('/');
  const plen = Number(ol);
  if (plen === 0) return true;
  const shift = 2 ** (32 - plen);
  return Math.floor(n(oa) / shift) === Math.floor(n(ia) / shift);
}
