// A pod's stub resolver: the resolv.conf the kubelet writes for its dnsPolicy (pkg/kubelet/network/dns/dns.go
// GetPodDNS), and glibc's res_nsearch order over it, so the names a lookup tries (and so its cost in
// queries) are known.

import type { ClusterModel, Pod } from '../k8s/model.js';
import { ClusterDns, DnsAnswer, RRType, fqdn } from './server.js';

export interface ResolvConf { nameservers: string[]; searches: string[]; ndots: number }

/** The kube-dns Service's cluster IP (the kubelet's --cluster-dns in kubeadm clusters). */
export function clusterDnsIP(model: ClusterModel): string | undefined {
  return model.services.find((s) => s.namespace === 'kube-system' && s.name === 'kube-dns')?.clusterIP;
}

/**
 * dns.go GetPodDNS: ClusterFirst (the default) uses the cluster DNS with search `ns.svc.D svc.D D` and
 * ndots:5, except on the host network, where it falls back to Default (the node's resolv.conf, here no search
 * list and ndots 1); ClusterFirstWithHostNet uses the cluster DNS even there; None takes dnsConfig alone.
 * dnsConfig is merged into every policy: nameservers and searches appended (deduplicated), options override.
 */
export function resolvConf(pod: Pod, model: ClusterModel, clusterDomain = 'cluster.local'): ResolvConf {
  const d = clusterDomain.replace(/\.$/, '');
  const policy = pod.dnsPolicy ?? 'ClusterFirst';
  const cluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.hostNetwork);
  const dnsIP = clusterDnsIP(model);
  let conf: ResolvConf = policy === 'None' ? { nameservers: [], searches: [], ndots: 1 }
    : cluster ? { nameservers: dnsIP ? [dnsIP] : [], searches: [`${pod.namespace}.svc.${d}`, `svc.${d}`, d], ndots: 5 }
    : { nameservers: ['node'], searches: [], ndots: 1 };
  const dc = pod.dnsConfig;
  if (dc) {
    conf = {
      nameservers: [...new Set([...conf.nameservers, ...dc.nameservers])].slice(0, 3), // MaxDNSNameservers
      searches: [...new Set([...conf.searches, ...dc.searches])].slice(0, 32), // MaxDNSSearchPaths
      ndots: conf.ndots,
    };
    for (const o of dc.options) if (o.name === 'ndots' && o.value !== undefined && /^\d+$/.test(o.value)) conf.ndots = Math.min(15, +o.value);
  }
  return conf;
}

/** The names glibc tries for `name`, in order (res_nsearch): absolute names as they are; names with at least
 * ndots dots first as they are, then with each search domain; others with each search domain, then as they are. */
export function candidates(name: string, conf: ResolvConf): string[] {
  if (name.endsWith('.')) return [fqdn(name)];
  const dots = name.split('.').length - 1;
  const searched = conf.searches.map((s) => fqdn(`${name}.${s}`));
  return dots >= conf.ndots ? [fqdn(name), ...searched] : [...searched, fqdn(name)];
}

export interface StubResult extends DnsAnswer { tried: string[]; name: string }

/**
 * Resolve as the pod's stub would: ask each candidate in turn; an answer ends the search, NXDOMAIN, NODATA and
 * SERVFAIL go on to the next (res_nsearch: HOST_NOT_FOUND, NO_DATA, SERVFAIL), REFUSED ends it. When nothing
 * answered, NODATA wins over NXDOMAIN (got_nodata). A nameserver that is not the cluster DNS (the node's
 * resolver, a dnsConfig server) is not emulated: its queries fail with SERVFAIL.
 */
export function resolveAsPod(dns: ClusterDns, conf: ResolvConf, name: string, type: RRType, dnsIP: string | undefined): StubResult {
  const tried: string[] = [];
  let nodata: StubResult | undefined, last: StubResult | undefined;
  const served = dnsIP !== undefined && conf.nameservers.includes(dnsIP);
  for (const q of candidates(name, conf)) {
    tried.push(q);
    const r: StubResult = served ? { ...dns.query(q, type), tried, name: q } : { rcode: 'SERVFAIL', answer: [], extra: [], tried, name: q };
    if (r.rcode === 'NOERROR' && r.answer.length) return r;
    if (r.rcode === 'REFUSED') return r;
    if (r.rcode === 'NOERROR' && !nodata) nodata = r;
    last = r;
  }
  return nodata ?? last!;
}
