// `dpemu get pods|services|nodes`: what the loader allocated and placed, in the shape `kubectl get` prints
// (columns, `-n NAMESPACE`, `-A` by default here, `-o wide|json`), so that users and scripts need not guess
// pod IPs, cluster IPs, node ports or load-balancer addresses.

import type { ClusterModel, Pod, Service, Node } from './k8s/model.js';
import { UsageError } from './errors.js';

export type GetKind = 'pods' | 'services' | 'nodes';
export const GET_KINDS: readonly GetKind[] = ['pods', 'services', 'nodes'];
const ALIASES: Record<string, GetKind> = { pod: 'pods', po: 'pods', pods: 'pods', service: 'services', svc: 'services', services: 'services', node: 'nodes', no: 'nodes', nodes: 'nodes' };

export interface GetOptions { namespace?: string; output?: 'wide' | 'json' }

/** The kind a user typed (kubectl's singular, plural and short names), or a UsageError. */
export function getKind(word: string): GetKind {
  const k = ALIASES[word.toLowerCase()];
  if (!k) throw new UsageError(`unknown resource type ${JSON.stringify(word)} (one of pods, services, nodes)`);
  return k;
}

/** Columns padded as kubectl pads them: three spaces between columns. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c] + 3))).join('').trimEnd()).join('\n');
}

const podRow = (p: Pod, wide: boolean, all: boolean): string[] => [
  ...(all ? [p.namespace] : []), p.name, p.ready ? '1/1' : '0/1', p.phase, ...(wide ? [p.podIPs[0] ?? '<none>', p.nodeName ?? '<none>'] : []),
];

function servicePorts(s: Service): string {
  if (s.ports.length === 0) return '<none>';
  return s.ports.map((p) => `${p.port}${p.nodePort !== undefined ? `:${p.nodePort}` : ''}/${p.protocol}`).join(',');
}

const serviceRow = (s: Service, wide: boolean, all: boolean): string[] => [
  ...(all ? [s.namespace] : []), s.name, s.type,
  s.type === 'ExternalName' ? '<none>' : s.headless ? 'None' : s.clusterIP ?? '<none>',
  s.type === 'ExternalName' ? s.externalName ?? '<none>' : [...s.loadBalancerIngress, ...s.externalIPs].join(',') || '<none>',
  servicePorts(s),
  ...(wide ? [Object.entries(s.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '<none>'] : []),
];

const nodeRow = (n: Node, wide: boolean): string[] => [
  n.name, n.unschedulable ? 'Ready,SchedulingDisabled' : 'Ready',
  ...(wide ? [n.internalIP ?? '<none>', n.externalIP ?? '<none>', n.podCIDRs.join(',') || '<none>', n.zone ?? '<none>'] : []),
];

/** The listing of `kind` in `model`, as text (a table) or as JSON (one object per item). */
export function getListing(model: ClusterModel, kind: GetKind, o: GetOptions = {}): string {
  const wide = o.output === 'wide', all = o.namespace === undefined;
  const inNs = <T extends { namespace: string }>(xs: T[]) => (all ? xs : xs.filter((x) => x.namespace === o.namespace));
  if (o.output === 'json') {
    const items = kind === 'pods'
      ? inNs(model.pods).map((p) => ({ namespace: p.namespace, name: p.name, node: p.nodeName ?? null, podIP: p.podIPs[0] ?? null, phase: p.phase, ready: p.ready, labels: p.labels }))
      : kind === 'services'
        ? inNs(model.services).map((s) => ({
          namespace: s.namespace, name: s.name, type: s.type, clusterIP: s.headless ? 'None' : s.clusterIP ?? null,
          externalIPs: s.externalIPs, loadBalancer: s.loadBalancerIngress,
          ports: s.ports.map((p) => ({ name: p.name ?? null, port: p.port, protocol: p.protocol, nodePort: p.nodePort ?? null })),
        }))
        : model.nodes.map((n) => ({ name: n.name, internalIP: n.internalIP ?? null, externalIP: n.externalIP ?? null, podCIDRs: n.podCIDRs, zone: n.zone ?? null }));
    return JSON.stringify({ kind: 'List', items }, null, 2);
  }
  let rows: string[][];
  if (kind === 'pods') {
    rows = [[...(all ? ['NAMESPACE'] : []), 'NAME', 'READY', 'STATUS', ...(wide ? ['IP', 'NODE'] : [])], ...inNs(model.pods).map((p) => podRow(p, wide, all))];
  } else if (kind === 'services') {
    rows = [[...(all ? ['NAMESPACE'] : []), 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', ...(wide ? ['SELECTOR'] : [])], ...inNs(model.services).map((s) => serviceRow(s, wide, all))];
  } else {
    rows = [['NAME', 'STATUS', ...(wide ? ['INTERNAL-IP', 'EXTERNAL-IP', 'POD-CIDR', 'ZONE'] : [])], ...model.nodes.map((n) => nodeRow(n, wide))];
  }
  if (rows.length === 1) return all || kind === 'nodes' ? 'No resources found' : `No resources found in ${o.namespace} namespace.`;
  return table(rows);
}
