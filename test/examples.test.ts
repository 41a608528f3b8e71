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
