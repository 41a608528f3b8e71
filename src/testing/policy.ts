// evaluatePolicy: the specification evaluator (src/policy/spec.ts, written from the NetworkPolicy and
// AdminNetworkPolicy API documentation, sharing nothing with the policy compiler) over manifests.
import { loadManifests } from '../k8s/load.js';
import { PolicySpec, type Connection, type Decision } from '../policy/spec.js';
import { DEFAULT_POLICY_KNOBS, type PolicyKnobs } from '../policy/model.js';
import type { ManifestInput } from '../api/types.js';

export type { Connection as PolicyConnection, Decision as PolicyDecision };

const cache = new WeakMap<object, PolicySpec>();

function specOf(manifests: ManifestInput, knobs: Partial<PolicyKnobs>): PolicySpec {
  const key = typeof manifests === 'object' && Object.keys(knobs).length === 0 ? manifests : undefined;
  const hit = key && cache.get(key);
  if (hit) return hit;
  const text = typeof manifests === 'string' ? manifests : (Array.isArray(manifests) ? manifests : [manifests]).map((o) => JSON.stringify(o)).join('\n---\n');
  const { model } = loadManifests([{ path: 'cluster.yaml', text }]);
  const spec = new PolicySpec(model, model.policies ?? { networkPolicies: [], adminPolicies: [] }, { ...DEFAULT_POLICY_KNOBS, ...knobs });
  if (key) cache.set(key, spec);
  return spec;
}

/**
 * What Kubernetes specifies for a connection's first packet in the cluster of `manifests` (YAML/JSON text
 * or objects): allowed or not, and per direction the tier and rule that decided, in words. `dst` is the
 * address after DNAT (a backend, not a cluster IP); `srcAfterSnat` the source the destination sees.
 * Replies are not judged (conntrack lets them through).
 */
export function evaluatePolicy(manifests: ManifestInput, connection: Connection, knobs: Partial<PolicyKnobs> = {}): Decision {
  return specOf(manifests, knobs).decide(connection);
}
