// Names of policy rules and of policy decisions, shared by the spec evaluator
// (spec.ts), the compiler's rule-id table (compile.ts) and `dpemu trace`.

import type { AdminPolicy, NetworkPolicy } from './model.js';

export type Direction = 'ingress' | 'egress';

/** One rule of one policy object. */
export type RuleRef =
  | { kind: 'NetworkPolicy'; namespace: string; name: string; direction: Direction; index: number }
  | { kind: AdminPolicy['kind']; name: string; direction: Direction; index: number; ruleName: string };

/** What a rule-id of the policy map stands for. */
export type RuleInfo =
  | { kind: 'rule'; rule: RuleRef; action: 'Allow' | 'Deny' }
  /** The default of an enforced subject that some NetworkPolicy isolates: nothing allowed it. */
  | { kind: 'isolated'; direction: Direction; policies: string[] };

export function formatRule(r: RuleRef): string {
  if (r.kind === 'NetworkPolicy') return `NetworkPolicy ${r.namespace}/${r.name} ${r.direction}[${r.index}]`;
  return r.ruleName !== ''
    ? `${r.kind} ${r.name} ${r.direction} rule ${JSON.stringify(r.ruleName)}`
    : `${r.kind} ${r.name} ${r.direction}[${r.index}]`;
}

export function npRef(np: NetworkPolicy, direction: Direction, index: number): RuleRef {
  return { kind: 'NetworkPolicy', namespace: np.namespace, name: np.name, direction, index };
}

export function adminRef(ap: AdminPolicy, direction: Direction, index: number): RuleRef {
  const rules = direction === 'ingress' ? ap.ingress : ap.egress;
  return { kind: ap.kind, name: ap.name, direction, index, ruleName: rules[index].name };
}

export function ruleKey(r: RuleRef): string {
  return r.kind === 'NetworkPolicy' ? `NetworkPolicy|${r.namespace}/${r.name}|${r.direction}|${r.index}` : `${r.kind}|${r.name}|${r.direction}|${r.index}`;
}

/** Human explanation of a rule-table entry and the verdict it gave. */
export function formatRuleInfo(info: RuleInfo): string {
  if (info.kind === 'rule') return `${info.action === 'Allow' ? 'allowed' : 'denied'} by ${formatRule(info.rule)}`;
  return `dropped: ${info.direction} isolated by ${info.policies.map((p) => `NetworkPolicy ${p}`).join(', ')}; no rule matched`;
}

/**
 * Order of admin-tier policies (the contract of model.ts ClusterPolicies.adminPolicies): tier
 * Admin before Baseline, then ascending priority, then kind, then name.
 */
export function adminOrder(a: AdminPolicy, b: AdminPolicy): number {
  const tier = (p: AdminPolicy) => (p.tier === 'Admin' ? 0 : 1);
  return tier(a) - tier(b) || a.priority - b.priority || cmp(a.kind, b.kind) || cmp(a.name, b.name);
}

/** NetworkPolicies in the order their rules are named (the union has no order; this picks which to name). */
export function npOrder(a: NetworkPolicy, b: NetworkPolicy): number {
  return cmp(a.namespace, b.namespace) || cmp(a.name, b.name);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
