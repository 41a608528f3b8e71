// Synthetic network policies for the benchmarks (issue 5, the "policies" dimension), written through the
// low-level Dataplane API (ipcache flags + policy map entries) until the policy compiler lands; this is the
// one place to swap for it.
//
// With N > 0 policies, every backend pod of the synthetic cluster is isolated for ingress
// (IPC_FLAG.ENFORCE_INGRESS on its ipcache entry: a NetworkPolicy selects it). Policy p (0..N-1) selects
// the backend pods of the services s with s % N == p and allows, from each of the client identities
// (synthesize() gives clients 16 identities), TCP to the backend port: one identity+port ALLOW entry per
// (selected pod, client identity), rule id p + 1. Every benchmark packet is therefore allowed (the
// scenarios check each one is FORWARDED), and each new flow performs a real ingress policy check
// (policy.ts: six probes). Clients are not isolated: one check per new flow, as in a cluster where only
// the servers carry policies.

import type { Dataplane, Limits } from '../dataplane.js';
import { DIR, IPC_FLAG, POLICY_VERDICT } from '../dataplane.js';
import type { SyntheticCluster } from '../controlplane/synthetic.js';
import { PROTO } from '../packet.js';

/** The distinct client identities of a synthetic cluster, in ascending order. */
function clientIdentities(c: SyntheticCluster): number[] {
  return [...new Set(c.clients.map((p) => p.identity))].sort((a, b) => a - b);
}

/** Policy map entries `programSyntheticPolicies` writes for `policies` policies. */
export function syntheticPolicyEntries(c: SyntheticCluster, policies: number): number {
  if (policies <= 0) return 0;
  return c.backendPods.length * clientIdentities(c).length;
}

/** Limits the policies need on top of limitsFor(): room for every entry (the map is kept at most half full inside). */
export function syntheticPolicyLimits(c: SyntheticCluster, policies: number): Partial<Limits> {
  const n = syntheticPolicyEntries(c, policies);
  return n > 0 ? { maxPolicy: Math.max(1024, n) } : {};
}

/**
 * Program `policies` synthetic ingress policies into `dp` (after program(dp, c)). Returns the number of
 * policy entries written.
 */
export function programSyntheticPolicies(dp: Dataplane, c: SyntheticCluster, policies: number): number {
  if (!(Number.isInteger(policies) && policies >= 0)) throw new RangeError(`policies: ${policies} is not a non-negative integer`);
  if (policies === 0) return 0;
  const identities = clientIdentities(c);
  const podByAddr = new Map(c.backendPods.map((p) => [p.addr, p]));
  let entries = 0;
  for (const s of c.services) {
    const rule = (s.index % policies) + 1;
    for (const id of s.backends) {
      const b = c.backends[id];
      const pod = podByAddr.get(b.addr)!;
      dp.upsertIpcache(pod.addr, 32, { identity: pod.identity, endpoint: pod.endpoint, node: pod.node, flags: IPC_FLAG.POD | IPC_FLAG.ENFORCE_INGRESS });
      for (const identity of identities) {
        dp.upsertPolicy({ endpoint: pod.endpoint, identity, port: b.port, proto: PROTO.TCP, dir: DIR.INGRESS }, { rule, verdict: POLICY_VERDICT.ALLOW });
        entries++;
      }
    }
  }
  dp.policyChanged();
  return entries;
}
