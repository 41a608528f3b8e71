import { describe, expect, it } from 'vitest';
import { GATEWAY, get, route, router, svc } from './helpers.js';

const parent = 'parentRefs: [{name: gw, namespace: infra}]';

describe('HTTPRoute matching', () => {
  const r = router(GATEWAY + svc('app', 'exact') + svc('app', 'prefix') + svc('app', 'regex') + svc('app', 'hdr') + svc('app', 'qp') + svc('app', 'post')
    + route('m', 'app', `${parent}
rules:
- matches: [{path: {type: Exact, value: /exact}}]
  backendRefs: [{name: exact, port: 80}]
- matches: [{path: {type: PathPrefix, value: /foo}}]
  backendRefs: [{name: prefix, port: 80}]
- matches: [{path: {type: RegularExpression, value: "/re/[0-9]+"}}]
  backendRefs: [{name: regex, port: 80}]
- matches: [{headers: [{name: Version, value: two}]}]
  backendRefs: [{name: hdr, port: 80}]
- matches: [{queryParams: [{name: v, value: "2"}]}]
  backendRefs: [{name: qp, port: 80}]
- matches: [{method: POST, path: {type: PathPrefix, value: /post}}]
  backendRefs: [{name: post, port: 80}]`));

  it('Exact path matches only the whole path', () => {
    expect(get(r, 'a.com', '/exact').backend_service).toBe('app/exact:80');
    expect(get(r, 'a.com', '/exact/x').status).toBe(404);
  });
  it('PathPrefix matches whole segments only', () => {
    expect(get(r, 'a.com', '/foo').backend_service).toBe('app/prefix:80');
    expect(get(r, 'a.com', '/foo/bar').backend_service).toBe('app/prefix:80');
    expect(get(r, 'a.com', '/foobar').status).toBe(404);
  });
  it('RegularExpression matches the whole path', () => {
    expect(get(r, 'a.com', '/re/42').backend_service).toBe('app/regex:80');
    expect(get(r, 'a.com', '/re/42x').status).toBe(404);
  });
  it('header names are case-insensitive, values exact', () => {
    expect(get(r, 'a.com', '/x', { VERSION: 'two' }).backend_service).toBe('app/hdr:80');
    expect(get(r, 'a.com', '/x', { version: 'Two' }).status).toBe(404);
  });
  it('query parameters and methods', () => {
    expect(get(r, 'a.com', '/x?a=1&v=2').backend_service).toBe('app/qp:80');
    expect(get(r, 'a.com', '/post/1', {}, 'POST').backend_service).toBe('app/post:80');
    expect(get(r, 'a.com', '/post/1', {}, 'GET').status).toBe(404);
  });
  it('the record names the route and rule, request headers lowercased', () => {
    const d = get(r, 'a.com', '/x', { Version: 'two' });
    expect(d).toMatchObject({ status: 200, route: 'app/m', rule: 3, location: null, request: { host: 'a.com', path: '/x', headers: { version: 'two' } } });
  });
});

describe('precedence across routes', () => {
  const base = GATEWAY + ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((n) => svc('app', n)).join('');
  it('hostname: exact beats wildcard beats none', () => {
    const r = router(base
      + route('none', 'app', `${parent}\nrules: [{backendRefs: [{name: a, port: 80}]}]`)
      + route('wild', 'app', `${parent}\nhostnames: ["*.example.com"]\nrules: [{backendRefs: [{name: b, port: 80}]}]`)
      + route('exact', 'app', `${parent}\nhostnames: [foo.example.com]\nrules: [{backendRefs: [{name: c, port: 80}]}]`));
    expect(get(r, 'foo.example.com', '/').route).toBe('app/exact');
    expect(get(r, 'bar.example.com', '/').route).toBe('app/wild');
    expect(get(r, 'a.b.example.com', '/').route).toBe('app/wild'); // one or more labels
    expect(get(r, 'example.com', '/').route).toBe('app/none');
  });
  it('Exact path, longest prefix, method, headers, query params, in that order', () => {
    const r = router(base + route('p', 'app', `${parent}
rules:
- matches: [{path: {type: PathPrefix, value: /v}, headers: [{name: x, value: "1"}, {name: y, value: "1"}], queryParams: [{name: q, value: "1"}]}]
  backendRefs: [{name: a, port: 80}]
- matches: [{path: {type: PathPrefix, value: /v/x}}]
  backendRefs: [{name: b, port: 80}]
- matches: [{path: {type: Exact, value: /v/x}}]
  backendRefs: [{name: c, port: 80}]
- matches: [{path: {type: PathPrefix, value: /w}, headers: [{name: x, value: "1"}]}]
  backendRefs: [{name: d, port: 80}]
- matches: [{path: {type: PathPrefix, value: /w}, method: GET}]
  backendRefs: [{name: e, port: 80}]
- matches: [{path: {type: PathPrefix, value: /z}, queryParams: [{name: q, value: "1"}]}]
  backendRefs: [{name: f, port: 80}]
- matches: [{path: {type: PathPrefix, value: /z}, headers: [{name: x, value: "1"}]}]
  backendRefs: [{name: g, port: 80}]`));
    const h = { x: '1', y: '1' };
    expect(get(r, 'h', '/v/x?q=1', h).backend_service).toBe('app/c:80'); // Exact first
    expect(get(r, 'h', '/v/x/y?q=1', h).backend_service).toBe('app/b:80'); // longer prefix
    expect(get(r, 'h', '/v/z?q=1', h).backend_service).toBe('app/a:80');
    expect(get(r, 'h', '/w', { x: '1' }).backend_service).toBe('app/e:80'); // method before headers
    expect(get(r, 'h', '/z?q=1', { x: '1' }).backend_service).toBe('app/g:80'); // headers before query params
  });
  it('oldest route, then namespace/name, then rule order', () => {
    const r = router(base
      + route('zz', 'app', `${parent}\nrules: [{backendRefs: [{name: a, port: 80}]}]`, ', creationTimestamp: "2024-01-01T00:00:00Z"')
      + route('aa', 'app', `${parent}\nrules: [{backendRefs: [{name: b, port: 80}]}]`, ', creationTimestamp: "2024-06-01T00:00:00Z"'));
    expect(get(r, 'h', '/').route).toBe('app/zz');
    const r2 = router(base
      + route('zz', 'app', `${parent}\nrules: [{backendRefs: [{name: a, port: 80}]}]`)
      + route('aa', 'app', `${parent}\nrules: [{backendRefs: [{name: b, port: 80}]}, {backendRefs: [{name: c, port: 80}]}]`));
    expect(get(r2, 'h', '/')).toMatchObject({ route: 'app/aa', rule: 0 });
  });
});

describe('attachment and status', () => {
  const gw = `---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: emu}
spec: {controllerName: dpemu.io/gateway}
---
apiVersion: v1
kind: Namespace
metadata: {name: team, labels: {expose: "yes"}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: emu
  addresses: [{value: 192.0.2.10}]
  listeners:
  - {name: same, port: 80, protocol: HTTP, hostname: "*.same.io"}
  - {name: sel, port: 80, protocol: HTTP, hostname: "*.sel.io", allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {expose: "yes"}}}}}
  - {name: eight, port: 8080, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
`;
  const yaml = gw + svc('infra', 'a') + svc('team', 'b') + svc('other', 'c')
    + route('r1', 'infra', 'parentRefs: [{name: gw, sectionName: same}]\nrules: [{backendRefs: [{name: a, port: 80}]}]')
    + route('r2', 'team', 'parentRefs: [{name: gw, namespace: infra, sectionName: sel}]\nrules: [{backendRefs: [{name: b, port: 80}]}]')
    + route('r3', 'other', 'parentRefs: [{name: gw, namespace: infra, sectionName: sel}]\nrules: [{backendRefs: [{name: c, port: 80}]}]')
    + route('r4', 'other', 'parentRefs: [{name: gw, namespace: infra, port: 8080}]\nhostnames: [x.io]\nrules: [{backendRefs: [{name: c, port: 80}]}]')
    + route('r5', 'other', 'parentRefs: [{name: gw, namespace: infra, sectionName: nope}]\nrules: [{backendRefs: [{name: c, port: 80}]}]')
    + route('r6', 'infra', 'parentRefs: [{name: gw, sectionName: same}]\nhostnames: [foo.other.io]\nrules: [{backendRefs: [{name: a, port: 80}]}]');
  const r = router(yaml);
  const st = (name: string) => r.statuses.find((s) => s.route === name)!;
  it('Same, Selector, sectionName and port', () => {
    expect(st('infra/r1').acceptedReason).toBe('Accepted');
    expect(st('team/r2').acceptedReason).toBe('Accepted');
    expect(st('other/r3').acceptedReason).toBe('NotAllowedByListeners');
    expect(st('other/r4').acceptedReason).toBe('Accepted');
    expect(st('other/r5').acceptedReason).toBe('NoMatchingParent');
    expect(st('infra/r6').acceptedReason).toBe('NoMatchingListenerHostname');
  });
  it('requests reach only attached routes on the listener for their host and port', () => {
    expect(get(r, 'www.same.io', '/').route).toBe('infra/r1');
    expect(get(r, 'www.sel.io', '/').route).toBe('team/r2');
    expect(get(r, 'x.io', '/', {}, 'GET', '192.0.2.10', 8080).route).toBe('other/r4');
    expect(get(r, 'y.io', '/', {}, 'GET', '192.0.2.10', 8080).status).toBe(404);
    expect(get(r, 'nothing.io', '/').status).toBe(404); // no listener for the host
    expect(r.route('192.0.2.10', 9999, { method: 'GET', host: 'a', path: '/', headers: {} })).toBeUndefined();
  });
});

describe('backendRefs: ReferenceGrant, 500 and 503', () => {
  const grant = `---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow, namespace: back}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: app}]
  to: [{group: "", kind: Service, name: granted}]
`;
  const yaml = GATEWAY + svc('back', 'granted') + svc('back', 'other') + svc('app', 'down', 80, false) + grant
    + route('x', 'app', `${parent}
rules:
- matches: [{path: {value: /granted}}]
  backendRefs: [{name: granted, namespace: back, port: 80}]
- matches: [{path: {value: /notgranted}}]
  backendRefs: [{name: other, namespace: back, port: 80}]
- matches: [{path: {value: /missing}}]
  backendRefs: [{name: nosuch, port: 80}]
- matches: [{path: {value: /kind}}]
  backendRefs: [{group: example.io, kind: Bucket, name: b}]
- matches: [{path: {value: /none}}]
- matches: [{path: {value: /down}}]
  backendRefs: [{name: down, port: 80}]`);
  const r = router(yaml);
  it('cross-namespace refs need a ReferenceGrant', () => {
    expect(get(r, 'h', '/granted')).toMatchObject({ status: 200, backend_service: 'back/granted:80' });
    expect(get(r, 'h', '/notgranted').status).toBe(500);
  });
  it('missing Service, unknown kind, no backendRefs: 500; no ready endpoint: 503', () => {
    expect(get(r, 'h', '/missing').status).toBe(500);
    expect(get(r, 'h', '/kind').status).toBe(500);
    expect(get(r, 'h', '/none').status).toBe(500);
    expect(get(r, 'h', '/down')).toMatchObject({ status: 503, backend_service: 'app/down:80' });
  });
  it('route status: Accepted but ResolvedRefs False with the first reason', () => {
    const s = r.statuses.find((x) => x.route === 'app/x')!;
    expect(s).toMatchObject({ accepted: true, resolvedRefs: false, resolvedRefsReason: 'RefNotPermitted' });
  });
});

describe('weights', () => {
  it('a 90/10 canary holds within 3 points over 4,000 requests; an invalid share gets 500', () => {
    const r = router(GATEWAY + svc('app', 'stable') + svc('app', 'canary') + route('w', 'app', `${parent}
rules:
- matches: [{path: {value: /}}]
  backendRefs: [{name: stable, port: 80, weight: 90}, {name: canary, port: 80, weight: 10}]
- matches: [{path: {value: /half}}]
  backendRefs: [{name: stable, port: 80, weight: 1}, {name: gone, port: 80, weight: 1}]
- matches: [{path: {value: /zero}}]
  backendRefs: [{name: stable, port: 80, weight: 0}]`), 7);
    let canary = 0, errors = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) if (get(r, 'h', '/').backend_service === 'app/canary:80') canary++;
    for (let i = 0; i < n; i++) if (get(r, 'h', '/half').status === 500) errors++;
    expect(Math.abs(canary / n - 0.1)).toBeLessThan(0.03);
    expect(Math.abs(errors / n - 0.5)).toBeLessThan(0.05);
    expect(get(r, 'h', '/zero').status).toBe(500);
  });
});

describe('filters', () => {
  const r = router(GATEWAY + svc('app', 'a') + route('f', 'app', `${parent}
rules:
- matches: [{path: {value: /redir}}]
  filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
- matches: [{path: {value: /host}}]
  filters: [{type: RequestRedirect, requestRedirect: {hostname: other.io, port: 8443}}]
- matches: [{path: {type: PathPrefix, value: /old}}]
  filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]
- matches: [{path: {type: PathPrefix, value: /full}}]
  filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /elsewhere}}}]
- matches: [{path: {type: PathPrefix, value: /strip}}]
  filters: [{type: URLRewrite, urlRewrite: {hostname: internal.io, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
  backendRefs: [{name: a, port: 80}]
- matches: [{path: {type: PathPrefix, value: /hdr}}]
  filters:
  - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Set, value: s}], add: [{name: X-Add, value: b}], remove: [X-Drop]}}
  - {type: ResponseHeaderModifier, responseHeaderModifier: {set: [{name: X-Resp, value: r}]}}
  backendRefs: [{name: a, port: 80}]`));
  it('RequestRedirect: scheme, hostname, port, ReplacePrefixMatch, ReplaceFullPath', () => {
    expect(get(r, 'www.a.io', '/redir')).toMatchObject({ status: 301, location: 'https://www.a.io/redir', backend_service: null });
    expect(get(r, 'www.a.io', '/host').location).toBe('http://other.io:8443/host');
    expect(get(r, 'www.a.io', '/old/x/y?z=1')).toMatchObject({ status: 302, location: 'http://www.a.io/new/x/y?z=1' });
    expect(get(r, 'www.a.io', '/full/x').location).toBe('http://www.a.io/elsewhere');
  });
  it('URLRewrite: hostname and prefix', () => {
    expect(get(r, 'www.a.io', '/strip/three').request).toMatchObject({ host: 'internal.io', path: '/three' });
    expect(get(r, 'www.a.io', '/strip').request.path).toBe('/');
  });
  it('header modifiers: set, add, remove; response headers', () => {
    const d = get(r, 'www.a.io', '/hdr', { 'X-Add': 'a', 'x-drop': '1', 'x-set': 'old' });
    expect(d.request.headers).toEqual({ 'x-add': 'a,b', 'x-set': 's' });
    expect(d.response_headers).toEqual({ 'x-resp': 'r' });
  });
});

describe('Ingress', () => {
  const ing = (name: string, spec: string, cls = 'ingressClassName: nginx') => `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ${name}, namespace: web}
spec:
  ${cls}
${spec.split('\n').map((l) => `  ${l}`).join('\n')}
status: {loadBalancer: {ingress: [{ip: 192.0.2.20}]}}
`;
  const cls = (def: boolean) => `---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx${def ? ', annotations: {ingressclass.kubernetes.io/is-default-class: "true"}' : ''}}
spec: {controller: k8s.io/ingress-nginx}
`;
  const be = (n: string) => `{service: {name: ${n}, port: {number: 80}}}`;
  const services = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => svc('web', n)).join('');
  const yaml = cls(false) + services + ing('main', `defaultBackend: ${be('f')}
rules:
- host: foo.bar.com
  http:
    paths:
    - {path: /, pathType: Prefix, backend: ${be('a')}}
    - {path: /api, pathType: Prefix, backend: ${be('b')}}
    - {path: /api, pathType: Exact, backend: ${be('c')}}
- host: "*.bar.com"
  http: {paths: [{path: /, pathType: Prefix, backend: ${be('d')}}]}
- http: {paths: [{path: /any, pathType: ImplementationSpecific, backend: ${be('e')}}]}`);
  const r = router(yaml);
  const at = (host: string, path: string) => get(r, host, path, {}, 'GET', '192.0.2.20');
  it('longest path, Exact before Prefix of the same length', () => {
    expect(at('foo.bar.com', '/api').backend_service).toBe('web/c:80');
    expect(at('foo.bar.com', '/api/v1').backend_service).toBe('web/b:80');
    expect(at('foo.bar.com', '/apix').backend_service).toBe('web/a:80');
  });
  it('a wildcard host covers exactly one label; other hosts use the rules without host, then defaultBackend', () => {
    expect(at('baz.bar.com', '/x').backend_service).toBe('web/d:80');
    expect(at('a.baz.bar.com', '/any/1').backend_service).toBe('web/e:80');
    expect(at('a.baz.bar.com', '/x')).toMatchObject({ status: 200, backend_service: 'web/f:80', rule: null, route: 'web/main' });
  });
  it('served only through a known or default IngressClass; 404 without a default backend', () => {
    expect(router(services + ing('x', `rules: [{http: {paths: [{path: /, pathType: Prefix, backend: ${be('a')}}]}}]`, '')).answers('192.0.2.20', 80)).toBe(false);
    const r2 = router(cls(true) + services + ing('x', `rules: [{http: {paths: [{path: /p, pathType: Exact, backend: ${be('a')}}]}}]`, ''));
    expect(get(r2, 'h', '/p', {}, 'GET', '192.0.2.20').backend_service).toBe('web/a:80');
    expect(get(r2, 'h', '/q', {}, 'GET', '192.0.2.20').status).toBe(404);
  });
});
