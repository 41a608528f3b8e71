import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { coreModule } from '../../src/node.js';
import { HttpCore, compileEntryPoint, packRequest } from '../../src/gateway/tables.js';
import { HttpRequest, NorthSouthRouter } from '../../src/gateway/router.js';
import { GATEWAY, route, router, svc } from './helpers.js';

const parent = 'parentRefs: [{name: gw, namespace: infra}]';
const SERVICES = ['a', 'b', 'c', 'd'];

/** The core's decision as a record comparable with the reference's: route, rule, status, backend_service. */
async function coreDecisions(r: NorthSouthRouter, reqs: HttpRequest[], seed: number) {
  const table = compileEntryPoint(r, '192.0.2.10', 80);
  const core = await HttpCore.create(coreModule('release'), seed);
  core.load(table);
  return core.decide(reqs.map(packRequest)).map((d) => {
    if (d.entry < 0) return { status: 404, route: null, rule: null, backend_service: null };
    const e = table.entries[d.entry];
    const routeName = `${e.route.namespace}/${e.route.name}`;
    if (e.rule.filters.some((f) => f.type === 'RequestRedirect')) return { status: 302, route: routeName, rule: e.ruleIdx, backend_service: null };
    if (d.backend < 0) return { status: 500, route: routeName, rule: e.ruleIdx, backend_service: null };
    const b = e.rule.backendRefs[d.backend];
    return { status: 200, route: routeName, rule: e.ruleIdx, backend_service: `${b.namespace}/${b.name}:${b.port}` };
  });
}

function referenceDecisions(r: NorthSouthRouter, reqs: HttpRequest[]) {
  return reqs.map((q) => {
    const d = r.route('192.0.2.10', 80, q)!.decision;
    return { status: d.status === 301 ? 302 : d.status, route: d.route, rule: d.rule, backend_service: d.backend_service };
  });
}

const seg = fc.constantFrom('a', 'b', 'ab', 'v1');
const pathArb = fc.array(seg, { minLength: 0, maxLength: 3 }).map((xs) => `/${xs.join('/')}`);
const hostArb = fc.constantFrom('x.example.com', 'y.example.com', 'a.b.example.com', 'example.com', 'other.io');
const matchArb = fc.record({
  type: fc.constantFrom('Exact', 'PathPrefix'), value: pathArb, method: fc.option(fc.constantFrom('GET', 'POST'), { nil: undefined }),
  header: fc.option(fc.constantFrom('one', 'two'), { nil: undefined }), query: fc.option(fc.constantFrom('1', '2'), { nil: undefined }),
});
const ruleArb = fc.record({
  matches: fc.array(matchArb, { minLength: 1, maxLength: 2 }),
  backends: fc.array(fc.record({ svc: fc.constantFrom(...SERVICES), weight: fc.integer({ min: 0, max: 5 }) }), { minLength: 0, maxLength: 3 }),
});
const routeArb = fc.record({ hostnames: fc.array(fc.constantFrom('x.example.com', '*.example.com', 'a.b.example.com'), { maxLength: 2 }), rules: fc.array(ruleArb, { minLength: 1, maxLength: 3 }) });
const reqArb = fc.record({ method: fc.constantFrom('GET', 'POST'), host: hostArb, path: pathArb, v: fc.option(fc.constantFrom('one', 'two'), { nil: undefined }), q: fc.option(fc.constantFrom('1', '2'), { nil: undefined }) })
  .map((x): HttpRequest => ({ method: x.method, host: x.host, path: x.q ? `${x.path}?q=${x.q}` : x.path, headers: x.v ? { Version: x.v } : {} }));

function yamlOf(routes: { hostnames: string[]; rules: { matches: { type: string; value: string; method?: string; header?: string; query?: string }[]; backends: { svc: string; weight: number }[] }[] }[]) {
  return GATEWAY + SERVICES.map((s) => svc('app', s)).join('') + routes.map((rt, i) => route(`r${i}`, 'app', `${parent}
hostnames: ${JSON.stringify(rt.hostnames)}
rules:
${rt.rules.map((ru) => `- matches: ${JSON.stringify(ru.matches.map((m) => ({ path: { type: m.type, value: m.value }, ...(m.method ? { method: m.method } : {}),
    ...(m.header ? { headers: [{ name: 'version', value: m.header }] } : {}), ...(m.query ? { queryParams: [{ name: 'q', value: m.query }] } : {}) })))}
  backendRefs: ${JSON.stringify(ru.backends.map((b) => ({ name: b.svc, port: 80, weight: b.weight })))}`).join('\n')}`)).join('');
}

describe('the core decides as the reference does', () => {
  it('random routes and requests: same route, rule, status and backend, draw for draw', async () => {
    await fc.assert(fc.asyncProperty(fc.array(routeArb, { minLength: 1, maxLength: 5 }), fc.array(reqArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 1000 }),
      async (routes, reqs, seed) => {
        const r = router(yamlOf(routes), seed);
        const want = referenceDecisions(r, reqs);
        const got = await coreDecisions(router(yamlOf(routes), seed), reqs, seed);
        expect(got).toEqual(want);
      }), { numRuns: 60 });
  });
  it('the 90/10 canary split holds in the core within 3 points over 4,000 requests', async () => {
    const r = router(GATEWAY + svc('app', 'stable') + svc('app', 'canary') + route('w', 'app', `${parent}
rules: [{backendRefs: [{name: stable, port: 80, weight: 90}, {name: canary, port: 80, weight: 10}]}]`));
    const reqs = Array.from({ length: 4000 }, (): HttpRequest => ({ method: 'GET', host: 'h', path: '/', headers: {} }));
    const got = await coreDecisions(r, reqs, 7);
    const canary = got.filter((d) => d.backend_service === 'app/canary:80').length;
    expect(Math.abs(canary / 4000 - 0.1)).toBeLessThan(0.03);
  });
});
