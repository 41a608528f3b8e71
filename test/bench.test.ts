// The benchmark scenarios measure what they say: every packet checked, the
// conntrack population as described, one JSON-able result (small sizes here;
// the figures themselves come from `dpemu bench`, never from tests).
import { describe, it, expect } from 'vitest';
import { runFastpath, BenchmarkError } from '../src/bench/fastpath.js';

describe.each(['wasm', 'reference'] as const)('bench scenarios (%s)', (backend) => {
  it('fastpath: established flows, every round all FORWARDED/ESTABLISHED', async () => {
    // One node: one conntrack entry per flow.
    const r = await runFastpath({ scenario: 'fastpath', backend, services: 20, backends: 3, flows: 3000, rounds: 2, packets: 4096, batch: 1000, nodes: 1 });
    expect(r).toMatchObject({ scenario: 'fastpath', flows: 3000, measured_packets: 8192, ct_count: 3000 });
    expect(r.mpps).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('newflow: fresh flows each round over a steady population of established ones', async () => {
    const r = await runFastpath({ scenario: 'newflow', backend, services: 20, backends: 3, flows: 3000, rounds: 3, packets: 1024, batch: 300, nodes: 1 });
    // After the last round: the population plus that round's half-open flows (earlier rounds were collected).
    expect(r).toMatchObject({ scenario: 'newflow', measured_packets: 3072, ct_count: 3000 + 1024 });
  });

  it('over three nodes: a flow to a backend on another node is tracked on that node too', async () => {
    const r = await runFastpath({ scenario: 'fastpath', backend, services: 20, backends: 3, flows: 3000, rounds: 1, packets: 1024, batch: 1000, nodes: 3 });
    // Clients and backends spread over three nodes: about two flows in three cross, each holding a second entry.
    expect(r.ct_count).toBeGreaterThan(3000 + 1500);
    expect(r.ct_count).toBeLessThan(3000 + 2500);
  });

  it('refuses sizes it cannot honour, with a clear message', async () => {
    await expect(runFastpath({ scenario: 'newflow', backend, services: 2, backends: 1, clients: 1, flows: 63_000, rounds: 2, packets: 1000 }))
      .rejects.toThrow(BenchmarkError);
  });
});
