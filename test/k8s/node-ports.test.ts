// kube-proxy's NodePort addresses and localhost NodePorts, as the plan (and so every backend and
// `dpemu export`) has them.
import { describe, it, expect } from 'vitest';
import { loadManifests } from '../../src/k8s/load.js';
import { planCluster, resolveCompileOptions, CompileOptions } from '../../src/k8s/compile.js';
import { formatIPv4 } from '../../src/common/ip.js';
import { createTracer, TraceRecord } from '../../src/trace.js';
import type { Design } from '../../src/dataplane.js';

const docs = [
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, spec: { podCIDR: '10.244.0.0/24' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.2' }, { type: 'ExternalIP', address: '198.51.100.2' }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'web' },
    spec: { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080 }] } },
  { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'default', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.5'], nodeName: 'n1' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
];
const model = () => loadManifests([{ path: 'c.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) }]).model;
const nodePortAddrs = (design: Design, o: CompileOptions = {}) => {
  const m = model();
  const plan = planCluster(m, resolveCompileOptions(m, { ...o, design }));
  return [...plan.frontends.values()].filter((f) => f.kind === 'NodePort').map((f) => formatIPv4(f.addr)).sort();
};

describe('NodePort addresses', () => {
  it('unset: every address of the node in iptables and ipvs mode, 127.0.0.1 too in iptables mode', () => {
    expect(nodePortAddrs('iptables')).toEqual(['127.0.0.1', '192.168.0.2', '198.51.100.2']);
    expect(nodePortAddrs('ipvs')).toEqual(['192.168.0.2', '198.51.100.2']);
  });
  it('unset in nftables mode: the primary (InternalIP) address only', () => {
    expect(nodePortAddrs('nftables')).toEqual(['192.168.0.2']);
  });
  it('given: the addresses inside the CIDRs; 127.0.0.1 only when a CIDR holds it', () => {
    expect(nodePortAddrs('iptables', { nodePortAddresses: ['198.51.100.0/24'] })).toEqual(['198.51.100.2']);
    expect(nodePortAddrs('nftables', { nodePortAddresses: ['0.0.0.0/0'] })).toEqual(['192.168.0.2', '198.51.100.2']);
    expect(nodePortAddrs('iptables', { nodePortAddresses: ['127.0.0.0/8', '192.168.0.0/24'] })).toEqual(['127.0.0.1', '192.168.0.2']);
  });
  it('localhostNodePorts false: no 127.0.0.1', () => {
    expect(nodePortAddrs('iptables', { localhostNodePorts: false })).toEqual(['192.168.0.2', '198.51.100.2']);
  });
});

describe('localhostNodePorts in the dataplane (iptables design), both backends alike', () => {
  it('127.0.0.1:NodePort from the node is DNATed to the endpoint and masqueraded to the node address; the nftables design leaves it alone', async () => {
    const packet = { src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 30080, proto: 'TCP' as const, flags: 'S', node: 'n1', t: 1 };
    const out: Record<string, TraceRecord> = {};
    for (const backend of ['wasm', 'reference'] as const) {
      for (const design of ['iptables', 'nftables'] as const) {
        const t = await createTracer(model(), { backend, dataplane: { design } });
        out[`${backend}/${design}`] = t.trace(packet, 1) as TraceRecord;
      }
    }
    const ipt = out['wasm/iptables'];
    expect(ipt.backend).toBe('10.244.0.5:8080');
    expect(ipt.src).toBe('192.168.0.2');
    expect(ipt.frontend?.kind).toBe('NodePort');
    expect(out['wasm/nftables'].backend).toBeNull();
    expect(out['reference/iptables']).toEqual(ipt);
    expect(out['reference/nftables']).toEqual(out['wasm/nftables']);
  });
});

describe('localhost NodePorts under externalTrafficPolicy Local', () => {
  it("the node's own clients take KUBE-EXT's --src-type LOCAL path: every endpoint, masqueraded; outside clients need a local one", async () => {
    const items = [
      ...docs.slice(0, 1),
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2' }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.3' }] } },
      { ...docs[1], spec: { ...(docs[1] as { spec: object }).spec, externalTrafficPolicy: 'Local' } },
      { ...docs[2], endpoints: [{ addresses: ['10.244.1.5'], nodeName: 'n2' }] },
    ];
    const m = loadManifests([{ path: 'c.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) }]).model;
    const out: TraceRecord[][] = [];
    for (const backend of ['wasm', 'reference'] as const) {
      const t = await createTracer(m, { backend, dataplane: { design: 'iptables' } });
      out.push([
        t.trace({ src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 30080, proto: 'TCP', flags: 'S', node: 'n1', t: 1 }, 1) as TraceRecord,
        t.trace({ src: '203.0.113.9', sport: 40001, dst: '192.168.0.2', dport: 30080, proto: 'TCP', flags: 'S', node: 'n1', t: 2 }, 2) as TraceRecord,
      ]);
    }
    const [local, outside] = out[0];
    expect(local.backend).toBe('10.244.1.5:8080');
    expect(local.src).toBe('192.168.0.2');
    expect(outside.verdict).toBe('DROPPED');
    expect(out[1]).toEqual(out[0]);
  });
});
