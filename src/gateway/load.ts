// The loader's hook for the north-south kinds: parse one object into the NorthSouth collection and return
// its duplicate-detection key (src/k8s/load.ts keeps the dispatch one line long).

import type { ParseContext } from '../k8s/parse.js';
import type { Obj, Reader } from '../k8s/validate.js';
import type { NorthSouth } from './model.js';
import { parseGateway, parseGatewayClass, parseHTTPRoute, parseIngress, parseIngressClass, parseReferenceGrant } from './parse.js';

export function parseNorthSouthObject(r: Reader, obj: Obj, pc: ParseContext, into: NorthSouth): string {
  switch (r.ctx.kind) {
    case 'GatewayClass': { const x = parseGatewayClass(r, obj); into.gatewayClasses.push({ ...x, source: r.ctx.source }); return `GatewayClass//${x.name}`; }
    case 'Gateway': { const x = parseGateway(r, obj); into.gateways.push({ ...x, source: r.ctx.source }); return `Gateway/${x.namespace}/${x.name}`; }
    case 'HTTPRoute': { const x = parseHTTPRoute(r, obj); into.httpRoutes.push({ ...x, source: r.ctx.source }); return `HTTPRoute/${x.namespace}/${x.name}`; }
    case 'ReferenceGrant': { const x = parseReferenceGrant(r, obj); into.referenceGrants.push(x); return `ReferenceGrant/${x.namespace}/${x.name}`; }
    case 'Ingress': { const x = parseIngress(r, obj, pc); into.ingresses.push({ ...x, source: r.ctx.source }); return `Ingress/${x.namespace}/${x.name}`; }
    case 'IngressClass': { const x = parseIngressClass(r, obj); into.ingressClasses.push(x); return `IngressClass//${x.name}`; }
    default: return r.fail('kind', `not a north-south kind: ${r.ctx.kind}`);
  }
}

export function hasNorthSouth(ns: NorthSouth): boolean {
  return ns.gatewayClasses.length + ns.gateways.length + ns.httpRoutes.length + ns.referenceGrants.length
    + ns.ingresses.length + ns.ingressClasses.length > 0;
}
