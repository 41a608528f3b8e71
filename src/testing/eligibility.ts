// Which endpoints kube-proxy may send a packet to, stated again plainly from kube-proxy's rules and not
// taken from dpemu's compiler, so that a broken compiler cannot agree with itself:
// - pkg/proxy/topology.go CategorizeEndpoints: the cluster set is the ready endpoints, or, when none is
//   ready, the serving and terminating ones (KEP-1669); topology hints narrow the cluster set to the
//   endpoints hinted for the node's zone when every ready endpoint has hints and some is for that zone;
//   the local set is the node's ready endpoints, else its serving terminating ones.
// - pkg/proxy/serviceport.go: internalTrafficPolicy Local sends in-cluster traffic to a ClusterIP to the
//   local set; externalTrafficPolicy Local sends external sources to a NodePort / LoadBalancer IP /
//   external IP to the local set, while pods keep the cluster set.
// - loadBalancerSourceRanges: other sources are dropped at the load-balancer IP.
import type { GenCluster, GenEndpoint, GenService, GenServicePort } from './cluster.js';
import { CLUSTER_CIDR } from './cluster.js';

export type FrontendKind = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalIP';

/** A way into a service port: where a packet is sent and from whom. */
export interface Target {
  service: GenService; port: GenServicePort; kind: FrontendKind;
  dst: string; dport: number;
  /** The node the packet enters on. */
  node: string;
}

const ipNum = (ip: string) => ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
export function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const unit = 2 ** (32 - Number(len));
  return Math.floor(ipNum(ip) / unit) === Math.floor(ipNum(base) / unit);
}

/** The endpoints (address:port) a packet from `src` through `target` may be DNAT'd to; empty: it must not be. */
export function eligibleFor(c: GenCluster, target: Target, src: string): string[] {
  const { service: s, port, kind } = target;
  if (kind === 'LoadBalancer' && s.sourceRanges && !s.sourceRanges.some((r) => inCidr(src, r))) return [];
  const node = c.nodes.find((n) => n.name === target.node);
  const all = s.endpoints;
  const ready = all.filter((e) => e.ready);
  const fallback = (l: GenEndpoint[]) => {
    const r = l.filter((e) => e.ready);
    return r.length ? r : l.filter((e) => e.serving && e.terminating);
  };
  let set: GenEndpoint[];
  const fromPod = inCidr(src, CLUSTER_CIDR);
  const local = () => fallback(all.filter((e) => e.nodeName === target.node));
  if (kind === 'ClusterIP' && s.internalTrafficPolicy === 'Local') set = local();
  else if (kind !== 'ClusterIP' && s.externalTrafficPolicy === 'Local' && !fromPod) set = local();
  else {
    set = fallback(all);
    const zone = node?.zone;
    if (ready.length && ready.every((e) => e.hints && e.hints.length > 0) && zone !== undefined && ready.some((e) => e.hints!.includes(zone))) {
      set = ready.filter((e) => e.hints!.includes(zone));
    }
  }
  return set.map((e) => `${e.address}:${port.endpointPort}`);
}

/** Every frontend of every service port, entered on every node (cluster IPs only from pods, the rest from outside too). */
export function targetsOf(c: GenCluster): Target[] {
  const out: Target[] = [];
  for (const s of c.services) for (const port of s.ports) {
    for (const n of c.nodes) {
      out.push({ service: s, port, kind: 'ClusterIP', dst: s.clusterIP, dport: port.port, node: n.name });
      if (s.type !== 'ClusterIP' && port.nodePort !== undefined) out.push({ service: s, port, kind: 'NodePort', dst: n.address, dport: port.nodePort, node: n.name });
      if (s.loadBalancerIP) out.push({ service: s, port, kind: 'LoadBalancer', dst: s.loadBalancerIP, dport: port.port, node: n.name });
      for (const ip of s.externalIPs ?? []) out.push({ service: s, port, kind: 'ExternalIP', dst: ip, dport: port.port, node: n.name });
    }
  }
  return out;
}
