// dpemu check for the north-south objects: route status problems (Accepted / ResolvedRefs False with the
// spec's reasons) and the parts the emulator accepts but does not emulate.

import type { ClusterModel, Diagnostic } from '../k8s/model.js';
import { formatSource } from '../k8s/basics.js';
import { NorthSouthRouter } from './router.js';
import { regexUnsupported } from './regex.js';

export function checkNorthSouth(model: ClusterModel, out: Diagnostic[]) {
  const ns = model.northSouth;
  if (!ns) return;
  const router = new NorthSouthRouter(model);
  const where = (src: { file: string; document: number } | undefined) => (src ? `${formatSource(src)}: ` : '');
  for (const s of router.statuses) {
    const route = ns.httpRoutes.find((r) => `${r.namespace}/${r.name}` === s.route);
    const object = `HTTPRoute ${s.route}`;
    if (!s.accepted) {
      out.push({ severity: 'error', code: `route-${s.acceptedReason}`, object, source: route?.source,
        message: `${where(route?.source)}${object}: not attached to ${s.parent}: Accepted False (${s.acceptedReason}): ${s.message}` });
    }
    if (!s.resolvedRefs) {
      out.push({ severity: 'error', code: `route-${s.resolvedRefsReason}`, object, source: route?.source,
        message: `${where(route?.source)}${object}: ResolvedRefs False (${s.resolvedRefsReason}): ${s.message}` });
    }
  }
  for (const r of ns.httpRoutes) r.rules.forEach((rule, i) => {
    for (const u of rule.unsupported) {
      out.push({ severity: 'warning', code: 'route-unsupported', object: `HTTPRoute ${r.namespace}/${r.name}`, source: r.source,
        message: `${where(r.source)}HTTPRoute ${r.namespace}/${r.name}: spec.rules[${i}]: ${u} is accepted but not emulated` });
    }
  });
  // RegularExpression outside the supported subset (src/gateway/regex.ts): the match never matches, on both backends.
  for (const r of ns.httpRoutes) r.rules.forEach((rule, i) => rule.matches.forEach((m, j) => {
    const res = [
      ...(m.path.type === 'RegularExpression' ? [{ field: 'path.value', value: m.path.value }] : []),
      ...m.headers.map((h, k) => ({ field: `headers[${k}].value`, value: h.type === 'RegularExpression' ? h.value : undefined })),
      ...m.queryParams.map((q, k) => ({ field: `queryParams[${k}].value`, value: q.type === 'RegularExpression' ? q.value : undefined })),
    ];
    for (const { field, value } of res) {
      const why = value === undefined ? undefined : regexUnsupported(value);
      if (why === undefined) continue;
      out.push({ severity: 'warning', code: 'route-regex-unsupported', object: `HTTPRoute ${r.namespace}/${r.name}`, source: r.source,
        message: `${where(r.source)}HTTPRoute ${r.namespace}/${r.name}: spec.rules[${i}].matches[${j}].${field}: RegularExpression ${JSON.stringify(value)} is outside the supported syntax (${why}); this match never matches` });
    }
  }));
  for (const g of ns.gateways) {
    if (!ns.gatewayClasses.some((c) => c.name === g.className)) {
      out.push({ severity: 'error', code: 'gateway-class-missing', object: `Gateway ${g.namespace}/${g.name}`, source: g.source,
        message: `${where(g.source)}Gateway ${g.namespace}/${g.name}: GatewayClass ${g.className} is not in the input; the Gateway is not served` });
    }
    if (!g.address) {
      out.push({ severity: 'warning', code: 'gateway-no-address', object: `Gateway ${g.namespace}/${g.name}`, source: g.source,
        message: `${where(g.source)}Gateway ${g.namespace}/${g.name}: no status.addresses or spec.addresses; no request can reach it` });
    }
    g.listeners.forEach((l, i) => {
      if (l.protocol !== 'HTTP') {
        out.push({ severity: 'warning', code: 'listener-unsupported', object: `Gateway ${g.namespace}/${g.name}`, source: g.source,
          message: `${where(g.source)}Gateway ${g.namespace}/${g.name}: spec.listeners[${i}]: protocol ${l.protocol} is accepted but not emulated (HTTP only)` });
      }
    });
  }
  const served = new Set(router.servedIngresses());
  for (const ing of ns.ingresses) {
    const object = `Ingress ${ing.namespace}/${ing.name}`;
    if (!served.has(ing)) {
      out.push({ severity: 'warning', code: 'ingress-not-served', object, source: ing.source,
        message: `${where(ing.source)}${object}: ${ing.className ? `IngressClass ${ing.className} is not in the input` : 'no ingressClassName and no default IngressClass'}; not served` });
    }
    if (ing.tlsHosts.length) {
      out.push({ severity: 'warning', code: 'ingress-tls', object, source: ing.source,
        message: `${where(ing.source)}${object}: TLS for ${ing.tlsHosts.join(', ')} is recorded but not emulated (HTTP on port 80 only)` });
    }
  }
}
