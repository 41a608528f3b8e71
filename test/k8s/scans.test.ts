// The name rules are character scans (src/k8s/validate.ts), written for speed; here they are held to the
// regular expressions of k8s.io/apimachinery they implement, on random strings over the characters that
// matter. And Plan.backends (a BackendMap, stored by number) behaves as the Map by key string it stands for.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dns1035LabelError, dns1123LabelError, dns1123SubdomainError, labelKeyError, labelValueError } from '../../src/k8s/validate.js';
import { BackendMap, PlannedBackend } from '../../src/k8s/compile.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const ok = (e: string | undefined) => e === undefined;
const subdomainOk = (s: string) => s.length <= 253 && s.split('.').every((p) => DNS1123_LABEL.test(p));
function labelKeyOk(k: string): boolean {
  const slash = k.indexOf('/');
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (slash >= 0 && !(slash > 0 && subdomainOk(k.slice(0, slash)))) return false;
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

// Short strings over a few characters of each class, and some long ones (the length limits).
const text = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'z', 'A', '0', '9', '-', '.', '_', '/', ' ', ':', '\n'), maxLength: 10 }),
  fc.string({ unit: fc.constantFrom('a', '-', '.', '1'), minLength: 60, maxLength: 260 }),
);

describe('name rules: character scans agree with the regular expressions', () => {
  it('DNS-1123 label, DNS-1035 label, DNS-1123 subdomain, label key and value', () => {
    fc.assert(fc.property(text, (s) => {
      expect(ok(dns1123LabelError(s))).toBe(s.length <= 63 && DNS1123_LABEL.test(s));
      expect(ok(dns1035LabelError(s))).toBe(s.length <= 63 && DNS1035_LABEL.test(s));
      expect(ok(dns1123SubdomainError(s))).toBe(subdomainOk(s));
      expect(ok(labelValueError(s))).toBe(s.length <= 63 && LABEL_VALUE.test(s));
      expect(ok(labelKeyError(s))).toBe(labelKeyOk(s));
    }), { numRuns: 5000 });
  });

  it('keeps the messages', () => {
    expect(dns1123LabelError('a-')).toMatch(/lowercase RFC 1123 label/);
    expect(dns1035LabelError('1a')).toMatch(/lowercase RFC 1035 label/);
    expect(dns1123SubdomainError('a..b')).toMatch(/lowercase RFC 1123 subdomain/);
    expect(labelKeyError('Example.com/x')).toMatch(/^prefix part must be a lowercase RFC 1123 subdomain/);
    expect(labelKeyError('a/-x')).toMatch(/^name part must consist of alphanumeric/);
    expect(labelValueError('x_')).toMatch(/^must be empty or consist of alphanumeric/);
    expect(labelValueError('')).toBeUndefined();
  });
});

describe('BackendMap', () => {
  const backend = (key: string, id: number, addr: number, port: number): PlannedBackend => ({ id, key, addr, port, protocol: 'TCP' });
  it('is a Map by key string: get, has, set, delete, iteration in insertion order', () => {
    const m = new BackendMap();
    const a = backend('10.0.0.2:80/TCP', 0, 0x0a000002, 80), b = backend('10.0.0.1:8080/TCP', 1, 0x0a000001, 8080);
    m.set(a.key, a).set(b.key, b);
    expect(m.size).toBe(2);
    expect(m.get('10.0.0.1:8080/TCP')).toBe(b);
    expect(m.has('10.0.0.1:8080/UDP')).toBe(false);
    // Only the keys the planner writes: no leading zeros, no other spelling of the same backend.
    expect(m.get('010.0.0.1:8080/TCP')).toBeUndefined();
    expect(m.get('10.0.0.1:08080/TCP')).toBeUndefined();
    expect(m.get('nonsense')).toBeUndefined();
    expect([...m.keys()]).toEqual([a.key, b.key]);
    expect([...m]).toEqual([[a.key, a], [b.key, b]]);
    expect(new Map(m)).toEqual(new Map([[a.key, a], [b.key, b]]));
    expect(() => m.set('10.0.0.3:80/TCP', a)).toThrow(/not the key of backend/);
    expect(m.delete(a.key)).toBe(true);
    expect(m.delete(a.key)).toBe(false);
    expect([...m.values()]).toEqual([b]);
  });
});
