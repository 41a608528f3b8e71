// kube-proxy's health check server for externalTrafficPolicy Local Services, as `dpemu trace` shows it.
import { describe, it, expect } from 'vitest';
import { loadManifests } from '../../src/k8s/load.js';
import { createTracer, TraceRecord } from '../../src/trace.js';

const node = (name: string, ip: string) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }] } });
const docs = [
  node('n1', '192.168.0.2'), node('n2', '192.168.0.3'), node('n3', '192.168.0.4'),
  { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'shop', name: 'web' },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, clusterIP: '10.96.0.10',
      ports: [{ name: 'http', port: 80, nodePort: 30080, targetPort: 8080 }, { name: 'https', port: 443, nodePort: 30443, targetPort: 8443 }] },
    status: { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } } },
  { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'shop', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.244.0.5'], nodeName: 'n1' },
      { addresses: ['10.244.0.6'], nodeName: 'n1' },
      // Terminating (still serving) on n2: traffic may go there, the health check fails (only ready endpoints count).
      { addresses: ['10.244.1.5'], nodeName: 'n2', conditions: { ready: false, serving: true, terminating: true } },
    ],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'https', port: 8443, protocol: 'TCP' }] },
];
const model = () => loadManifests([{ path: 'c.json', text: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) }]).model;

describe('healthCheckNodePort', () => {
  for (const backend of ['wasm', 'reference'] as const) {
    it(`answers 200 with the distinct local ready endpoints, 503 without (${backend})`, async () => {
      const t = await createTracer(model(), { backend, dataplane: { design: 'iptables' } });
      const probe = (dst: string, i: number) => t.trace({ src: '35.191.0.1', sport: 40000 + i, dst, dport: 32000, proto: 'TCP', flags: 'S', t: i }, i + 1) as TraceRecord;
      const n1 = probe('192.168.0.2', 0);
      expect(n1.verdict).toBe('ANSWERED_BY_PROXY');
      expect(n1.service).toBe('shop/web');
      // Two ports, two pods on n1: kube-proxy counts addresses, not address:port pairs.
      expect(n1.health_check).toMatchObject({ status: 200, localEndpoints: 2 });
      expect(n1.health_check!.headers['X-Load-Balancing-Endpoint-Weight']).toBe('2');
      expect(JSON.parse(n1.health_check!.body)).toEqual({ service: { namespace: 'shop', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true });
      expect(n1.health_check!.body).toBe('{\n\t"service": {\n\t\t"namespace": "shop",\n\t\t"name": "web"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}');
      expect(probe('192.168.0.3', 1).health_check).toMatchObject({ status: 503, localEndpoints: 0 });
      expect(probe('192.168.0.4', 2).health_check).toMatchObject({ status: 503, localEndpoints: 0 });
      // Another port of the node is not the health check: an ordinary packet to the node.
      const other = t.trace({ src: '35.191.0.1', sport: 41000, dst: '192.168.0.2', dport: 32001, proto: 'TCP', flags: 'S', t: 3 }, 9) as TraceRecord;
      expect(other.health_check).toBeUndefined();
      expect(other.verdict).not.toBe('ANSWERED_BY_PROXY');
    });
  }
  it('the JSON trace stream carries the answer too', async () => {
    const t = await createTracer(model(), { dataplane: { design: 'nftables' } });
    const { traceTextsJson } = await import('../../src/trace.js');
    const [line] = traceTextsJson(t, [{ text: JSON.stringify({ src: '35.191.0.1', sport: 1, dst: '192.168.0.2', dport: 32000 }), line: 1 }], { packets: 0, errors: 0, changes: 0 });
    expect(JSON.parse(line).health_check.status).toBe(200);
  });
});
