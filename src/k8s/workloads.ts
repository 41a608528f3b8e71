// Workload expansion, scheduling and pod address allocation: what the
// Deployment/ReplicaSet/StatefulSet/DaemonSet controllers, the scheduler,
// node IPAM and the kubelet would do, reduced to something deterministic.
//
// - Pod names follow the controllers: a Deployment's ReplicaSet is
//   "<deployment>-<pod-template-hash>" (controller.ComputeHash: FNV-1a over the
//   template, rand.SafeEncodeString of its decimal value; here the template is
//   hashed as sorted-key JSON, so the value differs from a real cluster's but is
//   stable), and ReplicaSet and DaemonSet pods use generateName "<owner>-" plus
//   five characters of the rand.String alphabet (here derived from a hash).
//   StatefulSet pods are "<name>-<ordinal>" with hostname = pod name and
//   subdomain = spec.serviceName (stateful_set_utils.go initIdentity), and the
//   labels statefulset.kubernetes.io/pod-name and apps.kubernetes.io/pod-index.
// - Scheduling: replica i goes to the i-th (mod n) feasible node in name order.
//   Feasible: not cordoned, Ready, taints with effect NoSchedule/NoExecute
//   tolerated, spec.nodeSelector matched. DaemonSet pods get the controller's
//   automatic tolerations (unschedulable, not-ready, ...), so they also run on
//   cordoned nodes; a template spec.nodeName bypasses the scheduler.
// - Addresses: each node's IPv4 podCIDR(s) in order, skipping the network
//   address, .1 (the gateway) and the broadcast address, and every address
//   already in use; hostNetwork pods take the node's InternalIP. Nodes without a
//   podCIDR get one carved from the cluster CIDR (node IPAM, --cluster-cidr,
//   --node-cidr-mask-size).

import { formatIPv4, parseIPv4 } from '../common/ip.js';
import { Diagnostic, Node, Pod, SourceRef, Taint, Toleration, formatSource } from './model.js';
import { ParsedPod, PodSpecInfo, Workload, formatSelector } from './parse.js';
import { ManifestError, cidrRange, fnv1a32, safeEncodeString, stableJSON, suffix5 } from './validate.js';

export const LABEL_POD_TEMPLATE_HASH = 'pod-template-hash';
export const LABEL_STS_POD_NAME = 'statefulset.kubernetes.io/pod-name';
export const LABEL_POD_INDEX = 'apps.kubernetes.io/pod-index';
export const LABEL_REVISION_HASH = 'controller-revision-hash';

/** Tolerations the DaemonSet controller adds to its pods (AddOrUpdateDaemonPodTolerations). */
function daemonTolerations(hostNetwork: boolean): Toleration[] {
  const t: Toleration[] = [
    { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
    { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
  ];
  if (hostNetwork) t.push({ key: 'node.kubernetes.io/network-unavailable', operator: 'Exists', effect: 'NoSchedule' });
  return t;
}

function tolerates(tols: readonly Toleration[], taint: Taint): boolean {
  return tols.some((tol) => {
    if (tol.effect !== undefined && tol.effect !== taint.effect) return false;
    if (tol.key === undefined) return tol.operator === 'Exists';
    if (tol.key !== taint.key) return false;
    return tol.operator === 'Exists' || (tol.value ?? '') === taint.value;
  });
}

/** Why the pod cannot run on the node, or undefined when it can. */
export function unfitReason(node: Node, spec: PodSpecInfo, daemon: boolean): string | undefined {
  if (!daemon && node.unschedulable) return 'cordoned (spec.unschedulable)';
  if (!daemon && !node.ready) return 'not Ready';
  const tols = daemon ? [...spec.tolerations, ...daemonTolerations(spec.hostNetwork)] : spec.tolerations;
  for (const t of node.taints) {
    if (t.effect === 'PreferNoSchedule') continue;
    if (!tolerates(tols, t)) return `untolerated taint ${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
  }
  for (const [k, v] of Object.entries(spec.nodeSelector)) {
    if (node.labels[k] !== v) return `nodeSelector ${k}=${v} does not match`;
  }
  return undefined;
}

/** A pod the loader has to place: a workload replica or a Pod manifest without status. */
export interface PodPlan {
  pod: Pod;
  spec: PodSpecInfo;
  /** Ordering: namespace, group (owner kind and name, or the pod), index within the group. */
  order: [string, string, number];
  /** Feasible nodes in name order (workload replicas pick eligible[index % n]). */
  eligible?: Node[];
  /** Node fixed in advance (DaemonSet, or spec.nodeName). */
  fixedNode?: string;
  origin: { source: SourceRef; object: string };
}

function warn(warnings: Diagnostic[], code: Diagnostic['code'], origin: PodPlan['origin'], detail: string) {
  warnings.push({ severity: 'warning', code, object: origin.object, source: origin.source, message: `${formatSource(origin.source)} (${origin.object}): ${detail}` });
}

function explainNoNode(nodes: readonly Node[], spec: PodSpecInfo, daemon: boolean): string {
  if (nodes.length === 0) return 'there are no Node objects in the manifests';
  return nodes.map((n) => `${n.name}: ${unfitReason(n, spec, daemon)}`).join('; ');
}

/** The pod-template-hash of a template (see the header). */
export function podTemplateHash(rawTemplate: unknown): string {
  return safeEncodeString(String(fnv1a32(stableJSON(rawTemplate))));
}

/** generateName: "<base>-" (cut to 58 characters) plus five characters, unique within the namespace. */
function generateName(base: string, seed: string, taken: Set<string>): string {
  let prefix = `${base}-`;
  if (prefix.length > 58) prefix = prefix.slice(0, 58);
  for (let salt = 0; ; salt++) {
    const name = prefix + suffix5(`${seed}/${salt}`);
    if (!taken.has(name)) return name;
  }
}

/**
 * Pods for the workloads that have none in the input. `takenNames` holds
 * "namespace/name" of the pods already known; generated names avoid them.
 */
export function expandWorkloads(workloads: readonly Workload[], nodes: readonly Node[], takenNames: Set<string>, warnings: Diagnostic[]): PodPlan[] {
  const sortedNodes = sortedByName(nodes);
  const plans: PodPlan[] = [];
  // Names taken per namespace, indexed once (a scan of every name per workload is quadratic at scale).
  const takenByNs = new Map<string, Set<string>>();
  for (const k of takenNames) {
    const slash = k.indexOf('/');
    const ns = k.slice(0, slash);
    let set = takenByNs.get(ns);
    if (!set) takenByNs.set(ns, (set = new Set()));
    set.add(k.slice(slash + 1));
  }
  const eligibleNodes = eligibility(sortedNodes);
  for (const w of workloads) {
    const origin = { source: w.source, object: w.object };
    let taken = takenByNs.get(w.namespace);
    if (!taken) takenByNs.set(w.namespace, (taken = new Set()));
    const mk = (name: string, labels: Record<string, string>, index: number, ownerKind: string, ownerName: string): PodPlan => {
      const pod: Pod = {
        namespace: w.namespace, name, labels, hostNetwork: w.template.hostNetwork, ports: w.template.ports.map((p) => ({ ...p })),
        podIPs: [], phase: 'Pending', ready: false, terminating: false, simulated: true, owner: { kind: ownerKind, name: ownerName }, source: w.source,
      };
      takenNames.add(`${w.namespace}/${name}`);
      taken!.add(name);
      return { pod, spec: w.template, order: [w.namespace, `${w.kind}/${w.name}`, index], origin };
    };
    const hash = podTemplateHash(w.rawTemplate);
    const daemon = w.kind === 'DaemonSet';
    const eligible = w.template.nodeName ? undefined : eligibleNodes(w.template, daemon);
    const batch: PodPlan[] = [];
    if (w.kind === 'Deployment' || w.kind === 'ReplicaSet' || w.kind === 'ReplicationController') {
      // A ReplicationController names its pods as a ReplicaSet does (generateName "<rc>-") and owns them itself.
      const rsName = w.kind === 'Deployment' ? `${w.name}-${hash}` : w.name;
      const ownerKind = w.kind === 'ReplicationController' ? 'ReplicationController' : 'ReplicaSet';
      const labels = w.kind === 'Deployment' ? { ...w.templateLabels, [LABEL_POD_TEMPLATE_HASH]: hash } : { ...w.templateLabels };
      for (let i = 0; i < w.replicas; i++) {
        batch.push(mk(generateName(rsName, `${w.namespace}/${rsName}/${i}`, taken), { ...labels }, i, ownerKind, rsName));
      }
    } else if (w.kind === 'StatefulSet') {
      for (let i = 0; i < w.replicas; i++) {
        const name = `${w.name}-${i}`;
        if (taken.has(name)) {
          warn(warnings, 'pod-exists', origin, `pod ${w.namespace}/${name} is already in the manifests; the StatefulSet does not create it again`);
          continue;
        }
        const p = mk(name, { ...w.templateLabels, [LABEL_STS_POD_NAME]: name, [LABEL_POD_INDEX]: String(i), [LABEL_REVISION_HASH]: `${w.name}-${hash}` }, i, 'StatefulSet', w.name);
        p.pod.hostname = name;
        if (w.serviceName) p.pod.subdomain = w.serviceName;
        batch.push(p);
      }
    } else {
      const targets = w.template.nodeName ? sortedNodes.filter((n) => n.name === w.template.nodeName) : eligible!;
      targets.forEach((n, i) => {
        const p = mk(generateName(w.name, `${w.namespace}/${w.name}/${n.name}`, taken), { ...w.templateLabels, [LABEL_REVISION_HASH]: hash, 'pod-template-generation': '1' }, i, 'DaemonSet', w.name);
        p.fixedNode = n.name;
        batch.push(p);
      });
      if (targets.length === 0) {
        warn(warnings, 'no-feasible-node', origin, `DaemonSet runs no pod: no node fits (${explainNoNode(sortedNodes, w.template, true)})`);
      }
    }
    for (const p of batch) {
      if (w.template.hostname && !p.pod.hostname) p.pod.hostname = w.template.hostname;
      if (w.template.subdomain && !p.pod.subdomain) p.pod.subdomain = w.template.subdomain;
      if (w.template.dnsPolicy && !p.pod.dnsPolicy) p.pod.dnsPolicy = w.template.dnsPolicy;
      if (w.template.dnsConfig && !p.pod.dnsConfig) p.pod.dnsConfig = w.template.dnsConfig;
      if (!daemon) {
        if (w.template.nodeName) p.fixedNode = w.template.nodeName;
        else p.eligible = eligible;
      }
    }
    if (!daemon && !w.template.nodeName && eligible!.length === 0 && batch.length > 0) {
      warn(warnings, 'no-feasible-node', origin, `${batch.length} pod(s) stay Pending: no node fits (${explainNoNode(sortedNodes, w.template, false)}); selector ${formatSelector(w.selector)}`);
    }
    plans.push(...batch);
  }
  return plans;
}

/** A plan for a Pod manifest without status (scheduled like a single replica). */
export function planBarePod(pp: ParsedPod, nodes: readonly Node[], object: string): PodPlan {
  const plan: PodPlan = {
    pod: pp.pod, spec: pp.spec, order: [pp.pod.namespace, `Pod/${pp.pod.name}`, 0],
    origin: { source: pp.pod.source!, object },
  };
  if (pp.spec.nodeName) plan.fixedNode = pp.spec.nodeName;
  else {
    let eligibleNodes = barePodEligibility.get(nodes);
    if (!eligibleNodes) barePodEligibility.set(nodes, (eligibleNodes = eligibility(sortedByName(nodes))));
    plan.eligible = eligibleNodes(pp.spec, false);
  }
  return plan;
}

const barePodEligibility = new WeakMap<readonly Node[], (spec: PodSpecInfo, daemon: boolean) => Node[]>();

function sortedByName(nodes: readonly Node[]): Node[] {
  return [...nodes].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The feasible nodes (in name order) of a pod spec, remembered per scheduling constraint (what
 * unfitReason reads: tolerations, nodeSelector, hostNetwork for daemons), so that 10,000 workloads
 * of a few kinds of constraint over 5,000 nodes test each node a few times, not 10,000. The lists
 * are shared: callers only read them.
 */
function eligibility(sortedNodes: readonly Node[]): (spec: PodSpecInfo, daemon: boolean) => Node[] {
  const cache = new Map<string, Node[]>();
  // Nodes by label (in name order), made on first use: a nodeSelector can only match the nodes
  // carrying its first label (node pools of 10 among 5,000 nodes).
  let byLabel: Map<string, Node[]> | undefined;
  const carrying = (k: string, v: string): readonly Node[] => {
    if (!byLabel) {
      byLabel = new Map();
      for (const n of sortedNodes) {
        for (const [lk, lv] of Object.entries(n.labels)) {
          const key = `${lk}=${lv}`;
          const l = byLabel.get(key);
          if (l) l.push(n); else byLabel.set(key, [n]);
        }
      }
    }
    return byLabel.get(`${k}=${v}`) ?? [];
  };
  return (spec, daemon) => {
    const key = `${daemon}|${daemon && spec.hostNetwork}|${JSON.stringify(spec.tolerations)}|${JSON.stringify(spec.nodeSelector)}`;
    let l = cache.get(key);
    if (!l) {
      const first = Object.entries(spec.nodeSelector)[0];
      const candidates = first ? carrying(first[0], first[1]) : sortedNodes;
      cache.set(key, (l = candidates.filter((n) => unfitReason(n, spec, daemon) === undefined)));
    }
    return l;
  };
}

/** Node IPAM: podCIDRs for nodes that have none, carved from the cluster CIDR in node-name order. */
export function assignPodCIDRs(nodes: Node[], clusterCIDR: string, maskSize: number, warnings: Diagnostic[]) {
  const cluster = cidrRange(clusterCIDR);
  if (maskSize < cluster.plen || maskSize > 30) throw new RangeError(`nodeCIDRMaskSize ${maskSize} must be in ${cluster.plen}..30 for cluster CIDR ${clusterCIDR}`);
  const size = 2 ** (32 - maskSize);
  const taken = nodes.flatMap((n) => n.podCIDRs.map(cidrRange));
  const overlaps = (base: number) => taken.some((t) => base < t.base + t.size && t.base < base + size);
  let next = cluster.base;
  for (const n of [...nodes].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (n.podCIDRs.length > 0) continue;
    while (next < cluster.base + cluster.size && overlaps(next)) next += size;
    if (next >= cluster.base + cluster.size) {
      warnings.push({ severity: 'warning', code: 'cluster-cidr-full', object: `Node ${n.name}`, message: `Node ${n.name}: no podCIDR and the cluster CIDR ${clusterCIDR} has no free /${maskSize} left` });
      continue;
    }
    n.podCIDRs = [`${formatIPv4(next)}/${maskSize}`];
    n.podCIDRAllocated = true;
    taken.push({ base: next, size, plen: maskSize });
    next += size;
  }
}

class NodeAllocator {
  private ranges: { base: number; size: number }[];
  private r = 0;
  private off = 2;
  constructor(node: Node, private used: Set<number>) {
    this.ranges = node.podCIDRs.map(cidrRange);
  }
  next(): number | undefined {
    for (; this.r < this.ranges.length; this.r++, this.off = 2) {
      const { base, size } = this.ranges[this.r];
      // Skip the network address, .1 (the bridge/gateway) and the broadcast address.
      for (; this.off <= size - 2; this.off++) {
        const a = (base + this.off) >>> 0;
        if (!this.used.has(a)) {
          this.used.add(a);
          this.off++;
          return a;
        }
      }
    }
    return undefined;
  }
}

/**
 * Schedules the plans and gives them addresses, in a deterministic order
 * (namespace, owner, index). `used` holds the addresses already taken (pod IPs
 * from the manifests, node addresses); allocated ones are added.
 */
export function placePods(plans: PodPlan[], nodes: readonly Node[], used: Set<number>, warnings: Diagnostic[],
  previous?: ReadonlyMap<string, { node: string; ip: string }>): void {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const allocators = new Map<string, NodeAllocator>();
  const sorted = [...plans].sort((a, b) => {
    for (let i = 0; i < 3; i++) if (a.order[i] !== b.order[i]) return a.order[i] < b.order[i] ? -1 : 1;
    return 0;
  });
  // Pods that were running before a change keep their node and address (a running pod is never moved or
  // renumbered by changes to other objects): their addresses are reserved before any new pod gets one.
  const kept = new Map<PodPlan, { node: Node; ip: string }>();
  if (previous) {
    for (const plan of sorted) {
      const before = previous.get(`${plan.pod.namespace}/${plan.pod.name}`);
      const node = before && byName.get(before.node);
      if (!before || !node) continue;
      // A pod stays bound to a node that failed after it was placed (only eviction, not modelled, would move it).
      const fits = plan.fixedNode !== undefined ? plan.fixedNode === node.name : node.failed === true || (plan.eligible ?? []).includes(node);
      const addr = parseIPv4(before.ip);
      if (!fits || addr === undefined || (!plan.pod.hostNetwork && used.has(addr))) continue;
      if (!plan.pod.hostNetwork) used.add(addr);
      kept.set(plan, { node, ip: before.ip });
    }
  }
  let bareCursor = 0;
  for (const plan of sorted) {
    const { pod } = plan;
    const keep = kept.get(plan);
    if (keep) {
      if (plan.order[1].startsWith('Pod/')) bareCursor++;
      pod.nodeName = keep.node.name;
      pod.podIP = keep.ip;
      pod.podIPs = [keep.ip];
      if (keep.node.internalIP) pod.hostIP = keep.node.internalIP;
      pod.phase = 'Running';
      pod.ready = true;
      continue;
    }
    let node: Node | undefined;
    if (plan.fixedNode !== undefined) {
      node = byName.get(plan.fixedNode);
      if (!node) {
        pod.nodeName = plan.fixedNode;
        warn(warnings, 'unknown-node', plan.origin, `pod ${pod.namespace}/${pod.name} is bound to node ${JSON.stringify(plan.fixedNode)}, which is not in the manifests: it stays Pending`);
        continue;
      }
    } else {
      const el = plan.eligible ?? [];
      if (el.length === 0) {
        if (pod.owner === undefined) warn(warnings, 'no-feasible-node', plan.origin, `pod stays Pending: no node fits (${explainNoNode(nodes, plan.spec, false)})`);
        continue;
      }
      const idx = plan.order[1].startsWith('Pod/') ? bareCursor++ : plan.order[2];
      node = el[idx % el.length];
    }
    pod.nodeName = node.name;
    let addr: number | undefined;
    if (pod.hostNetwork) {
      const nip = node.internalIP ?? node.externalIP;
      if (nip === undefined) {
        warn(warnings, 'no-node-ip', plan.origin, `hostNetwork pod ${pod.namespace}/${pod.name} on node ${node.name}, which has no InternalIP: the pod has no address`);
        pod.phase = 'Running';
        continue;
      }
      addr = parseIPv4(nip);
    } else {
      let alloc = allocators.get(node.name);
      if (!alloc) allocators.set(node.name, (alloc = new NodeAllocator(node, used)));
      addr = alloc.next();
      if (addr === undefined) {
        throw new ManifestError(plan.origin.source, plan.origin.object, undefined,
          node.podCIDRs.length
            ? `no free pod address left on node ${node.name} (podCIDRs ${node.podCIDRs.join(', ')}) for pod ${pod.namespace}/${pod.name}`
            : `node ${node.name} has no podCIDR to give pod ${pod.namespace}/${pod.name} an address`);
      }
    }
    const ip = formatIPv4(addr!);
    pod.podIP = ip;
    pod.podIPs = [ip];
    if (node.internalIP) pod.hostIP = node.internalIP;
    pod.phase = 'Running';
    pod.ready = true;
  }
}
