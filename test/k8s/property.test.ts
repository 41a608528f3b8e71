// Property: any valid cluster (random nodes, pods with and without status,
// Deployments, StatefulSets, DaemonSets and Services, written as YAML) loads
// without throwing, and every derived endpoint is a pod that the Service
// selects, with the port the controller would resolve for it.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadManifests } from '../../src/k8s/load.js';
import { checkCluster } from '../../src/k8s/check.js';
import { findPort, selectorMatches, shouldPodBeInEndpoints } from '../../src/k8s/endpoints.js';

const namespace = fc.oneof({ arbitrary: fc.constant('default'), weight: 4 }, { arbitrary: fc.constant('other'), weight: 1 });
const PORT_NAMES = ['http', 'metrics', 'dns'];
const protocol = fc.constantFrom('TCP', 'UDP');

const labels = fc.record({ app: fc.constantFrom('a', 'b', 'c'), tier: fc.option(fc.constantFrom('x', 'y'), { nil: undefined }) })
  .map((l) => (l.tier === undefined ? { app: l.app } : { app: l.app, tier: l.tier }));

const containerPorts = fc.uniqueArray(
  fc.record({ name: fc.constantFrom(...PORT_NAMES), containerPort: fc.integer({ min: 1, max: 65535 }), protocol }),
  { selector: (p) => p.name, maxLength: 3 },
);

const podSpec = (nodes: number) => fc.record({
  ports: containerPorts,
  nodeName: fc.option(fc.constantFrom(...Array.from({ length: nodes }, (_, i) => `n${i}`), 'ghost'), { nil: undefined }),
});

const cluster = fc.integer({ min: 1, max: 3 }).chain((nodes) => fc.record({
  nodes: fc.constant(nodes),
  cordoned: fc.array(fc.boolean(), { minLength: nodes, maxLength: nodes }),
  explicitPods: fc.array(fc.record({
    ns: namespace, labels, spec: podSpec(nodes),
    phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed'),
    hasIP: fc.boolean(), ready: fc.boolean(), deleting: fc.boolean(),
  }), { maxLength: 8 }),
  barePods: fc.array(fc.record({ ns: namespace, labels, ports: containerPorts }), { maxLength: 3 }),
  workloads: fc.array(fc.record({
    kind: fc.constantFrom('Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'),
    ns: namespace, labels, ports: containerPorts,
    replicas: fc.integer({ min: 0, max: 4 }), hostNetwork: fc.boolean(),
  }), { maxLength: 3 }),
  services: fc.array(fc.record({
    ns: namespace,
    type: fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer'),
    headless: fc.boolean(),
    // Mostly single-label selectors, so that they often match; sometimes none (selectorless).
    selector: fc.oneof(
      { arbitrary: fc.record({ app: fc.constantFrom('a', 'b', 'c'), tier: fc.constant(undefined) }), weight: 4 },
      { arbitrary: fc.record({ app: fc.constantFrom('a', 'b', 'c'), tier: fc.constantFrom('x', 'y') }), weight: 1 },
      { arbitrary: fc.constant(undefined), weight: 1 },
    ),
    ports: fc.array(fc.record({
      protocol,
      targetPort: fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom(...PORT_NAMES)),
    }), { minLength: 1, maxLength: 3 }),
    publishNotReadyAddresses: fc.boolean(),
  }), { minLength: 1, maxLength: 4 }),
}));

type Cluster = typeof cluster extends fc.Arbitrary<infer T> ? T : never;

function toYaml(c: Cluster): string {
  const docs: unknown[] = [];
  for (let i = 0; i < c.nodes; i++) {
    docs.push({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: `n${i}`, labels: { 'topology.kubernetes.io/zone': `z${i % 2}` } },
      spec: { podCIDR: `10.${i + 1}.0.0/24`, unschedulable: c.cordoned[i] },
      status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${i + 1}` }] },
    });
  }
  const ports = (ps: { name: string; containerPort: number; protocol: string }[]) => ps.map((p) => ({ ...p }));
  c.explicitPods.forEach((p, i) => {
    const status: Record<string, unknown> = { phase: p.phase, conditions: [{ type: 'Ready', status: p.ready ? 'True' : 'False' }] };
    if (p.hasIP) status.podIP = `10.200.${i}.1`;
    const metadata: Record<string, unknown> = { name: `pod-${i}`, namespace: p.ns, labels: p.labels };
    if (p.deleting) metadata.deletionTimestamp = '2024-05-03T10:00:30Z';
    const spec: Record<string, unknown> = { containers: [{ name: 'c', ports: ports(p.spec.ports) }] };
    if (p.spec.nodeName) spec.nodeName = p.spec.nodeName;
    docs.push({ apiVersion: 'v1', kind: 'Pod', metadata, spec, status });
  });
  c.barePods.forEach((p, i) => {
    docs.push({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `bare-${i}`, namespace: p.ns, labels: p.labels }, spec: { containers: [{ name: 'c', ports: ports(p.ports) }] } });
  });
  c.workloads.forEach((w, i) => {
    const spec: Record<string, unknown> = {
      selector: { matchLabels: { app: w.labels.app } },
      template: { metadata: { labels: w.labels }, spec: { hostNetwork: w.hostNetwork, containers: [{ name: 'c', ports: ports(w.ports) }] } },
    };
    if (w.kind !== 'DaemonSet') spec.replicas = w.replicas;
    if (w.kind === 'StatefulSet') spec.serviceName = 'svc-0';
    docs.push({ apiVersion: 'apps/v1', kind: w.kind, metadata: { name: `w${i}`, namespace: w.ns }, spec });
  });
  c.services.forEach((s, i) => {
    const spec: Record<string, unknown> = {
      type: s.headless ? 'ClusterIP' : s.type,
      ports: s.ports.map((p, j) => ({ name: `p${j}`, port: 1000 + j, protocol: p.protocol, targetPort: p.targetPort })),
      publishNotReadyAddresses: s.publishNotReadyAddresses,
    };
    if (s.headless) spec.clusterIP = 'None';
    if (s.selector) spec.selector = s.selector.tier === undefined ? { app: s.selector.app } : s.selector;
    docs.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: s.ns }, spec });
  });
  return docs.map((d) => stringify(d)).join('---\n');
}

describe('loading random valid clusters', () => {
  it('never throws; derived endpoints are selected pods with the resolved ports and the controller conditions', () => {
    fc.assert(fc.property(cluster, (c) => {
      const { model } = loadManifests([{ path: 'random.yaml', text: toYaml(c) }]);
      const nodeNames = new Set(model.nodes.map((n) => n.name));
      for (const svc of model.services) {
        const slices = model.endpointSlices.filter((s) => s.derived && s.namespace === svc.namespace && s.serviceName === svc.name);
        if (!svc.selector) {
          expect(slices).toEqual([]);
          continue;
        }
        const seen = new Set<string>();
        for (const slice of slices) {
          for (const ep of slice.endpoints) {
            const pod = model.pods.find((p) => p.namespace === svc.namespace && p.name === ep.targetRef?.name);
            expect(pod, `endpoint ${ep.addresses[0]} of ${svc.name} has no pod`).toBeDefined();
            expect(selectorMatches(svc.selector, pod!.labels)).toBe(true);
            expect(pod!.podIPs).toContain(ep.addresses[0]);
            expect(ep.conditions).toEqual({
              ready: svc.publishNotReadyAddresses || (pod!.ready && !pod!.terminating), serving: pod!.ready, terminating: pod!.terminating,
            });
            for (const sp of svc.ports) {
              const resolved = findPort(pod!, sp);
              const inSlice = slice.ports.find((p) => p.name === sp.name && p.protocol === sp.protocol);
              expect(inSlice?.port).toBe(resolved);
            }
            expect(seen.has(pod!.name)).toBe(false);
            seen.add(pod!.name);
          }
        }
        // ... and every pod that should be an endpoint is one.
        const expected = model.pods.filter((p) => p.namespace === svc.namespace && selectorMatches(svc.selector!, p.labels)
          && shouldPodBeInEndpoints(p) && (svc.publishNotReadyAddresses || (p.nodeName !== undefined && nodeNames.has(p.nodeName))));
        expect([...seen].sort()).toEqual(expected.map((p) => p.name).sort());
      }
      // Allocations never collide.
      const ips = model.services.flatMap((s) => s.clusterIPs);
      expect(new Set(ips).size).toBe(ips.length);
      const nodePorts = model.services.flatMap((s) => s.ports.map((p) => p.nodePort).filter((n) => n !== undefined));
      expect(new Set(nodePorts).size).toBe(nodePorts.length);
      const podIPs = model.pods.filter((p) => !p.hostNetwork).flatMap((p) => p.podIPs);
      expect(new Set(podIPs).size).toBe(podIPs.length);
      checkCluster(model);
    }), { numRuns: 300 });
  });
});
