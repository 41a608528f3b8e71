// Builders of policy model objects and a harness that compiles a cluster with
// policies into a dataplane (through the k8s compiler's hook) and sends first
// packets, next to the spec evaluator's answer for the same connections.
import type { ClusterModel, ContainerPort, Namespace, Node, Pod, Protocol } from '../../src/k8s/model.js';
import type { AdminPeer, AdminPolicy, AdminRule, AdminSubject, ClusterPolicies, LabelSelector, NetworkPolicy,
  NetworkPolicyPeer, NetworkPolicyRule, PolicyKnobs, PortClause } from '../../src/policy/model.js';
import { DEFAULT_POLICY_KNOBS } from '../../src/policy/model.js';
import { createDataplane, BackendKind } from '../../src/node.js';
import type { Dataplane } from '../../src/dataplane.js';
import { compileCluster, CompiledCluster } from '../../src/k8s/compile.js';
import { dataplanePolicyOptions } from '../../src/policy/compile.js';
import { Connection, Decision, DirectionDecision, PolicySpec } from '../../src/policy/spec.js';
import { formatRule, RuleInfo } from '../../src/policy/explain.js';
import { ip } from '../../src/common/ip.js';
import { DROP, DROP_REASON_NAMES, PROTO, TCP, VERDICT } from '../../src/packet.js';

// ---------------------------------------------------------------- builders

export const sel = (matchLabels: Record<string, string> = {}, matchExpressions: LabelSelector['matchExpressions'] = []): LabelSelector =>
  ({ matchLabels, matchExpressions });
export const ns = (name: string, labels: Record<string, string> = {}): Namespace => ({ name, labels: { 'kubernetes.io/metadata.name': name, ...labels }, implicit: false });
export const node = (name: string, addr: string, podCIDR: string, labels: Record<string, string> = {}): Node => ({
  name, labels: { 'kubernetes.io/hostname': name, ...labels }, internalIP: addr, addresses: [{ type: 'InternalIP', address: addr }],
  podCIDRs: [podCIDR], podCIDRAllocated: false, unschedulable: false, taints: [], ready: true,
});
export const cport = (name: string | undefined, containerPort: number, protocol: Protocol = 'TCP'): ContainerPort =>
  ({ container: 'c', containerPort, protocol, ...(name ? { name } : {}) });
export const pod = (namespace: string, name: string, labels: Record<string, string>, addr: string, nodeName: string, ports: ContainerPort[] = []): Pod => ({
  namespace, name, labels, nodeName, hostNetwork: false, ports, podIP: addr, podIPs: [addr], phase: 'Running', ready: true,
  terminating: false, simulated: true,
});

export const port = (protocol: Protocol, p?: number | string, endPort?: number): PortClause =>
  ({ protocol, ...(p !== undefined ? { port: p } : {}), ...(endPort !== undefined ? { endPort } : {}) });
export const podPeer = (podSelector?: LabelSelector, namespaceSelector?: LabelSelector): NetworkPolicyPeer =>
  ({ kind: 'selector', ...(podSelector ? { podSelector } : {}), ...(namespaceSelector ? { namespaceSelector } : {}) });
export const ipBlock = (cidr: string, except: string[] = []): NetworkPolicyPeer => ({ kind: 'ipBlock', cidr, except });
export const rule = (peers: NetworkPolicyPeer[] = [], ports: PortClause[] = []): NetworkPolicyRule => ({ peers, ports });

/** A NetworkPolicy; policyTypes defaulted as the API server does unless given. */
export function np(namespace: string, name: string, o: { podSelector?: LabelSelector; ingress?: NetworkPolicyRule[]; egress?: NetworkPolicyRule[]; policyTypes?: ('Ingress' | 'Egress')[] }): NetworkPolicy {
  const ingress = o.ingress ?? [], egress = o.egress ?? [];
  const policyTypes = o.policyTypes ?? (egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress']);
  return { namespace, name, podSelector: o.podSelector ?? sel(), policyTypes, ingress, egress };
}

export const nsSubject = (namespaceSelector: LabelSelector = sel()): AdminSubject => ({ kind: 'namespaces', namespaceSelector });
export const podsSubject = (namespaceSelector: LabelSelector, podSelector: LabelSelector): AdminSubject => ({ kind: 'pods', namespaceSelector, podSelector });
export const aRule = (name: string, action: AdminRule['action'], peers: AdminPeer[], ports?: PortClause[]): AdminRule =>
  ({ name, action, peers, ...(ports ? { ports } : {}) });

export function anp(name: string, priority: number, subject: AdminSubject, o: { ingress?: AdminRule[]; egress?: AdminRule[] }): AdminPolicy {
  return { kind: 'AdminNetworkPolicy', name, tier: 'Admin', priority, subject, ingress: o.ingress ?? [], egress: o.egress ?? [] };
}
export function banp(subject: AdminSubject, o: { ingress?: AdminRule[]; egress?: AdminRule[] }): AdminPolicy {
  return { kind: 'BaselineAdminNetworkPolicy', name: 'default', tier: 'Baseline', priority: 0, subject, ingress: o.ingress ?? [], egress: o.egress ?? [] };
}
export function cnp(name: string, tier: 'Admin' | 'Baseline', priority: number, subject: AdminSubject, o: { ingress?: AdminRule[]; egress?: AdminRule[] }): AdminPolicy {
  return { kind: 'ClusterNetworkPolicy', name, tier, priority, subject, ingress: o.ingress ?? [], egress: o.egress ?? [] };
}

export function policies(networkPolicies: NetworkPolicy[] = [], adminPolicies: AdminPolicy[] = []): ClusterPolicies {
  return { networkPolicies, adminPolicies };
}

export function model(namespaces: Namespace[], nodes: Node[], pods: Pod[], p: ClusterPolicies): ClusterModel {
  return {
    config: { serviceCIDR: '10.96.0.0/16', nodePortRange: [30000, 32767], clusterCIDR: '10.0.0.0/16', nodeCIDRMaskSize: 24, maxEndpointsPerSlice: 100 },
    namespaces, nodes, pods, services: [], endpointSlices: [], policies: p,
  };
}

// ---------------------------------------------------------------- outcomes

/** What a user sees of one connection's first packet: verdict, drop reason, and the rule named. */
export interface Outcome { allowed: boolean; drop?: string; rule: string }
/** An outcome as a canonical string (for comparisons and messages). */
export const showOutcome = (o: Outcome) => `${o.allowed ? 'allowed' : `dropped ${o.drop}`}${o.rule ? ` [${o.rule}]` : ''}`;

/** The rule a packet record names, by the compiled rule-id table. */
export function ruleText(info: RuleInfo | undefined): string {
  if (!info) return '';
  return info.kind === 'rule' ? formatRule(info.rule) : `isolated ${info.direction} ${info.policies.join(',')}`;
}

function directionText(d: DirectionDecision | undefined, dir: string): string {
  if (!d) return '';
  if (d.rule) return formatRule(d.rule);
  if (d.verdict === 'denied') return `isolated ${dir} ${d.isolatedBy!.join(',')}`;
  return '';
}

/**
 * The outcome the spec predicts. The packet names the rule of the last direction the dataplane
 * looked up: ingress when the destination is enforced, else egress when the source is.
 */
export function expectedOutcome(d: Decision): Outcome {
  const e = d.egress, i = d.ingress;
  if (e && e.verdict !== 'allow') return { allowed: false, drop: e.verdict === 'deny' ? 'POLICY_DENY' : 'POLICY_DENIED', rule: directionText(e, 'egress') };
  if (i && i.verdict !== 'allow') return { allowed: false, drop: i.verdict === 'deny' ? 'POLICY_DENY' : 'POLICY_DENIED', rule: directionText(i, 'ingress') };
  if (i && i.enforced) return { allowed: true, rule: directionText(i, 'ingress') };
  if (e && e.enforced) return { allowed: true, rule: directionText(e, 'egress') };
  return { allowed: true, rule: '' };
}

const PROTO_OF: Record<Connection['protocol'], number> = { TCP: PROTO.TCP, UDP: PROTO.UDP, SCTP: PROTO.SCTP, ICMP: PROTO.ICMP };

export const SMALL_LIMITS = {
  maxFlows: 512, maxServices: 16, maxFrontends: 64, maxBackends: 16, maxSlots: 64, maxMaglevCells: 64, maxAffinity: 64,
  maxIpcache: 512, maxPolicy: 8192, maxNodes: 8,
};

/** A cluster with policies, compiled into one dataplane. */
export class PolicyHarness {
  private constructor(readonly dp: Dataplane, readonly compiled: CompiledCluster, readonly spec: PolicySpec, readonly m: ClusterModel) {}

  static async create(kind: BackendKind, m: ClusterModel, knobs: Partial<PolicyKnobs> = {}, limits = SMALL_LIMITS): Promise<PolicyHarness> {
    const k = { ...DEFAULT_POLICY_KNOBS, ...knobs };
    const dp = await createDataplane(kind, { ...limits, ...dataplanePolicyOptions(k) });
    const compiled = compileCluster(dp, m, { policyKnobs: k });
    return new PolicyHarness(dp, compiled, new PolicySpec(m, m.policies!, k), m);
  }

  private nodeOf(addr: string): number {
    const p = this.m.pods.find((x) => x.podIPs.includes(addr));
    return p?.nodeName !== undefined ? this.compiled.nodeIdByName.get(p.nodeName) ?? 0 : 0;
  }

  /** First packets of `conns`, as one batch (new flows, distinct source ports). */
  send(conns: Connection[], sportBase = 20000): Outcome[] {
    const batch = this.dp.allocBatch(Math.max(1, conns.length));
    conns.forEach((c, i) => batch.set(i, {
      saddr: ip(c.src), daddr: ip(c.dst), sport: sportBase + i, dport: c.port, proto: PROTO_OF[c.protocol],
      tcpFlags: TCP.SYN, node: this.nodeOf(c.src), len: 60,
    }));
    this.dp.process(batch, conns.length, 1000);
    const rules = this.compiled.plan.policy?.rules;
    return conns.map((_, i) => {
      const r = batch.get(i);
      const allowed = r.verdict === VERDICT.FORWARDED;
      const out: Outcome = { allowed, rule: r.policyRule === 0 ? '' : ruleText(rules?.get(r.policyRule)) || `unknown rule ${r.policyRule}` };
      if (!allowed) out.drop = DROP_REASON_NAMES[r.dropReason];
      return out;
    });
  }

  expect(conns: Connection[]): Outcome[] { return conns.map((c) => expectedOutcome(this.spec.decide(c))); }
}

export const KINDS: BackendKind[] = ['wasm', 'reference'];
export { DROP };
