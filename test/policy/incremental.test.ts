// Incremental policy changes against a full compile: on random clusters, a random sequence of pod
// relabels and NetworkPolicy additions, replacements and deletions is applied to one plan through
// PolicyUpdater (falling back to a full compile when it declines) and, change by change, to another
// through a full compile with its own ids; after every change both give the same policy entries,
// ipcache, subjects, identities and rules. A (reference) dataplane written change by change holds the
// same policy and ipcache maps as one written from the final plan.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { ClusterModel, Pod } from '../../src/k8s/model.js';
import { Allocations, Plan, planCluster, programPlan, resolveCompileOptions } from '../../src/k8s/compile.js';
import { policyStateOf } from '../../src/policy/compile.js';
import { PolicyUpdater, programPolicyDelta } from '../../src/policy/incremental.js';
import type { NetworkPolicy } from '../../src/policy/model.js';
import { createDataplane } from '../../src/node.js';
import { model, ns, policies } from './helpers.js';
import { LABELS, NODES, NS, clusterArb, labelsArb, npArb } from './arbitraries.js';

type Change =
  | { kind: 'relabel'; pod: number; labels: Record<string, string> | number }
  | { kind: 'policy'; slot: number; np: NetworkPolicy | undefined };

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('relabel' as const), pod: fc.nat(), labels: fc.oneof(labelsArb(LABELS), fc.nat()) }),
  fc.record({ kind: fc.constant('policy' as const), slot: fc.nat(4), np: fc.option(npArb(0), { nil: undefined }) }),
);

const contents = (p: Plan) => {
  const pol = p.policy!;
  const sorted = <K, V>(m: Iterable<[K, V]>) => [...m].sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
  return { entries: sorted(pol.entries), ipcache: sorted(pol.ipcache), subjects: sorted(pol.subjects), identities: sorted(pol.identities), rules: sorted(pol.rules) };
};

let fast = 0, total = 0;

describe('incremental policy changes', () => {
  it('give what a full compile gives, after every change of a random sequence', async () => {
    await fc.assert(fc.asyncProperty(clusterArb, fc.array(changeArb, { minLength: 1, maxLength: 8 }), async (c, changes) => {
      let m: ClusterModel = model(NS.map((n, i) => ns(n, c.nsLabels[i])), NODES, c.pods, policies(c.nps, [...c.anps, ...(c.banp ? [c.banp] : [])]));
      const opts = resolveCompileOptions(m, { policyKnobs: c.knobs });
      const allocA = new Allocations(), allocB = new Allocations();
      let planA = planCluster(m, opts, allocA);
      const dp = await createDataplane('reference', { maxPolicy: 4096, maxIpcache: 256 });
      programPlan(dp, planA, undefined, allocA);
      let updater = new PolicyUpdater(policyStateOf(planA.policy!)!);
      planCluster(m, opts, allocB);
      for (const ch of changes) {
        let next: ClusterModel;
        let apply: () => ReturnType<PolicyUpdater['podLabels']>;
        if (ch.kind === 'relabel') {
          const live = m.pods.filter((p) => p.phase === 'Running');
          if (live.length === 0) continue;
          const pod = live[ch.pod % live.length];
          // Half the time the labels of another pod (a relabel the fast path can take).
          const labels = typeof ch.labels === 'number' ? { ...m.pods[ch.labels % m.pods.length].labels } : ch.labels;
          const relabelled: Pod = { ...pod, labels };
          next = { ...m, pods: m.pods.map((p) => (p === pod ? relabelled : p)) };
          apply = () => updater.podLabels(pod.namespace, pod.name, labels);
        } else {
          const name = `np${ch.slot}`;
          const nps = m.policies!.networkPolicies;
          const prev = nps.find((p) => p.name === name);
          const np = ch.np && { ...ch.np, name, namespace: prev?.namespace ?? ch.np.namespace };
          if (!prev && !np) continue;
          const rest = nps.filter((p) => p !== prev);
          next = { ...m, policies: { ...m.policies!, networkPolicies: np ? [...rest, np] : rest } };
          apply = () => updater.networkPolicy(prev, np);
        }
        const want = planCluster(next, opts, allocB);
        const delta = apply();
        total++;
        if (delta) {
          fast++;
          programPolicyDelta(dp, updater.state, delta);
        } else {
          const prevPlan = planA;
          planA = planCluster(next, opts, allocA);
          programPlan(dp, planA, prevPlan, allocA);
          updater = new PolicyUpdater(policyStateOf(planA.policy!)!);
        }
        expect(contents(planA)).toEqual(contents(want));
        m = next;
      }
      // The dataplane written change by change holds what one written from the final plan holds.
      const fresh = await createDataplane('reference', { maxPolicy: 4096, maxIpcache: 256 });
      programPlan(fresh, planA, undefined, allocA);
      const maps = (d: typeof dp) => { const r = d as unknown as { policy: Map<string, unknown>; ipcache: Map<string, unknown> }; return { policy: r.policy, ipcache: r.ipcache }; };
      expect(maps(dp)).toEqual(maps(fresh));
    }), { numRuns: Number(process.env.POLICY_RUNS ?? 200) });
    // Both paths are exercised.
    expect(fast).toBeGreaterThan(total / 4);
    expect(fast).toBeLessThan(total);
  });
});
