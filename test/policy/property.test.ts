// The compiled maps against the spec evaluator: random namespaces, nodes, pods,
// labels, NetworkPolicies and admin policies; random connections driven as
// real first packets through the core and the reference backend; every
// verdict, drop reason and named rule must be what the spec says.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { Connection } from '../../src/policy/spec.js';
import { KINDS, PolicyHarness, showOutcome, model, ns, policies } from './helpers.js';
import { EXTERNAL, NODES, NS, clusterArb } from './arbitraries.js';

const seen = new Set<string>();
const DEFAULT_SEED = 1;

describe('compiled policy maps agree with the spec evaluator', () => {
  it('on random clusters, policies and connections, on both backends', async () => {
    await fc.assert(fc.asyncProperty(clusterArb, async (c) => {
      const namespaces = NS.map((n, i) => ns(n, c.nsLabels[i]));
      const m = model(namespaces, NODES, c.pods, policies(c.nps, [...c.anps, ...(c.banp ? [c.banp] : [])]));
      const addrs = [...c.pods.map((p) => p.podIP!), '192.168.0.1', '192.168.0.2', ...EXTERNAL];
      const conns: Connection[] = c.conns.map((x) => ({ src: addrs[x.src % addrs.length], dst: addrs[x.dst % addrs.length], protocol: x.protocol,
        port: x.protocol === 'ICMP' ? 0 : x.port }));
      for (const kind of KINDS) {
        const h = await PolicyHarness.create(kind, m, c.knobs);
        const got = h.send(conns);
        const want = h.expect(conns);
        if (kind === 'wasm') for (const w of want) seen.add(showOutcome(w).replace(/ \[.*$/, w.rule ? ` [${w.rule.split(' ')[0]}]` : ''));
        for (let i = 0; i < conns.length; i++) {
          if (showOutcome(got[i]) !== showOutcome(want[i])) {
            throw new Error(`${kind}: ${JSON.stringify(conns[i])}: dataplane ${showOutcome(got[i])}, spec ${showOutcome(want[i])}`);
          }
        }
      }
    }), { numRuns: Number(process.env.POLICY_RUNS ?? 2000), seed: process.env.POLICY_SEED ? Number(process.env.POLICY_SEED) : DEFAULT_SEED });
    // The generator reaches every kind of outcome (so the agreement is not vacuous). Some are rare (an admin
    // policy's Allow deciding a connection): with a random seed a run of 2,000 clusters missed one now and then,
    // so the test runs a fixed seed that reaches them all (POLICY_SEED=N explores others).
    if (process.env.POLICY_SEED === undefined && process.env.POLICY_RUNS === undefined) {
      expect([...seen].sort()).toEqual(expect.arrayContaining([
        'allowed', 'allowed [AdminNetworkPolicy]', 'allowed [BaselineAdminNetworkPolicy]', 'allowed [ClusterNetworkPolicy]',
        'allowed [NetworkPolicy]', 'dropped POLICY_DENIED [isolated]', 'dropped POLICY_DENY [AdminNetworkPolicy]',
        'dropped POLICY_DENY [BaselineAdminNetworkPolicy]', 'dropped POLICY_DENY [ClusterNetworkPolicy]',
      ]));
    }
  }, 600_000);
});
