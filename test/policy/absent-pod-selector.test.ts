// A NetworkPolicy without spec.podSelector selects every pod of its namespace (the field
// "defaults to an empty selector"), on both backends.
import { describe, it, expect } from 'vitest';
import { createTracer, TraceRecord } from '../../src/trace.js';

const CLUSTER = `
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.10.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: prod, labels: {app: a}}
spec: {nodeName: node-1, containers: [{name: c}]}
status: {phase: Running, podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: prod, labels: {app: b}}
spec: {nodeName: node-1, containers: [{name: c}]}
status: {phase: Running, podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: other, labels: {app: c}}
spec: {nodeName: node-1, containers: [{name: c}]}
status: {phase: Running, podIP: 10.244.1.12}
`;
const DENY_ALL_INGRESS = `
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: prod}
spec: {policyTypes: [Ingress]}
`;

describe('NetworkPolicy without spec.podSelector', () => {
  for (const backend of ['wasm', 'reference'] as const) {
    it(`isolates every pod of its namespace, and only those (${backend})`, async () => {
      const tracer = await createTracer([{ path: 'c.yaml', text: CLUSTER + DENY_ALL_INGRESS }], { backend });
      const send = (src: string, dst: string, line: number) =>
        tracer.trace({ src, dst, sport: 40000 + line, dport: 80, proto: 'TCP', flags: 'S', t: line }, line) as TraceRecord;
      for (const [i, dst] of ['10.244.1.10', '10.244.1.11'].entries()) {
        const r = send('10.244.1.12', dst, i + 1);
        expect(r.verdict, JSON.stringify(r)).toBe('DROPPED');
        expect(r.policy).toContain('NetworkPolicy prod/deny-ingress');
      }
      expect(send('10.244.1.10', '10.244.1.12', 3).verdict).toBe('FORWARDED');
    });
  }
});
