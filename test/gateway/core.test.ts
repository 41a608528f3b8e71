// The core's decision (assembly/http.ts over src/gateway/tables.ts, formatted by src/gateway/format.ts) held
// to the reference router (src/gateway/router.ts) on random routes and requests: the whole record (status,
// route, rule, backend_service, location, the request as the backend gets it, response headers) and the
// Service port the dataplane connects to, draw for draw.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { coreModule } from '../../src/node.js';
import { HttpCore, compileEntryPoint, packRequest } from '../../src/gateway/tables.js';
import { formatDecision } from '../../src/gateway/format.js';
import { HttpRequest, NorthSouthRouter } from '../../src/gateway/router.js';
import { loadManifests } from '../../src/k8s/load.js';
import { GATEWAY, route, router, svc } from './helpers.js';

const ADDRESS = '192.0.2.10';
const SERVICES = ['a', 'b', 'c', 'd'];
const G = 'gateway.networking.k8s.io/v1';

function both(docs: unknown[], seed: number) {
  const load = () => new NorthSouthRouter(loadManifests([{ path: 'test.yaml', text: '', documents: docs }]).model, { seed });
  return { ref: load(), core: load() };
}

async function coreRoute(r: NorthSouthRouter, reqs: HttpRequest[], seed: number, port = 80) {
  const table = compileEntryPoint(r, ADDRESS, port)!;
  const core = await HttpCore.create(coreModule('release'));
  const prng = { state: seed };
  const got = core.decide(reqs.map((q) => ({ table, packed: packRequest(q) })), prng);
  return got.map((d, i) => formatDecision(table, d, reqs[i]));
}

const refRoute = (r: NorthSouthRouter, reqs: HttpRequest[], port = 80) => reqs.map((q) => r.route(ADDRESS, port, q)!);

// Services a (ready), b (ready), c (no ready endpoint), d (ready, headless: no cluster IP); "e" is missing.
function services(): unknown[] {
  return SERVICES.flatMap((s, i) => [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: s, namespace: 'app' },
      spec: { ...(s === 'd' ? { clusterIP: 'None' } : { clusterIP: `10.96.0.${i + 10}` }), ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${s}-x`, namespace: 'app', labels: { 'kubernetes.io/service-name': s } },
      addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: [`10.244.0.${i + 1}`], conditions: { ready: s !== 'c' } }] },
  ]);
}

const seg = fc.constantFrom('a', 'b', 'ab', 'v1', '12', 'é');
const pathArb = fc.array(seg, { minLength: 0, maxLength: 3 }).map((xs) => `/${xs.join('/')}`);
// Patterns inside the subset, and a few outside it (a lookahead, a backreference, an escape it leaves out).
const PATH_RE = ['/a/[0-9]+', '/(a|b)+(/.*)?', '/v1.*', '/[^/]+', '.*b', '/ab?/?', '/\\w+/\\d{2}', '/.', '/[é-ë]+', '/\\D{2,}', '/(?=a).*', '/(a)\\1', '/\\x61'];
const VALUE_RE = ['é|\\s', 'one|two', 't.*', '[a-z]{3}', '.', '\\S+', '[^o]+', 'o(ne)?', '(?<n>x)'];
const hostArb = fc.constantFrom('x.example.com', 'y.example.com', 'a.b.example.com', 'example.com', 'other.io', 'X.Example.com:8080');

const matchArb = fc.record({
  type: fc.constantFrom('Exact', 'PathPrefix', 'PathPrefix', 'RegularExpression'),
  value: pathArb, re: fc.constantFrom(...PATH_RE),
  method: fc.option(fc.constantFrom('GET', 'POST'), { nil: undefined }),
  header: fc.option(fc.record({ type: fc.constantFrom('Exact', 'RegularExpression'), exact: fc.constantFrom('one', 'two'), re: fc.constantFrom(...VALUE_RE) }), { nil: undefined }),
  query: fc.option(fc.record({ type: fc.constantFrom('Exact', 'RegularExpression'), exact: fc.constantFrom('1', '2'), re: fc.constantFrom('[12]', '\\d+', '2?') }), { nil: undefined }),
}).map((m) => ({
  path: { type: m.type, value: m.type === 'RegularExpression' ? m.re : m.value },
  ...(m.method ? { method: m.method } : {}),
  ...(m.header ? { headers: [{ type: m.header.type, name: 'Version', value: m.header.type === 'Exact' ? m.header.exact : m.header.re }] } : {}),
  ...(m.query ? { queryParams: [{ type: m.query.type, name: 'q', value: m.query.type === 'Exact' ? m.query.exact : m.query.re }] } : {}),
}));

const modifierArb = fc.record({
  set: fc.array(fc.record({ name: fc.constantFrom('x-a', 'version', 'host'), value: fc.constantFrom('1', 'v') }), { maxLength: 2 }),
  add: fc.array(fc.record({ name: fc.constantFrom('x-a', 'x-b'), value: fc.constantFrom('2', 'w') }), { maxLength: 2 }),
  remove: fc.array(fc.constantFrom('x-b', 'version'), { maxLength: 1 }),
});
const filterArb = fc.oneof(
  modifierArb.map((m) => ({ type: 'RequestHeaderModifier', requestHeaderModifier: m })),
  modifierArb.map((m) => ({ type: 'ResponseHeaderModifier', responseHeaderModifier: m })),
  fc.record({ scheme: fc.option(fc.constantFrom('http', 'https'), { nil: undefined }), hostname: fc.option(fc.constantFrom('r.example.com'), { nil: undefined }),
    port: fc.option(fc.constantFrom(80, 8443), { nil: undefined }), full: fc.option(fc.constantFrom('/moved', '/'), { nil: undefined }), statusCode: fc.constantFrom(301, 302) })
    .map((r) => ({ type: 'RequestRedirect', requestRedirect: { ...(r.scheme ? { scheme: r.scheme } : {}), ...(r.hostname ? { hostname: r.hostname } : {}), ...(r.port ? { port: r.port } : {}),
      ...(r.full ? { path: { type: 'ReplaceFullPath', replaceFullPath: r.full } } : {}), statusCode: r.statusCode } })),
  fc.record({ hostname: fc.option(fc.constantFrom('in.example.com'), { nil: undefined }), full: fc.option(fc.constantFrom('/new', '/'), { nil: undefined }) })
    .map((u) => ({ type: 'URLRewrite', urlRewrite: { ...(u.hostname ? { hostname: u.hostname } : {}), ...(u.full ? { path: { type: 'ReplaceFullPath', replaceFullPath: u.full } } : {}) } })),
  fc.constantFrom('/', '/z', '/z/').map((v) => ({ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: v } } })),
);
const ruleArb = fc.record({
  matches: fc.array(matchArb, { minLength: 1, maxLength: 2 }),
  filters: fc.array(filterArb, { maxLength: 2 }),
  backends: fc.array(fc.record({ svc: fc.constantFrom(...SERVICES, 'e'), weight: fc.integer({ min: 0, max: 5 }) }), { minLength: 0, maxLength: 3 }),
}).map((r) => {
  // A rule takes one of RequestRedirect or URLRewrite; ReplacePrefixMatch only over PathPrefix matches.
  let filters = r.filters;
  if (filters.some((f) => f.type === 'RequestRedirect')) filters = filters.filter((f) => f.type !== 'URLRewrite');
  const prefixOnly = r.matches.every((m) => m.path.type === 'PathPrefix');
  filters = filters.filter((f) => prefixOnly || !('urlRewrite' in f && (f.urlRewrite as { path?: { type: string } }).path?.type === 'ReplacePrefixMatch'));
  const seen = new Set<string>();
  filters = filters.filter((f) => (seen.has(f.type) ? false : (seen.add(f.type), true)));
  return { matches: r.matches, filters, backendRefs: r.backends.map((b) => ({ name: b.svc, port: 80, weight: b.weight })) };
});
const routeArb = fc.record({
  hostnames: fc.array(fc.constantFrom('x.example.com', '*.example.com', 'a.b.example.com'), { maxLength: 2 }),
  rules: fc.array(ruleArb, { minLength: 1, maxLength: 3 }),
  time: fc.option(fc.constantFrom('2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z'), { nil: undefined }),
});
const reqArb = fc.record({
  method: fc.constantFrom('GET', 'POST'), host: hostArb, path: pathArb,
  v: fc.option(fc.constantFrom('one', 'two', 'tw', 'é', '', 'three', '\u3000'), { nil: undefined }), q: fc.option(fc.constantFrom('1', '2', '12', ''), { nil: undefined }),
  hostHeader: fc.boolean(), xb: fc.boolean(),
}).map((x): HttpRequest => ({
  method: x.method, host: x.host, path: x.q !== undefined ? `${x.path}?q=${x.q}` : x.path,
  headers: { ...(x.v !== undefined ? { Version: x.v } : {}), ...(x.hostHeader ? { Host: x.host } : {}), ...(x.xb ? { 'x-b': 'b' } : {}) },
}));

function gatewayDocs(routes: { hostnames: string[]; rules: unknown[]; time?: string }[], listeners: readonly unknown[]): unknown[] {
  return [
    { apiVersion: G, kind: 'GatewayClass', metadata: { name: 'emu' }, spec: { controllerName: 'dpemu.io/gw' } },
    { apiVersion: G, kind: 'Gateway', metadata: { name: 'gw', namespace: 'infra' }, spec: { gatewayClassName: 'emu', addresses: [{ value: ADDRESS }], listeners } },
    ...services(),
    ...routes.map((rt, i) => ({ apiVersion: G, kind: 'HTTPRoute', metadata: { name: `r${i}`, namespace: 'app', ...(rt.time ? { creationTimestamp: rt.time } : {}) },
      spec: { parentRefs: [{ name: 'gw', namespace: 'infra' }], hostnames: rt.hostnames, rules: rt.rules } })),
  ];
}
const ALL = { namespaces: { from: 'All' } };
const listenersArb = fc.constantFrom(
  [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: ALL }],
  [{ name: 'wild', port: 80, protocol: 'HTTP', hostname: '*.example.com', allowedRoutes: ALL }, { name: 'any', port: 80, protocol: 'HTTP', allowedRoutes: ALL }],
  [{ name: 'x', port: 80, protocol: 'HTTP', hostname: 'x.example.com', allowedRoutes: ALL }, { name: 'b', port: 80, protocol: 'HTTP', hostname: '*.b.example.com', allowedRoutes: ALL }],
);

describe('the core decides as the reference does', () => {
  it('Gateway: random routes (regex, filters, weights, invalid and unready backends) and requests, the whole record', async () => {
    await fc.assert(fc.asyncProperty(fc.array(routeArb, { minLength: 1, maxLength: 5 }), listenersArb, fc.array(reqArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 1000 }),
      async (routes, listeners, reqs, seed) => {
        const { ref, core } = both(gatewayDocs(routes, listeners), seed);
        expect(await coreRoute(core, reqs, seed)).toEqual(refRoute(ref, reqs));
      }), { numRuns: 120 });
  });

  const ingressRuleArb = fc.record({
    host: fc.option(fc.constantFrom('x.example.com', '*.example.com', 'a.b.example.com'), { nil: undefined }),
    paths: fc.array(fc.record({ path: pathArb, pathType: fc.constantFrom('Exact', 'Prefix', 'ImplementationSpecific'), svc: fc.constantFrom(...SERVICES, 'e'), port: fc.constantFrom(80, 81) }), { minLength: 0, maxLength: 3 }),
  });
  const ingressArb = fc.record({ rules: fc.array(ingressRuleArb, { maxLength: 3 }), dflt: fc.option(fc.constantFrom('a', 'c', 'e', 'resource'), { nil: undefined }), time: fc.option(fc.constantFrom('2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z'), { nil: undefined }) })
    .filter((i) => i.rules.length > 0 || i.dflt !== undefined);
  const backend = (s: string, port: number) => (s === 'resource' ? { resource: { apiGroup: 'k8s.example.com', kind: 'Bucket', name: 'b' } } : { service: { name: s, port: { number: port } } });

  it('Ingress: random rules, hosts, paths and default backends, the whole record', async () => {
    await fc.assert(fc.asyncProperty(fc.array(ingressArb, { minLength: 1, maxLength: 3 }), fc.array(reqArb, { minLength: 1, maxLength: 30 }), async (ings, reqs) => {
      const docs = [
        { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } }, spec: { controller: 'k8s.io/ingress-nginx' } },
        ...services(),
        ...ings.map((ing, i) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: `i${i}`, namespace: 'app', ...(ing.time ? { creationTimestamp: ing.time } : {}) },
          spec: { ...(ing.dflt ? { defaultBackend: backend(ing.dflt, 80) } : {}),
            rules: ing.rules.map((r) => ({ ...(r.host ? { host: r.host } : {}), ...(r.paths.length ? { http: { paths: r.paths.map((p) => ({ path: p.path, pathType: p.pathType, backend: backend(p.svc, p.port) })) } } : {}) })) },
          status: { loadBalancer: { ingress: [{ ip: ADDRESS }] } } })),
      ];
      const { ref, core } = both(docs, 1);
      expect(await coreRoute(core, reqs, 1)).toEqual(refRoute(ref, reqs));
    }), { numRuns: 80 });
  });

  it('the 90/10 canary split holds in the core within 3 points over 4,000 requests', async () => {
    const r = router(GATEWAY + svc('app', 'stable') + svc('app', 'canary') + route('w', 'app', `parentRefs: [{name: gw, namespace: infra}]
rules: [{backendRefs: [{name: stable, port: 80, weight: 90}, {name: canary, port: 80, weight: 10}]}]`));
    const reqs = Array.from({ length: 4000 }, (): HttpRequest => ({ method: 'GET', host: 'h', path: '/', headers: {} }));
    const got = await coreRoute(r, reqs, 7);
    const canary = got.filter((d) => d.decision.backend_service === 'app/canary:80').length;
    expect(Math.abs(canary / 4000 - 0.1)).toBeLessThan(0.03);
  });

  it('1,000 routes: the index finds the same entries as the reference over many hostnames and first segments', async () => {
    const routes = Array.from({ length: 1000 }, (_, r) => ({
      hostnames: [r % 7 === 0 ? `*.h${r % 20}.example.com` : `h${r % 20}.example.com`],
      rules: [0, 1, 2].map((j) => ({ matches: [{ path: { type: j === 0 ? 'Exact' : j === 1 ? 'PathPrefix' : 'RegularExpression', value: j === 2 ? `/r${r}/[0-9]+` : `/r${r}/p${j}` } }],
        backendRefs: [{ name: 'a', port: 80, weight: 1 }, { name: 'b', port: 80, weight: 1 }] })),
    }));
    routes.push({ hostnames: [], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'a', port: 80, weight: 1 }] }] });
    const { ref, core } = both(gatewayDocs(routes, [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: ALL }]), 3);
    const reqs: HttpRequest[] = [];
    for (let i = 0; i < 600; i++) {
      const r = (i * 37) % 1000, j = i % 4;
      reqs.push({ method: 'GET', host: `${i % 3 === 0 ? 'w.' : ''}h${r % 20}.example.com`, path: j === 3 ? `/r${r}/${i}` : `/r${r}/p${j}${j === 1 ? '/x' : ''}`, headers: {} });
    }
    const got = await coreRoute(core, reqs, 3);
    expect(got).toEqual(refRoute(ref, reqs));
    expect(new Set(got.map((g) => g.decision.route)).size).toBeGreaterThan(100);
  });
});
