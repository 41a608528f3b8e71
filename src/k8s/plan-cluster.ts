// Planning a whole cluster: what every node's kube-proxy would program, as keyed data (plan.ts). Nodes and
// the ipcache (with the policy compiler's identities) here; each service port in plan-service.ts.

import { EndpointInfo, IDENTITY, IPC_FLAG } from '../dataplane.js';
import { formatIPv4 } from '../common/ip.js';
import { compilePolicies } from '../policy/compile.js';
import { ClusterModel, EndpointSlice } from './model.js';
import { Allocations, BackendMap } from './ids.js';
import { labelsKey } from './labels.js';
import { NODE_NONE, Plan, ResolvedCompileOptions } from './plan.js';
import { backendAllocator, canonicalCidr, nodeAddress, planServicePort } from './plan-service.js';

/**
 * What every node's kube-proxy would program for `model`, as keyed data; ids come from `alloc`
 * (new objects get new ids, known ones keep theirs). `serviceLimit`: the dataplane's maxServices,
 * past which freed service indices are reused.
 */
export function planCluster(model: ClusterModel, opts: ResolvedCompileOptions, alloc = new Allocations(), serviceLimit = Infinity): Plan {
  const plan: Plan = {
    options: opts, nodes: [], backends: new BackendMap(), services: new Map(), frontends: new Map(), ipcache: new Map(),
    servicePorts: new Map(), udpServing: new Map(), warnings: [],
  };

  // Nodes: ids in model order (stable afterwards); the dataplane knows a node by one address.
  for (const n of model.nodes) {
    const addr = nodeAddress(n);
    const id = alloc.node(n.name);
    if (addr === undefined) {
      plan.warnings.push(`node ${n.name} has no IPv4 address: packets cannot enter on it and it serves no NodePort`);
      continue;
    }
    plan.nodes.push({ id, name: n.name, addr, zone: n.zone, ...(n.failed ? { failed: true } : {}) });
  }
  const nodeByName = new Map(model.nodes.map((n) => [n.name, n]));
  const liveNodes = plan.nodes.map((pn) => ({ pn, node: nodeByName.get(pn.name)! }));

  // ipcache: the cluster CIDR and each node's pod CIDRs are pods (so unknown pod IPs count as in-cluster:
  // kube-proxy's LocalDetector tests `-s clusterCIDR`); nodes are the host; every pod IP a pod.
  const ipc = (cidr: string, info: EndpointInfo, what: string) => {
    const c = canonicalCidr(cidr);
    plan.ipcache.set(c.cidr, { cidr: c.cidr, addr: c.addr, plen: c.plen, info, what });
  };
  const UNMANAGED = 3; // Cilium's reserved:unmanaged: in the pod network, not a known endpoint
  if (opts.clusterCIDR !== null) ipc(opts.clusterCIDR, { identity: UNMANAGED, endpoint: 0, node: NODE_NONE, flags: IPC_FLAG.POD }, 'cluster CIDR');
  for (const { pn, node } of liveNodes) {
    for (const c of node.podCIDRs) ipc(c, { identity: UNMANAGED, endpoint: 0, node: pn.id, flags: IPC_FLAG.POD }, `podCIDR of node ${pn.name}`);
  }
  for (const { pn } of liveNodes) {
    ipc(`${formatIPv4(pn.addr)}/32`, { identity: IDENTITY.HOST, endpoint: 0, node: pn.id, flags: IPC_FLAG.HOST }, `node ${pn.name}`);
  }
  const nodeIdByName = new Map(plan.nodes.map((n) => [n.name, n.id]));
  for (const p of model.pods) {
    // hostNetwork pods use their node's address (already HOST); terminal pods have given their IP back.
    if (p.hostNetwork || p.phase === 'Succeeded' || p.phase === 'Failed') continue;
    const identity = alloc.identity(`${p.namespace}|${labelsKey(p.labels)}`);
    const endpoint = alloc.endpoint(`${p.namespace}/${p.name}`);
    const node = p.nodeName !== undefined ? nodeIdByName.get(p.nodeName) ?? NODE_NONE : NODE_NONE;
    for (const a of p.podIPs) {
      const k = `${a}/32`;
      const prev = plan.ipcache.get(k);
      if (prev) {
        plan.warnings.push(`pod ${p.namespace}/${p.name} has address ${a}, already used by ${prev.what}; the ipcache keeps the first`);
        continue;
      }
      ipc(k, { identity, endpoint, node, flags: IPC_FLAG.POD }, `pod ${p.namespace}/${p.name}`);
    }
  }
  if (model.policies) {
    // Policy identities, subjects and enforcement flags replace the ipcache's; policy CIDRs join it.
    plan.policy = compilePolicies({ cluster: model, policies: model.policies, knobs: opts.policyKnobs, infra: plan.ipcache,
      identity: (k) => alloc.identity(k), ids: alloc.policyIds });
    plan.ipcache = plan.policy.ipcache;
  }

  const backendOf = backendAllocator(plan, alloc);

  // The slices of each service, indexed once (slicesForService per service would be quadratic).
  const slicesOf = new Map<string, EndpointSlice[]>();
  for (const s of model.endpointSlices) {
    const k = `${s.namespace}/${s.serviceName}`;
    const l = slicesOf.get(k);
    if (l) l.push(s); else slicesOf.set(k, [s]);
  }
  for (const svc of model.services) {
    // Headless and ExternalName services get no rules (proxier.go: only services with a cluster IP are proxied).
    if (svc.type === 'ExternalName' || svc.headless || svc.clusterIP === undefined) continue;
    const slices = slicesOf.get(`${svc.namespace}/${svc.name}`) ?? [];
    for (const sp of svc.ports) planServicePort(plan, alloc, serviceLimit, opts, svc, sp, slices, liveNodes, backendOf);
  }
  return plan;
}
