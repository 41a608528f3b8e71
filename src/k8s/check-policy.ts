// Consistency checks over the policies of a loaded cluster (part of
// checkCluster): the mistakes that make a policy silently do nothing or
// silently break a workload, each with what to fix.
//
// - a policy whose podSelector / subject selects no pod (it has no effect);
// - a selector peer (pods, namespaces, nodes) that matches nothing (the rule
//   allows or denies nothing); ipBlock / networks peers are never reported;
// - pods isolated for egress by a NetworkPolicy without an egress rule that
//   allows DNS (UDP and TCP port 53) to the cluster DNS pods (kube-system,
//   k8s-app=kube-dns) or to any destination: every name lookup would time out.
//
// hostNetwork pods are left out everywhere: policies do not select them and
// the admin API excludes them from pods/namespaces peers (PolicyKnobs.hostNetworkExempt).

import type { AdminPeer, AdminPolicy, AdminRule, LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyRule, PortClause } from '../policy/model.js';
import { ClusterModel, Diagnostic, IP, Pod, Protocol, formatSource } from './model.js';
import { formatSelector, labelSelectorMatches } from './labels.js';
import { cidrContains } from './validate.js';

/** What the cluster DNS looks like in kubeadm/kind clusters (the CoreDNS Deployment keeps the kube-dns labels). */
const DNS_NAMESPACE = 'kube-system';
const DNS_LABELS = { 'k8s-app': 'kube-dns' };
const NS_NAME_LABEL = 'kubernetes.io/metadata.name';

/** A destination the DNS check tries: a real DNS pod, or a stand-in when the cluster has none. */
interface Target { namespace: string; labels: Record<string, string>; podIP?: IP; ports: Pod['ports'] }

const showSel = (s: LabelSelector) => formatSelector(s) || '{} (everything)';

function list(names: string[], max = 5): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

const npName = (p: NetworkPolicy) => `NetworkPolicy ${p.namespace}/${p.name}`;
const adminName = (p: AdminPolicy) => `${p.kind} ${p.name}`;
const where = (p: { source?: { file: string; document: number; item?: number } }) => (p.source ? ` (${formatSource(p.source)})` : '');

function warn(out: Diagnostic[], code: Diagnostic['code'], object: string, p: NetworkPolicy | AdminPolicy, message: string) {
  const d: Diagnostic = { severity: 'warning', code, object, message };
  if (p.source) d.source = p.source;
  out.push(d);
}

export function checkPolicies(model: ClusterModel, out: Diagnostic[]): void {
  const policies = model.policies;
  if (!policies) return;
  const nsLabels = new Map(model.namespaces.map((n) => [n.name, n.labels]));
  const labelsOf = (ns: string) => nsLabels.get(ns) ?? { [NS_NAME_LABEL]: ns };
  const pods = model.pods.filter((p) => !p.hostNetwork);
  const nsMatching = (s: LabelSelector) => model.namespaces.filter((n) => labelSelectorMatches(s, n.labels)).map((n) => n.name);

  // ---- NetworkPolicy
  const npSelected = new Map<NetworkPolicy, Pod[]>();
  for (const np of policies.networkPolicies) {
    const sel = pods.filter((p) => p.namespace === np.namespace && labelSelectorMatches(np.podSelector, p.labels));
    npSelected.set(np, sel);
    if (sel.length === 0) {
      const inNs = pods.filter((p) => p.namespace === np.namespace);
      const elsewhere = pods.filter((p) => p.namespace !== np.namespace && labelSelectorMatches(np.podSelector, p.labels));
      let msg = `${npName(np)}${where(np)}: podSelector ${showSel(np.podSelector)} selects no pod in namespace ${np.namespace}, so the policy has no effect`;
      msg += inNs.length ? `; pods there: ${list(inNs.map((p) => `${p.name} {${Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',')}}`), 3)}` : '; the namespace has no pods';
      if (elsewhere.length) msg += `; matching pods exist in other namespaces (${list(elsewhere.map((p) => `${p.namespace}/${p.name}`), 3)}), but a NetworkPolicy only selects pods in its own namespace`;
      warn(out, 'policy-selects-nothing', npName(np), np, msg);
    }
    for (const dir of ['ingress', 'egress'] as const) {
      const field = dir === 'ingress' ? 'from' : 'to';
      np[dir].forEach((rule, i) => rule.peers.forEach((peer, j) => {
        if (peer.kind !== 'selector') return;
        const why = npPeerMatchesNothing(np, peer);
        if (why) {
          warn(out, 'peer-matches-nothing', npName(np), np,
            `${npName(np)}${where(np)}: spec.${dir}[${i}].${field}[${j}]: ${why}, so this peer allows nothing; check the labels (namespaces carry ${NS_NAME_LABEL}=<name>)`);
        }
      }));
    }
  }

  function npPeerMatchesNothing(np: NetworkPolicy, peer: Extract<NetworkPolicyPeer, { kind: 'selector' }>): string | undefined {
    const nss = peer.namespaceSelector ? nsMatching(peer.namespaceSelector) : [np.namespace];
    if (peer.namespaceSelector && nss.length === 0) return `namespaceSelector ${showSel(peer.namespaceSelector)} matches no namespace`;
    const inNss = pods.filter((p) => nss.includes(p.namespace));
    if (inNss.some((p) => !peer.podSelector || labelSelectorMatches(peer.podSelector, p.labels))) return undefined;
    const scope = peer.namespaceSelector ? `the namespaces it selects (${list(nss)})` : `namespace ${np.namespace}`;
    if (!peer.podSelector) return `${scope} ha${nss.length === 1 ? 's' : 've'} no pods`;
    return `podSelector ${showSel(peer.podSelector)} matches no pod in ${scope}`;
  }

  // ---- admin tiers
  const adminSelected = new Map<AdminPolicy, Pod[]>();
  for (const ap of policies.adminPolicies) {
    const nss = nsMatching(ap.subject.namespaceSelector);
    const sel = pods.filter((p) => nss.includes(p.namespace) && (ap.subject.kind === 'namespaces' || labelSelectorMatches(ap.subject.podSelector, p.labels)));
    adminSelected.set(ap, sel);
    if (sel.length === 0) {
      const why = nss.length === 0 ? `namespace selector ${showSel(ap.subject.namespaceSelector)} matches no namespace`
        : ap.subject.kind === 'namespaces' ? `the namespaces it selects (${list(nss)}) have no pods`
          : `podSelector ${showSel(ap.subject.podSelector)} matches no pod in the namespaces it selects (${list(nss)})`;
      warn(out, 'policy-selects-nothing', adminName(ap), ap, `${adminName(ap)}${where(ap)}: spec.subject selects no pod (${why}), so the policy has no effect`);
    }
    for (const dir of ['ingress', 'egress'] as const) {
      const field = dir === 'ingress' ? 'from' : 'to';
      ap[dir].forEach((rule, i) => rule.peers.forEach((peer, j) => {
        const why = adminPeerMatchesNothing(peer);
        if (why) {
          warn(out, 'peer-matches-nothing', adminName(ap), ap,
            `${adminName(ap)}${where(ap)}: spec.${dir}[${i}]${rule.name ? ` (${rule.name})` : ''}.${field}[${j}]: ${why}, so this ${rule.action} peer matches nothing; check the labels`);
        }
      }));
    }
  }

  function adminPeerMatchesNothing(peer: AdminPeer): string | undefined {
    switch (peer.kind) {
      case 'networks': return undefined;
      case 'nodes':
        return model.nodes.some((n) => labelSelectorMatches(peer.nodeSelector, n.labels)) ? undefined : `nodes ${showSel(peer.nodeSelector)} matches no node`;
      default: {
        const nss = nsMatching(peer.namespaceSelector);
        if (nss.length === 0) return `namespace selector ${showSel(peer.namespaceSelector)} matches no namespace`;
        const inNss = pods.filter((p) => nss.includes(p.namespace));
        if (peer.kind === 'namespaces') return inNss.length ? undefined : `the namespaces it selects (${list(nss)}) have no pods`;
        return inNss.some((p) => labelSelectorMatches(peer.podSelector, p.labels)) ? undefined
          : `podSelector ${showSel(peer.podSelector)} matches no pod in the namespaces it selects (${list(nss)})`;
      }
    }
  }

  // ---- DNS for pods isolated for egress
  const realDNS: Target[] = pods.filter((p) => p.namespace === DNS_NAMESPACE && p.labels['k8s-app'] === DNS_LABELS['k8s-app']);
  const targets: Target[] = realDNS.length ? realDNS : [{
    namespace: DNS_NAMESPACE, labels: { ...DNS_LABELS },
    // The CoreDNS Deployment's container ports.
    ports: [
      { container: 'coredns', name: 'dns', containerPort: 53, protocol: 'UDP' },
      { container: 'coredns', name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
    ],
  }];

  const portAllows = (ports: PortClause[] | undefined, proto: Protocol, t: Target): boolean => {
    if (!ports || ports.length === 0) return true;
    return ports.some((c) => {
      if (typeof c.port === 'string') return t.ports.some((cp) => cp.name === c.port && cp.containerPort === 53 && cp.protocol === proto && (c.anyProtocol || c.protocol === proto));
      if (c.protocol !== proto) return false;
      return c.port === undefined || (c.port <= 53 && 53 <= (c.endPort ?? c.port));
    });
  };
  const ipMatches = (cidr: string, except: string[], t: Target) => (t.podIP !== undefined
    ? cidrContains(cidr, t.podIP) && !except.some((e) => cidrContains(e, t.podIP!))
    : cidr.endsWith('/0') && except.length === 0); // a stand-in has no address: only "everywhere" reaches it
  const npRuleAllows = (np: NetworkPolicy, rule: NetworkPolicyRule, proto: Protocol, t: Target): boolean => {
    if (!portAllows(rule.ports, proto, t)) return false;
    if (rule.peers.length === 0) return true;
    return rule.peers.some((peer) => {
      if (peer.kind === 'ipBlock') return ipMatches(peer.cidr, peer.except, t);
      const nsOK = peer.namespaceSelector ? labelSelectorMatches(peer.namespaceSelector, labelsOf(t.namespace)) : t.namespace === np.namespace;
      return nsOK && (!peer.podSelector || labelSelectorMatches(peer.podSelector, t.labels));
    });
  };
  const adminRuleAllows = (rule: AdminRule, proto: Protocol, t: Target): boolean => rule.action === 'Allow' && portAllows(rule.ports, proto, t)
    && rule.peers.some((peer) => {
      switch (peer.kind) {
        case 'networks': return peer.cidrs.some((c) => ipMatches(c, [], t));
        case 'nodes': return false;
        case 'namespaces': return labelSelectorMatches(peer.namespaceSelector, labelsOf(t.namespace));
        default: return labelSelectorMatches(peer.namespaceSelector, labelsOf(t.namespace)) && labelSelectorMatches(peer.podSelector, t.labels);
      }
    });

  const egressPolicies = policies.networkPolicies.filter((np) => np.policyTypes.includes('Egress'));
  /** For one pod: the DNS protocols no policy lets it reach. */
  const missingDNS = (pod: Pod): Protocol[] => (['UDP', 'TCP'] as const).filter((proto) => !targets.some((t) =>
    egressPolicies.some((np) => npSelected.get(np)!.includes(pod) && np.egress.some((r) => npRuleAllows(np, r, proto, t)))
    // An Admin-tier Allow overrides the NetworkPolicy's isolation (rule order within the tier is not considered).
    || policies.adminPolicies.some((ap) => ap.tier === 'Admin' && adminSelected.get(ap)!.includes(pod) && ap.egress.some((r) => adminRuleAllows(r, proto, t)))));

  for (const np of egressPolicies) {
    const lacking = npSelected.get(np)!.map((p) => ({ p, missing: missingDNS(p) })).filter((x) => x.missing.length);
    if (!lacking.length) continue;
    const noUDP = lacking.some((x) => x.missing.includes('UDP'));
    const what = noUDP
      ? 'no egress rule of the NetworkPolicies selecting them allows DNS (port 53) to the cluster DNS pods (namespace kube-system, k8s-app=kube-dns): every name lookup from them times out'
      : 'their egress rules allow DNS over UDP but not over TCP (port 53): answers too large for UDP (retried over TCP) fail';
    warn(out, 'egress-without-dns', npName(np), np,
      `${npName(np)}${where(np)}: isolates ${lacking.length} pod(s) for egress (${list(lacking.map((x) => x.p.name))}), but ${what}; ` +
      'add an egress rule `to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]` ' +
      'with `ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]`');
  }
}
