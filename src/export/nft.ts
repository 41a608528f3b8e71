// `dpemu export --format nft`: the ruleset kube-proxy's nftables mode (pkg/proxy/nftables/proxier.go
// setupNFTables and syncProxyRules) loads on one node, as the `nft -f` commands of its transaction
// (the form knftables writes and kube-proxy's TestOverallNFTablesRules expects): table ip kube-proxy,
// the cluster-ips / nodeport-ips sets, the service-ips / service-nodeports / no-endpoint-* /
// firewall-ips verdict maps, one service-/local-/external-/firewall- chain per service port, one
// endpoint- chain per endpoint, `numgen random mod N vmap` for the endpoint choice, the 0x4000
// masquerade mark, and per-endpoint affinity sets with a timeout for ClientIP affinity.
// Objects come in the order `nft -f` needs (sets and maps, chains, rules, elements); kube-proxy's
// tests compare transactions sorted (sortNFTablesTransaction), which this order sorts to as well.
import { createHash } from 'node:crypto';
import type { ClusterModel } from '../k8s/model.js';
import { NodeRules, RuleEndpoint, nodeRules, planFor } from './node-rules.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** hashAndTruncate: the first 8 characters of base32(sha256(name)), "-", the name (never longer than 240 here). */
export function hashAndTruncate(name: string): string {
  const h = createHash('sha256').update(name).digest();
  let out = '', bits = 0, value = 0;
  for (let i = 0; i < 5; i++) { // 40 bits = 8 characters
    value = (value << 8) | h[i]; bits += 8;
    while (bits >= 5) { out += BASE32[(value >>> (bits - 5)) & 31]; bits -= 5; }
    value &= (1 << bits) - 1;
  }
  const full = `${out}-${name}`;
  return full.length > 240 ? full.slice(0, 237) + '...' : full;
}

/** servicePortChainNameBase: "HASH-namespace/name/protocol/portName". */
const portBase = (ns: string, name: string, proto: string, port: string) => hashAndTruncate(`${ns}/${name}/${proto}/${port}`);
/** servicePortEndpointChainNameBase: "HASH-namespace/name/protocol/portName__ip/port". */
const endpointBase = (ns: string, name: string, proto: string, port: string, e: RuleEndpoint) =>
  hashAndTruncate(`${ns}/${name}/${proto}/${port}__${e.address}/${e.port}`);

export interface NftExportOptions { node: string; masqueradeAll?: boolean; nodePortAddresses?: string[] }

/** The nft -f text of the node's kube-proxy table for `model`, planned as the nftables design runs it. */
export function exportNft(model: ClusterModel, o: NftExportOptions): string {
  const plan = planFor(model, 'nftables', { masqueradeAll: o.masqueradeAll, nodePortAddresses: o.nodePortAddresses });
  return nftRuleset(nodeRules(plan, model, o.node), model.config.serviceCIDR);
}

const MARK = '0x4000';
const T = 'ip kube-proxy';

/** The nft -f text of one node's kube-proxy table, from the plan's view of the node. */
export function nftRuleset(rules: NodeRules, serviceCIDR?: string): string {
  const opts = rules.plan.options;
  const podCIDR = opts.clusterCIDR;
  // NodePortAddresses.MatchAll(): a 0.0.0.0/0 among the CIDRs (unset means "primary" in this mode).
  const matchAll = opts.nodePortAddresses?.some((c) => c.endsWith('/0')) ?? false;
  const sets: string[] = [], chains: string[] = [], ruleLines: string[] = [], elements: string[] = [];
  const chain = (c: string) => { const l = `add chain ${T} ${c}`; if (!chains.includes(l)) chains.push(l); };
  const rule = (c: string, r: string) => ruleLines.push(`add rule ${T} ${c} ${r}`);
  const elem = (m: string, e: string) => elements.push(`add element ${T} ${m} { ${e} }`);

  // ---- setupNFTables
  const head = [`add table ${T} { comment "rules for kube-proxy" ; }`,
    `add set ${T} cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }`];
  if (!matchAll) head.push(`add set ${T} nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }`);
  head.push(
    `add map ${T} firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }`,
    `add map ${T} no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }`,
    `add map ${T} no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `add map ${T} service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`);
  for (const c of ['cluster-ips-check',
    'filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }',
    'filter-output-pre-dnat { type filter hook output priority -110 ; }',
    'filter-forward { type filter hook forward priority 0 ; }',
    'filter-input { type filter hook input priority 0 ; }',
    'filter-output { type filter hook output priority 0 ; }',
    'firewall-check', 'mark-for-masquerade', 'masquerading',
    'nat-output { type nat hook output priority -100 ; }',
    'nat-postrouting { type nat hook postrouting priority 100 ; }',
    'nat-prerouting { type nat hook prerouting priority -100 ; }',
    'nodeport-endpoints-check',
    'reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }',
    'services', 'service-endpoints-check']) chain(c);
  rule('cluster-ips-check', 'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"');
  if (serviceCIDR) rule('cluster-ips-check', `ip daddr { ${serviceCIDR} } drop comment "Drop traffic to unallocated ClusterIPs"`);
  rule('filter-prerouting-pre-dnat', 'ct state new jump firewall-check');
  rule('filter-forward', 'ct state new jump service-endpoints-check');
  rule('filter-forward', 'ct state new jump cluster-ips-check');
  rule('filter-input', 'ct state new jump nodeport-endpoints-check');
  rule('filter-input', 'ct state new jump service-endpoints-check');
  rule('filter-output', 'ct state new jump service-endpoints-check');
  rule('filter-output-pre-dnat', 'ct state new jump firewall-check');
  rule('filter-output', 'ct state new jump cluster-ips-check');
  rule('firewall-check', 'ip daddr . meta l4proto . th dport vmap @firewall-ips');
  rule('mark-for-masquerade', `mark set mark or ${MARK}`);
  rule('masquerading', `mark and ${MARK} == 0 return`);
  rule('masquerading', `mark set mark xor ${MARK}`);
  rule('masquerading', 'masquerade fully-random');
  rule('nat-output', 'jump services');
  rule('nat-postrouting', 'jump masquerading');
  rule('nat-prerouting', 'jump services');
  rule('nodeport-endpoints-check', matchAll ? 'ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports'
    : 'ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports');
  rule('reject-chain', 'reject');
  rule('services', 'ip daddr . meta l4proto . th dport vmap @service-ips');
  rule('services', matchAll ? 'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports'
    : 'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports');
  if (!matchAll && rules.nodePortIPs.length) elem('nodeport-ips', rules.nodePortIPs.join(' , '));
  rule('service-endpoints-check', 'ip daddr . meta l4proto . th dport vmap @no-endpoint-services');

  // ---- syncProxyRules, per service port
  for (const sp of rules.ports) {
    const { spn, proto, service: s, hasEndpoints, intLocal, extLocal } = sp;
    const portName = sp.port.name, port = sp.port.port;
    const base = portBase(s.namespace, s.name, proto, portName);
    const clusterChain = `service-${base}`, localChain = `local-${base}`, extChain = `external-${base}`, fwChain = `firewall-${base}`;
    const epBase = (e: RuleEndpoint) => endpointBase(s.namespace, s.name, proto, portName, e);
    const usesCluster = sp.clusterEndpoints.length > 0, usesLocal = sp.localEndpoints.length > 0;
    const reachable = [...sp.clusterEndpoints, ...sp.localEndpoints.filter((e) => !sp.clusterEndpoints.some((c) => c.address === e.address && c.port === e.port))];
    const hasInternal = hasEndpoints && (!intLocal || usesLocal);
    const hasExternal = hasEndpoints && (!extLocal || usesLocal);
    const internalChain = intLocal ? localChain : clusterChain;
    const externalPolicyChain = extLocal ? localChain : clusterChain;
    const usesExt = hasEndpoints && sp.externallyAccessible;
    const noEp = !hasEndpoints ? 'goto reject-chain' : 'drop';
    const key = (a: string) => `${a} . ${proto} . ${port}`;
    const comment = `comment "${spn}"`;
    const affinity = sp.affinityTimeout > 0;

    for (const e of reachable) chain(`endpoint-${epBase(e)}`);
    if (usesCluster) chain(clusterChain);
    if (usesLocal) chain(localChain);
    if (usesExt) chain(extChain);

    elem('cluster-ips', sp.clusterIP);
    if (hasInternal) elem('service-ips', `${key(sp.clusterIP)} : goto ${internalChain}`);
    else elem('no-endpoint-services', `${key(sp.clusterIP)} ${comment} : ${noEp}`);
    for (const a of sp.externalIPs) {
      if (hasEndpoints) elem('service-ips', `${key(a)} : goto ${extChain}`);
      if (!hasExternal) elem('no-endpoint-services', `${key(a)} ${comment} : ${noEp}`);
    }
    const usesFW = sp.sourceRanges.length > 0;
    if (usesFW) chain(fwChain);
    for (const a of sp.loadBalancerIPs) {
      if (hasEndpoints) elem('service-ips', `${key(a)} : goto ${extChain}`);
      if (usesFW) elem('firewall-ips', `${key(a)} : goto ${fwChain}`);
    }
    if (!hasExternal) for (const a of sp.loadBalancerIPs) elem('no-endpoint-services', `${key(a)} ${comment} : ${noEp}`);
    if (sp.nodePort) {
      if (hasEndpoints) elem('service-nodeports', `${proto} . ${sp.nodePort} : goto ${extChain}`);
      if (!hasExternal) elem('no-endpoint-nodeports', `${proto} . ${sp.nodePort} ${comment} : ${noEp}`);
    }

    if (hasInternal) {
      if (opts.masqueradeAll) rule(internalChain, `ip daddr ${sp.clusterIP} jump mark-for-masquerade`);
      else if (podCIDR !== null) rule(internalChain, `ip daddr ${sp.clusterIP} ip saddr != ${podCIDR} jump mark-for-masquerade`);
    }
    if (usesExt) {
      if (!extLocal) rule(extChain, 'jump mark-for-masquerade');
      else {
        if (podCIDR !== null) rule(extChain, `ip saddr ${podCIDR} goto ${clusterChain} comment "short-circuit pod traffic"`);
        rule(extChain, 'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"');
        rule(extChain, `fib saddr type local goto ${clusterChain} comment "short-circuit local traffic"`);
      }
      if (hasExternal) rule(extChain, `goto ${externalPolicyChain}`);
    }
    if (usesFW) rule(fwChain, `ip saddr != { ${[...sp.sourceRanges, ...sp.allowedVIPs].join(' , ')} } drop`);
    if (affinity) for (const e of reachable) {
      sets.push(`add set ${T} affinity-${epBase(e)} { type ipv4_addr ; flags dynamic,timeout ; timeout ${sp.affinityTimeout}s ; }`);
    }
    const toEndpoints = (c: string, eps: RuleEndpoint[]) => {
      if (affinity) for (const e of eps) rule(c, `ip saddr @affinity-${epBase(e)} goto endpoint-${epBase(e)}`);
      rule(c, `numgen random mod ${eps.length} vmap { ${eps.map((e, i) => `${i} : goto endpoint-${epBase(e)}`).join(' , ')} }`);
    };
    if (usesCluster) toEndpoints(clusterChain, sp.clusterEndpoints);
    if (usesLocal) toEndpoints(localChain, sp.localEndpoints);
    for (const e of reachable) {
      const c = `endpoint-${epBase(e)}`;
      rule(c, `ip saddr ${e.address} jump mark-for-masquerade`);
      if (affinity) rule(c, `update @affinity-${epBase(e)} { ip saddr }`);
      rule(c, `meta l4proto ${proto} dnat to ${e.address}:${e.port}`);
    }
  }
  // The table, then its sets and maps (rules refer to them), chains (rules and verdicts refer to them), rules, elements.
  return [head[0], ...head.slice(1, head.findIndex((l) => l.includes(' map '))), ...sets, ...head.slice(head.findIndex((l) => l.includes(' map '))),
    ...chains, ...ruleLines, ...elements, ''].join('\n');
}
