// The spec evaluator: the oracle of the policy compiler. Given the cluster
// (namespaces, nodes, pods), its policies, the knobs and one connection, it
// says what Kubernetes specifies, written straight from the API documentation
// with no cleverness and nothing shared with the compiler but the model types
// and the rule names (explain.ts). Sources:
// - networking.k8s.io/v1 NetworkPolicy API reference and
//   kubernetes.io/docs/concepts/services-networking/network-policies
// - sigs.k8s.io/network-policy-api: AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1),
//   ClusterNetworkPolicy (v1alpha2), and their NPEP "Pass" / tier semantics.
//
// Per direction (egress of the source pod, ingress of the destination pod):
//   1. the Admin tier, policies in ascending priority (ties: kind, name); within one policy the
//      first rule (in order) whose peers and ports match: Allow / Deny decide, Pass skips the rest
//      of the Admin tier and goes to step 2;
//   2. NetworkPolicy: a pod selected by a policy whose policyTypes has the direction is isolated;
//      an isolated pod allows what any rule of those policies allows (a union, no order) and
//      nothing else;
//   3. when no NetworkPolicy isolates the pod, the Baseline tier, first matching rule decides;
//   4. otherwise allowed.
// Before that: a pod's own node may always reach it (ingress); the knobs decide self traffic and
// egress to the pod's own node. Replies of allowed connections are not judged (conntrack).

import type { Namespace, Node, Pod, Protocol } from '../k8s/model.js';
import type { AdminPeer, AdminPolicy, AdminRule, ClusterPolicies, LabelSelector, NetworkPolicy, NetworkPolicyPeer,
  NetworkPolicyRule, PolicyKnobs, PortClause } from './model.js';
import { adminOrder, adminRef, Direction, npOrder, npRef, RuleRef, formatRule } from './explain.js';

/** What the evaluator needs of the cluster. */
export interface PolicyCluster {
  namespaces: Namespace[];
  nodes: Node[];
  pods: Pod[];
}

/**
 * One connection as the dataplane sees it: source and destination addresses (the destination
 * after DNAT, i.e. a Service's backend), protocol and destination port. `srcAfterSnat` is the
 * source the destination sees when the connection was masqueraded (default `src`).
 */
export interface Connection { src: string; dst: string; protocol: Protocol | 'ICMP'; port: number; srcAfterSnat?: string }

/** Who has an address. */
export type Party =
  | { kind: 'pod'; pod: Pod }
  | { kind: 'node'; node: Node }
  | { kind: 'external' };

export interface DirectionDecision {
  /** allow; deny (an admin Deny rule); denied (isolated by NetworkPolicy, no rule allowed it). */
  verdict: 'allow' | 'deny' | 'denied';
  /** Which tier decided ('none': nothing selects the pod or every tier passed: allowed). */
  tier: 'Admin' | 'NetworkPolicy' | 'Baseline' | 'none' | 'exempt';
  /** The rule that allowed or denied. */
  rule?: RuleRef;
  /** Admin Pass rule that sent the decision down to the NetworkPolicy tier. */
  passedBy?: RuleRef;
  /** denied: the isolating NetworkPolicies ("ns/name"). */
  isolatedBy?: string[];
  /**
   * Whether some policy selects the pod in this direction (a NetworkPolicy isolating it, or an
   * admin policy with rules of this direction): the dataplane then looks the connection up.
   */
  enforced: boolean;
  explanation: string;
}

export interface Decision {
  allowed: boolean;
  /** Egress of the source pod (undefined when the source is not a pod). */
  egress?: DirectionDecision;
  /** Ingress of the destination pod (undefined when the destination is not a pod, or egress already dropped it). */
  ingress?: DirectionDecision;
}

// ---------------------------------------------------------------- small facts

/** metav1.LabelSelector: every matchLabels pair, and every expression (NotIn and DoesNotExist hold when the key is absent). */
export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const key of Object.keys(sel.matchLabels)) {
    if (!(key in labels) || labels[key] !== sel.matchLabels[key]) return false;
  }
  for (const e of sel.matchExpressions) {
    const present = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === 'In' && !(present && e.values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && present && e.values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !present) return false;
    if (e.operator === 'DoesNotExist' && present) return false;
  }
  return true;
}

function ipToNumber(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [base, len] = cidr.split('/');
  const bits = Number(len);
  if (bits === 0) return true;
  const mask = (0xffffffff << (32 - bits)) >>> 0;
  return ((ipToNumber(base) & mask) >>> 0) === ((ipToNumber(ip) & mask) >>> 0);
}

/** Pods that take part in policy: they have an address of their own (not hostNetwork, not finished). */
export function policyPods(pods: Pod[]): Pod[] {
  return pods.filter((p) => !p.hostNetwork && p.phase !== 'Succeeded' && p.phase !== 'Failed' && p.podIPs.length > 0);
}

/** The address the dataplane knows a node by: its InternalIP, else its first address. */
export function nodeAddressOf(n: Node): string | undefined {
  return n.internalIP ?? n.addresses[0]?.address;
}

export class PolicySpec {
  private readonly pods: Pod[];
  private readonly nsLabels = new Map<string, Record<string, string>>();
  private readonly adminTier: AdminPolicy[];
  private readonly baselineTier: AdminPolicy[];
  private readonly networkPolicies: NetworkPolicy[];

  constructor(readonly cluster: PolicyCluster, readonly policies: ClusterPolicies, readonly knobs: PolicyKnobs) {
    if (!knobs.hostNetworkExempt) throw new Error('policy knob hostNetworkExempt=false is not supported: hostNetwork pods are their node');
    this.pods = policyPods(cluster.pods);
    for (const ns of cluster.namespaces) this.nsLabels.set(ns.name, ns.labels);
    const admin = [...policies.adminPolicies].sort(adminOrder);
    this.adminTier = admin.filter((p) => p.tier === 'Admin');
    this.baselineTier = admin.filter((p) => p.tier === 'Baseline');
    this.networkPolicies = [...policies.networkPolicies].sort(npOrder);
  }

  private namespaceLabels(ns: string): Record<string, string> { return this.nsLabels.get(ns) ?? {}; }

  /** Who has `ip`: a pod (the first listed), a node (by its dataplane address), or nobody in the cluster. */
  party(ip: string): Party {
    const pod = this.pods.find((p) => p.podIPs.includes(ip));
    const node = this.cluster.nodes.find((n) => nodeAddressOf(n) === ip);
    if (node) return { kind: 'node', node }; // a node's address is the node's, even when a pod claims it
    if (pod) return { kind: 'pod', pod };
    return { kind: 'external' };
  }

  // ------------------------------------------------------------ ports

  /**
   * NetworkPolicyPort / admin port: protocol (default TCP, already defaulted in the model); no port =
   * every port of it; a name = a container port of the destination pod with that name and protocol;
   * endPort = the inclusive range. Admin named ports carry no protocol: the container port's own.
   */
  private portMatches(pc: PortClause, protocol: string, port: number, dstPod: Pod | undefined): boolean {
    if (pc.anyProtocol) {
      if (!dstPod) return false;
      return dstPod.ports.some((c) => c.name === pc.port && c.protocol === protocol && c.containerPort === port);
    }
    if (pc.protocol !== protocol) return false;
    if (pc.port === undefined) return true;
    if (typeof pc.port === 'string') {
      if (!dstPod) return false;
      return dstPod.ports.some((c) => c.name === pc.port && c.protocol === protocol && c.containerPort === port);
    }
    if (pc.endPort !== undefined) return port >= pc.port && port <= pc.endPort;
    return port === pc.port;
  }

  // ------------------------------------------------------------ NetworkPolicy

  private npSelects(np: NetworkPolicy, pod: Pod): boolean {
    return np.namespace === pod.namespace && selectorMatches(np.podSelector, pod.labels);
  }

  private npPeerMatches(np: NetworkPolicy, peer: NetworkPolicyPeer, who: Party, ip: string): boolean {
    if (peer.kind === 'ipBlock') {
      if (who.kind === 'pod' && !this.knobs.ipBlockMatchesPods) return false;
      return cidrContains(peer.cidr, ip) && !peer.except.some((e) => cidrContains(e, ip));
    }
    // podSelector / namespaceSelector: pods only, never external addresses or nodes.
    if (who.kind !== 'pod') return false;
    const pod = who.pod;
    const nsOk = peer.namespaceSelector
      ? selectorMatches(peer.namespaceSelector, this.namespaceLabels(pod.namespace))
      : pod.namespace === np.namespace; // podSelector alone: the policy's own namespace
    const podOk = peer.podSelector ? selectorMatches(peer.podSelector, pod.labels) : true;
    return nsOk && podOk;
  }

  private npRuleMatches(np: NetworkPolicy, rule: NetworkPolicyRule, who: Party, ip: string, protocol: string, port: number, dstPod: Pod | undefined): boolean {
    const peerOk = rule.peers.length === 0 || rule.peers.some((p) => this.npPeerMatches(np, p, who, ip));
    const portOk = rule.ports.length === 0 || rule.ports.some((pc) => this.portMatches(pc, protocol, port, dstPod));
    return peerOk && portOk;
  }

  // ------------------------------------------------------------ admin tiers

  private adminSelects(ap: AdminPolicy, pod: Pod): boolean {
    if (!selectorMatches(ap.subject.namespaceSelector, this.namespaceLabels(pod.namespace))) return false;
    return ap.subject.kind === 'namespaces' || selectorMatches(ap.subject.podSelector, pod.labels);
  }

  private adminPeerMatches(peer: AdminPeer, who: Party, ip: string): boolean {
    switch (peer.kind) {
      case 'namespaces':
        return who.kind === 'pod' && selectorMatches(peer.namespaceSelector, this.namespaceLabels(who.pod.namespace));
      case 'pods':
        return who.kind === 'pod' && selectorMatches(peer.namespaceSelector, this.namespaceLabels(who.pod.namespace))
          && selectorMatches(peer.podSelector, who.pod.labels);
      case 'nodes':
        return who.kind === 'node' && selectorMatches(peer.nodeSelector, who.node.labels);
      case 'networks':
        return peer.cidrs.some((c) => cidrContains(c, ip)); // any address, pods included
    }
  }

  private adminRuleMatches(rule: AdminRule, who: Party, ip: string, protocol: string, port: number, dstPod: Pod | undefined): boolean {
    const peerOk = rule.peers.some((p) => this.adminPeerMatches(p, who, ip));
    const portOk = rule.ports === undefined || rule.ports.some((pc) => this.portMatches(pc, protocol, port, dstPod));
    return peerOk && portOk;
  }

  /** First matching rule of a tier's policies selecting `pod`, in order. */
  private firstAdminMatch(tier: AdminPolicy[], pod: Pod, dir: Direction, who: Party, ip: string, protocol: string, port: number, dstPod: Pod | undefined):
    { policy: AdminPolicy; index: number; rule: AdminRule } | undefined {
    for (const ap of tier) {
      if (!this.adminSelects(ap, pod)) continue;
      const rules = dir === 'ingress' ? ap.ingress : ap.egress;
      for (let i = 0; i < rules.length; i++) {
        if (this.adminRuleMatches(rules[i], who, ip, protocol, port, dstPod)) return { policy: ap, index: i, rule: rules[i] };
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------ one direction

  /**
   * The decision for `pod` in `dir` about traffic with the peer at `peerIp` (the destination for
   * egress, the source for ingress), to `port`/`protocol` of `dstPod` (the pod whose named ports count).
   */
  decideDirection(pod: Pod, dir: Direction, peerIp: string, protocol: string, port: number, dstPod: Pod | undefined): DirectionDecision {
    const who = this.party(peerIp);
    const type = dir === 'ingress' ? 'Ingress' : 'Egress';
    const isolating = this.networkPolicies.filter((np) => this.npSelects(np, pod) && np.policyTypes.includes(type));
    const hasAdminRules = [...this.adminTier, ...this.baselineTier].some((ap) =>
      this.adminSelects(ap, pod) && (dir === 'ingress' ? ap.ingress : ap.egress).length > 0);
    const enforced = isolating.length > 0 || hasAdminRules;

    // 1. Admin tier.
    const admin = this.firstAdminMatch(this.adminTier, pod, dir, who, peerIp, protocol, port, dstPod);
    let passedBy: RuleRef | undefined;
    if (admin) {
      const rule = adminRef(admin.policy, dir, admin.index);
      if (admin.rule.action === 'Allow') return { verdict: 'allow', tier: 'Admin', rule, enforced, explanation: `allowed by ${formatRule(rule)}` };
      if (admin.rule.action === 'Deny') return { verdict: 'deny', tier: 'Admin', rule, enforced, explanation: `denied by ${formatRule(rule)}` };
      passedBy = rule;
    }
    const passed = passedBy ? { passedBy } : {};

    // 2. NetworkPolicy: isolated pods allow the union of their policies' rules of this direction.
    if (isolating.length > 0) {
      for (const np of isolating) {
        const rules = dir === 'ingress' ? np.ingress : np.egress;
        for (let i = 0; i < rules.length; i++) {
          if (this.npRuleMatches(np, rules[i], who, peerIp, protocol, port, dstPod)) {
            const rule = npRef(np, dir, i);
            return { verdict: 'allow', tier: 'NetworkPolicy', rule, ...passed, enforced, explanation: `allowed by ${formatRule(rule)}` };
          }
        }
      }
      const names = isolating.map((np) => `${np.namespace}/${np.name}`);
      return { verdict: 'denied', tier: 'NetworkPolicy', isolatedBy: names, ...passed, enforced,
        explanation: `dropped: ${dir} isolated by ${names.map((n) => `NetworkPolicy ${n}`).join(', ')}; no rule matched` };
    }

    // 3. Baseline tier (a Pass there ends the tier: allowed by default).
    const base = this.firstAdminMatch(this.baselineTier, pod, dir, who, peerIp, protocol, port, dstPod);
    if (base && base.rule.action !== 'Pass') {
      const rule = adminRef(base.policy, dir, base.index);
      if (base.rule.action === 'Allow') return { verdict: 'allow', tier: 'Baseline', rule, ...passed, enforced, explanation: `allowed by ${formatRule(rule)}` };
      return { verdict: 'deny', tier: 'Baseline', rule, ...passed, enforced, explanation: `denied by ${formatRule(rule)}` };
    }

    // 4. Nothing decided: allowed.
    return { verdict: 'allow', tier: 'none', ...passed, enforced, explanation: `allowed: no policy isolates the pod in ${dir}` };
  }

  // ------------------------------------------------------------ a connection

  /** The verdict on a connection's first packet (its replies follow it through conntrack). */
  decide(c: Connection): Decision {
    const protocol = c.protocol;
    const src = this.party(c.src), dst = this.party(c.dst);
    const dstPod = dst.kind === 'pod' ? dst.pod : undefined;
    const exempt = (why: string): DirectionDecision => ({ verdict: 'allow', tier: 'exempt', enforced: false, explanation: why });
    // A pod's traffic to itself (directly, or hairpinned through a Service): the allowSelf knob.
    if (this.knobs.allowSelf && c.src === c.dst) {
      const e = exempt('allowed: a pod\'s traffic to itself (allowSelf)');
      return { allowed: true, egress: src.kind === 'pod' ? e : undefined, ingress: dst.kind === 'pod' ? e : undefined };
    }
    const out: Decision = { allowed: true };
    if (src.kind === 'pod') {
      const ownNode = this.knobs.allowEgressToOwnNode && dst.kind === 'node' && dst.node.name === src.pod.nodeName;
      out.egress = ownNode
        ? exempt('allowed: egress to the pod\'s own node (allowEgressToOwnNode)')
        : this.decideDirection(src.pod, 'egress', c.dst, protocol, c.port, dstPod);
      if (out.egress.verdict !== 'allow') { out.allowed = false; return out; }
    }
    if (dstPod) {
      const seen = c.srcAfterSnat ?? c.src;
      const from = this.party(seen);
      // "traffic to and from the node where a Pod is running is always allowed" (ingress from it).
      out.ingress = from.kind === 'node' && from.node.name === dstPod.nodeName
        ? exempt('allowed: from the pod\'s own node')
        : this.decideDirection(dstPod, 'ingress', seen, protocol, c.port, dstPod);
      if (out.ingress.verdict !== 'allow') out.allowed = false;
    }
    return out;
  }
}
