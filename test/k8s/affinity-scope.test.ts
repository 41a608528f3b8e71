// ClientIP session affinity shared by a service port's frontends (kube-proxy) or kept per entry (the
// ebpf and ipvs designs' default), on both backends.
import { describe, it, expect } from 'vitest';
import { loadManifests } from '../../src/k8s/load.js';
import { createTracer, TraceRecord } from '../../src/trace.js';
import type { Design } from '../../src/dataplane.js';
import type { CompileOptions } from '../../src/k8s/compile.js';

const docs = [
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDR: '10.244.0.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.2' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'web' },
    spec: { type: 'NodePort', clusterIP: '10.96.0.10', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080 }] } },
  { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'default', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', endpoints: ['10.244.0.5', '10.244.0.6', '10.244.0.7', '10.244.0.8'].map((a) => ({ addresses: [a], nodeName: 'n1' })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
];
const model = () => loadManifests([{ path: 'c.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) }]).model;

/** For 40 clients: the backend through the NodePort, then through the cluster IP. */
async function pairs(backend: 'wasm' | 'reference', design: Design, compile: CompileOptions = {}): Promise<[string, string][]> {
  const t = await createTracer(model(), { backend, dataplane: { design, seed: 7 }, compile });
  const out: [string, string][] = [];
  for (let i = 0; i < 40; i++) {
    const src = `203.0.113.${10 + i}`;
    const a = t.trace({ src, sport: 1000, dst: '192.168.0.2', dport: 30080, proto: 'TCP', flags: 'S', node: 'n1', t: 1 + i }, 2 * i + 1) as TraceRecord;
    const b = t.trace({ src, sport: 1001, dst: '10.96.0.10', dport: 80, proto: 'TCP', flags: 'S', node: 'n1', t: 1.5 + i }, 2 * i + 2) as TraceRecord;
    out.push([a.backend!, b.backend!]);
  }
  return out;
}

describe('session affinity scope', () => {
  it('iptables and nftables: a client keeps its endpoint across the NodePort and the cluster IP (one recent list per endpoint)', async () => {
    for (const design of ['iptables', 'nftables'] as const) {
      const w = await pairs('wasm', design);
      expect(w.every(([a, b]) => a === b), design).toBe(true);
      expect(new Set(w.map(([a]) => a)).size, design).toBeGreaterThan(1);
      expect(await pairs('reference', design)).toEqual(w);
    }
  });
  it("ebpf (and affinityScope 'entry'): each entry keeps its own, so some clients get another endpoint through the cluster IP", async () => {
    const e = await pairs('wasm', 'ebpf');
    expect(e.some(([a, b]) => a !== b)).toBe(true);
    expect(await pairs('reference', 'ebpf')).toEqual(e);
    const i = await pairs('wasm', 'iptables', { affinityScope: 'entry' });
    expect(i.some(([a, b]) => a !== b)).toBe(true);
    expect(await pairs('reference', 'iptables', { affinityScope: 'entry' })).toEqual(i);
  });
});
