// kube-proxy's service health check server (pkg/proxy/healthcheck/service_health.go): on each node it
// listens on every Service's healthCheckNodePort (LoadBalancer with externalTrafficPolicy Local) at the
// NodePort addresses, and answers any request with
//   200 when the Service has a local ready endpoint, else 503,
//   headers Content-Type: application/json, X-Content-Type-Options: nosniff,
//           X-Load-Balancing-Endpoint-Weight: <count>,
//   a JSON body { "service": { "namespace", "name" }, "localEndpoints": <count>, "serviceProxyHealthy": true }.
// The count is LocalReadyEndpoints (endpointschangetracker.go): the distinct addresses of the Service's
// ready endpoints on the node, over all its ports (terminating ones do not count). dpemu's proxy is
// always healthy (serviceProxyHealthy true). The count is read off the plan the dataplane runs.
import type { Plan } from './compile.js';
import type { ClusterModel, Service } from './model.js';
import { nodePortIPs } from './node-ports.js';

export interface HealthCheckAnswer {
  /** "namespace/name" of the Service the port belongs to. */
  service: string;
  status: 200 | 503;
  localEndpoints: number;
  headers: Record<string, string>;
  /** The body as kube-proxy writes it (tab-indented JSON). */
  body: string;
}

/** The health-checked Services of a model by their port (a packet to a node address looks here). */
const byPort = new WeakMap<ClusterModel, Map<number, Service>>();

/** kube-proxy's answer at `addr:port` of `node`, or undefined when no health check listens there. */
export function healthCheckAnswer(plan: Plan, model: ClusterModel, node: string, addr: number, port: number): HealthCheckAnswer | undefined {
  let ports = byPort.get(model);
  if (!ports) {
    ports = new Map();
    for (const s of model.services) if (s.healthCheckNodePort !== undefined && s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local') ports.set(s.healthCheckNodePort, s);
    byPort.set(model, ports);
  }
  const svc = ports.get(port);
  const n = model.nodes.find((x) => x.name === node);
  if (!svc || !n || !nodePortIPs(n, plan.options.nodePortAddresses, plan.options.nodePortMode).includes(addr)) return undefined;
  const local = new Set<string>();
  for (const sp of plan.servicePorts.values()) {
    if (sp.service.namespace !== svc.namespace || sp.service.name !== svc.name) continue;
    for (const e of sp.eligible.endpoints) if (e.ready && e.nodeName === node) local.add(e.address);
  }
  const count = local.size;
  const body = `{\n\t"service": {\n\t\t"namespace": ${JSON.stringify(svc.namespace)},\n\t\t"name": ${JSON.stringify(svc.name)}\n\t},\n`
    + `\t"localEndpoints": ${count},\n\t"serviceProxyHealthy": true\n}`;
  return {
    service: `${svc.namespace}/${svc.name}`, status: count !== 0 ? 200 : 503, localEndpoints: count,
    headers: { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', 'X-Load-Balancing-Endpoint-Weight': String(count) },
    body,
  };
}
