// src/common/idtable.ts against a Map, on random operations (keys of backend-number size, with collisions
// in their low bits as backend numbers have).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IdTable } from '../../src/common/idtable.js';

describe('IdTable', () => {
  it('behaves as a Map from integer keys to ids', () => {
    const key = fc.oneof(fc.integer({ min: 0, max: 40 }).map((k) => k * 2 ** 18 + 8080 * 4), fc.integer({ min: 0, max: 2 ** 53 - 1 }));
    const op = fc.record({ kind: fc.constantFrom('set', 'set', 'delete', 'get'), key, id: fc.integer({ min: 0, max: 2 ** 31 - 1 }) });
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const t = new IdTable(4), m = new Map<number, number>();
      for (const o of ops) {
        if (o.kind === 'set') { t.set(o.key, o.id); m.set(o.key, o.id); }
        else if (o.kind === 'delete') expect(t.delete(o.key)).toBe(m.delete(o.key));
        expect(t.get(o.key)).toBe(m.get(o.key));
        expect(t.size).toBe(m.size);
      }
      for (const [k, v] of m) expect(t.get(k)).toBe(v);
    }), { numRuns: 300 });
  });

  it('holds many keys and refuses what it cannot hold', () => {
    const t = new IdTable();
    for (let i = 0; i < 100_000; i++) t.set((0x0a800000 + i) * 2 ** 18 + 8080 * 4, i);
    expect(t.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 997) expect(t.get((0x0a800000 + i) * 2 ** 18 + 8080 * 4)).toBe(i);
    expect(t.get(12345)).toBeUndefined();
    expect(() => t.set(-1, 0)).toThrow(RangeError);
    expect(() => t.set(1.5, 0)).toThrow(RangeError);
    expect(() => t.set(1, -1)).toThrow(RangeError);
  });
});
