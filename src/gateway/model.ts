// North-south routing objects, normalized: the Gateway API (gateway.networking.k8s.io v1; apis/v1/*_types.go)
// and Ingress / IngressClass (networking.k8s.io/v1). Defaults are applied by the parser (parse.ts) as the
// CRDs' OpenAPI defaults and the API server do, so the router (route.ts) never has to guess.

import type { LabelSelector } from '../k8s/labels.js';
import type { SourceRef } from '../k8s/basics.js';

export interface GatewayClass { name: string; controllerName: string; source?: SourceRef }

export type RouteNamespaces = { from: 'Same' | 'All' } | { from: 'Selector'; selector: LabelSelector };

export interface Listener {
  name: string;
  /** Absent: every hostname. May start with "*." (gateway_types.go Listener.Hostname). */
  hostname?: string;
  port: number;
  protocol: string;
  namespaces: RouteNamespaces;
  /** Route kinds admitted ("group/Kind"); defaulted from the protocol (HTTP -> HTTPRoute). */
  kinds: string[];
}

export interface Gateway {
  namespace: string;
  name: string;
  className: string;
  listeners: Listener[];
  /** status.addresses[0].value, else spec.addresses[0].value. */
  address?: string;
  source?: SourceRef;
}

export interface ParentRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export type PathMatch = { type: 'Exact' | 'PathPrefix' | 'RegularExpression'; value: string };
export interface ValueMatch { type: 'Exact' | 'RegularExpression'; name: string; value: string }

export interface RouteMatch {
  path: PathMatch;
  /** Header names lowercased (header names are case-insensitive, httproute_types.go HTTPHeaderName). */
  headers: ValueMatch[];
  queryParams: ValueMatch[];
  method?: string;
}

export interface HeaderModifier { set: [string, string][]; add: [string, string][]; remove: string[] }

export type PathModifier = { type: 'ReplaceFullPath'; value: string } | { type: 'ReplacePrefixMatch'; value: string };

export type RouteFilter =
  | { type: 'RequestHeaderModifier'; modifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; modifier: HeaderModifier }
  | { type: 'RequestRedirect'; scheme?: string; hostname?: string; port?: number; path?: PathModifier; statusCode: number }
  | { type: 'URLRewrite'; hostname?: string; path?: PathModifier }
  | { type: 'Unsupported'; name: string };

export interface BackendRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  port?: number;
  weight: number;
}

export interface RouteRule {
  matches: RouteMatch[];
  filters: RouteFilter[];
  backendRefs: BackendRef[];
  /** Fields the emulator accepts but does not act on (timeouts, retry, mirrors, CORS ...): reported by check. */
  unsupported: string[];
}

export interface HTTPRoute {
  namespace: string;
  name: string;
  /** metadata.creationTimestamp (RFC 3339), for "the oldest Route" precedence; absent sorts after any. */
  creationTimestamp?: string;
  parentRefs: ParentRef[];
  hostnames: string[];
  rules: RouteRule[];
  source?: SourceRef;
}

export interface ReferenceGrant {
  namespace: string;
  name: string;
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name?: string }[];
}

export interface IngressBackend { service?: { name: string; port: number | string }; resource?: string }
export interface IngressPath { path: string; pathType: 'Exact' | 'Prefix' | 'ImplementationSpecific'; backend: IngressBackend }
export interface IngressRule { host?: string; paths: IngressPath[] }

export interface Ingress {
  namespace: string;
  name: string;
  className?: string;
  defaultBackend?: IngressBackend;
  rules: IngressRule[];
  tlsHosts: string[];
  /** status.loadBalancer.ingress[0].ip */
  address?: string;
  creationTimestamp?: string;
  source?: SourceRef;
}

export interface IngressClass { name: string; controller: string; isDefault: boolean }

export interface NorthSouth {
  gatewayClasses: GatewayClass[];
  gateways: Gateway[];
  httpRoutes: HTTPRoute[];
  referenceGrants: ReferenceGrant[];
  ingresses: Ingress[];
  ingressClasses: IngressClass[];
}

export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const emptyNorthSouth = (): NorthSouth => ({
  gatewayClasses: [], gateways: [], httpRoutes: [], referenceGrants: [], ingresses: [], ingressClasses: [],
});
