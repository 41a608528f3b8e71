// The policy oracle of the kit: dpemu's specification evaluator (src/policy/spec.ts), written from the
// NetworkPolicy and AdminNetworkPolicy API documentation and sharing nothing with the policy compiler but
// the model types. Exported so that a user can judge their own dataplane's verdicts by it.

import { loadManifests } from '../k8s/load.js';
import { PolicySpec, Connection } from '../policy/spec.js';
import { DEFAULT_POLICY_KNOBS, PolicyKnobs, emptyPolicies } from '../policy/model.js';

export interface PolicyVerdict {
  allowed: boolean;
  /** The rule (or the isolation) that decided, in words. */
  why: string;
}

/**
 * Whether the policies among `objects` (Kubernetes objects: pods, namespaces, nodes, NetworkPolicies and the
 * admin tiers) allow `connection` (`src` and `dst` addresses, `protocol`, destination `port`), as the
 * specification says: egress of the source, then ingress of the destination.
 */
export function evaluatePolicy(objects: readonly Record<string, unknown>[], connection: Connection, knobs: Partial<PolicyKnobs> = {}): PolicyVerdict {
  const { model } = loadManifests([{ path: 'objects', text: '', documents: [...objects] }]);
  const spec = new PolicySpec(model, model.policies ?? emptyPolicies(), { ...DEFAULT_POLICY_KNOBS, ...knobs });
  const d = spec.decide(connection);
  const parts = (['egress', 'ingress'] as const).flatMap((dir) => {
    const x = d[dir];
    return x && (x.enforced || x.verdict !== 'allow') ? [`${dir} ${x.explanation}`] : [];
  });
  return { allowed: d.allowed, why: parts.join('; ') || 'no policy applies' };
}
