// Parsing and defaulting of the north-south kinds into model.ts, in the style of src/k8s/parse-policy.ts:
// a bad field fails with the file, the object and the field path (ManifestError via Reader).
// Defaults are the CRDs' (gateway-api apis/v1 kubebuilder defaults) and networking.k8s.io/v1's.

import { ParseContext, parseLabelSelector, parseMeta } from '../k8s/parse.js';
import { Obj, Reader, dns1123LabelError, dns1123SubdomainError, show } from '../k8s/validate.js';
import {
  BackendRef, GATEWAY_GROUP, Gateway, GatewayClass, HTTPRoute, HeaderModifier, Ingress, IngressBackend, IngressClass,
  Listener, ParentRef, PathMatch, PathModifier, ReferenceGrant, RouteFilter, RouteMatch, RouteRule, ValueMatch,
} from './model.js';

const nameOk = (s: string) => dns1123SubdomainError(s);

/** gateway_types.go Hostname: a DNS name, optionally prefixed by a single "*." wildcard label; no IPs, no port. */
function hostname(r: Reader, v: unknown, path: string, wildcard = true): string | undefined {
  const s = r.str(v, path);
  if (s === undefined || s === '') return undefined;
  const bare = wildcard && s.startsWith('*.') ? s.slice(2) : s;
  if (/^[0-9.]+$/.test(bare)) r.fail(path, `must be a DNS name, not an IP address, got ${show(s)}`);
  if (dns1123SubdomainError(bare.toLowerCase())) r.fail(path, `must be a DNS name${wildcard ? ' optionally prefixed by "*."' : ''}, got ${show(s)}`);
  return s.toLowerCase();
}

function addresses(r: Reader, v: unknown, path: string): string | undefined {
  const list = r.arr(v, path);
  if (!list.length) return undefined;
  const o = r.reqObj(list[0], `${path}[0]`);
  return r.str(o.value, `${path}[0].value`) || undefined;
}

export function parseGatewayClass(r: Reader, o: Obj): GatewayClass {
  const m = parseMeta(r, o, false, nameOk);
  const spec = r.reqObj(o.spec, 'spec');
  return { name: m.name, controllerName: r.reqStr(spec.controllerName, 'spec.controllerName') };
}

export function parseGateway(r: Reader, o: Obj): Gateway {
  const m = parseMeta(r, o, true, nameOk);
  const spec = r.reqObj(o.spec, 'spec');
  const className = r.reqStr(spec.gatewayClassName, 'spec.gatewayClassName');
  const seen = new Set<string>();
  const listeners = r.arr(spec.listeners, 'spec.listeners').map((lv, i): Listener => {
    const p = `spec.listeners[${i}]`;
    const l = r.reqObj(lv, p);
    const name = r.reqStr(l.name, `${p}.name`);
    r.nameCheck(name, `${p}.name`, dns1123SubdomainError);
    if (seen.has(name)) r.fail(`${p}.name`, `duplicate listener name ${show(name)} (listener names must be unique)`);
    seen.add(name);
    const protocol = r.reqStr(l.protocol, `${p}.protocol`);
    const port = r.reqInt(l.port, `${p}.port`, 1, 65535);
    const ar = r.obj(l.allowedRoutes, `${p}.allowedRoutes`) ?? {};
    const ns = r.obj(ar.namespaces, `${p}.allowedRoutes.namespaces`) ?? {};
    // AllowedRoutes.Namespaces.From defaults to Same (gateway_types.go RouteNamespaces).
    const from = r.oneOf(ns.from, `${p}.allowedRoutes.namespaces.from`, ['Same', 'All', 'Selector'] as const) ?? 'Same';
    const namespaces = from === 'Selector'
      ? { from, selector: parseLabelSelector(r, ns.selector, `${p}.allowedRoutes.namespaces.selector`, { allowEmpty: true }) }
      : { from };
    let kinds = r.arr(ar.kinds, `${p}.allowedRoutes.kinds`).map((kv, j) => {
      const k = r.reqObj(kv, `${p}.allowedRoutes.kinds[${j}]`);
      const group = r.str(k.group, `${p}.allowedRoutes.kinds[${j}].group`) ?? GATEWAY_GROUP;
      return `${group}/${r.reqStr(k.kind, `${p}.allowedRoutes.kinds[${j}].kind`)}`;
    });
    // Kinds unset: the kinds the listener's protocol supports (HTTP and HTTPS -> HTTPRoute).
    if (!kinds.length) kinds = protocol === 'HTTP' || protocol === 'HTTPS' ? [`${GATEWAY_GROUP}/HTTPRoute`] : [];
    const h = hostname(r, l.hostname, `${p}.hostname`);
    return { name, port, protocol, namespaces, kinds, ...(h ? { hostname: h } : {}) };
  });
  if (!listeners.length) r.fail('spec.listeners', 'required (at least one listener)');
  const status = r.obj(o.status, 'status') ?? {};
  const address = addresses(r, status.addresses, 'status.addresses') ?? addresses(r, spec.addresses, 'spec.addresses');
  return { namespace: m.namespace!, name: m.name, className, listeners, ...(address ? { address } : {}) };
}

function parentRef(r: Reader, v: unknown, p: string, ns: string): ParentRef {
  const o = r.reqObj(v, p);
  const sectionName = r.str(o.sectionName, `${p}.sectionName`);
  const port = r.int(o.port, `${p}.port`, 1, 65535);
  return {
    group: r.str(o.group, `${p}.group`) ?? GATEWAY_GROUP,
    kind: r.str(o.kind, `${p}.kind`) || 'Gateway',
    namespace: r.str(o.namespace, `${p}.namespace`) || ns,
    name: r.reqStr(o.name, `${p}.name`),
    ...(sectionName ? { sectionName } : {}),
    ...(port !== undefined ? { port } : {}),
  };
}

function checkRegex(r: Reader, s: string, p: string) {
  try { new RegExp(s); } catch (e) { r.fail(p, `not a valid regular expression: ${(e as Error).message}`); }
}

function valueMatches(r: Reader, v: unknown, p: string, lower: boolean): ValueMatch[] {
  const seen = new Set<string>();
  const out: ValueMatch[] = [];
  r.arr(v, p).forEach((hv, i) => {
    const h = r.reqObj(hv, `${p}[${i}]`);
    const type = r.oneOf(h.type, `${p}[${i}].type`, ['Exact', 'RegularExpression'] as const) ?? 'Exact';
    const name0 = r.reqStr(h.name, `${p}[${i}].name`);
    const name = lower ? name0.toLowerCase() : name0;
    const value = r.str(h.value, `${p}[${i}].value`) ?? '';
    if (type === 'RegularExpression') checkRegex(r, value, `${p}[${i}].value`);
    // "If multiple entries specify equivalent header names, only the first entry ... MUST be considered."
    if (seen.has(name)) return;
    seen.add(name);
    out.push({ type, name, value });
  });
  return out;
}

function routeMatch(r: Reader, v: unknown, p: string): RouteMatch {
  const o = r.obj(v, p) ?? {};
  const po = r.obj(o.path, `${p}.path`) ?? {};
  // HTTPPathMatch defaults: type PathPrefix, value "/".
  const type = r.oneOf(po.type, `${p}.path.type`, ['Exact', 'PathPrefix', 'RegularExpression'] as const) ?? 'PathPrefix';
  const value = r.str(po.value, `${p}.path.value`) || '/';
  if (type !== 'RegularExpression' && !value.startsWith('/')) r.fail(`${p}.path.value`, `must be an absolute path starting with "/", got ${show(value)}`);
  if (type === 'RegularExpression') checkRegex(r, value, `${p}.path.value`);
  const path: PathMatch = { type, value };
  const method = r.oneOf(o.method, `${p}.method`, ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const);
  return {
    path, headers: valueMatches(r, o.headers, `${p}.headers`, true), queryParams: valueMatches(r, o.queryParams, `${p}.queryParams`, false),
    ...(method ? { method } : {}),
  };
}

function headerModifier(r: Reader, v: unknown, p: string): HeaderModifier {
  const o = r.reqObj(v, p);
  const pairs = (x: unknown, q: string) => r.arr(x, q).map((hv, i): [string, string] => {
    const h = r.reqObj(hv, `${q}[${i}]`);
    return [r.reqStr(h.name, `${q}[${i}].name`).toLowerCase(), r.str(h.value, `${q}[${i}].value`) ?? ''];
  });
  return {
    set: pairs(o.set, `${p}.set`), add: pairs(o.add, `${p}.add`),
    remove: r.arr(o.remove, `${p}.remove`).map((x, i) => r.reqStr(x, `${p}.remove[${i}]`).toLowerCase()),
  };
}

function pathModifier(r: Reader, v: unknown, p: string): PathModifier | undefined {
  const o = r.obj(v, p);
  if (!o) return undefined;
  const type = r.oneOf(o.type, `${p}.type`, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const);
  if (!type) r.fail(`${p}.type`, 'required');
  const value = type === 'ReplaceFullPath' ? r.str(o.replaceFullPath, `${p}.replaceFullPath`) : r.str(o.replacePrefixMatch, `${p}.replacePrefixMatch`);
  if (value === undefined) r.fail(`${p}.${type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch'}`, `required when type is ${type}`);
  return { type, value };
}

function filter(r: Reader, v: unknown, p: string): RouteFilter {
  const o = r.reqObj(v, p);
  const type = r.reqStr(o.type, `${p}.type`);
  switch (type) {
    case 'RequestHeaderModifier': return { type, modifier: headerModifier(r, o.requestHeaderModifier, `${p}.requestHeaderModifier`) };
    case 'ResponseHeaderModifier': return { type, modifier: headerModifier(r, o.responseHeaderModifier, `${p}.responseHeaderModifier`) };
    case 'RequestRedirect': {
      const q = `${p}.requestRedirect`;
      const rr = r.reqObj(o.requestRedirect, q);
      const scheme = r.oneOf(rr.scheme, `${q}.scheme`, ['http', 'https'] as const);
      const h = hostname(r, rr.hostname, `${q}.hostname`, false);
      const port = r.int(rr.port, `${q}.port`, 1, 65535);
      const path = pathModifier(r, rr.path, `${q}.path`);
      // statusCode: 301 or 302, default 302 (HTTPRequestRedirectFilter.StatusCode).
      const statusCode = r.int(rr.statusCode, `${q}.statusCode`, 100, 599) ?? 302;
      if (statusCode !== 301 && statusCode !== 302) r.fail(`${q}.statusCode`, `must be 301 or 302, got ${statusCode}`);
      return { type, statusCode, ...(scheme ? { scheme } : {}), ...(h ? { hostname: h } : {}), ...(port ? { port } : {}), ...(path ? { path } : {}) };
    }
    case 'URLRewrite': {
      const q = `${p}.urlRewrite`;
      const u = r.reqObj(o.urlRewrite, q);
      const h = hostname(r, u.hostname, `${q}.hostname`, false);
      const path = pathModifier(r, u.path, `${q}.path`);
      return { type, ...(h ? { hostname: h } : {}), ...(path ? { path } : {}) };
    }
    case 'RequestMirror': case 'CORS': case 'ExtensionRef': case 'ExternalAuth':
      return { type: 'Unsupported', name: type };
    default: r.fail(`${p}.type`, `unknown filter type ${show(type)}`);
  }
}

function backendRef(r: Reader, v: unknown, p: string, ns: string): BackendRef {
  const o = r.reqObj(v, p);
  const group = r.str(o.group, `${p}.group`) ?? '';
  const kind = r.str(o.kind, `${p}.kind`) || 'Service';
  const port = r.int(o.port, `${p}.port`, 1, 65535);
  // "Port is required when the referent is a Kubernetes Service" (BackendObjectReference.Port).
  if (group === '' && kind === 'Service' && port === undefined) r.fail(`${p}.port`, 'required when the backend is a Service');
  return {
    group, kind, name: r.reqStr(o.name, `${p}.name`), namespace: r.str(o.namespace, `${p}.namespace`) || ns,
    // Weight defaults to 1, range 0..1,000,000 (BackendRef.Weight).
    weight: r.int(o.weight, `${p}.weight`, 0, 1_000_000) ?? 1,
    ...(port !== undefined ? { port } : {}),
  };
}

export function parseHTTPRoute(r: Reader, o: Obj): HTTPRoute {
  const m = parseMeta(r, o, true, nameOk);
  const ns = m.namespace!;
  const md = r.obj(o.metadata, 'metadata') ?? {};
  const creationTimestamp = r.str(md.creationTimestamp, 'metadata.creationTimestamp');
  const spec = r.reqObj(o.spec, 'spec');
  const parentRefs = r.arr(spec.parentRefs, 'spec.parentRefs').map((v, i) => parentRef(r, v, `spec.parentRefs[${i}]`, ns));
  const hostnames = r.arr(spec.hostnames, 'spec.hostnames').map((v, i) => hostname(r, v, `spec.hostnames[${i}]`)!).filter(Boolean);
  let rulesIn = r.arr(spec.rules, 'spec.rules');
  // Rules default to one rule matching PathPrefix "/" (HTTPRouteSpec.Rules default).
  if (!rulesIn.length) rulesIn = [{}];
  const rules = rulesIn.map((rv, i): RouteRule => {
    const p = `spec.rules[${i}]`;
    const ro = r.obj(rv, p) ?? {};
    let matches = r.arr(ro.matches, `${p}.matches`).map((mv, j) => routeMatch(r, mv, `${p}.matches[${j}]`));
    if (!matches.length) matches = [routeMatch(r, {}, `${p}.matches`)];
    const filters = r.arr(ro.filters, `${p}.filters`).map((fv, j) => filter(r, fv, `${p}.filters[${j}]`));
    const redirect = filters.some((f) => f.type === 'RequestRedirect');
    if (redirect && filters.some((f) => f.type === 'URLRewrite')) r.fail(`${p}.filters`, 'RequestRedirect and URLRewrite cannot both be set');
    for (const f of filters) {
      if ((f.type === 'RequestRedirect' || f.type === 'URLRewrite') && f.path?.type === 'ReplacePrefixMatch'
        && !matches.every((mm) => mm.path.type === 'PathPrefix')) {
        r.fail(`${p}.filters`, 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match');
      }
    }
    const backendRefs = r.arr(ro.backendRefs, `${p}.backendRefs`).map((bv, j) => {
      const b = r.reqObj(bv, `${p}.backendRefs[${j}]`);
      if (r.arr(b.filters, `${p}.backendRefs[${j}].filters`).length) {
        // per-backend filters are not emulated; reported below
      }
      return backendRef(r, bv, `${p}.backendRefs[${j}]`, ns);
    });
    const unsupported: string[] = [];
    for (const f of filters) if (f.type === 'Unsupported') unsupported.push(`filter ${f.name}`);
    for (const k of ['timeouts', 'retry', 'sessionPersistence']) if (ro[k] !== undefined && ro[k] !== null) unsupported.push(k);
    r.arr(ro.backendRefs, `${p}.backendRefs`).forEach((bv, j) => {
      if (r.arr((bv as Obj).filters, `${p}.backendRefs[${j}].filters`).length) unsupported.push(`backendRefs[${j}].filters`);
    });
    return { matches, filters: filters.filter((f) => f.type !== 'Unsupported'), backendRefs, unsupported };
  });
  return { namespace: ns, name: m.name, parentRefs, hostnames, rules, ...(creationTimestamp ? { creationTimestamp } : {}) };
}

export function parseReferenceGrant(r: Reader, o: Obj): ReferenceGrant {
  const m = parseMeta(r, o, true, nameOk);
  const spec = r.reqObj(o.spec, 'spec');
  const from = r.arr(spec.from, 'spec.from').map((v, i) => {
    const f = r.reqObj(v, `spec.from[${i}]`);
    const ns = r.reqStr(f.namespace, `spec.from[${i}].namespace`);
    r.nameCheck(ns, `spec.from[${i}].namespace`, dns1123LabelError);
    return { group: r.str(f.group, `spec.from[${i}].group`) ?? '', kind: r.reqStr(f.kind, `spec.from[${i}].kind`), namespace: ns };
  });
  const to = r.arr(spec.to, 'spec.to').map((v, i) => {
    const t = r.reqObj(v, `spec.to[${i}]`);
    const name = r.str(t.name, `spec.to[${i}].name`);
    return { group: r.str(t.group, `spec.to[${i}].group`) ?? '', kind: r.reqStr(t.kind, `spec.to[${i}].kind`), ...(name ? { name } : {}) };
  });
  if (!from.length) r.fail('spec.from', 'required (at least one entry)');
  if (!to.length) r.fail('spec.to', 'required (at least one entry)');
  return { namespace: m.namespace!, name: m.name, from, to };
}

function ingressBackend(r: Reader, v: unknown, p: string): IngressBackend {
  const o = r.reqObj(v, p);
  const s = r.obj(o.service, `${p}.service`);
  const res = r.obj(o.resource, `${p}.resource`);
  if (s && res) r.fail(p, 'service and resource are mutually exclusive');
  if (res) return { resource: `${r.str(res.kind, `${p}.resource.kind`) ?? ''}/${r.str(res.name, `${p}.resource.name`) ?? ''}` };
  if (!s) r.fail(p, 'one of service or resource is required');
  const name = r.reqStr(s.name, `${p}.service.name`);
  const po = r.reqObj(s.port, `${p}.service.port`);
  const num = r.int(po.number, `${p}.service.port.number`, 1, 65535);
  const pname = r.str(po.name, `${p}.service.port.name`);
  if ((num === undefined) === !pname) r.fail(`${p}.service.port`, 'exactly one of number or name is required');
  return { service: { name, port: num ?? pname! } };
}

export function parseIngress(r: Reader, o: Obj, pc: ParseContext): Ingress {
  const m = parseMeta(r, o, true, nameOk);
  const md = r.obj(o.metadata, 'metadata') ?? {};
  const creationTimestamp = r.str(md.creationTimestamp, 'metadata.creationTimestamp');
  const spec = r.obj(o.spec, 'spec') ?? {};
  let className = r.str(spec.ingressClassName, 'spec.ingressClassName');
  const ann = r.stringMap(md.annotations, 'metadata.annotations');
  // The deprecated annotation still names a class when the field is unset.
  if (!className && ann['kubernetes.io/ingress.class']) {
    className = ann['kubernetes.io/ingress.class'];
    pc.warn(r, 'deprecated-annotation', 'metadata.annotations', 'kubernetes.io/ingress.class is deprecated; use spec.ingressClassName');
  }
  const defaultBackend = spec.defaultBackend === undefined || spec.defaultBackend === null ? undefined : ingressBackend(r, spec.defaultBackend, 'spec.defaultBackend');
  const rules = r.arr(spec.rules, 'spec.rules').map((rv, i) => {
    const p = `spec.rules[${i}]`;
    const ro = r.reqObj(rv, p);
    const host = r.str(ro.host, `${p}.host`) || undefined;
    if (host) {
      // IngressRule.Host: a DNS name, optionally "*." followed by a DNS name; no IP address, no port.
      const bare = host.startsWith('*.') ? host.slice(2) : host;
      if (/^[0-9.]+$/.test(bare) || dns1123SubdomainError(bare)) r.fail(`${p}.host`, `must be a DNS name optionally prefixed by "*." (not an IP), got ${show(host)}`);
    }
    const http = r.obj(ro.http, `${p}.http`);
    const paths = http ? r.arr(http.paths, `${p}.http.paths`).map((pv, j) => {
      const q = `${p}.http.paths[${j}]`;
      const po = r.reqObj(pv, q);
      const pathType = r.oneOf(po.pathType, `${q}.pathType`, ['Exact', 'Prefix', 'ImplementationSpecific'] as const);
      if (!pathType) r.fail(`${q}.pathType`, 'required');
      const path = r.str(po.path, `${q}.path`) || '/';
      if (!path.startsWith('/')) r.fail(`${q}.path`, `must be an absolute path, got ${show(path)}`);
      return { path, pathType, backend: ingressBackend(r, po.backend, `${q}.backend`) };
    }) : [];
    return { paths, ...(host ? { host: host.toLowerCase() } : {}) };
  });
  if (!rules.length && !defaultBackend) r.fail('spec', 'either defaultBackend or rules must be specified');
  const tlsHosts = r.arr(spec.tls, 'spec.tls').flatMap((tv, i) => r.arr(r.reqObj(tv, `spec.tls[${i}]`).hosts, `spec.tls[${i}].hosts`).map((h, j) => r.reqStr(h, `spec.tls[${i}].hosts[${j}]`)));
  const status = r.obj(o.status, 'status') ?? {};
  const lb = r.obj(status.loadBalancer, 'status.loadBalancer') ?? {};
  const lbi = r.arr(lb.ingress, 'status.loadBalancer.ingress');
  const address = lbi.length ? r.str(r.reqObj(lbi[0], 'status.loadBalancer.ingress[0]').ip, 'status.loadBalancer.ingress[0].ip') : undefined;
  return {
    namespace: m.namespace!, name: m.name, rules, tlsHosts,
    ...(className ? { className } : {}), ...(defaultBackend ? { defaultBackend } : {}), ...(address ? { address } : {}),
    ...(creationTimestamp ? { creationTimestamp } : {}),
  };
}

export function parseIngressClass(r: Reader, o: Obj): IngressClass {
  const m = parseMeta(r, o, false, nameOk);
  const md = r.obj(o.metadata, 'metadata') ?? {};
  const ann = r.stringMap(md.annotations, 'metadata.annotations');
  const spec = r.obj(o.spec, 'spec') ?? {};
  // The default class is marked by this annotation (IngressClass docs, "Default IngressClass").
  return { name: m.name, controller: r.str(spec.controller, 'spec.controller') ?? '', isDefault: ann['ingressclass.kubernetes.io/is-default-class'] === 'true' };
}
