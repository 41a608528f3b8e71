// A NetworkPolicy applied alone is re-planned for the pods it selects (ClusterRuntime.applyNetworkPolicy,
// src/policy/incremental.ts) instead of reloading the cluster. Held to the full reload: the same records,
// policy explanations included, for new connections and for established ones judged again, on both backends.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterRuntime } from '../../src/k8s/runtime.js';
import { loadManifests, ManifestFile } from '../../src/k8s/load.js';
import { limitsForModel } from '../../src/k8s/compile.js';
import { createDataplane } from '../../src/node.js';
import { Tracer, traceTextsJson } from '../../src/tracer.js';
import { Prng } from '../../src/common/prng.js';

const DIR = 'examples/netpol';
const base: ManifestFile[] = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()
  .map((f) => ({ path: join(DIR, f), text: readFileSync(join(DIR, f), 'utf8') }));

const APPS = ['frontend', 'api'];
/** A NetworkPolicy of namespace shop, drawn from a few shapes (ports, peers, directions, a CIDR now and then). */
function policy(rng: Prng, name: string, cidr: boolean): string {
  const app = APPS[rng.next() % APPS.length], peerApp = APPS[rng.next() % APPS.length];
  const port = [8080, 8000, 9090, 'http'][rng.next() % 4];
  const sel = rng.next() % 4 === 0 ? '{}' : `{matchLabels: {app: ${app}}}`;
  const peer = [
    `- podSelector: {matchLabels: {app: ${peerApp}}}`,
    '- namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}',
    '- namespaceSelector: {}',
    '- ipBlock: {cidr: 10.244.0.0/16}', // a policy CIDR: the incremental path declines, the full path runs
  ][cidr ? 3 : rng.next() % 3];
  const dir = rng.next() % 3 === 0 ? 'egress' : 'ingress';
  return `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: shop}
spec:
  podSelector: ${sel}
  policyTypes: [${dir === 'egress' ? 'Egress' : 'Ingress'}]
  ${dir}:
    - ${dir === 'egress' ? 'to' : 'from'}:
        ${peer}
      ports: [{port: ${typeof port === 'number' ? port : `"${port}"`}}]
`;
}

describe('a single NetworkPolicy change, incremental vs full reload', () => {
  it.each(['wasm', 'reference'] as const)('the same records after each of 30 random changes and deletions (%s)', async (backend) => {
    const model = loadManifests(base).model;
    const limits = limitsForModel(model, 4096);
    const [dpA, dpB] = await Promise.all([createDataplane(backend, limits), createDataplane(backend, limits)]);
    const fast = ClusterRuntime.create(dpA, base);
    const full = ClusterRuntime.create(dpB, base, { incremental: false });
    const ta = new Tracer(dpA, fast), tb = new Tracer(dpB, full);
    const pods = model.pods.filter((p) => p.podIP).map((p) => p.podIP!);
    const rng = new Prng(backend === 'wasm' ? 21 : 22);
    let deleted = 0, deletedFast = 0;
    let t = 1, sport = 30000, line = 1;
    // Connections opened once and sent on after every change: established flows are judged again.
    const kept = pods.flatMap((src, i) => pods.filter((_, j) => (i + j) % 3 === 0).map((dst) => ({ src, dst, sport: sport++, dport: [8080, 8000][i % 2] })));
    const round = (flags: string, conns: { src: string; dst: string; sport: number; dport: number }[]) => {
      t += 1;
      const lines = conns.map((c) => ({ text: JSON.stringify({ ...c, flags, t }), line: line++ }));
      const a = traceTextsJson(ta, lines), b = traceTextsJson(tb, lines);
      expect(a).toEqual(b);
      return a;
    };
    round('S', kept);
    let denied = 0, allowed = 0;
    for (let step = 0; step < 30; step++) {
      const name = `p${rng.next() % 4}`;
      const exists = fast.model.policies!.networkPolicies.some((p) => p.namespace === 'shop' && p.name === name);
      const file: ManifestFile = { path: `change-${step}.yaml`, text: policy(rng, name, step % 7 === 6) };
      // now and then a policy is deleted instead, by reference (kubectl delete networkpolicy NAME -n shop)
      const del = exists && step % 5 === 4;
      const ref = { kind: 'NetworkPolicy', namespace: 'shop', name };
      const before = fast.applied.incremental;
      const ra = del ? fast.delete([ref]) : fast.apply([file]), rb = del ? full.delete([ref]) : full.apply([file]);
      if (del && fast.applied.incremental > before) deletedFast++;
      if (del) deleted++;
      expect(ra.objects, `step ${step}`).toEqual(rb.objects);
      expect(ra.policy, `step ${step}`).toEqual(rb.policy);
      round('A', kept);
      const fresh = pods.flatMap((src) => pods.map((dst) => ({ src, dst, sport: sport++, dport: [8080, 8000, 9090][rng.next() % 3] })));
      for (const r of round('S', fresh)) if (r.includes('"DROPPED"')) denied++; else allowed++;
    }
    // Both paths ran, and the changes mattered: some connections were refused, some let through.
    expect(fast.applied.incremental).toBeGreaterThan(10);
    expect(fast.applied.full).toBeGreaterThan(0);
    expect(full.applied.incremental).toBe(0);
    expect(deleted).toBeGreaterThan(0);
    expect(deletedFast).toBeGreaterThan(0); // deletions took the single-policy path too
    expect(denied).toBeGreaterThan(0);
    expect(allowed).toBeGreaterThan(0);
  });
});

// A pod relabelled (its manifest applied again with other labels, as `kubectl label pod` does) moves between
// policy identities and subjects through the policy updater (ClusterRuntime.applyPodLabels) instead of reloading
// the cluster; held to the full reload the same way.
const RELABEL_APPS = ['frontend', 'api', 'db', 'batch'];
const relabelBase = (): ManifestFile[] => [
  { path: 'ns.yaml', text: 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n' },
  { path: 'svc.yaml', text: 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {svc: web}\n  ports: [{port: 80, targetPort: 8080}]\n' },
  { path: 'np.yaml', text: `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{from: [{podSelector: {matchLabels: {app: frontend}}}], ports: [{port: 8080}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: batch-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: batch}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: db}}}]}]
` },
  ...Array.from({ length: 12 }, (_, i) => podFile(i, RELABEL_APPS[i % 4], i % 3 === 0)),
];
function podFile(i: number, app: string, web: boolean, tier?: string): ManifestFile {
  const labels = [`app: ${app}`, ...(web ? ['svc: web'] : []), ...(tier ? [`tier: ${tier}`] : [])].join(', ');
  return { path: `pod-${i}.yaml`, text: `apiVersion: v1\nkind: Pod\nmetadata: {name: pod-${i}, namespace: shop, labels: {${labels}}}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]}\n` };
}

describe('a pod relabelled, incremental vs full reload', () => {
  it.each(['wasm', 'reference'] as const)('the same records after each of 30 random relabels (%s)', async (backend) => {
    const base = relabelBase();
    const model = loadManifests(base).model;
    const limits = limitsForModel(model, 4096);
    const [dpA, dpB] = await Promise.all([createDataplane(backend, limits), createDataplane(backend, limits)]);
    const fast = ClusterRuntime.create(dpA, base);
    const full = ClusterRuntime.create(dpB, base, { incremental: false });
    const ta = new Tracer(dpA, fast), tb = new Tracer(dpB, full);
    const pods = model.pods.filter((p) => p.podIP).map((p) => p.podIP!);
    expect(pods.length).toBe(12);
    const rng = new Prng(backend === 'wasm' ? 31 : 32);
    let t = 1, sport = 30000, line = 1, denied = 0, allowed = 0;
    const kept = pods.flatMap((src) => pods.filter((dst) => dst !== src).map((dst) => ({ src, dst, sport: sport++, dport: 8080 })));
    const round = (flags: string, conns: { src: string; dst: string; sport: number; dport: number }[]) => {
      t += 1;
      const lines = conns.map((c) => ({ text: JSON.stringify({ ...c, flags, t }), line: line++ }));
      const a = traceTextsJson(ta, lines), b = traceTextsJson(tb, lines);
      expect(a).toEqual(b);
      return a;
    };
    round('S', kept);
    for (let step = 0; step < 30; step++) {
      const i = rng.next() % 12;
      // the Service's selector label stays (so its endpoints do not change); now and then it goes, or a label
      // no pod has is added (a new identity): the full path
      const file = podFile(i, RELABEL_APPS[rng.next() % 4], step % 9 === 8 ? i % 3 !== 0 : i % 3 === 0, step % 7 === 6 ? 'x' : undefined);
      const ra = fast.apply([file]), rb = full.apply([file]);
      expect(ra.objects, `step ${step}`).toEqual(rb.objects);
      expect(fast.model.pods.map((p) => p.labels)).toEqual(full.model.pods.map((p) => p.labels));
      round('A', kept);
      const fresh = pods.flatMap((src) => pods.filter((dst) => dst !== src).map((dst) => ({ src, dst, sport: sport++, dport: 8080 })));
      for (const r of round('S', fresh)) if (r.includes('"DROPPED"')) denied++; else allowed++;
    }
    expect(fast.applied.incremental).toBeGreaterThan(5); // relabels that make or empty no identity
    expect(fast.applied.full).toBeGreaterThan(0);
    expect(denied).toBeGreaterThan(0);
    expect(allowed).toBeGreaterThan(0);
  });
});
