// The fast policy compiler against the plain one it replaced (test/policy/oracle/compile-v1.ts, kept
// as it was): on random clusters and policies, and on the benchmark's cluster at a small size, every
// map it writes is the same, entry for entry and in the same order (the order maps are programmed in),
// with the same identity, subject and rule ids, also when ids are kept across a second compile.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { ClusterModel } from '../../src/k8s/model.js';
import { Allocations, planCluster, resolveCompileOptions } from '../../src/k8s/compile.js';
import { compilePolicies, PolicyIds } from '../../src/policy/compile.js';
import { DEFAULT_POLICY_KNOBS, PolicyKnobs } from '../../src/policy/model.js';
import { policyBenchCluster } from '../../src/bench/policy.js';
import * as oracle from './oracle/compile-v1.js';
import { model, ns, policies } from './helpers.js';
import { NODES, NS, clusterArb } from './arbitraries.js';

/** A compiler with its own ids, kept across the models it compiles (as a runtime keeps them). */
function compiler(compile: typeof compilePolicies | typeof oracle.compilePolicies, ids: PolicyIds | oracle.PolicyIds) {
  const identities = new Map<string, number>();
  const identity = (k: string) => { let id = identities.get(k); if (id === undefined) identities.set(k, (id = 256 + identities.size)); return id; };
  return (m: ClusterModel, knobs: PolicyKnobs) => {
    // The cluster's own ipcache (pods, nodes, pod CIDRs), as planCluster gives the policy compiler.
    const bare: ClusterModel = { ...m, policies: undefined };
    const infra = planCluster(bare, resolveCompileOptions(bare), new Allocations()).ipcache;
    return compile({ cluster: m, policies: m.policies!, knobs, infra, identity, ids: ids as PolicyIds & oracle.PolicyIds });
  };
}

/** Every map of a compiled policy, as ordered lists (so that insertion order is compared too). */
const ordered = (c: { ipcache: Iterable<unknown>; entries: Iterable<unknown>; rules: Iterable<unknown>; identities: Iterable<unknown>; subjects: Iterable<unknown> }) => ({
  ipcache: [...c.ipcache], entries: [...c.entries], rules: [...c.rules], identities: [...c.identities], subjects: [...c.subjects],
});

const toModel = (c: fc.Arbitrary<unknown> extends never ? never : typeof clusterArb extends fc.Arbitrary<infer T> ? T : never): ClusterModel =>
  model(NS.map((n, i) => ns(n, c.nsLabels[i])), NODES, c.pods, policies(c.nps, [...c.anps, ...(c.banp ? [c.banp] : [])]));

describe('the policy compiler gives what the plain compiler gave', () => {
  it('on random clusters and policies, twice with ids kept', () => {
    fc.assert(fc.property(clusterArb, clusterArb, (a, b) => {
      const fast = compiler(compilePolicies, new PolicyIds()), plain = compiler(oracle.compilePolicies, new oracle.PolicyIds());
      for (const c of [a, b]) {
        const m = toModel(c);
        const knobs = { ...DEFAULT_POLICY_KNOBS, ...c.knobs };
        expect(ordered(fast(m, knobs))).toEqual(ordered(plain(m, knobs)));
      }
    }), { numRuns: Number(process.env.POLICY_RUNS ?? 300) });
  });

  it('on the benchmark cluster (600 pods, 120 NetworkPolicies, the admin tiers)', () => {
    const m = policyBenchCluster(600, 120, 3);
    const got = compiler(compilePolicies, new PolicyIds())(m, DEFAULT_POLICY_KNOBS);
    const want = compiler(oracle.compilePolicies, new oracle.PolicyIds())(m, DEFAULT_POLICY_KNOBS);
    expect(got.entries.size).toBeGreaterThan(1000); // the case is not trivial
    expect(ordered(got)).toEqual(ordered(want));
  });
});
