// `dpemu export --format iptables-save`: the rules kube-proxy's iptables mode writes with
// iptables-restore on one node (pkg/proxy/iptables/proxier.go syncProxyRules), in the text form
// iptables-save prints. Chains are listed KUBE-NODEPORTS, KUBE-SERVICES first, then by name, and
// service ports in name order, as kube-proxy's own tests normalise them (assertIPTablesRulesEqual),
// so the output does not depend on map iteration order.
import type { ClusterModel } from '../k8s/model.js';
import { ip, parseCidr, prefixMask } from '../common/ip.js';
import { svcChain, svlChain, extChain, fwChain, sepChain, probability } from './chains.js';
import { NodeRules, RuleEndpoint, nodeRules, planFor } from './node-rules.js';

export interface ExportOptions {
  /** The node whose rules are printed (its name decides which endpoints are local). */
  node: string;
  /** kube-proxy --masquerade-all. */
  masqueradeAll?: boolean;
  /** localhostNodePorts (default true): NodePorts also answer on 127.0.0.0/8. */
  localhostNodePorts?: boolean;
  /** kube-proxy --nodeport-addresses (default: all local addresses). */
  nodePortAddresses?: string[];
  /** The kernel has the nfacct match (default true): kube-proxy adds its packet counters only then. */
  nfacct?: boolean;
}

const q = (s: string) => (/[\s"]/.test(s) ? `"${s}"` : s);
const ep = (e: RuleEndpoint) => `${e.address}:${e.port}`;

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

/** The iptables-save text of the node's kube-proxy rules for `model`, planned as the iptables design runs it. */
export function exportIptables(model: ClusterModel, o: ExportOptions): string {
  const plan = planFor(model, 'iptables', { masqueradeAll: o.masqueradeAll, localhostNodePorts: o.localhostNodePorts, nodePortAddresses: o.nodePortAddresses });
  return iptablesSave(nodeRules(plan, model, o.node), { nfacct: o.nfacct });
}

/** The iptables-save text of one node's kube-proxy rules (filter and nat tables), from the plan's view of the node. */
export function iptablesSave(rules: NodeRules, o: { nfacct?: boolean } = {}): string {
  const podCIDR = rules.plan.options.clusterCIDR;
  const localhostNodePorts = rules.localhostNodePorts;
  const masqueradeAll = rules.plan.options.masqueradeAll;
  const filter = new Table(['KUBE-NODEPORTS', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FIREWALL', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL']);
  const nat = new Table(['KUBE-NODEPORTS', 'KUBE-SERVICES']);
  nat.chain('KUBE-MARK-MASQ'); nat.chain('KUBE-POSTROUTING');
  const MARK = '0x4000';
  const acct = (name: string) => (o.nfacct ?? true ? ['-m nfacct --nfacct-name', name] : []);

  for (const sp of rules.ports) {
    const { spn, proto, intLocal, extLocal } = sp;
    const cluster = svcChain(spn, proto), local = svlChain(spn, proto), ext = extChain(spn, proto), fw = fwChain(spn, proto);
    const usesCluster = sp.clusterEndpoints.length > 0;
    const usesLocal = sp.localEndpoints.length > 0;
    const reachable = sp.clusterEndpoints.length ? [...sp.clusterEndpoints, ...sp.localEndpoints.filter((e) => !sp.clusterEndpoints.includes(e))] : sp.localEndpoints;
    const hasEndpoints = sp.hasEndpoints;
    const hasInternal = hasEndpoints && (!intLocal || usesLocal);
    const hasExternal = hasEndpoints && (!extLocal || usesLocal);
    const internalChain = intLocal ? local : cluster;
    const externalPolicyChain = extLocal ? local : cluster;
    const usesExt = hasEndpoints && sp.externallyAccessible;
    const lbVIPs = sp.loadBalancerIPs;
    const usesFW = sp.sourceRanges.length > 0; // the plan has ranges only where proxier.go's usesFWChain holds
    const lbChain = usesFW ? fw : ext;
    const intTarget = !hasEndpoints ? 'REJECT' : 'DROP';
    const intComment = q(!hasEndpoints ? `${spn} has no endpoints` : `${spn} has no local endpoints`);
    const m = ['-m', proto, '-p', proto];
    const dport = (a: string, port: number) => [...m, '-d', a, '--dport', String(port)];

    const cip = sp.clusterIP, port = sp.port.port;
    if (hasInternal) nat.add('KUBE-SERVICES', '-m comment --comment', q(`${spn} cluster IP`), ...dport(cip, port), '-j', internalChain);
    else filter.add('KUBE-SERVICES', '-m comment --comment', intComment, ...dport(cip, port), '-j', intTarget);

    for (const a of sp.externalIPs) {
      if (hasEndpoints) nat.add('KUBE-SERVICES', '-m comment --comment', q(`${spn} external IP`), ...dport(a, port), '-j', ext);
      if (!hasExternal) filter.add('KUBE-EXTERNAL-SERVICES', '-m comment --comment', intComment, ...dport(a, port), '-j', intTarget);
    }
    for (const a of lbVIPs) {
      if (hasEndpoints) nat.add('KUBE-SERVICES', '-m comment --comment', q(`${spn} loadbalancer IP`), ...dport(a, port), '-j', lbChain);
      if (usesFW) filter.add('KUBE-PROXY-FIREWALL', '-m comment --comment', q(`${spn} traffic not accepted by ${fw}`), ...dport(a, port), '-j DROP');
    }
    if (!hasExternal) for (const a of lbVIPs) filter.add('KUBE-EXTERNAL-SERVICES', '-m comment --comment', intComment, ...dport(a, port), '-j', intTarget);

    const np = sp.nodePort;
    if (np) {
      if (hasEndpoints) {
        // localhostNodePorts: NodePorts on 127.0.0.0/8 too (needs route_localnet), counted by nfacct.
        if (localhostNodePorts) nat.add('KUBE-NODEPORTS', '-m comment --comment', q(spn), ...m, '-d 127.0.0.0/8 --dport', String(np), ...acct('localhost_nps_accepted_pkts'), '-j', ext);
        nat.add('KUBE-NODEPORTS', '-m comment --comment', q(spn), ...m, '--dport', String(np), '-j', ext);
      }
      if (!hasExternal) filter.add('KUBE-EXTERNAL-SERVICES', '-m comment --comment', intComment, '-m addrtype --dst-type LOCAL', ...m, '--dport', String(np), '-j', intTarget);
    }
    const hc = sp.service.healthCheckNodePort;
    if (hc && extLocal) filter.add('KUBE-NODEPORTS', '-m comment --comment', q(`${spn} health check node port`), '-m tcp -p tcp --dport', String(hc), '-j ACCEPT');

    if (usesExt) {
      nat.chain(ext);
      if (!extLocal) nat.add(ext, '-m comment --comment', q(`masquerade traffic for ${spn} external destinations`), '-j KUBE-MARK-MASQ');
      else {
        if (podCIDR !== null) nat.add(ext, '-m comment --comment', q(`pod traffic for ${spn} external destinations`), '-s', podCIDR, '-j', cluster);
        nat.add(ext, '-m comment --comment', q(`masquerade LOCAL traffic for ${spn} external destinations`), '-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ');
        nat.add(ext, '-m comment --comment', q(`route LOCAL traffic for ${spn} external destinations`), '-m addrtype --src-type LOCAL -j', cluster);
      }
      if (hasExternal) nat.add(ext, '-j', externalPolicyChain);
    }
    if (usesFW) {
      nat.chain(fw);
      for (const c of sp.sourceRanges) nat.add(fw, '-m comment --comment', q(`${spn} loadbalancer IP`), '-s', c, '-j', ext);
      // A VIP-like LB's address is often local: a node's request to it loops back with the VIP as source.
      for (const a of sp.allowedVIPs) nat.add(fw, '-m comment --comment', q(`${spn} loadbalancer IP`), '-s', a, '-j', ext);
      nat.add(fw, '-m comment --comment', q(`other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL`));
    }
    const affinity = sp.affinityTimeout > 0;
    const writeEndpoints = (chain: string, eps: RuleEndpoint[]) => {
      nat.chain(chain);
      if (affinity) for (const e of eps) {
        const sep = sepChain(spn, proto, ep(e));
        nat.add(chain, '-m comment --comment', q(`${spn} -> ${ep(e)}`), '-m recent --name', sep, '--rcheck --seconds', String(sp.affinityTimeout), '--reap -j', sep);
      }
      eps.forEach((e, i) => {
        const stat = i < eps.length - 1 ? ['-m statistic --mode random --probability', probability(eps.length - i)] : [];
        nat.add(chain, '-m comment --comment', q(`${spn} -> ${ep(e)}`), ...stat, '-j', sepChain(spn, proto, ep(e)));
      });
    };
    if (usesCluster) nat.chain(cluster);
    if (usesLocal) nat.chain(local);
    if (hasInternal) {
      // Off-cluster sources to the cluster IP are masqueraded (the local detector's "! -s podCIDR"), in
      // the internal traffic chain (KUBE-SVL- under internalTrafficPolicy Local).
      if (masqueradeAll) nat.add(internalChain, '-m comment --comment', q(`${spn} cluster IP`), ...dport(cip, port), '-j KUBE-MARK-MASQ');
      else if (podCIDR !== null) nat.add(internalChain, '-m comment --comment', q(`${spn} cluster IP`), ...dport(cip, port), '!', '-s', podCIDR, '-j KUBE-MARK-MASQ');
    }
    if (usesCluster) writeEndpoints(cluster, sp.clusterEndpoints);
    if (usesLocal) writeEndpoints(local, sp.localEndpoints);
    for (const e of reachable) {
      const sep = sepChain(spn, proto, ep(e));
      nat.add(sep, '-m comment --comment', q(spn), '-s', e.address, '-j KUBE-MARK-MASQ');
      const recent = affinity ? ['-m recent --name', sep, '--set'] : [];
      nat.add(sep, '-m comment --comment', q(spn), ...recent, ...m, '-j DNAT --to-destination', ep(e));
    }
  }

  // The tail call to KUBE-NODEPORTS: every local address when --nodeport-addresses matches all (unset or a
  // /0), else one rule per node address it selects (proxier.go, loopback left out).
  const npCidrs = rules.plan.options.nodePortAddresses;
  const nodePortsComment = q('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
  if (npCidrs === null || npCidrs.some((c) => c.endsWith('/0'))) nat.add('KUBE-SERVICES', '-m comment --comment', nodePortsComment, '-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  else for (const a of rules.nodePortIPs) nat.add('KUBE-SERVICES', '-m comment --comment', nodePortsComment, '-d', a, '-j KUBE-NODEPORTS');
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
