import { loadManifests } from '../../src/k8s/load.js';
import { NorthSouthRouter, HttpRequest } from '../../src/gateway/router.js';

/** Services web/api/... in namespace ns, each with one ready endpoint (or none when ready is false). */
export function svc(ns: string, name: string, port = 80, ready = true): string {
  return `---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {clusterIP: None, ports: [{name: http, port: ${port}, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-x, namespace: ${ns}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: ["10.244.${(name.length * 7) % 250}.${(ns.length * 13 + port) % 250 + 1}"], conditions: {ready: ${ready}}}]
`;
}

export const GATEWAY = `---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: emu}
spec: {controllerName: dpemu.io/gateway}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: emu
  addresses: [{value: 192.0.2.10}]
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
`;

export function router(yaml: string, seed = 1): NorthSouthRouter {
  const { model } = loadManifests([{ path: 'test.yaml', text: yaml }]);
  return new NorthSouthRouter(model, { seed });
}

export function get(r: NorthSouthRouter, host: string, path: string, headers: Record<string, string> = {}, method = 'GET', address = '192.0.2.10', port = 80) {
  const req: HttpRequest = { method, host, path, headers };
  const out = r.route(address, port, req);
  if (!out) throw new Error(`nothing answers at ${address}:${port}`);
  return out.decision;
}

export function route(name: string, ns: string, spec: string, extraMeta = ''): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${ns}${extraMeta}}
spec:
${spec.split('\n').map((l) => `  ${l}`).join('\n')}
`;
}
