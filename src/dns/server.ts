// The cluster DNS as the CoreDNS `kubernetes` plugin answers it (coredns/coredns plugin/kubernetes:
// parse.go parseRequest, kubernetes.go Records/findServices/findPods, reverse.go, ns.go, handler.go;
// plugin/backend_lookup.go for the record shapes), computed over the loaded cluster model. The zones are
// kubeadm's Corefile: `kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough
// in-addr.arpa ip6.arpa }`, ttl 30. No upstream server is emulated: a reverse name the plugin cannot
// answer is NXDOMAIN (where CoreDNS would fall through to `forward`), a name outside the zones is REFUSED.

import type { ClusterModel, EndpointSlice, Service } from '../k8s/model.js';

export type RRType = 'A' | 'AAAA' | 'SRV' | 'PTR' | 'CNAME' | 'TXT' | 'NS' | 'SOA' | 'ANY';
export const RR_TYPES: readonly RRType[] = ['A', 'AAAA', 'SRV', 'PTR', 'CNAME', 'TXT', 'NS', 'SOA', 'ANY'];
export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';

export interface RR { name: string; type: Exclude<RRType, 'ANY'>; ttl: number; data: string }
export interface DnsAnswer { rcode: Rcode; answer: RR[]; extra: RR[] }

export type PodsMode = 'insecure' | 'verified' | 'disabled';
export interface DnsOptions {
  clusterDomain?: string;
  ttl?: number;
  pods?: PodsMode;
  /** CoreDNS `endpoint_pod_names`: an endpoint without hostname is named by its pod, not by its address. */
  endpointPodNames?: boolean;
}

/** plugin/kubernetes/kubernetes.go DNSSchemaVersion, served as `dns-version.<zone>` TXT with TTL 28800. */
export const DNS_SCHEMA_VERSION = '1.1.0';

interface Ep { ip: string; hostname: string; ports: { name: string; port: number; protocol: string }[] }

/** Lowercase, with exactly one trailing dot. */
export function fqdn(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : n + '.';
}

import { canonicalIP, isV4, reverseName, addressOfReverse } from './ip6.js';
export { canonicalIP, reverseName };

/** The cluster's DNS: one per loaded model. `query` answers one question as CoreDNS's handler would. */
export class ClusterDns {
  readonly zone: string;
  readonly ttl: number;
  readonly pods: PodsMode;
  readonly endpointPodNames: boolean;
  private readonly services = new Map<string, Service>();
  private readonly slices = new Map<string, EndpointSlice[]>();
  private readonly podIPs = new Map<string, string[]>(); // ip -> namespaces of the pods with it

  constructor(readonly model: ClusterModel, opts: DnsOptions = {}) {
    this.zone = fqdn(opts.clusterDomain ?? 'cluster.local');
    this.ttl = opts.ttl ?? 30;
    this.pods = opts.pods ?? 'insecure';
    this.endpointPodNames = opts.endpointPodNames ?? false;
    for (const s of model.services) this.services.set(`${s.namespace}/${s.name}`, s);
    for (const sl of [...model.endpointSlices, ...(model.ipv6EndpointSlices ?? [])]) {
      const k = `${sl.namespace}/${sl.serviceName}`;
      (this.slices.get(k) ?? this.slices.set(k, []).get(k)!).push(sl);
    }
    for (const p of model.pods) {
      // The pod cache of `pods verified` holds pod IPs; host-network pods share the node's address.
      for (const ip of p.podIPs) (this.podIPs.get(ip) ?? this.podIPs.set(ip, []).get(ip)!).push(p.namespace);
    }
  }

  /** Endpoints of a Service as CoreDNS's object.Endpoints holds them: ready addresses only (object/endpoint.go
   * EndpointSliceToEndpoints; the EndpointSlice controller marks endpoints ready for publishNotReadyAddresses). */
  private endpoints(svc: Service): Ep[] {
    const out: Ep[] = [];
    for (const sl of this.slices.get(`${svc.namespace}/${svc.name}`) ?? []) {
      // A slice without ports gets a sentinel port -1 (object/endpoint.go), so its addresses still answer A.
      const ports = sl.ports.length ? sl.ports.filter((p) => p.port !== undefined).map((p) => ({ name: p.name, port: p.port!, protocol: p.protocol }))
        : [{ name: '', port: -1, protocol: '' }];
      for (const e of sl.endpoints) {
        if (!e.conditions.ready) continue;
        const ip = e.addresses[0]!;
        out.push({ ip, hostname: this.endpointHostname(ip, e.hostname, e.targetRef?.kind === 'Pod' ? e.targetRef.name : undefined), ports });
      }
    }
    return out;
  }

  /** kubernetes.go endpointHostname: the hostname, else (endpoint_pod_names) the pod's name, else the address dashed. */
  private endpointHostname(ip: string, hostname?: string, podName?: string): string {
    if (hostname) return hostname;
    if (this.endpointPodNames && podName) return podName;
    return ip.replace(/[.:]/g, '-');
  }

  private svcName(svc: Service): string { return `${svc.name}.${svc.namespace}.svc.${this.zone}`; }

  /** The SOA of the zone (plugin/backend_lookup.go SOA): ns.dns.<zone>, hostmaster.<zone>, fixed serial (deterministic). */
  soa(): RR {
    return { name: this.zone, type: 'SOA', ttl: this.ttl, data: `ns.dns.${this.zone} hostmaster.${this.zone} 1 7200 1800 86400 ${this.ttl}` };
  }

  /** NS at the apex (ns.go nsAddrs): the Services whose endpoints are CoreDNS's own pods (k8s-app=kube-dns),
   * named by the Service, with their cluster IPs as glue; `ns.dns.<zone>` when no such Service exists. */
  private nsRecords(): { answer: RR[]; extra: RR[] } {
    const dnsPods = new Set(this.model.pods.filter((p) => p.labels['k8s-app'] === 'kube-dns').flatMap((p) => p.podIPs));
    const answer: RR[] = [], extra: RR[] = [];
    for (const svc of this.model.services) {
      if (!this.endpoints(svc).some((e) => dnsPods.has(e.ip))) continue;
      const target = this.svcName(svc);
      if (answer.some((r) => r.data === target)) continue;
      answer.push({ name: this.zone, type: 'NS', ttl: this.ttl, data: target });
      for (const ip of clusterIPs(svc)) extra.push({ name: target, type: isV4(ip) ? 'A' : 'AAAA', ttl: this.ttl, data: ip });
    }
    if (answer.length === 0) answer.push({ name: this.zone, type: 'NS', ttl: this.ttl, data: `ns.dns.${this.zone}` });
    return { answer, extra };
  }

  /** One question. */
  query(qname: string, qtype: RRType = 'A'): DnsAnswer {
    const name = fqdn(qname);
    const rev = name.endsWith('.in-addr.arpa.') || name.endsWith('.ip6.arpa.');
    if (rev || name === 'in-addr.arpa.' || name === 'ip6.arpa.') return this.reverse(name, qtype);
    if (name !== this.zone && !name.endsWith('.' + this.zone)) return { rcode: 'REFUSED', answer: [], extra: [] };
    const none = (rcode: Rcode): DnsAnswer => ({ rcode, answer: [], extra: [] });
    // handler.go: NS and SOA are answered at the apex only; elsewhere they fall to the "fake A lookup" that
    // tells NXDOMAIN from NODATA.
    if (qtype === 'SOA' && name === this.zone) return { rcode: 'NOERROR', answer: [this.soa()], extra: [] };
    if (qtype === 'NS' && name === this.zone) return { rcode: 'NOERROR', ...this.nsRecords() };
    if (qtype === 'TXT') {
      // kubernetes.go Services: TXT answers dns-version only; any other name is NODATA.
      if (name === `dns-version.${this.zone}`) return { rcode: 'NOERROR', answer: [{ name, type: 'TXT', ttl: 28800, data: DNS_SCHEMA_VERSION }], extra: [] };
      return none('NOERROR');
    }
    const found = this.records(name);
    if (found === 'nxdomain') return none('NXDOMAIN');
    const answer: RR[] = [], extra: RR[] = [];
    const cname = (r: Rec) => r.host !== undefined && canonicalIP(r.host) === undefined;
    switch (qtype) {
      case 'A': case 'AAAA':
        for (const r of found) {
          if (cname(r)) answer.push({ name, type: 'CNAME', ttl: this.ttl, data: fqdn(r.host) });
          else if (isV4(r.host) === (qtype === 'A') && !answer.some((a) => a.data === r.host)) answer.push({ name, type: qtype, ttl: this.ttl, data: r.host });
        }
        break;
      case 'CNAME':
        for (const r of found) if (cname(r)) answer.push({ name, type: 'CNAME', ttl: this.ttl, data: fqdn(r.host) });
        break;
      case 'SRV': {
        // backend_lookup.go SRV: ExternalName records are removed; every record has priority 0 and weight
        // floor(100 / n) (n = the records of that priority, before duplicates go), at least 1; the target is
        // the record's name, its address in the additional section.
        const srv = found.filter((r) => !cname(r));
        const weight = Math.max(1, Math.floor(100 / srv.length));
        const seen = new Set<string>();
        for (const r of srv) {
          // Duplicates are told apart separately: SRV by (target, port), glue by (target, address).
          const key = `${r.target} ${r.port}`;
          if (!seen.has(key)) answer.push({ name, type: 'SRV', ttl: this.ttl, data: `0 ${weight} ${r.port} ${r.target}` });
          seen.add(key);
          if (!extra.some((e) => e.name === r.target && e.data === r.host)) extra.push({ name: r.target, type: isV4(r.host) ? 'A' : 'AAAA', ttl: this.ttl, data: r.host });
        }
        break;
      }
      default: // PTR, NS, SOA, ANY off the apex: the handler's fake A lookup, NODATA when the name exists
        break;
    }
    return { rcode: 'NOERROR', answer, extra };
  }

  /** reverse.go: a service's cluster IP names the Service, else an endpoint's address names the endpoint. */
  private reverse(name: string, qtype: RRType): DnsAnswer {
    const ip = addressOfReverse(name);
    if (qtype !== 'PTR' || ip === undefined) return { rcode: 'NXDOMAIN', answer: [], extra: [] };
    for (const svc of this.model.services) {
      if (clusterIPs(svc).includes(ip)) return { rcode: 'NOERROR', answer: [{ name, type: 'PTR', ttl: this.ttl, data: this.svcName(svc) }], extra: [] };
    }
    const answer: RR[] = [];
    for (const svc of this.model.services) {
      for (const e of this.endpoints(svc)) {
        if (e.ip !== ip) continue;
        const data = `${e.hostname}.${this.svcName(svc)}`;
        if (!answer.some((a) => a.data === data)) answer.push({ name, type: 'PTR', ttl: this.ttl, data });
      }
    }
    return { rcode: answer.length ? 'NOERROR' : 'NXDOMAIN', answer, extra: [] };
  }

  /** kubernetes.go Records over parse.go parseRequest: the records a forward name has, or 'nxdomain'
   * (errNoItems / errInvalidRequest). An empty list is NODATA. */
  private records(name: string): Rec[] | 'nxdomain' {
    const base = name === this.zone ? '' : name.slice(0, -this.zone.length - 1);
    if (base === '' || base === 'svc' || base === 'pod') return [];
    const segs = base.split('.');
    let last = segs.length - 1;
    const kind = segs[last--];
    if (kind !== 'svc' && kind !== 'pod') return 'nxdomain';
    // Every namespace is exposed (no `namespaces` option): a namespace alone is NODATA.
    const namespace = segs[last--];
    if (namespace === undefined) return [];
    const service = segs[last--];
    if (service === undefined) return [];
    let endpoint = '', port = '', protocol = '';
    if (last === 0) endpoint = segs[0]!;
    else if (last === 1) { protocol = strip(segs[1]!); port = strip(segs[0]!); }
    else if (last > 1) return 'nxdomain';
    if (kind === 'pod') return endpoint || port ? 'nxdomain' : this.findPod(namespace, service);
    return this.findService(namespace, service, endpoint, port, protocol);
  }

  /** kubernetes.go findPods: `a-b-c-d.ns.pod.<zone>` (IPv6: colons as dashes). */
  private findPod(namespace: string, podname: string): Rec[] | 'nxdomain' {
    if (this.pods === 'disabled') return 'nxdomain';
    const text = (podname.split('-').length === 4 && !podname.includes('--')) ? podname.replace(/-/g, '.') : podname.replace(/-/g, ':');
    const ip = canonicalIP(text);
    if (ip === undefined) return 'nxdomain';
    // insecure: any name that parses as an address answers with it (net.ParseIP), pod or not.
    if (this.pods === 'insecure') return [{ host: ip, target: '', port: 0 }];
    return (this.podIPs.get(ip) ?? []).includes(namespace) ? [{ host: ip, target: '', port: 0 }] : 'nxdomain';
  }

  /** kubernetes.go findServices. */
  private findService(namespace: string, name: string, endpoint: string, port: string, protocol: string): Rec[] | 'nxdomain' {
    const svc = this.services.get(`${namespace}/${name}`);
    if (!svc) return 'nxdomain';
    const match = (a: string, b: string) => a === '' || a === b.toLowerCase();
    const target = this.svcName(svc);
    if (svc.type === 'ExternalName') {
      if (endpoint || port || protocol || !svc.externalName) return 'nxdomain';
      return [{ host: svc.externalName, target, port: 0 }];
    }
    const out: Rec[] = [];
    if (svc.headless || endpoint) {
      for (const e of this.endpoints(svc)) {
        if (endpoint && endpoint !== e.hostname.toLowerCase()) continue;
        for (const p of e.ports) {
          if (!match(port, p.name) || !match(protocol, p.protocol)) continue;
          out.push({ host: e.ip, target: `${e.hostname}.${target}`, port: p.port });
        }
      }
      return out.length ? out : 'nxdomain';
    }
    let any = false;
    for (const p of svc.ports) {
      if (!match(port, p.name) || !match(protocol, p.protocol)) continue;
      any = true;
      for (const ip of clusterIPs(svc)) out.push({ host: ip, target, port: p.port });
    }
    return any ? out : 'nxdomain';
  }
}

/** Every cluster IP of a Service, IPv4 then IPv6 (dual-stack: spec.clusterIPs). */
const clusterIPs = (svc: Service) => (svc.ipv6ClusterIPs ? [...svc.clusterIPs, ...svc.ipv6ClusterIPs] : svc.clusterIPs);

interface Rec { host: string; target: string; port: number }

/** parse.go stripUnderscore. */
const strip = (s: string) => (s.startsWith('_') ? s.slice(1) : s);
