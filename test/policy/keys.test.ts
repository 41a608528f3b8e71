// The keys the policy compiler groups pods by: a label set's key is the same for the same set written in any
// order and differs for different sets whatever the keys and values hold (separators included); the short
// sort it uses gives what Array.prototype.sort gives, stably.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { labelsKey } from '../../src/k8s/labels.js';
import { namedPortsKey } from '../../src/policy/identity.js';
import { byCodeUnits, sortSmall } from '../../src/common/sort.js';

const text = fc.string({ unit: fc.constantFrom('a', 'b', '=', ';', ':', '1', '/', ',', '"') , maxLength: 6 });
const labels = fc.dictionary(text, text, { maxKeys: 5 });
const sameSet = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);

describe('policy keys', () => {
  it('a label set has one key, whatever the order its labels were written in', () => {
    fc.assert(fc.property(labels, (l) => {
      const reversed = Object.fromEntries(Object.entries(l).reverse());
      expect(labelsKey(reversed)).toBe(labelsKey(l));
    }));
  });

  it('two label sets share a key only when they are the same set', () => {
    fc.assert(fc.property(labels, labels, (a, b) => {
      expect(labelsKey(a) === labelsKey(b)).toBe(sameSet(a, b));
    }));
    expect(labelsKey({ a: 'b;1:c=1:d' })).not.toBe(labelsKey({ a: 'b', c: 'd' }));
  });

  it('two named-port lists share a key only when they are the same list', () => {
    const port = fc.record({ name: text, protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const), port: fc.integer({ min: 1, max: 65535 }) });
    fc.assert(fc.property(fc.array(port, { maxLength: 3 }), fc.array(port, { maxLength: 3 }), (a, b) => {
      expect(namedPortsKey(a) === namedPortsKey(b)).toBe(JSON.stringify(a) === JSON.stringify(b));
    }));
  });

  it('the short sort gives what Array.prototype.sort gives, equal elements kept in order', () => {
    const item = fc.record({ k: fc.integer({ min: 0, max: 5 }), at: fc.nat() });
    fc.assert(fc.property(fc.array(item, { maxLength: 40 }), (xs) => {
      const cmp = (x: { k: number }, y: { k: number }) => x.k - y.k;
      expect(sortSmall([...xs], cmp)).toEqual([...xs].sort(cmp));
    }));
    fc.assert(fc.property(fc.array(fc.string(), { maxLength: 40 }), (xs) => {
      expect(sortSmall([...xs], byCodeUnits)).toEqual([...xs].sort());
    }));
  });
});
