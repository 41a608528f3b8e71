// `dpemu bench --scaling`: one worker against two on the same scenario, with the cores' distance measured while it
// runs (what the ratio depends on). A tiny cluster, a few rounds: the figures themselves belong to the benchmark.
import { describe, it, expect } from 'vitest';
import { runScaling, formatScaling } from '../src/bench/scaling.js';
import { startCoreProbe } from '../src/bench/core-latency.js';

describe('bench --scaling', () => {
  it('measures a cache line round trip between two threads', async () => {
    const probe = await startCoreProbe();
    try {
      const trips = [probe.roundTripNs(), probe.roundTripNs()];
      for (const t of trips) {
        expect(Number.isFinite(t)).toBe(true);
        expect(t).toBeGreaterThan(1); // a line between cores takes at least nanoseconds
        expect(t).toBeLessThan(1e6); // and not a millisecond: both threads were spinning
      }
    } finally {
      await probe.close();
    }
  });

  it('reports both sides, their ratio and the round trip measured before the workers\' rounds', async () => {
    const r = await runScaling({ scenarios: ['fastpath'], services: 20, backends: 2, flows: 2000, rounds: 3, packets: 4096 });
    expect(r.rows).toHaveLength(1);
    const row = r.rows[0];
    expect(row.one.workers).toBe(1);
    expect(row.many.workers).toBe(2);
    expect(row.one.mpps).toBeGreaterThan(0);
    expect(row.speedup).toBeCloseTo(row.many.mpps / row.one.mpps, 1);
    const rt = row.coreRoundTripNs;
    expect(Number.isFinite(rt.median)).toBe(true);
    expect(rt.min).toBeLessThanOrEqual(rt.median);
    expect(rt.median).toBeLessThanOrEqual(rt.max);
    expect(formatScaling(r)).toContain(`core round trip ${rt.median} ns`);
    // What the machine gave two cores: one dataplane's rate while a partner process kept the other core busy.
    const s = row.sideBySide!;
    expect(s.mpps).toBeGreaterThan(0);
    expect(s.twoMpps).toBeCloseTo(2 * s.mpps, 1);
    expect(s.speedup).toBeCloseTo(s.twoMpps / row.one.mpps, 1);
    expect(Number.isInteger(s.uncovered) && s.uncovered <= 3).toBe(true);
    expect(formatScaling(r)).toContain(`two such ${s.twoMpps} Mpps`);
  }, 120_000);

  it('reports the new-flow scenario without a side-by-side partner (the fast path\'s only)', async () => {
    const r = await runScaling({ scenarios: ['newflow'], services: 20, backends: 2, flows: 2000, rounds: 2, packets: 2048 });
    expect(r.rows[0].scenario).toBe('newflow');
    expect(r.rows[0].sideBySide).toBeUndefined();
    expect(formatScaling(r)).not.toContain('two such');
  }, 120_000);

  it('refuses a bad scenario for the side-by-side measurement, naming the field', async () => {
    const { prepareSideBySide } = await import('../src/bench/side-by-side.js');
    await expect(prepareSideBySide({ services: 0 })).rejects.toThrow(/services: 0 is not an integer/);
  }, 60_000);
});
