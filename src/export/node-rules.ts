// What one node's kube-proxy programs for each service port, read off the plan dpemu's designs run
// (src/k8s/compile.ts planCluster): the endpoints of the cluster and local policy chains are the
// backends of the plan's entries for that node, and the addresses are its frontends. The exporters
// (iptables.ts, nft.ts, ipvsadm.ts) print these, so what `dpemu export` prints is what `dpemu trace`
// runs. Endpoints keep the plan's slot order (numeric by address; kube-proxy orders them by their
// "ip:port" text, which differs only in which slot an endpoint takes, not in the set or the odds).
import type { ClusterModel, Service, ServicePort } from '../k8s/model.js';
import { CompileOptions, Plan, PlannedService, planCluster, resolveCompileOptions } from '../k8s/compile.js';
import type { Design } from '../dataplane.js';
import { formatIPv4 } from '../common/ip.js';
import { servicePortName } from './chains.js';
import { nodePortIPs } from '../k8s/node-ports.js';

export interface RuleEndpoint { address: string; port: number; nodeName?: string }

export interface NodeServicePort {
  /** ServicePortName.String(): "ns/name:port". */
  spn: string;
  /** Lower-case protocol, as kube-proxy puts it in chain names and matches. */
  proto: string;
  service: Service;
  port: ServicePort;
  /** CategorizeEndpoints hasAnyEndpoints: some usable endpoint on any node. */
  hasEndpoints: boolean;
  /** The cluster policy chain's endpoints ([] when no Cluster policy is used). */
  clusterEndpoints: RuleEndpoint[];
  /** The local policy chain's endpoints on this node ([] when no Local policy is used). */
  localEndpoints: RuleEndpoint[];
  externallyAccessible: boolean;
  intLocal: boolean;
  extLocal: boolean;
  clusterIP: string;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** 0: none. */
  nodePort: number;
  /** loadBalancerSourceRanges in force (empty: no firewall chain), and the VIPs let through with them. */
  sourceRanges: string[];
  allowedVIPs: string[];
  /** ClientIP affinity timeout in seconds; 0 without affinity. */
  affinityTimeout: number;
}

export interface NodeRules {
  plan: Plan;
  node: string;
  /** The node's addresses that answer NodePorts (excluding 127.0.0.1). */
  nodePortIPs: string[];
  /** NodePorts on 127.0.0.1 (iptables localhostNodePorts). */
  localhostNodePorts: boolean;
  ports: NodeServicePort[];
}

/** The plan for `model` as the design runs it (the designs share the planner; the design sets its defaults). */
export function planFor(model: ClusterModel, design: Design, o: CompileOptions = {}): Plan {
  return planCluster(model, resolveCompileOptions(model, { ...o, design }));
}

export function nodeRules(plan: Plan, model: ClusterModel, node: string): NodeRules {
  const nodeObj = model.nodes.find((n) => n.name === node);
  const npIPs = nodeObj ? nodePortIPs(nodeObj, plan.options.nodePortAddresses, plan.options.nodePortMode).map(formatIPv4) : [];
  const entryPort = new Map<string, string>();
  for (const sp of plan.servicePorts.values()) for (const k of sp.entries) entryPort.set(k, sp.key);
  const fronts = new Map<string, { kind: string; addr: string; node?: string }[]>();
  for (const fe of plan.frontends.values()) {
    const pk = entryPort.get(fe.service);
    if (pk === undefined) continue;
    const addr = formatIPv4(fe.addr);
    const l = fronts.get(pk) ?? [];
    if (!l.some((x) => x.kind === fe.kind && x.addr === addr)) l.push({ kind: fe.kind, addr, node: fe.node });
    fronts.set(pk, l);
  }
  const backend = (id: number): RuleEndpoint => {
    const b = plan.backends.getById(id)!;
    const e: RuleEndpoint = { address: formatIPv4(b.addr), port: b.port };
    if (b.node !== undefined) e.nodeName = b.node;
    return e;
  };
  const ports: NodeServicePort[] = [];
  for (const sp of plan.servicePorts.values()) {
    const s = sp.service, p = sp.port;
    const entries = sp.entries.map((k) => plan.services.get(k)!);
    const find = (roles: string[], scope: string, n?: string): PlannedService | undefined =>
      entries.find((e) => roles.includes(e.role) && e.scope === scope && (n === undefined || e.node === n));
    const ext = ['external', 'load-balancer'];
    const fes = fronts.get(sp.key) ?? [];
    const nodePort = (s.type === 'NodePort' || s.type === 'LoadBalancer') ? p.nodePort ?? 0 : 0;
    const externalIPs = fes.filter((f) => f.kind === 'externalIP').map((f) => f.addr);
    const loadBalancerIPs = fes.filter((f) => f.kind === 'LoadBalancer').map((f) => f.addr);
    const externallyAccessible = nodePort !== 0 || externalIPs.length > 0 || loadBalancerIPs.length > 0 || s.externalIPs.length > 0 || s.loadBalancerIngress.length > 0;
    const intLocal = s.internalTrafficPolicy === 'Local';
    const extLocal = externallyAccessible && s.externalTrafficPolicy === 'Local';
    const cip = intLocal ? find(['cluster-ip'], 'node', node) : find(['cluster-ip'], 'node', node) ?? find(['cluster-ip'], 'any');
    const extCluster = extLocal ? find(ext, 'internal', node) ?? find(ext, 'any') : find(ext, 'node', node) ?? find(ext, 'any');
    const usesCluster = !intLocal || externallyAccessible;
    const clusterEntry = !intLocal ? cip : extCluster;
    const localEntry = intLocal ? cip : extLocal ? find(ext, 'external', node) : undefined;
    const fw = find(['load-balancer'], 'any') ?? find(['load-balancer'], 'external', node);
    const userRanges = new Set(s.loadBalancerSourceRanges);
    const ranges = fw?.sourceRanges ?? [];
    ports.push({
      spn: servicePortName(s.namespace, s.name, p.name), proto: p.protocol.toLowerCase(), service: s, port: p,
      hasEndpoints: sp.eligible.endpoints.length > 0,
      clusterEndpoints: usesCluster && clusterEntry ? clusterEntry.backends.map(backend) : [],
      localEndpoints: localEntry ? localEntry.backends.map(backend) : [],
      externallyAccessible, intLocal, extLocal,
      clusterIP: s.clusterIP!, externalIPs, loadBalancerIPs, nodePort,
      sourceRanges: ranges.filter((c) => userRanges.has(c)),
      // planCluster adds each VIP as a /32 when a range holds a node's address (proxier.go allowFromNode).
      allowedVIPs: ranges.filter((c) => !userRanges.has(c)).map((c) => c.replace(/\/32$/, '')),
      affinityTimeout: entries.find((e) => e.affinityTimeout > 0)?.affinityTimeout ?? (s.sessionAffinity === 'ClientIP' ? s.sessionAffinityTimeout : 0),
    });
  }
  // kube-proxy's own tests sort service ports by name (and protocol): so does the export.
  ports.sort((a, b) => (a.spn !== b.spn ? (a.spn < b.spn ? -1 : 1) : a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : 0));
  return { plan, node, nodePortIPs: npIPs, localhostNodePorts: plan.options.localhostNodePorts, ports };
}

