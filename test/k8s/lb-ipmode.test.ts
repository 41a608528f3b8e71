// status.loadBalancer.ingress[].ipMode: Proxy means kube-proxy programs nothing for that address
// (the load balancer sends the traffic to the nodes itself); VIP (or unset) is DNATed. Both backends.
import { describe, it, expect } from 'vitest';
import { createTracer, TraceRecord } from '../../src/trace.js';
import { loadManifests } from '../../src/k8s/load.js';
import { exportIptables } from '../../src/export/iptables.js';

const CLUSTER = (ipMode: string) => `
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 192.168.10.1}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, clusterIP: 10.96.0.20, ports: [{name: http, port: 80, protocol: TCP, nodePort: 30080}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10, ipMode: VIP}, {ip: 203.0.113.11, ipMode: ${ipMode}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5], nodeName: node-1}]
ports: [{name: http, port: 8080, protocol: TCP}]
`;

describe('LoadBalancer ingress ipMode', () => {
  for (const backend of ['wasm', 'reference'] as const) {
    it(`Proxy: no DNAT for that address; VIP: DNAT (${backend})`, async () => {
      const tracer = await createTracer([{ path: 'c.yaml', text: CLUSTER('Proxy') }], { backend });
      const send = (dst: string, line: number) =>
        tracer.trace({ src: '198.51.100.7', dst, sport: 40000 + line, dport: 80, proto: 'TCP', flags: 'S', node: 'node-1', t: line }, line) as TraceRecord;
      const vip = send('203.0.113.10', 1), proxy = send('203.0.113.11', 2);
      expect(vip.backend).toBe('10.244.0.5:8080');
      expect(proxy.service).toBeNull();
      expect(proxy.nat).not.toContain('DNAT');
    });
  }
  it('export prints no rule for a Proxy-mode address', () => {
    const model = loadManifests([{ path: 'c.yaml', text: CLUSTER('Proxy') }]).model;
    const out = exportIptables(model, { node: 'node-1' });
    expect(out).toContain('-d 203.0.113.10 --dport 80');
    expect(out).not.toContain('203.0.113.11');
  });
  it('a bad ipMode names the field', () => {
    expect(() => loadManifests([{ path: 'c.yaml', text: CLUSTER('Tunnel') }])).toThrow(/status\.loadBalancer\.ingress\[1\]\.ipMode: must be one of "VIP", "Proxy", got "Tunnel"/);
  });
});
