// `dpemu export --format iptables-save`: the rules kube-proxy's iptables mode writes with
// iptables-restore on one node (pkg/proxy/iptables/proxier.go syncProxyRules), in the text form
// iptables-save prints. Chains are listed KUBE-NODEPORTS, KUBE-SERVICES first, then by name, and
// service ports in name order, as kube-proxy's own tests normalise them (assertIPTablesRulesEqual),
// so the output does not depend on map iteration order.
import type { ClusterModel, Service, ServicePort } from '../k8s/model.js';
import { slicesForService } from '../k8s/model.js';
import { eligibleEndpoints, ProxyEndpoint } from '../k8s/endpoints.js';
import { ip, parseCidr, prefixMask } from '../common/ip.js';
import { servicePortName, svcChain, svlChain, extChain, fwChain, sepChain, probability } from './chains.js';

export interface ExportOptions {
  /** The node whose rules are printed (its name decides which endpoints are local). */
  node: string;
  /** kube-proxy --masquerade-all. */
  masqueradeAll?: boolean;
  /** localhostNodePorts (default true): NodePorts also answer on 127.0.0.0/8. */
  localhostNodePorts?: boolean;
  /** The kernel has the nfacct match (default true): kube-proxy adds its packet counters only then. */
  nfacct?: boolean;
}

/** One service port as kube-proxy's syncProxyRules sees it on the node. */
export interface ServicePortRules {
  spn: string; proto: string; service: Service; port: ServicePort;
  clusterEndpoints: ProxyEndpoint[]; localEndpoints: ProxyEndpoint[];
}

const q = (s: string) => (/[\s"]/.test(s) ? `"${s}"` : s);
const ep = (e: ProxyEndpoint) => `${e.address}:${e.port}`;

function externallyAccessible(s: Service, p: ServicePort): boolean {
  return (p.nodePort ?? 0) !== 0 || s.externalIPs.length > 0 || s.loadBalancerIngress.length > 0;
}

/** The service ports that get rules (IPv4 cluster IP, not headless or ExternalName), in name order. */
export function servicePorts(model: ClusterModel, node: string): ServicePortRules[] {
  const out: ServicePortRules[] = [];
  for (const s of model.services) {
    if (s.type === 'ExternalName' || s.headless || !s.clusterIP) continue;
    const slices = slicesForService(model, s);
    for (const p of s.ports) {
      const el = eligibleEndpoints(slices, p);
      // kube-proxy sorts a service port's endpoints by their "ip:port" text (endpointslicecache.go).
      const all = [...el.endpoints].sort((a, b) => (ep(a) < ep(b) ? -1 : ep(a) > ep(b) ? 1 : 0));
      const extLocal = externallyAccessible(s, p) && s.externalTrafficPolicy === 'Local';
      const intLocal = s.internalTrafficPolicy === 'Local';
      // CategorizeEndpoints (pkg/proxy/topology.go): cluster endpoints when a Cluster policy is in
      // use, local ones when a Local policy is.
      const usesCluster = !intLocal || (externallyAccessible(s, p) && !extLocal);
      const usesLocal = intLocal || extLocal;
      out.push({
        spn: servicePortName(s.namespace, s.name, p.name), proto: p.protocol.toLowerCase(), service: s, port: p,
        clusterEndpoints: usesCluster ? all : [],
        localEndpoints: usesLocal ? all.filter((e) => e.nodeName === node) : [],
      });
    }
  }
  return out.sort((a, b) => (a.spn !== b.spn ? (a.spn < b.spn ? -1 : 1) : a.proto < b.proto ? -1 : a.proto > b.proto ? 1 : 0));
}

class Table {
  readonly chains = new Set<string>();
  readonly rules = new Map<string, string[]>();
  constructor(readonly fixed: string[]) { for (const c of fixed) this.chain(c); }
  chain(c: string): void { this.chains.add(c); if (!this.rules.has(c)) this.rules.set(c, []); }
  add(chain: string, ...args: string[]): void { this.chain(chain); this.rules.get(chain)!.push(`-A ${chain} ${args.join(' ')}`.trimEnd()); }
  text(name: string): string[] {
    const rest = [...this.chains].filter((c) => !this.fixed.includes(c)).sort();
    const order = [...this.fixed, ...rest];
    return [`*${name}`, ...order.map((c) => `:${c} - [0:0]`), ...order.flatMap((c) => this.rules.get(c)!), 'COMMIT'];
  }
}

/** The iptables-save text of the node's kube-proxy rules (filter and nat tables). */
export function exportIptables(model: ClusterModel, o: ExportOptions): string {
  const nodeObj = model.nodes.find((n) => n.name === o.node);
  const nodeIP = nodeObj?.internalIP;
  const podCIDR = model.config.clusterCIDR;
  const localhostNodePorts = o.localhostNodePorts ?? true;
  const filter = new Table(['KUBE-NODEPORTS', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FIREWALL', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL']);
  const nat = new Table(['KUBE-NODEPORTS', 'KUBE-SERVICES']);
  nat.chain('KUBE-MARK-MASQ'); nat.chain('KUBE-POSTROUTING');
  const MARK = '0x4000';
  const acct = (name: string) => (o.nfacct ?? true ? ['-m nfacct --nfacct-name', name] : []);

  for (const sp of servicePorts(model, o.node)) {
    const { spn, proto, service: s, port: p } = sp;
    const intLocal = s.internalTrafficPolicy === 'Local';
    const extLocal = externallyAccessible(s, p) && s.externalTrafficPolicy === 'Local';
    const cluster = svcChain(spn, proto), local = svlChain(spn, proto), ext = extChain(spn, proto), fw = fwChain(spn, proto);
    const usesCluster = sp.clusterEndpoints.length > 0;
    const usesLocal = sp.localEndpoints.length > 0;
    const reachable = sp.clusterEndpoints.length ? [...sp.clusterEndpoints, ...sp.localEndpoints.filter((e) => !sp.clusterEndpoints.includes(e))] : sp.localEndpoints;
    const hasEndpoints = reachable.length > 0;
    const hasInternal = hasEndpoints && (!intLocal || usesLocal);
    const hasExternal = hasEndpoints && (!extLocal || usesLocal);
    const internalChain = intLocal ? local : cluster;
    const externalPolicyChain = extLocal ? local : cluster;
    const usesExt = hasEndpoints && externallyAccessible(s, p);
    const lbVIPs = s.loadBalancerIngress;
    const usesFW = hasEndpoints && lbVIPs.length > 0 && s.loadBalancerSourceRanges.length > 0;
    const lbChain = usesFW ? fw : ext;
    const intTarget = !hasEndpoints ? 'REJECT' : 'DROP';
    const intComment = q(!hasEndpoints ? `${spn} has no endpoints` : `${spn} has no local endpoints`);
    const m = ['-m', proto, '-p', proto];
    const dport = (a: string, port: number) => [...m, '-d', a, '--dport', String(port)];

    if (hasInternal) nat.add('KUBE-SERVICES', '-m comment --comment', q(`${spn} cluster IP`), ...dport(s.clusterIP!, p.port), '-j', internalChain);
    else filter.add('KUBE-SERVICES', '-m comment --comment', intComment, ...dport(s.clusterIP!, p.port), '-j', intTarget);

    for (const a of s.externalIPs) {
      if (hasEndpoints) nat.add('KUBE-SERVICES', '-m comment --comment', q(`${spn} external IP`), ...dport(a, p.port), '-j', ext);
      if (!hasExternal) filter.add('KUBE-EXTERNAL-SERVICES', '-m comment --comment', intComment, ...dport(a, p.port), '-j', intTarget);
    }
    for (const a of lbVIPs) {
      if (hasEndpoints) nat.add('KUBE-SERVICES', '-m comment --comment', q(`${spn} loadbalancer IP`), ...dport(a, p.port), '-j', lbChain);
      if (usesFW) filter.add('KUBE-PROXY-FIREWALL', '-m comment --comment', q(`${spn} traffic not accepted by ${fw}`), ...dport(a, p.port), '-j DROP');
    }
    if (!hasExternal) for (const a of lbVIPs) filter.add('KUBE-EXTERNAL-SERVICES', '-m comment --comment', intComment, ...dport(a, p.port), '-j', intTarget);

    const np = p.nodePort ?? 0;
    if (np) {
      if (hasEndpoints) {
        // localhostNodePorts: NodePorts on 127.0.0.0/8 too (needs route_localnet), counted by nfacct.
        if (localhostNodePorts) nat.add('KUBE-NODEPORTS', '-m comment --comment', q(spn), ...m, '-d 127.0.0.0/8 --dport', String(np), ...acct('localhost_nps_accepted_pkts'), '-j', ext);
        nat.add('KUBE-NODEPORTS', '-m comment --comment', q(spn), ...m, '--dport', String(np), '-j', ext);
      }
      if (!hasExternal) filter.add('KUBE-EXTERNAL-SERVICES', '-m comment --comment', intComment, '-m addrtype --dst-type LOCAL', ...m, '--dport', String(np), '-j', intTarget);
    }
    if (s.healthCheckNodePort && extLocal) filter.add('KUBE-NODEPORTS', '-m comment --comment', q(`${spn} health check node port`), '-m tcp -p tcp --dport', String(s.healthCheckNodePort), '-j ACCEPT');

    if (usesExt) {
      nat.chain(ext);
      if (!extLocal) nat.add(ext, '-m comment --comment', q(`masquerade traffic for ${spn} external destinations`), '-j KUBE-MARK-MASQ');
      else {
        nat.add(ext, '-m comment --comment', q(`pod traffic for ${spn} external destinations`), '-s', podCIDR, '-j', cluster);
        nat.add(ext, '-m comment --comment', q(`masquerade LOCAL traffic for ${spn} external destinations`), '-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ');
        nat.add(ext, '-m comment --comment', q(`route LOCAL traffic for ${spn} external destinations`), '-m addrtype --src-type LOCAL -j', cluster);
      }
      if (hasExternal) nat.add(ext, '-j', externalPolicyChain);
    }
    if (usesFW) {
      nat.chain(fw);
      let allowFromNode = false;
      for (const c of s.loadBalancerSourceRanges) {
        nat.add(fw, '-m comment --comment', q(`${spn} loadbalancer IP`), '-s', c, '-j', ext);
        if (nodeIP && inCidr(nodeIP, c)) allowFromNode = true;
      }
      // A VIP-like LB's address is often local: a node's request to it loops back with the VIP as source.
      if (allowFromNode) for (const a of lbVIPs) nat.add(fw, '-m comment --comment', q(`${spn} loadbalancer IP`), '-s', a, '-j', ext);
      nat.add(fw, '-m comment --comment', q(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`));
    }
    const writeEndpoints = (chain: string, eps: ProxyEndpoint[]) => {
      nat.chain(chain);
      if (s.sessionAffinity === 'ClientIP') for (const e of eps) {
        const sep = sepChain(spn, proto, ep(e));
        nat.add(chain, '-m comment --comment', q(`${spn} -> ${ep(e)}`), '-m recent --name', sep, '--rcheck --seconds', String(s.sessionAffinityTimeout), '--reap -j', sep);
      }
      eps.forEach((e, i) => {
        const stat = i < eps.length - 1 ? ['-m statistic --mode random --probability', probability(eps.length - i)] : [];
        nat.add(chain, '-m comment --comment', q(`${spn} -> ${ep(e)}`), ...stat, '-j', sepChain(spn, proto, ep(e)));
      });
    };
    if (usesCluster) {
      nat.chain(cluster);
      // Off-cluster sources to the cluster IP are masqueraded (the local detector's "! -s podCIDR").
      if (o.masqueradeAll) nat.add(cluster, '-m comment --comment', q(`${spn} cluster IP`), ...dport(s.clusterIP!, p.port), '-j KUBE-MARK-MASQ');
      else nat.add(cluster, '-m comment --comment', q(`${spn} cluster IP`), ...dport(s.clusterIP!, p.port), '!', '-s', podCIDR, '-j KUBE-MARK-MASQ');
      writeEndpoints(cluster, sp.clusterEndpoints);
    }
    if (usesLocal) writeEndpoints(local, sp.localEndpoints);
    for (const e of reachable) {
      const sep = sepChain(spn, proto, ep(e));
      nat.add(sep, '-m comment --comment', q(spn), '-s', e.address, '-j KUBE-MARK-MASQ');
      const recent = s.sessionAffinity === 'ClientIP' ? ['-m recent --name', sep, '--set'] : [];
      nat.add(sep, '-m comment --comment', q(spn), ...recent, ...m, '-j DNAT --to-destination', ep(e));
    }
  }

  nat.add('KUBE-SERVICES', '-m comment --comment', q('kubernetes service nodeports; NOTE: this must be the last rule in this chain'), '-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  nat.add('KUBE-MARK-MASQ', '-j MARK --or-mark', MARK);
  nat.add('KUBE-POSTROUTING', `-m mark ! --mark ${MARK}/${MARK} -j RETURN`);
  nat.add('KUBE-POSTROUTING', '-j MARK --xor-mark', MARK);
  nat.add('KUBE-POSTROUTING', '-m comment --comment', q('kubernetes service traffic requiring SNAT'), '-j MASQUERADE');
  filter.add('KUBE-FIREWALL', '-m comment --comment', q('block incoming localnet connections'), '-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP');
  filter.add('KUBE-FORWARD', '-m conntrack --ctstate INVALID', ...acct('ct_state_invalid_dropped_pkts'), '-j DROP');
  filter.add('KUBE-FORWARD', '-m comment --comment', q('kubernetes forwarding rules'), `-m mark --mark ${MARK}/${MARK} -j ACCEPT`);
  filter.add('KUBE-FORWARD', '-m comment --comment', q('kubernetes forwarding conntrack rule'), '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  // Filter rules are written in kube-proxy's order; nat chains keep theirs, and KUBE-SERVICES's last rule stays last.
  return [...filter.text('filter'), ...nat.text('nat'), ''].join('\n');
}

function inCidr(addr: string, cidr: string): boolean {
  const c = parseCidr(cidr);
  return c !== undefined && ((ip(addr) & prefixMask(c.plen)) >>> 0) === ((c.addr & prefixMask(c.plen)) >>> 0);
}
