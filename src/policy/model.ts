// The normalized policy model: what the Kubernetes loader reads out of
// NetworkPolicy (networking.k8s.io/v1), AdminNetworkPolicy and
// BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1) and
// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2), after validation
// and defaulting. Two consumers read it: the spec evaluator (spec.ts, the
// oracle, written straight from the API documentation) and the compiler
// (compile.ts), which turns it into identities and per-endpoint policy maps.
//
// Conventions follow src/k8s/model.ts: canonical dotted-quad addresses,
// canonical CIDRs (host bits cleared, with a warning from the loader when the
// manifest had them set), every optional field defaulted as the API server
// defaults it, lists sorted deterministically.

import type { CIDR, Protocol, SourceRef } from '../k8s/basics.js';

/**
 * metav1.LabelSelector (the same type the workload parser uses; match with
 * labelSelectorMatches of src/k8s/parse.ts). In policies an empty selector
 * ({}: no labels, no expressions) selects everything.
 */
export type { LabelSelector } from '../k8s/labels.js';
import type { LabelSelector } from '../k8s/labels.js';

/**
 * One port clause. NetworkPolicyPort: protocol defaults to TCP; `port`
 * undefined = every port of the protocol; a string is a named container port
 * (resolved per destination pod, protocol included); `endPort` (numeric `port`
 * only) makes the inclusive range port..endPort.
 * The admin kinds map onto the same shape: ANP portNumber -> {protocol, port},
 * portRange -> {protocol, port: start, endPort: end}, namedPort -> see `anyProtocol`.
 */
export interface PortClause {
  protocol: Protocol;
  port?: number | string;
  endPort?: number;
  /**
   * Named ports of the admin kinds (ANP namedPort, CNP destinationNamedPort)
   * carry no protocol: they match a container port of that name with whatever
   * protocol it has. When true, `port` is a string and `protocol` is ignored.
   */
  anyProtocol?: boolean;
}

// ---------------------------------------------------------------- NetworkPolicy

export type NetworkPolicyPeer =
  /** podSelector and/or namespaceSelector (at least one set). Both set = AND. */
  | { kind: 'selector'; podSelector?: LabelSelector; namespaceSelector?: LabelSelector }
  /** ipBlock: `cidr` minus every `except` (each except is a CIDR inside `cidr`). */
  | { kind: 'ipBlock'; cidr: CIDR; except: CIDR[] };

export interface NetworkPolicyRule {
  /** from (ingress) / to (egress). Empty = every peer, pods and external addresses alike. */
  peers: NetworkPolicyPeer[];
  /** Empty = every port of every protocol. */
  ports: PortClause[];
}

export interface NetworkPolicy {
  namespace: string;
  name: string;
  /** Pods of `namespace` the policy applies to; {} = all of them. */
  podSelector: LabelSelector;
  /**
   * Defaulted as the API server does: as written when given; otherwise
   * ['Ingress'] plus 'Egress' when the egress list is non-empty.
   */
  policyTypes: ('Ingress' | 'Egress')[];
  /** Rules as written (rules of a type not in policyTypes stay here but are ignored by evaluator and compiler). */
  ingress: NetworkPolicyRule[];
  egress: NetworkPolicyRule[];
  source?: SourceRef;
}

// ---------------------------------------------------------------- admin tiers

/** ANP Allow / CNP Accept are both 'Allow'. Baseline rules are never 'Pass'. */
export type AdminAction = 'Allow' | 'Deny' | 'Pass';

/** Subject of an admin policy: every pod of the selected namespaces, or the selected pods of the selected namespaces. */
export type AdminSubject =
  | { kind: 'namespaces'; namespaceSelector: LabelSelector }
  | { kind: 'pods'; namespaceSelector: LabelSelector; podSelector: LabelSelector };

export type AdminPeer =
  | { kind: 'namespaces'; namespaceSelector: LabelSelector }
  | { kind: 'pods'; namespaceSelector: LabelSelector; podSelector: LabelSelector }
  /** egress only: the nodes (their addresses) whose labels match. */
  | { kind: 'nodes'; nodeSelector: LabelSelector }
  /** egress only: any address inside one of the CIDRs (pods included). */
  | { kind: 'networks'; cidrs: CIDR[] };

export interface AdminRule {
  /** rule name as written ('' when unnamed) */
  name: string;
  action: AdminAction;
  /** from / to; at least one. */
  peers: AdminPeer[];
  /** undefined = every port of every protocol. */
  ports?: PortClause[];
}

export interface AdminPolicy {
  /** Which object it came from; BANP and CNP tier Baseline are the Baseline tier. */
  kind: 'AdminNetworkPolicy' | 'BaselineAdminNetworkPolicy' | 'ClusterNetworkPolicy';
  name: string;
  tier: 'Admin' | 'Baseline';
  /** 0..1000, lower is evaluated first. BaselineAdminNetworkPolicy: 0 (a singleton named `default`). */
  priority: number;
  subject: AdminSubject;
  /** In the order written: within a policy the first matching rule decides. */
  ingress: AdminRule[];
  egress: AdminRule[];
  source?: SourceRef;
}

/** Every policy object of a cluster. */
export interface ClusterPolicies {
  networkPolicies: NetworkPolicy[];
  /**
   * Both tiers, sorted by (tier Admin first, priority, kind, name): the order
   * the evaluator and the compiler use. Two admin policies of equal priority
   * whose rules overlap are undefined by the API (the loader warns); dpemu
   * breaks the tie by name.
   */
  adminPolicies: AdminPolicy[];
}

/**
 * Implementation-defined behaviour, as knobs. Defaults are what the upstream
 * e2e suite (test/e2e/network/netpol) expects or, where it is silent, what
 * Cilium does.
 */
export interface PolicyKnobs {
  /** NetworkPolicy ipBlock matches pod addresses too (default true, as the e2e suite expects). */
  ipBlockMatchesPods: boolean;
  /** Egress from a pod to its own node's addresses is always allowed (default false: policy applies). */
  allowEgressToOwnNode: boolean;
  /** Policies do not apply to hostNetwork pods (default true: they are the node). */
  hostNetworkExempt: boolean;
  /**
   * A pod's traffic to itself, directly or hairpinned through a Service, is allowed whatever the
   * policy (default true: Cilium bypasses policy for hairpin flows; the e2e suite expects no drop).
   */
  allowSelf: boolean;
}

export const DEFAULT_POLICY_KNOBS: PolicyKnobs = {
  ipBlockMatchesPods: true,
  allowEgressToOwnNode: false,
  hostNetworkExempt: true,
  allowSelf: true,
};

export function emptyPolicies(): ClusterPolicies {
  return { networkPolicies: [], adminPolicies: [] };
}
