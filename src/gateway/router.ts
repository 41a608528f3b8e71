// The north-south reference router (the oracle): route attachment and status, and the per-request decision
// (listener, match, precedence, filters, weighted backend choice) written the obvious way, straight from the
// Gateway API's apis/v1 documentation and its conformance tests, and from the Ingress documentation.

import { labelSelectorMatches } from '../k8s/labels.js';
import { LABEL_NAMESPACE_NAME } from '../k8s/load.js';
import { ClusterModel, Service, slicesForService } from '../k8s/model.js';
import { Prng } from '../common/prng.js';
import { regexFullMatch } from './regex.js';
import { gatewayHostMatches, hostnamesIntersect, ingressHostMatches, requestHost } from './hostnames.js';
import {
  BackendRef, GATEWAY_GROUP, Gateway, HTTPRoute, HeaderModifier, Ingress, IngressBackend, Listener, NorthSouth, PathModifier,
  RouteMatch, RouteRule, emptyNorthSouth,
} from './model.js';

export interface HttpRequest { method: string; host: string; path: string; headers: Record<string, string> }

export interface HttpDecision {
  status: number;
  route: string | null;
  rule: number | null;
  backend_service: string | null;
  location: string | null;
  /** The request as the backend receives it (after URLRewrite and RequestHeaderModifier); names lowercased. */
  request: { host: string; path: string; headers: Record<string, string> };
  response_headers: Record<string, string>;
}

/** Where a routed request goes: the Service port to connect to (the dataplane then picks the endpoint). */
export interface HttpTarget { namespace: string; name: string; port: number; clusterIP?: string }

export type AcceptedReason = 'Accepted' | 'NotAllowedByListeners' | 'NoMatchingListenerHostname' | 'NoMatchingParent';
export type ResolvedRefsReason = 'ResolvedRefs' | 'RefNotPermitted' | 'BackendNotFound' | 'InvalidKind';

export interface RouteParentStatus {
  route: string; parent: string; accepted: boolean; acceptedReason: AcceptedReason;
  resolvedRefs: boolean; resolvedRefsReason: ResolvedRefsReason; message: string;
}

export interface RouterOptions { seed?: number }

/** A backendRef resolved: the Service port it names, or why it is invalid. */
type ResolvedBackend = { ok: true; svc: Service; port: number } | { ok: false; reason: Exclude<ResolvedRefsReason, 'ResolvedRefs'>; message: string };

export interface Attachment { gateway: Gateway; listener: Listener; route: HTTPRoute }

const key = (ns: string, name: string) => `${ns}/${name}`;

export class NorthSouthRouter {
  readonly ns: NorthSouth;
  readonly statuses: RouteParentStatus[] = [];
  /** (gateway, listener, route) for every attached route, in route order (read by the table compiler). */
  readonly attachments: Attachment[] = [];
  private readonly services = new Map<string, Service>();
  /** The weighted choice's generator (its state is part of an emulator's snapshot: trace-hook.ts httpDrawState). */
  readonly prng: Prng;

  constructor(readonly model: ClusterModel, opts: RouterOptions = {}) {
    this.ns = model.northSouth ?? emptyNorthSouth();
    this.prng = new Prng(opts.seed ?? 1);
    for (const s of model.services) this.services.set(key(s.namespace, s.name), s);
    this.attach();
  }

  // ---- attachment and status ----------------------------------------------------------------

  private namespaceLabels(ns: string): Record<string, string> {
    return this.model.namespaces.find((n) => n.name === ns)?.labels ?? { [LABEL_NAMESPACE_NAME]: ns };
  }

  /** Every GatewayClass in the input is served: dpemu plays its controller. */
  served(g: Gateway): boolean { return this.ns.gatewayClasses.some((c) => c.name === g.className); }

  private attach() {
    for (const route of this.ns.httpRoutes) {
      const refsProblem = this.firstRefProblem(route);
      for (const pr of route.parentRefs) {
        if (pr.group !== GATEWAY_GROUP || pr.kind !== 'Gateway') {
          this.push(route, `${pr.kind} ${key(pr.namespace, pr.name)}`, 'NoMatchingParent', refsProblem, `parent kind ${pr.kind} is not a Gateway`);
          continue;
        }
        const parent = `Gateway ${key(pr.namespace, pr.name)}${pr.sectionName ? `/${pr.sectionName}` : ''}${pr.port ? `:${pr.port}` : ''}`;
        const g = this.ns.gateways.find((x) => x.namespace === pr.namespace && x.name === pr.name);
        if (!g || !this.served(g)) {
          this.push(route, parent, 'NoMatchingParent', refsProblem, g ? `GatewayClass ${g.className} is not in the input` : 'no such Gateway');
          continue;
        }
        // ParentReference.SectionName / Port: the route attaches only to the listeners named.
        const named = g.listeners.filter((l) => (!pr.sectionName || l.name === pr.sectionName) && (!pr.port || l.port === pr.port));
        if (!named.length) { this.push(route, parent, 'NoMatchingParent', refsProblem, 'no listener matches the sectionName/port'); continue; }
        // AllowedRoutes: the route's kind and namespace must be admitted (gateway_types.go AllowedRoutes).
        const allowed = named.filter((l) => l.kinds.includes(`${GATEWAY_GROUP}/HTTPRoute`) && this.namespaceAllowed(l, g, route.namespace));
        if (!allowed.length) { this.push(route, parent, 'NotAllowedByListeners', refsProblem, 'the listeners do not admit this route'); continue; }
        const hosted = allowed.filter((l) => hostnamesIntersect(l.hostname, route.hostnames));
        if (!hosted.length) { this.push(route, parent, 'NoMatchingListenerHostname', refsProblem, 'no listener hostname intersects the route hostnames'); continue; }
        for (const l of hosted) this.attachments.push({ gateway: g, listener: l, route });
        this.push(route, parent, 'Accepted', refsProblem, '');
      }
    }
  }

  private namespaceAllowed(l: Listener, g: Gateway, ns: string): boolean {
    switch (l.namespaces.from) {
      case 'All': return true;
      case 'Same': return ns === g.namespace;
      case 'Selector': return labelSelectorMatches(l.namespaces.selector, this.namespaceLabels(ns));
    }
  }

  private push(route: HTTPRoute, parent: string, reason: AcceptedReason, refs: ResolvedBackend | undefined, message: string) {
    const bad = refs && !refs.ok ? refs : undefined;
    this.statuses.push({
      route: key(route.namespace, route.name), parent, accepted: reason === 'Accepted', acceptedReason: reason,
      resolvedRefs: !bad, resolvedRefsReason: bad ? bad.reason : 'ResolvedRefs', message: [message, bad?.message].filter(Boolean).join('; '),
    });
  }

  private firstRefProblem(route: HTTPRoute): ResolvedBackend | undefined {
    for (const rule of route.rules) for (const b of rule.backendRefs) {
      const r = this.resolve(route, b);
      if (!r.ok) return r;
    }
    return undefined;
  }

  /** A backendRef checked as the spec's ResolvedRefs condition reasons say. */
  resolve(route: HTTPRoute, b: BackendRef): ResolvedBackend {
    const what = `${b.kind} ${key(b.namespace, b.name)}`;
    // RouteReasonInvalidKind: a kind the implementation does not support (only core Services here).
    if (b.group !== '' || b.kind !== 'Service') return { ok: false, reason: 'InvalidKind', message: `backendRef ${what}: unsupported kind` };
    // RouteReasonRefNotPermitted: a cross-namespace reference needs a ReferenceGrant in the target namespace.
    if (b.namespace !== route.namespace && !this.granted(route.namespace, b)) {
      return { ok: false, reason: 'RefNotPermitted', message: `backendRef ${what}: no ReferenceGrant in ${b.namespace} allows HTTPRoutes from ${route.namespace}` };
    }
    const svc = this.services.get(key(b.namespace, b.name));
    if (!svc) return { ok: false, reason: 'BackendNotFound', message: `backendRef ${what}: no such Service` };
    if (!svc.ports.some((p) => p.port === b.port)) return { ok: false, reason: 'BackendNotFound', message: `backendRef ${what}: the Service has no port ${b.port}` };
    return { ok: true, svc, port: b.port! };
  }

  private granted(fromNs: string, b: BackendRef): boolean {
    // ReferenceGrant: in the referent's namespace, from {group, kind: HTTPRoute, namespace}, to {group "", kind Service, name?}.
    return this.ns.referenceGrants.some((g) => g.namespace === b.namespace
      && g.from.some((f) => f.group === GATEWAY_GROUP && f.kind === 'HTTPRoute' && f.namespace === fromNs)
      && g.to.some((t) => t.group === b.group && t.kind === b.kind && (t.name === undefined || t.name === b.name)));
  }

  // ---- entry points ---------------------------------------------------------------------------

  /** Ingresses served: ingressClassName names a class in the input, or none is named and a class is the default. */
  servedIngresses(): Ingress[] {
    const hasDefault = this.ns.ingressClasses.some((c) => c.isDefault);
    return this.ns.ingresses.filter((i) => (i.className ? this.ns.ingressClasses.some((c) => c.name === i.className) : hasDefault));
  }

  /** Is (address, port) a Gateway listener or an Ingress? */
  answers(address: string, port: number): boolean {
    return this.ns.gateways.some((g) => this.served(g) && g.address === address && g.listeners.some((l) => l.port === port && l.protocol === 'HTTP'))
      || (port === 80 && this.servedIngresses().some((i) => i.address === address));
  }

  /** The decision for one request arriving at (address, port); undefined when nothing answers there. */
  route(address: string, port: number, req: HttpRequest): { decision: HttpDecision; target?: HttpTarget } | undefined {
    const gateways = this.ns.gateways.filter((g) => this.served(g) && g.address === address);
    const listeners = gateways.flatMap((g) => g.listeners.filter((l) => l.port === port && l.protocol === 'HTTP').map((l) => ({ g, l })));
    if (listeners.length) return this.routeGateway(listeners, req);
    if (port === 80) {
      const ing = this.servedIngresses().filter((i) => i.address === address);
      if (ing.length) return this.routeIngress(ing, req);
    }
    return undefined;
  }

  // ---- Gateway ----------------------------------------------------------------------------------

  private routeGateway(listeners: { g: Gateway; l: Listener }[], req0: HttpRequest) {
    const req = normalize(req0);
    const host = requestHost(req.host);
    // The most specific listener hostname takes the request: exact, then the longest wildcard, then none
    // (gateway_types.go Listener.Hostname / "Listeners with the same port").
    const spec = listenerRank;
    const matching = listeners.filter(({ l }) => l.hostname === undefined || gatewayHostMatches(l.hostname, host));
    if (!matching.length) return { decision: notFound(req) };
    const best = Math.max(...matching.map(({ l }) => spec(l.hostname)));
    const chosen = matching.filter(({ l }) => spec(l.hostname) === best);
    const [path, query] = splitPath(req.path);
    type Cand = { route: HTTPRoute; ruleIdx: number; rule: RouteRule; match: RouteMatch; matchIdx: number; hostExact: number; hostLen: number };
    const cands: Cand[] = [];
    const seen = new Set<HTTPRoute>();
    for (const a of this.attachments) {
      if (!chosen.some((c) => c.g === a.gateway && c.l === a.listener) || seen.has(a.route)) continue;
      seen.add(a.route);
      const route = a.route;
      let hostExact = 0, hostLen = 0;
      if (route.hostnames.length) {
        const hits = route.hostnames.filter((h) => gatewayHostMatches(h, host));
        if (!hits.length) continue;
        for (const h of hits) {
          const exact = h.startsWith('*.') ? 0 : h.length;
          if (exact > hostExact || (exact === hostExact && h.length > hostLen)) { hostExact = exact; hostLen = h.length; }
        }
      } else if (a.listener.hostname) {
        hostExact = a.listener.hostname.startsWith('*.') ? 0 : a.listener.hostname.length;
        hostLen = a.listener.hostname.length;
      }
      route.rules.forEach((rule, ruleIdx) => rule.matches.forEach((match, matchIdx) => {
        if (matches(match, req.method, path, query, req.headers)) cands.push({ route, ruleIdx, rule, match, matchIdx, hostExact, hostLen });
      }));
    }
    if (!cands.length) return { decision: notFound(req) };
    cands.sort((a, b) => comparePrecedence(a, b));
    const c = cands[0];
    return this.act(c.route, c.ruleIdx, c.rule, c.match, req, host, path, query, chosen[0].l.port);
  }

  private act(route: HTTPRoute, ruleIdx: number, rule: RouteRule, match: RouteMatch, req: HttpRequest, host: string, path: string, query: string, listenerPort: number) {
    const decision: HttpDecision = {
      status: 200, route: key(route.namespace, route.name), rule: ruleIdx, backend_service: null, location: null,
      request: { host: req.host, path: req.path, headers: { ...req.headers } }, response_headers: {},
    };
    for (const f of rule.filters) if (f.type === 'ResponseHeaderModifier') applyHeaders(decision.response_headers, f.modifier);
    const redirect = rule.filters.find((f) => f.type === 'RequestRedirect');
    if (redirect && redirect.type === 'RequestRedirect') {
      // HTTPRequestRedirectFilter: scheme and hostname default to the request's; port: the scheme's well-known
      // port when a scheme is given, else the listener's; the port is left out of Location when it is the
      // scheme's default (80 for http, 443 for https).
      const scheme = redirect.scheme ?? 'http';
      const rhost = redirect.hostname ?? host;
      const rport = redirect.port ?? (redirect.scheme ? (scheme === 'https' ? 443 : 80) : listenerPort);
      const rpath = redirect.path ? modifyPath(redirect.path, match, path) : path;
      const showPort = !((scheme === 'http' && rport === 80) || (scheme === 'https' && rport === 443));
      decision.status = redirect.statusCode;
      decision.location = `${scheme}://${rhost}${showPort ? `:${rport}` : ''}${rpath}${query ? `?${query}` : ''}`;
      return { decision };
    }
    for (const f of rule.filters) {
      if (f.type === 'RequestHeaderModifier') applyHeaders(decision.request.headers, f.modifier);
      if (f.type === 'URLRewrite') {
        if (f.hostname) { decision.request.host = f.hostname; }
        if (f.path) decision.request.path = modifyPath(f.path, match, path) + (query ? `?${query}` : '');
      }
    }
    if (decision.request.headers.host !== undefined) decision.request.headers.host = decision.request.host;
    // HTTPRouteRule.BackendRefs: no backendRefs (and no redirect) -> 500; a weighted share of requests that
    // would go to an invalid backendRef gets 500; weight 0 gets none of the traffic.
    const total = rule.backendRefs.reduce((s, b) => s + b.weight, 0);
    if (total === 0) { decision.status = 500; return { decision }; }
    const pick = weightedPick(this.prng.next(), rule.backendRefs.map((b) => b.weight));
    const b = rule.backendRefs[pick];
    const r = this.resolve(route, b);
    if (!r.ok) { decision.status = 500; return { decision }; }
    decision.backend_service = `${key(b.namespace, b.name)}:${r.port}`;
    if (!this.hasReadyEndpoint(r.svc, r.port)) { decision.status = 503; return { decision }; }
    return { decision, target: { namespace: b.namespace, name: b.name, port: r.port, ...(r.svc.clusterIP ? { clusterIP: r.svc.clusterIP } : {}) } };
  }

  /** A Service port with no ready endpoint answers 503 (no healthy upstream). */
  hasReadyEndpoint(svc: Service, port: number): boolean {
    const sp = svc.ports.find((p) => p.port === port);
    if (!sp) return false;
    return slicesForService(this.model, svc).some((s) => s.ports.some((p) => p.name === sp.name) && s.endpoints.some((e) => e.conditions.ready));
  }

  // ---- Ingress ----------------------------------------------------------------------------------

  private routeIngress(ingresses: Ingress[], req0: HttpRequest) {
    const req = normalize(req0);
    const host = requestHost(req.host);
    const [path] = splitPath(req.path);
    const ordered = [...ingresses].sort(ingressOrder);
    // Host rules: an exact host, then a wildcard (exactly one label), then the rules without a host.
    type Cand = { ing: Ingress; ruleIdx: number; pathType: string; p: string };
    const tier = (t: (h: string | undefined) => boolean) => {
      const out: Cand[] = [];
      for (const ing of ordered) ing.rules.forEach((r, ruleIdx) => { if (t(r.host)) for (const p of r.paths) out.push({ ing, ruleIdx, pathType: p.pathType, p: p.path }); });
      return out;
    };
    let rules = tier((h) => h !== undefined && !h.startsWith('*.') && h === host);
    if (!rules.length) rules = tier((h) => h !== undefined && h.startsWith('*.') && ingressHostMatches(h, host));
    if (!rules.length) rules = tier((h) => h === undefined);
    const hits: { c: Cand; backend: IngressBackend }[] = [];
    for (const c of rules) {
      const ip = c.ing.rules[c.ruleIdx].paths.find((x) => x.path === c.p && x.pathType === c.pathType)!;
      if (ingressPathMatches(c.pathType, c.p, path)) hits.push({ c, backend: ip.backend });
    }
    // Ingress "Multiple matches": the longest matching path wins; on equal length Exact beats Prefix.
    hits.sort((a, b) => normLen(b.c.p) - normLen(a.c.p) || (a.c.pathType === 'Exact' ? 0 : 1) - (b.c.pathType === 'Exact' ? 0 : 1));
    const decision: HttpDecision = { status: 404, route: null, rule: null, backend_service: null, location: null, request: { host: req.host, path: req.path, headers: req.headers }, response_headers: {} };
    let ing: Ingress | undefined, backend: IngressBackend | undefined;
    if (hits.length) { ing = hits[0].c.ing; backend = hits[0].backend; decision.rule = hits[0].c.ruleIdx; }
    else {
      // spec.defaultBackend takes what no rule matches.
      ing = ordered.find((i) => i.defaultBackend);
      backend = ing?.defaultBackend;
    }
    if (!ing || !backend) return { decision };
    decision.route = key(ing.namespace, ing.name);
    if (!backend.service) { decision.status = 500; return { decision }; }
    const svc = this.services.get(key(ing.namespace, backend.service.name));
    const sp = svc?.ports.find((p) => (typeof backend!.service!.port === 'number' ? p.port === backend!.service!.port : p.name === backend!.service!.port));
    // A missing Service or port: 503, as ingress-nginx answers (no upstream).
    if (!svc || !sp) { decision.status = 503; return { decision }; }
    decision.backend_service = `${key(ing.namespace, svc.name)}:${sp.port}`;
    if (!this.hasReadyEndpoint(svc, sp.port)) { decision.status = 503; return { decision }; }
    decision.status = 200;
    return { decision, target: { namespace: svc.namespace, name: svc.name, port: sp.port, ...(svc.clusterIP ? { clusterIP: svc.clusterIP } : {}) } };
  }
}

// ---- matching helpers (shared with the compiler) ---------------------------------------------------

/** Listener hostname specificity: exact over wildcard, a longer wildcard over a shorter, any hostname last. */
export const listenerRank = (h: string | undefined) => (h === undefined ? 0 : h.startsWith('*.') ? 1 + h.length : 1e6 + h.length);

function normalize(req: HttpRequest): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = String(v);
  return { method: (req.method || 'GET').toUpperCase(), host: req.host ?? headers.host ?? '', path: req.path || '/', headers };
}

function notFound(req: HttpRequest): HttpDecision {
  return { status: 404, route: null, rule: null, backend_service: null, location: null, request: { host: req.host, path: req.path, headers: req.headers }, response_headers: {} };
}

export function splitPath(p: string): [string, string] {
  const q = p.indexOf('?');
  return q < 0 ? [p, ''] : [p.slice(0, q), p.slice(q + 1)];
}

/** Query parameters in order; "If multiple entries ... the first" is the implementation's pick: the first. */
export function queryValue(query: string, name: string): string | undefined {
  if (!query) return undefined;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    if (k === name) return decodeURIComponent(eq < 0 ? '' : part.slice(eq + 1));
  }
  return undefined;
}

/** PathPrefix matches whole path elements: "/foo" matches "/foo", "/foo/" and "/foo/bar", not "/foobar" (HTTPPathMatch). */
export function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (p === '/') return true;
  return path === p || (path.startsWith(p) && path[p.length] === '/');
}

/** RegularExpression: the whole value, in the subset src/gateway/regex.ts describes (outside it: no match). */
const fullMatch = regexFullMatch;

export function matches(m: RouteMatch, method: string, path: string, query: string, headers: Record<string, string>): boolean {
  if (m.path.type === 'Exact' ? path !== m.path.value : m.path.type === 'PathPrefix' ? !prefixMatches(m.path.value, path) : !fullMatch(m.path.value, path)) return false;
  if (m.method && m.method !== method) return false;
  for (const h of m.headers) {
    const v = headers[h.name];
    if (v === undefined || (h.type === 'Exact' ? v !== h.value : !fullMatch(h.value, v))) return false;
  }
  for (const q of m.queryParams) {
    const v = queryValue(query, q.name);
    if (v === undefined || (q.type === 'Exact' ? v !== q.value : !fullMatch(q.value, v))) return false;
  }
  return true;
}

/**
 * The HTTPRoute precedence (httproute_types.go HTTPRouteRule.Matches and HTTPRouteSpec.Hostnames), continuing on
 * ties: characters of a matching non-wildcard hostname, characters of a matching hostname; an Exact path, the
 * longest PathPrefix (RegularExpression ranks after both: its precedence is implementation-specific); a
 * method match; the most header matches; the most query param matches; the oldest route; the route first by
 * "namespace/name"; the first rule (and match) in list order.
 */
export function comparePrecedence(
  a: { route: HTTPRoute; ruleIdx: number; matchIdx: number; match: RouteMatch; hostExact: number; hostLen: number },
  b: typeof a,
): number {
  const pathRank = (m: RouteMatch) => (m.path.type === 'Exact' ? 2 : m.path.type === 'PathPrefix' ? 1 : 0);
  return b.hostExact - a.hostExact || b.hostLen - a.hostLen
    || pathRank(b.match) - pathRank(a.match)
    || (a.match.path.type === 'PathPrefix' ? b.match.path.value.length - a.match.path.value.length : 0)
    || (b.match.method ? 1 : 0) - (a.match.method ? 1 : 0)
    || b.match.headers.length - a.match.headers.length
    || b.match.queryParams.length - a.match.queryParams.length
    || cmpTime(a.route.creationTimestamp, b.route.creationTimestamp)
    || cmpStr(key(a.route.namespace, a.route.name), key(b.route.namespace, b.route.name))
    || a.ruleIdx - b.ruleIdx || a.matchIdx - b.matchIdx;
}

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** RFC 3339 timestamps; a route without one sorts after every route with one. */
function cmpTime(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return Date.parse(a) - Date.parse(b) || cmpStr(a, b);
}

/** The seeded weighted choice: draw r in [0, 2^32), index = the entry whose cumulative share covers floor(r*total/2^32). */
export function weightedPick(r: number, weights: number[]): number {
  const total = weights.reduce((s, w) => s + w, 0);
  const x = Number((BigInt(r) * BigInt(total)) >> 32n); // exact, as the core's u64 product
  let acc = 0;
  for (let i = 0; i < weights.length; i++) { acc += weights[i]; if (x < acc) return i; }
  return weights.length - 1;
}

/** RequestHeaderModifier / ResponseHeaderModifier: set overwrites, add appends with ",", remove drops. */
export function applyHeaders(h: Record<string, string>, m: HeaderModifier) {
  for (const [k, v] of m.set) h[k] = v;
  for (const [k, v] of m.add) h[k] = h[k] !== undefined ? `${h[k]},${v}` : v;
  for (const k of m.remove) delete h[k];
}

/**
 * HTTPPathModifier: ReplaceFullPath replaces the path; ReplacePrefixMatch replaces the matched prefix, as the
 * conformance table has it ("/prefix/one" -> "/one": "/prefix/one/two" -> "/one/two"; "/strip" -> "/":
 * "/strip/three" -> "/three", "/strip" -> "/").
 */
export function modifyPath(mod: PathModifier, match: RouteMatch, path: string): string {
  if (mod.type === 'ReplaceFullPath') return mod.value;
  const prefix = match.path.value.length > 1 && match.path.value.endsWith('/') ? match.path.value.slice(0, -1) : match.path.value;
  const rest = prefix === '/' ? path : path.slice(prefix.length);
  const rep = mod.value.endsWith('/') ? mod.value.slice(0, -1) : mod.value;
  let out = rep + rest;
  if (!out.startsWith('/')) out = `/${out}`;
  return out.replace(/\/\/+/g, '/');
}

// ---- Ingress helpers --------------------------------------------------------------------------------

const normLen = (p: string) => (p.length > 1 && p.endsWith('/') ? p.length - 1 : p.length);

/** Ingress path types: Exact is the whole path, case-sensitive; Prefix (and ImplementationSpecific here) element-wise. */
export function ingressPathMatches(type: string, p: string, path: string): boolean {
  if (type === 'Exact') return p === path;
  return prefixMatches(p, path);
}

/** Ingresses in order: the oldest first, then by namespace/name. */
export function ingressOrder(a: Ingress, b: Ingress): number {
  return cmpTime(a.creationTimestamp, b.creationTimestamp) || cmpStr(key(a.namespace, a.name), key(b.namespace, b.name));
}
