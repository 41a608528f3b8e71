// The shipped example (README: "Emulating a cluster") keeps loading cleanly and
// its packet script keeps telling the story the README tells, on both backends.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadFiles } from '../src/k8s/files.js';
import { checkCluster } from '../src/k8s/check.js';
import { createTracer, traceLines, TraceRecord } from '../src/trace.js';

describe('examples/shop', () => {
  const { model, warnings } = loadFiles(['examples/shop']);
  const lines = readFileSync('examples/shop-packets.jsonl', 'utf8').split('\n').filter((l) => l.trim());

  it('loads with no warnings and no diagnostics', () => {
    expect(warnings).toEqual([]);
    expect(checkCluster(model)).toEqual([]);
  });

  it.each(['wasm', 'reference'] as const)('traces the packet script as the README says (%s)', async (backend) => {
    const records = traceLines(await createTracer(model, { backend }), lines) as TraceRecord[];
    expect(records.map((r) => [r.verdict, r.ct_state])).toEqual([
      ['FORWARDED', 'NEW'], ['FORWARDED', 'REPLY'], ['FORWARDED', 'ESTABLISHED'], ['FORWARDED', 'NEW'],
      ['DROPPED', 'NONE'], ['FORWARDED', 'NEW'], ['FORWARDED', 'NEW'], ['FORWARDED', 'ESTABLISHED'],
    ]);
    expect(records[1]).toMatchObject({ src: '10.96.0.14', sport: 80 });            // reverse NAT to the ClusterIP
    expect(records[3].nat).toContain('SNAT');                                        // NodePort, Cluster policy
    expect(records[4].drop_reason).toBe('SERVICE_BACKEND_NOT_FOUND');                // Local, none on node-c
    expect(records[5]).toMatchObject({ src: '203.0.113.50', delivered_node: 'node-a' }); // Local: client kept
    expect(records[6].cross_node).toBe(true);
  });
});

describe('examples/netpol', () => {
  const { model, warnings } = loadFiles(['examples/netpol']);
  const lines = readFileSync('examples/netpol-packets.jsonl', 'utf8').split('\n').filter((l) => l.trim());
  // The outcome column of examples/netpol/README.md, line by line.
  const expected = ['FORWARDED', 'FORWARDED', 'DROPPED', 'FORWARDED', 'FORWARDED', 'FORWARDED', 'DROPPED', 'DROPPED',
    'FORWARDED', 'FORWARDED', 'DROPPED', 'DROPPED', 'DROPPED', 'FORWARDED', 'FORWARDED', 'DROPPED', 'DROPPED', 'FORWARDED'];

  it('loads with no warnings and no diagnostics', () => {
    expect(warnings).toEqual([]);
    expect(checkCluster(model)).toEqual([]);
  });

  it.each(['wasm', 'reference'] as const)('enforces the policies as the README says (%s)', async (backend) => {
    const records = traceLines(await createTracer(model, { backend }), lines) as TraceRecord[];
    expect(records.map((r) => r.verdict)).toEqual(expected);
    // Allowed: both directions named; dropped: the direction and what isolated it, or the deny rule.
    expect(records[0].policy).toBe('egress allowed by NetworkPolicy shop/frontend-egress egress[0]; ingress allowed by NetworkPolicy shop/api-ingress ingress[0]');
    expect(records[1].policy).toBeNull(); // a reply: conntrack, no policy lookup
    expect(records[6].policy).toMatch(/^dropped: ingress isolated by .*NetworkPolicy shop\/frontend-ingress; no rule matched$/);
    expect(records[8].policy).toContain('NetworkPolicy shop/api-ingress ingress[1]'); // after the ANP's Pass
    expect(records[10].policy).toBe('denied by BaselineAdminNetworkPolicy default ingress rule "deny-the-rest"');
    expect(records[11].policy).toBe('denied by AdminNetworkPolicy isolate-sandbox ingress rule "deny-from-sandbox"');
    expect(records[13].policy).toBe('egress allowed by NetworkPolicy shop/api-egress egress[0]; ingress allowed by BaselineAdminNetworkPolicy default ingress rule "allow-from-prod"');
    expect(records[15].drop_reason).toBe('POLICY_DENIED'); // 5003: outside the endPort range
  });

  it.each(['iptables', 'ipvs', 'nftables'] as const)('gives the same verdicts on the %s design', async (design) => {
    const records = traceLines(await createTracer(model, { dataplane: { design }, compile: { design } }), lines) as TraceRecord[];
    expect(records.map((r) => r.verdict)).toEqual(expected);
    expect(records.map((r) => r.policy)).toEqual((traceLines(await createTracer(model), lines) as TraceRecord[]).map((r) => r.policy));
  });
});
