// Endpoints named the way people name them — `deploy/shop/frontend`, `pod/shop/web-0`, `svc/shop/web:80`,
// `checkout:8080`, `web.shop.svc.cluster.local:80`, `10.96.0.10:53` — turned into addresses of the loaded
// cluster. Client groups become lists of (address, node); targets become a Service frontend, pod addresses,
// or a name that each client resolves through its own resolv.conf and the cluster DNS.

import { InputError } from '../errors.js';
import { showValue } from '../packet.js';
import { parseIPv4, formatIPv4 } from '../common/ip.js';
import type { ClusterModel, Pod, Service, ServicePort } from '../k8s/model.js';
import type { ClientGroup, TrafficEntry, Via } from './spec.js';

/** A client: its address and the node its packets enter on. */
export interface Client {
  addr: number;
  node: string;
  /** The client pod (in-cluster clients): its namespace and resolv.conf decide name lookups. */
  pod?: Pod;
}

/** Short names of workload kinds, as kubectl takes them. */
export const WORKLOAD_KINDS: Record<string, string> = {
  deploy: 'Deployment', deployment: 'Deployment', deployments: 'Deployment',
  sts: 'StatefulSet', statefulset: 'StatefulSet', statefulsets: 'StatefulSet',
  ds: 'DaemonSet', daemonset: 'DaemonSet', daemonsets: 'DaemonSet',
  rs: 'ReplicaSet', replicaset: 'ReplicaSet', replicasets: 'ReplicaSet',
  rc: 'ReplicationController', replicationcontroller: 'ReplicationController',
};

/** `kind/ns/name` or `kind/name` (namespace default) split. */
export function splitRef(ref: string): { kind: string; namespace: string; name: string } | undefined {
  const parts = ref.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) return undefined;
  const [kind, a, b] = parts;
  return parts.length === 3 ? { kind: kind.toLowerCase(), namespace: a, name: b } : { kind: kind.toLowerCase(), namespace: 'default', name: a };
}

/** Whether the pod belongs to the workload (by owner; a Deployment owns its ReplicaSets "<name>-<hash>"). */
function ownedBy(p: Pod, kind: string, name: string): boolean {
  const o = p.owner;
  if (!o) return false;
  if (kind === 'Deployment') return o.kind === 'ReplicaSet' && o.name.startsWith(`${name}-`) && !o.name.slice(name.length + 1).includes('-');
  return o.kind === kind && o.name === name;
}

/** The running pods (with an address) a reference names: pod/ns/name or a workload. */
export function podsOf(model: ClusterModel, ref: string, where: string): Pod[] {
  const r = splitRef(ref);
  if (!r) throw new InputError(`${where}: ${showValue(ref)} is not a reference such as deploy/ns/name or pod/ns/name`, where);
  let pods: Pod[];
  if (r.kind === 'pod' || r.kind === 'pods' || r.kind === 'po') {
    pods = model.pods.filter((p) => p.namespace === r.namespace && p.name === r.name);
    if (pods.length === 0) throw new InputError(`${where}: no pod ${r.namespace}/${r.name} in the cluster`, where);
  } else {
    const kind = Object.hasOwn(WORKLOAD_KINDS, r.kind) ? WORKLOAD_KINDS[r.kind] : undefined;
    if (!kind) throw new InputError(`${where}: ${showValue(r.kind)} is not pod or a workload kind (deploy, sts, ds, rs, rc)`, where);
    pods = model.pods.filter((p) => p.namespace === r.namespace && ownedBy(p, kind, r.name));
    if (pods.length === 0) throw new InputError(`${where}: ${kind} ${r.namespace}/${r.name} has no pods in the cluster`, where);
  }
  const running = pods.filter((p) => p.podIP !== undefined && p.phase === 'Running');
  if (running.length === 0) throw new InputError(`${where}: ${ref}: none of its pods is running with an address (${pods.map((p) => `${p.name} ${p.phase}`).join(', ')})`, where);
  return running;
}

/** The clients of a group. */
export function clientsOf(model: ClusterModel, g: ClientGroup): Client[] {
  const where = `clients.${g.name}`;
  const ofPods = (pods: Pod[]) => pods.map((p) => ({ addr: parseIPv4(p.podIP!)!, node: p.nodeName!, pod: p }));
  if (g.kind === 'pods') return ofPods(podsOf(model, g.ref, where));
  if (g.kind === 'selector') {
    const pods = model.pods.filter((p) => (g.namespace === undefined || p.namespace === g.namespace) && p.podIP !== undefined && p.phase === 'Running'
      && Object.entries(g.labels).every(([k, v]) => p.labels[k] === v));
    if (pods.length === 0) throw new InputError(`${where}: the selector matches no running pod${g.namespace ? ` in namespace ${g.namespace}` : ''}`, where);
    return ofPods(pods);
  }
  const [base, plen] = g.cidr.split('/');
  const start = parseIPv4(base)!, size = 2 ** (32 - Number(plen));
  if (g.node !== undefined && !model.nodes.some((n) => n.name === g.node)) {
    throw new InputError(`${where}.node: ${showValue(g.node)} is not a node of the cluster (${model.nodes.map((n) => n.name).join(', ')})`, `${where}.node`);
  }
  if (model.nodes.length === 0) throw new InputError(`${where}: the cluster has no nodes for external clients to enter on`, where);
  // Skip the network address of a real prefix; the node of entry is chosen per connection (see `entryNodes`).
  const first = size > 2 ? 1 : 0;
  return Array.from({ length: Math.min(g.count, size - first) }, (_, i) => ({ addr: (start + first + i) >>> 0, node: g.node ?? '' }));
}

/** A target as written, before a client resolves it. */
export type TargetSpec =
  | { form: 'address'; text: string; addr: number; port: number }
  | { form: 'service'; text: string; svc: Service; port: ServicePort }
  | { form: 'pods'; text: string; pods: Pod[]; port: number }
  | { form: 'name'; text: string; name: string; port: number | string };

function splitPort(text: string, where: string): { host: string; port: string } {
  const i = text.lastIndexOf(':');
  if (i <= 0 || i === text.length - 1) throw new InputError(`${where}: ${showValue(text)} needs a port (name:port)`, where);
  return { host: text.slice(0, i), port: text.slice(i + 1) };
}

/** The Service port a `:port` names (number or port name, for the protocol). */
export function servicePort(svc: Service, port: string, proto: string, where: string): ServicePort {
  const n = /^\d+$/.test(port) ? Number(port) : undefined;
  const sp = svc.ports.find((p) => p.protocol === proto && (n !== undefined ? p.port === n : p.name === port));
  if (!sp) {
    throw new InputError(`${where}: Service ${svc.namespace}/${svc.name} has no ${proto} port ${port} (ports: ${svc.ports.map((p) => `${p.name ? `${p.name}=` : ''}${p.port}/${p.protocol}`).join(', ')})`, where);
  }
  return sp;
}

/** A target of a traffic entry, as written. */
export function parseTarget(model: ClusterModel, text: string, proto: string, where: string): TargetSpec {
  const { host, port } = splitPort(text, where);
  const addr = parseIPv4(host);
  if (addr !== undefined) {
    if (!/^\d+$/.test(port) || Number(port) > 65535) throw new InputError(`${where}: ${showValue(port)} is not a port number`, where);
    return { form: 'address', text, addr, port: Number(port) };
  }
  const ref = host.includes('/') ? splitRef(host) : undefined;
  if (ref && (ref.kind === 'gateway' || ref.kind === 'gw')) {
    // A Gateway by name: its address (status.addresses[0], else spec.addresses[0]) and the listener's port.
    const gw = model.northSouth?.gateways.find((g) => g.namespace === ref.namespace && g.name === ref.name);
    if (!gw) throw new InputError(`${where}: no Gateway ${ref.namespace}/${ref.name} in the cluster`, where);
    const a = gw.address === undefined ? undefined : parseIPv4(gw.address);
    if (a === undefined) throw new InputError(`${where}: Gateway ${ref.namespace}/${ref.name} has no IPv4 address (status.addresses or spec.addresses)`, where);
    if (!/^\d+$/.test(port)) throw new InputError(`${where}: a Gateway target takes a listener port number, got ${showValue(port)}`, where);
    return { form: 'address', text, addr: a, port: Number(port) };
  }
  if (ref && (ref.kind === 'svc' || ref.kind === 'service' || ref.kind === 'services')) {
    const svc = model.services.find((s) => s.namespace === ref.namespace && s.name === ref.name);
    if (!svc) throw new InputError(`${where}: no Service ${ref.namespace}/${ref.name} in the cluster`, where);
    return { form: 'service', text, svc, port: servicePort(svc, port, proto, where) };
  }
  if (ref) {
    if (!/^\d+$/.test(port)) throw new InputError(`${where}: a pod target takes a port number, got ${showValue(port)}`, where);
    return { form: 'pods', text, pods: podsOf(model, host, where), port: Number(port) };
  }
  if (host.includes('/')) throw new InputError(`${where}: ${showValue(host)} is not a reference (svc/ns/name, pod/ns/name, deploy/ns/name) nor a DNS name`, where);
  return { form: 'name', text, name: host, port: /^\d+$/.test(port) ? Number(port) : port };
}

/** How an external client reaches a Service: the address and port it sends to, by the entry's `via`. */
export function externalFrontend(svc: Service, sp: ServicePort, via: Via | undefined, entryNodeIP: string | undefined, where: string): { addr: number; port: number; via: Via } {
  const choice: Via = via ?? (svc.loadBalancerIngress.length ? 'loadBalancer' : sp.nodePort !== undefined ? 'nodePort' : svc.externalIPs.length ? 'externalIP' : 'clusterIP');
  if (choice === 'loadBalancer') {
    if (!svc.loadBalancerIngress.length) throw new InputError(`${where}: Service ${svc.namespace}/${svc.name} has no load-balancer address (type ${svc.type})`, where);
    return { addr: parseIPv4(svc.loadBalancerIngress[0])!, port: sp.port, via: choice };
  }
  if (choice === 'nodePort') {
    if (sp.nodePort === undefined) throw new InputError(`${where}: Service ${svc.namespace}/${svc.name} port ${sp.port} has no nodePort (type ${svc.type})`, where);
    if (entryNodeIP === undefined) throw new InputError(`${where}: the node the client enters on has no InternalIP for a NodePort`, where);
    return { addr: parseIPv4(entryNodeIP)!, port: sp.nodePort, via: choice };
  }
  if (choice === 'externalIP') {
    if (!svc.externalIPs.length) throw new InputError(`${where}: Service ${svc.namespace}/${svc.name} has no externalIPs`, where);
    return { addr: parseIPv4(svc.externalIPs[0])!, port: sp.port, via: choice };
  }
  if (svc.clusterIP === undefined) throw new InputError(`${where}: Service ${svc.namespace}/${svc.name} has no cluster IP`, where);
  return { addr: parseIPv4(svc.clusterIP)!, port: sp.port, via: choice };
}

/**
 * The nodes an external client's connection to the Service may enter on: every node, except that a cloud load
 * balancer sends an externalTrafficPolicy Local Service's traffic only to nodes whose healthCheckNodePort
 * answers, i.e. nodes with a ready local endpoint (pkg/proxy/healthcheck: 200 with localEndpoints > 0).
 */
export function entryNodes(model: ClusterModel, svc: Service | undefined, via: Via | undefined): string[] {
  const all = model.nodes.map((n) => n.name);
  if (!svc || via !== 'loadBalancer' || svc.externalTrafficPolicy !== 'Local') return all;
  const local = new Set<string>();
  for (const s of model.endpointSlices) {
    if (s.namespace !== svc.namespace || s.serviceName !== svc.name) continue;
    for (const e of s.endpoints) if (e.conditions.ready && e.nodeName) local.add(e.nodeName);
  }
  const healthy = all.filter((n) => local.has(n));
  return healthy.length ? healthy : all;
}

/** Every target of an entry parsed, with errors naming `traffic[i].to[j]`. */
export function targetsOf(model: ClusterModel, e: TrafficEntry): TargetSpec[] {
  return e.to.map((t, j) => parseTarget(model, t, e.proto, e.to.length > 1 ? `traffic[${e.index}].to[${j}]` : `traffic[${e.index}].to`));
}
