// EndpointSlice hints.forNodes (trafficDistribution: PreferSameNode), as kube-proxy's topology.go
// applies them, on both backends and in dpemu export.
import { describe, it, expect } from 'vitest';
import { loadManifests } from '../../src/k8s/load.js';
import { createTracer, TraceRecord } from '../../src/trace.js';
import { exportNft } from '../../src/export/nft.js';

const node = (name: string, ip: string, cidr: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'topology.kubernetes.io/zone': 'z1' } },
  spec: { podCIDR: cidr }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
function cluster(hints: (string[] | undefined)[]) {
  const eps = [['10.244.0.5', 'n1'], ['10.244.1.5', 'n2'], ['10.244.1.6', 'n2']].map(([a, n], i) => ({
    addresses: [a], nodeName: n, zone: 'z1', ...(hints[i] ? { hints: { forNodes: hints[i]!.map((x) => ({ name: x })), forZones: [{ name: 'z1' }] } } : {}),
  }));
  const docs = [node('n1', '192.168.0.2', '10.244.0.0/24'), node('n2', '192.168.0.3', '10.244.1.0/24'),
    { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'web' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'default', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4', endpoints: eps, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }];
  return loadManifests([{ path: 'c.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) }]).model;
}

/** Backends chosen for 40 connections from a client on `node` to the cluster IP. */
async function chosen(m: ReturnType<typeof cluster>, backend: 'wasm' | 'reference', from: { node: string; src: string }): Promise<string[]> {
  const t = await createTracer(m, { backend, dataplane: { design: 'nftables', seed: 3 } });
  return Array.from({ length: 40 }, (_, i) =>
    (t.trace({ src: from.src, sport: 2000 + i, dst: '10.96.0.10', dport: 80, proto: 'TCP', flags: 'S', node: from.node, t: 1 + i }, i + 1) as TraceRecord).backend!);
}

describe('hints.forNodes (PreferSameNode)', () => {
  it('every ready endpoint hinted for a node: each node uses the endpoints hinted for it, on both backends', async () => {
    const m = cluster([['n1'], ['n2'], ['n2']]);
    for (const backend of ['wasm', 'reference'] as const) {
      expect(new Set(await chosen(m, backend, { node: 'n1', src: '10.244.0.9' }))).toEqual(new Set(['10.244.0.5:8080']));
      expect(new Set(await chosen(m, backend, { node: 'n2', src: '10.244.1.9' }))).toEqual(new Set(['10.244.1.5:8080', '10.244.1.6:8080']));
    }
    expect(await chosen(m, 'reference', { node: 'n2', src: '10.244.1.9' })).toEqual(await chosen(m, 'wasm', { node: 'n2', src: '10.244.1.9' }));
    // The export is the plan: node n1's service chain holds its one endpoint.
    expect(exportNft(m, { node: 'n1' })).toMatch(/numgen random mod 1 vmap \{ 0 : goto endpoint-\w+-default\/web\/tcp\/http__10\.244\.0\.5\/8080 \}/);
  });
  it('an endpoint without hints turns node (and zone) hints off: every endpoint', async () => {
    const m = cluster([['n1'], ['n2'], undefined]);
    expect(new Set(await chosen(m, 'wasm', { node: 'n1', src: '10.244.0.9' })).size).toBe(3);
  });
  it('no endpoint hinted for the node: every endpoint', async () => {
    const m = cluster([['n2'], ['n2'], ['n2']]);
    expect(new Set(await chosen(m, 'wasm', { node: 'n1', src: '10.244.0.9' })).size).toBe(3);
  });
});
