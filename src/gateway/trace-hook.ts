// The tracer's north-south step: a packet carrying `http` is a request to a Gateway listener or an Ingress
// address. The router decides it (route, rule, filters, backend Service); a routed request then continues
// through the dataplane as a connection to the chosen Service port's cluster IP, so the usual DNAT,
// conntrack and policy apply and the record's backend is an endpoint of backend_service. The proxy is
// transparent here: the connection keeps the client's source address and port.

import type { ClusterModel } from '../k8s/model.js';
import { HttpDecision, HttpRequest, NorthSouthRouter } from './router.js';

const routers = new WeakMap<ClusterModel, NorthSouthRouter>();

export interface HttpStep {
  http: HttpDecision;
  /** Where the dataplane packet goes when the request is routed: the Service's cluster IP and port. */
  forward?: { dst: string; dport: number };
}

/** Reads the packet's `http` field; throws an Error whose message names the bad field. */
export function parseHttpField(v: unknown): HttpRequest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('"http": expected an object {"method","host","path","headers"}');
  const o = v as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !['method', 'host', 'path', 'headers'].includes(k));
  if (extra.length) throw new Error(`"http": unknown field ${extra.map((k) => JSON.stringify(k)).join(', ')} (known: method, host, path, headers)`);
  const str = (k: string, dflt: string) => {
    if (o[k] === undefined) return dflt;
    if (typeof o[k] !== 'string') throw new Error(`"http.${k}": ${JSON.stringify(o[k])} is not a string`);
    return o[k] as string;
  };
  const headers: Record<string, string> = {};
  if (o.headers !== undefined) {
    if (typeof o.headers !== 'object' || o.headers === null || Array.isArray(o.headers)) throw new Error('"http.headers": expected an object of header name to value');
    for (const [k, hv] of Object.entries(o.headers)) {
      if (typeof hv !== 'string') throw new Error(`"http.headers.${k}": ${JSON.stringify(hv)} is not a string`);
      headers[k.toLowerCase()] = hv;
    }
  }
  const path = str('path', '/');
  if (!path.startsWith('/')) throw new Error(`"http.path": ${JSON.stringify(path)} must start with "/"`);
  return { method: str('method', 'GET').toUpperCase(), host: str('host', headers.host ?? ''), path, headers };
}

/** The decision for a request at dst:dport; undefined when no Gateway listener or Ingress answers there. */
export function routeHttpPacket(model: ClusterModel, dst: string, dport: number, http: unknown): HttpStep | undefined {
  const req = parseHttpField(http);
  let router = routers.get(model);
  if (!router) { router = new NorthSouthRouter(model); routers.set(model, router); }
  const out = router.route(dst, dport, req);
  if (!out) return undefined;
  if (!out.target) return { http: out.decision };
  if (!out.target.clusterIP) {
    // A headless Service has no cluster IP to connect through; the proxy would resolve pod addresses.
    return { http: { ...out.decision, status: 503 } };
  }
  return { http: out.decision, forward: { dst: out.target.clusterIP, dport: out.target.port } };
}
