// RegularExpression matches: the supported syntax (src/gateway/regex.ts) is accepted and everything outside it
// refused with a reason; random patterns of the subset, compiled to DFAs and run in the core, match exactly
// the values ECMAScript's engine (the reference) matches, non-ASCII and astral code points included.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { coreModule } from '../../src/node.js';
import { HttpCore, compileEntryPoint, packRequest } from '../../src/gateway/tables.js';
import { NorthSouthRouter, HttpRequest } from '../../src/gateway/router.js';
import { loadManifests } from '../../src/k8s/load.js';
import { regexFullMatch, regexUnsupported } from '../../src/gateway/regex.js';

describe('the supported syntax', () => {
  it('accepts the common RE2 / ECMAScript constructs', () => {
    for (const p of ['/api/v[0-9]+/.*', '^/a$', '(?:ab|cd){2,3}', '[\\w.-]+@x\\.com', '\\d{3}', 'a*?b+?c??', '[^/]*', '\\/\\(\\)', 'é+', '[\\s\\S]', '[-a]', '[a-]', 'a{0,}', '']) {
      expect(regexUnsupported(p), p).toBeUndefined();
    }
  });
  it('refuses what RE2 and ECMAScript read differently or what a DFA cannot run, saying why', () => {
    const cases: [string, RegExp][] = [
      ['(a)\\1', /backreference/], ['a(?=b)', /"\(\?" other than "\(\?:"/], ['(?<x>a)', /"\(\?"/], ['(?i)a', /"\(\?"/],
      ['\\bword', /word boundary/], ['\\x41', /escape \\x/], ['\\p{L}', /escape \\p/], ['a{2', /not a quantifier/],
      ['[]a]', /starting with "]"/], ['[^]', /\[\^\]/], ['a**', /repeated quantifier/], ['a|^b', /"\^" not at the start/],
      ['a$b', /"\$" not at the end/], ['a{1001}', /over 1000/], ['(a', /unbalanced/], ['a)', /unbalanced/], ['*a', /nothing to repeat/],
      ['[z-a]', /out of order/], ['[\\d-z]', /class escape/], ['(a{1,1000}){1000}', /too large|states/],
    ];
    for (const [p, why] of cases) expect(regexUnsupported(p), p).toMatch(why);
    expect(regexFullMatch('(a)\\1', 'aa')).toBe(false); // outside the subset: never matches
  });
});

// Random patterns of the subset.
const atom = fc.constantFrom('a', 'b', '-', '/', 'é', '𝄞', '.', '\\d', '\\w', '\\s', '\\S', '\\W', '[a-c]', '[^b]', '[é-𝄞]', '[\\d/]', '\\.', '\\/');
const patternArb: fc.Arbitrary<string> = fc.letrec((tie) => ({
  re: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    atom,
    fc.tuple(tie('re'), tie('re')).map(([x, y]) => `${x}${y}`),
    fc.tuple(tie('re'), tie('re')).map(([x, y]) => `(?:${x}|${y})`),
    fc.tuple(tie('re'), fc.constantFrom('*', '+', '?', '{2}', '{1,2}', '{0,}', '*?', '+?')).map(([x, q]) => `(${x})${q}`),
  ),
})).re as fc.Arbitrary<string>;
const valueArb = fc.array(fc.constantFrom('a', 'b', 'c', '1', '-', '/', '.', 'é', 'ë', ' ', '\u3000', '\t', '𝄞', '_'), { maxLength: 6 }).map((xs) => xs.join(''));

describe('patterns run in the core', () => {
  it('random patterns and values: the core matches exactly what ECMAScript matches', async () => {
    const core = await HttpCore.create(coreModule('release'));
    await fc.assert(fc.asyncProperty(fc.array(patternArb, { minLength: 1, maxLength: 6 }), fc.array(fc.tuple(fc.nat(5), valueArb), { minLength: 1, maxLength: 40 }), async (patterns, values) => {
      // Rule i matches header h<i> against pattern i; a request carries one header, so the rule that matched (if any) says.
      const docs = [
        { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'emu' }, spec: { controllerName: 'dpemu.io/gw' } },
        { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'gw', namespace: 'app' }, spec: { gatewayClassName: 'emu', addresses: [{ value: '192.0.2.1' }], listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } },
        { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r', namespace: 'app' },
          spec: { parentRefs: [{ name: 'gw' }], rules: patterns.map((p, i) => ({ matches: [{ headers: [{ type: 'RegularExpression', name: `h${i}`, value: p }] }] })) } },
      ];
      const router = new NorthSouthRouter(loadManifests([{ path: 'r.yaml', text: '', documents: docs }]).model);
      const table = compileEntryPoint(router, '192.0.2.1', 80)!;
      const reqs: HttpRequest[] = values.map(([i, v]) => ({ method: 'GET', host: 'h', path: '/', headers: { [`h${i % patterns.length}`]: v } }));
      const got = core.decide(reqs.map((q) => ({ table, packed: packRequest(q) })), { state: 1 }).map((d) => d.entry >= 0);
      const want = values.map(([i, v]) => regexFullMatch(patterns[i % patterns.length], v));
      expect(got).toEqual(want);
      // The patterns are inside the subset and JS agrees they are valid.
      for (const p of patterns) expect(regexUnsupported(p), p).toBeUndefined();
    }), { numRuns: 300 });
  });
});
