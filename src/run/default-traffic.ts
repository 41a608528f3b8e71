// Traffic for a cluster given without a traffic spec (`dpemu run --cluster DIR`): what an application's
// services would exchange, so that published manifests run with one command. Every workload calls every
// Service of its own namespace that selects other pods, by DNS name on each TCP/UDP port, and clients
// outside the cluster call every LoadBalancer Service (or NodePort, when it has no load-balancer address).
// Modest rates (20 new connections per second per pair) over 3 virtual seconds; the notes say what was made.

import type { ClusterModel, Pod } from '../k8s/model.js';
import { parseTrafficSpec, type TrafficSpec } from './spec.js';

/** How many traffic entries a default spec has at most (the busiest clusters get a sample, in name order). */
const MAX_ENTRIES = 60;
const RATE = 20;

/** A reference to the workload a pod belongs to (deploy/ns/name, sts/..., ds/..., rc/...), or the pod itself. */
export function workloadRef(p: Pod): string {
  const o = p.owner;
  if (o?.kind === 'ReplicaSet') {
    const hash = p.labels['pod-template-hash'];
    return hash && o.name.endsWith(`-${hash}`) ? `deploy/${p.namespace}/${o.name.slice(0, -hash.length - 1)}` : `rs/${p.namespace}/${o.name}`;
  }
  if (o?.kind === 'StatefulSet') return `sts/${p.namespace}/${o.name}`;
  if (o?.kind === 'DaemonSet') return `ds/${p.namespace}/${o.name}`;
  if (o?.kind === 'ReplicationController') return `rc/${p.namespace}/${o.name}`;
  return `pod/${p.namespace}/${p.name}`;
}

export function defaultTrafficSpec(model: ClusterModel): { spec: TrafficSpec; note: string } {
  const traffic: Record<string, unknown>[] = [];
  const running = model.pods.filter((p) => p.phase === 'Running' && p.podIP !== undefined && !p.hostNetwork && p.namespace !== 'kube-system');
  const workloads = new Map<string, Pod[]>();
  for (const p of running) {
    const ref = workloadRef(p);
    (workloads.get(ref) ?? workloads.set(ref, []).get(ref)!).push(p);
  }
  const selects = (sel: Record<string, string>, p: Pod) => Object.entries(sel).every(([k, v]) => p.labels[k] === v);
  for (const [ref, pods] of [...workloads].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const ns = pods[0].namespace;
    for (const svc of model.services) {
      if (svc.namespace !== ns || svc.type === 'ExternalName' || !svc.selector || selects(svc.selector, pods[0])) continue;
      for (const port of svc.ports) {
        if (port.protocol === 'SCTP') continue;
        traffic.push({ from: ref, to: `${svc.name}:${port.port}`, proto: port.protocol, rate: RATE, requests: port.protocol === 'TCP' ? 2 : 1 });
      }
    }
  }
  const external = model.services.filter((s) => s.type === 'LoadBalancer' || s.type === 'NodePort');
  for (const svc of external) {
    for (const port of svc.ports) {
      if (port.protocol === 'SCTP') continue;
      traffic.push({ from: 'internet', to: `svc/${svc.namespace}/${svc.name}:${port.port}`, proto: port.protocol, rate: RATE, via: svc.loadBalancerIngress.length ? 'loadBalancer' : 'nodePort' });
    }
  }
  const total = traffic.length;
  const kept = traffic.slice(0, MAX_ENTRIES);
  if (kept.length === 0) throw new Error('the cluster has no running workload that calls a Service, nor a LoadBalancer or NodePort Service: give a traffic spec with --traffic');
  const spec = parseTrafficSpec({ duration: 3, seed: 1, clients: { internet: { external: '203.0.113.0/24', count: 16 } }, traffic: kept }, 'default traffic');
  return {
    spec,
    note: `no --traffic: a default traffic spec of ${kept.length} entr${kept.length === 1 ? 'y' : 'ies'}${total > kept.length ? ` (of ${total})` : ''}: every workload calls every Service of its namespace by DNS name, and outside clients every LoadBalancer and NodePort Service, ${RATE} new connections per second each, for 3 s`,
  };
}
