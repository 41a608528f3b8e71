// The record of a request the core decided (assembly/http.ts): the core chose the entry (route, rule, match),
// the backend and the answer (200, 301/302, 404, 500, 503); the host writes what follows from that choice.
//
// Why the filters' text is written here and not in the core: RequestRedirect's Location, URLRewrite's path and
// host, and the Request/ResponseHeaderModifier results are strings of the output record, not inputs to any
// decision (a rewritten request is not routed again, and the dataplane connection depends only on the chosen
// Service). Building them in WebAssembly would mean writing strings into linear memory only to read them
// back as JS strings for the record. Which filters apply, and whether the request is redirected (the status),
// is the core's decision: it is the entry's rule the core chose.

import { HttpDecision, HttpRequest, HttpTarget, applyHeaders, modifyPath, splitPath } from './router.js';
import { requestHost } from './hostnames.js';
import type { CompiledTable, CoreDecision } from './tables.js';

function normalize(req: HttpRequest): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = String(v);
  return { method: (req.method || 'GET').toUpperCase(), host: req.host ?? headers.host ?? '', path: req.path || '/', headers };
}

export function formatDecision(table: CompiledTable, d: CoreDecision, req0: HttpRequest): { decision: HttpDecision; target?: HttpTarget } {
  const req = normalize(req0);
  const decision: HttpDecision = {
    status: d.status, route: null, rule: null, backend_service: null, location: null,
    request: { host: req.host, path: req.path, headers: req.headers }, response_headers: {},
  };
  if (d.entry < 0) return { decision };
  const e = table.entries[d.entry];
  const service = d.service >= 0 ? table.services[d.service] : undefined;
  if (e.kind === 'ingress') {
    decision.route = `${e.ingress.namespace}/${e.ingress.name}`;
    decision.rule = e.ruleIdx;
    if (service) decision.backend_service = service.name;
    return d.status === 200 && service ? { decision, target: service.target } : { decision };
  }
  decision.route = `${e.route.namespace}/${e.route.name}`;
  decision.rule = e.ruleIdx;
  decision.request.headers = { ...req.headers };
  const host = requestHost(req.host);
  const [path, query] = splitPath(req.path);
  for (const f of e.rule.filters) if (f.type === 'ResponseHeaderModifier') applyHeaders(decision.response_headers, f.modifier);
  const redirect = e.rule.filters.find((f) => f.type === 'RequestRedirect');
  if (redirect && redirect.type === 'RequestRedirect') {
    // HTTPRequestRedirectFilter: scheme and hostname default to the request's; port: the scheme's well-known
    // port when a scheme is given, else the listener's; left out of Location when it is the scheme's default.
    const scheme = redirect.scheme ?? 'http';
    const port = redirect.port ?? (redirect.scheme ? (scheme === 'https' ? 443 : 80) : table.port);
    const rpath = redirect.path ? modifyPath(redirect.path, e.match, path) : path;
    const defaultPort = (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443);
    decision.location = `${scheme}://${redirect.hostname ?? host}${defaultPort ? '' : `:${port}`}${rpath}${query ? `?${query}` : ''}`;
    return { decision };
  }
  for (const f of e.rule.filters) {
    if (f.type === 'RequestHeaderModifier') applyHeaders(decision.request.headers, f.modifier);
    if (f.type === 'URLRewrite') {
      if (f.hostname) decision.request.host = f.hostname;
      if (f.path) decision.request.path = modifyPath(f.path, e.match, path) + (query ? `?${query}` : '');
    }
  }
  if (decision.request.headers.host !== undefined) decision.request.headers.host = decision.request.host;
  if (service && d.status !== 500) decision.backend_service = service.name;
  return d.status === 200 && service ? { decision, target: service.target } : { decision };
}
