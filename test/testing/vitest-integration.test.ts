// The kit from vitest through @fast-check/vitest: its arbitraries feed `test.prop`, and its properties run
// inside a plain vitest test with fc.assert.
import { describe, expect } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { createEmulator } from '../../src/index.node.js';
import { arbitraries, properties } from '../../src/testing/index.js';

describe('dpemu/testing with @fast-check/vitest', () => {
  test.prop([arbitraries.cluster()], { numRuns: 20 })('every generated cluster loads into dpemu and programs its Services', async (c) => {
    const emu = await createEmulator({ flows: 1024 });
    const report = emu.apply(arbitraries.manifests(c));
    expect(report.objects.added.length).toBeGreaterThan(0);
    expect(emu.services().length).toBeGreaterThan(0);
  });

  test('a property runs with fc.assert inside a vitest test', async () => {
    await fc.assert(properties.nonServiceUntouched(() => createEmulator({ flows: 1024 })), { numRuns: 10 });
  });
});
