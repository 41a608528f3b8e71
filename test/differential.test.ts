// Differential tests: random clusters and random traffic (new flows, replies,
// FIN/RST, hairpin, external clients, malformed packets, expiry, GC, policy and
// service changes, full tables) through the WASM core and the reference
// backend must give byte-identical output records and identical counters.
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { scenarioArb, run } from './helpers/differential.js';
import { DESIGN_NAMES } from '../src/dataplane.js';

describe('WASM core vs reference backend', () => {
  it('agree packet for packet on random clusters and traffic', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, async (s) => { await run(s); }), { numRuns: 300 });
  }, 120_000);

  it('agree on a long run with a tiny conntrack table (constant eviction)', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb.map((s) => ({ ...s, maxFlows: 2 + (s.maxFlows % 4) })), async (s) => { await run(s); }), { numRuns: 100 });
  }, 120_000);

  // The core takes a batch 64 packets at a time and prefetches for each group, predicting the backends of
  // its new flows (assembly/prefetch.ts prepareGroup): batches of several groups, with new flows, replies
  // and established packets mixed, in every design, must still give exactly the reference's records.
  it('agree with batches of several prefetch groups (65 to 300 packets), in every design', async () => {
    const big = scenarioArb.chain((s) => fc.record({
      // Packet events only (the others flush the batch), three times over, so later copies of a tuple meet
      // the flows the first made; then the whole scenario with its replies and changes.
      events: fc.constant(((xs) => xs.concat(xs, xs, s.events))(s.events.filter((e) => ['new', 'direct', 'hairpin', 'external', 'malformed'].includes(e.kind)))),
      batchSizes: fc.array(fc.integer({ min: 65, max: 300 }), { minLength: 1, maxLength: 3 }),
      design: fc.constantFrom(...DESIGN_NAMES),
    }).map((x) => ({ ...s, events: x.events, batchSizes: x.batchSizes, maxFlows: s.maxFlows * 8, design: x.design })));
    await fc.assert(fc.asyncProperty(big, async (s) => { await run(s, s.design); }), { numRuns: 80 });
  }, 180_000);
});
