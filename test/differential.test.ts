// Differential tests: random clusters and random traffic (new flows, replies,
// FIN/RST, hairpin, external clients, malformed packets, expiry, GC, policy and
// service changes, full tables) through the WASM core and the reference
// backend must give byte-identical output records and identical counters.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { scenarioArb, run } from './helpers/differential.js';

describe('WASM core vs reference backend', () => {
  it('agree packet for packet on random clusters and traffic', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, async (s) => { await run(s); }), { numRuns: 300 });
  }, 120_000);

  it('agree on a long run with a tiny conntrack table (constant eviction)', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb.map((s) => ({ ...s, maxFlows: 2 + (s.maxFlows % 4) })), async (s) => { await run(s); }), { numRuns: 100 });
  }, 120_000);
});
