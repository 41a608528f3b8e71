// The nodes of a cluster whose manifests name none. An application's manifests as published (Deployments and
// Services) carry no Node objects: `kind` or `minikube` supply the nodes they run on. dpemu does the same, so
// that such manifests work as they are:
//
// - when pods or EndpointSlices of the input name nodes (a dump of a live cluster: spec.nodeName,
//   status.hostIP, endpoints[].nodeName), exactly those nodes, with the hostIP a pod reports as InternalIP;
// - otherwise `count` worker nodes (default 3), named node-1 ... node-N, spread over the zones zone-a,
//   zone-b, zone-c of region region-1 (topology.kubernetes.io labels, as cloud providers set them), with
//   InternalIPs 172.18.0.2, .3, ... (kind's docker network) and podCIDRs from the cluster CIDR (node IPAM).
//
// A node made here is Ready, schedulable and untainted. The loader reports which defaults it applied
// (a note with the code `default-nodes`), and `count: 0` turns them off.

import { formatIPv4, parseIPv4 } from '../common/ip.js';
import type { Diagnostic, EndpointSlice, Node } from './model.js';
import type { ParsedPod } from './parse.js';

/** How many default nodes a cluster without Node objects gets. */
export const DEFAULT_NODE_COUNT = 3;
/** Where default nodes' InternalIPs start (kind's docker network is 172.18.0.0/16; .1 is its gateway). */
const FIRST_NODE_ADDRESS = parseIPv4('172.18.0.2')!;
const ZONES = ['zone-a', 'zone-b', 'zone-c'];
const REGION = 'region-1';

function node(name: string, address: number | undefined, zone: string | undefined): Node {
  const labels: Record<string, string> = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' };
  if (zone) {
    labels['topology.kubernetes.io/zone'] = zone;
    labels['topology.kubernetes.io/region'] = REGION;
  }
  const ip = address === undefined ? undefined : formatIPv4(address);
  const n: Node = {
    name, labels, addresses: ip ? [{ type: 'InternalIP', address: ip }] : [], podCIDRs: [], podCIDRAllocated: false,
    unschedulable: false, taints: [], ready: true, defaulted: true,
  };
  if (zone) { n.zone = zone; n.region = REGION; }
  if (ip) n.internalIP = ip;
  return n;
}

/**
 * Nodes for an input without Node objects (see the header), and the note saying so; none when `count` is 0.
 * `used` holds the addresses already taken (pod IPs): node addresses avoid them and are added to it.
 */
export function defaultNodes(pods: readonly ParsedPod[], slices: readonly EndpointSlice[], count: number, used: Set<number>, warnings: Diagnostic[]): Node[] {
  if (count === 0) return [];
  // Nodes the input already refers to, with the address a pod on it reports.
  const named = new Map<string, string | undefined>();
  for (const p of pods) {
    const n = p.pod.nodeName ?? p.spec.nodeName;
    if (n && (!named.has(n) || named.get(n) === undefined)) named.set(n, p.pod.hostNetwork ? p.pod.podIP ?? p.pod.hostIP : p.pod.hostIP);
  }
  for (const s of slices) for (const e of s.endpoints) if (e.nodeName && !named.has(e.nodeName)) named.set(e.nodeName, undefined);
  let next = FIRST_NODE_ADDRESS;
  const fresh = () => {
    while (used.has(next)) next++;
    used.add(next);
    return next++;
  };
  let out: Node[];
  if (named.size > 0) {
    const names = [...named.keys()].sort();
    const zoneOf = new Map<string, string>();
    for (const s of slices) for (const e of s.endpoints) if (e.nodeName && e.zone) zoneOf.set(e.nodeName, e.zone);
    for (const a of named.values()) if (a !== undefined) used.add(parseIPv4(a)!);
    out = names.map((n) => {
      const a = named.get(n);
      return node(n, a !== undefined ? parseIPv4(a)! : fresh(), zoneOf.get(n));
    });
    warnings.push({
      severity: 'info', code: 'default-nodes',
      message: `no Node objects: the ${out.length} node${out.length === 1 ? '' : 's'} the pods and EndpointSlices name (${names.join(', ')}) stand in, Ready, with the hostIP their pods report (or an address from 172.18.0.0/16) as InternalIP`,
    });
  } else {
    out = Array.from({ length: count }, (_, i) => node(`node-${i + 1}`, fresh(), ZONES[i % ZONES.length]));
    warnings.push({
      severity: 'info', code: 'default-nodes',
      message: `no Node objects: a default cluster of ${count} node${count === 1 ? '' : 's'} stands in (${out.map((n) => `${n.name} ${n.internalIP} ${n.zone}`).join(', ')}; podCIDRs from the cluster CIDR); --nodes N changes the count`,
    });
  }
  return out;
}
