// examples/own-dataplane.mjs, the README's "Testing your own dataplane" example, runs as it is: the kit
// passes what the source-hash variant keeps and fails (with a case to replay) what it broke.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ROOT, ensureBuilt } from '../helpers/build.js';

describe('examples/own-dataplane.mjs', () => {
  it('names what the variant broke, with a case for dpemu trace', () => {
    ensureBuilt();
    const out = execFileSync('node', ['examples/own-dataplane.mjs'], { cwd: ROOT, encoding: 'utf8' });
    for (const p of ['dnatToEligibleEndpoint', 'snatUnique', 'nonServiceUntouched']) expect(out).toMatch(new RegExp(`^pass  ${p}$`, 'm'));
    for (const p of ['reverseNat', 'weightedDistribution']) expect(out).toMatch(new RegExp(`^FAIL  ${p}: `, 'm'));
    expect(out).toContain('The shrunk case of reverseNat');
    expect(out).toMatch(/# cluster\.yaml[\s\S]*kind: Service[\s\S]*# packets\.jsonl/);
  }, 180_000);
});
