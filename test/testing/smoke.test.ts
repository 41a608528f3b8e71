import { it } from 'vitest';
import fc from 'fast-check';
import { properties } from '../../src/testing/index.js';
import { createTestEmulator } from './adapter.js';
const names = ['dnatToEligibleEndpoint','reverseNat','flowStickiness','clientIpAffinity','weightedDistribution','snatUnique','policyMatchesSpec','nonServiceUntouched'] as const;
for (const n of names) it(n, async () => {
  const stats = { cases: 0, checks: 0 };
  await fc.assert((properties[n] as any)(() => createTestEmulator({ backend: 'wasm', design: 'ipvs' }), { stats }), { numRuns: 30, seed: 1 });
  console.log(n, stats);
}, 60000);
it('maglev', async () => {
  const stats = { cases: 0, checks: 0 };
  await fc.assert(properties.maglevMinimalDisruption(() => createTestEmulator({ backend: 'wasm', algo: 'maglev' }), { stats }), { numRuns: 10, seed: 1 });
  console.log('maglev', stats);
}, 60000);
it('ct', async () => {
  const stats = { cases: 0, checks: 0 };
  await fc.assert(properties.conntrackFullSafe(() => createTestEmulator({ backend: 'wasm', maxFlows: 64 }), { stats }), { numRuns: 10, seed: 1 });
  console.log('ct', stats);
}, 60000);
