// Packet endpoints named the way people name them, for `dpemu trace` and the API's send(): a source
// `pod/ns/name` or `deploy/ns/name` (the workload's first running pod, by name), a destination
// `svc/ns/name:port`, `pod/ns/name:port`, or a DNS name with a port (`checkout:8080`,
// `web.shop.svc.cluster.local:80`) resolved as the source pod's resolver would (its resolv.conf search list,
// through the cluster DNS as CoreDNS answers). Records then carry the names next to the addresses.

import { InputError } from './errors.js';
import { showValue } from './packet.js';
import { parseIPv4 } from './common/ip.js';
import type { ClusterModel, Pod } from './k8s/model.js';
import { ClusterDns } from './dns/server.js';
import { clusterDnsIP, resolvConf, resolveAsPod } from './dns/stub.js';
import { parseTarget, podsOf } from './run/targets.js';

/** Whether a packet field is a name (not an address). */
export const isName = (v: unknown): v is string => typeof v === 'string' && v !== '' && parseIPv4(v) === undefined && /[a-zA-Z]/.test(v);

/** The longest name taken: a DNS name (253) or kind/namespace/name (63 + 253 and separators), with a port. */
const MAX_NAME = 340;

export class PacketNames {
  private dns?: ClusterDns;
  constructor(private readonly model: ClusterModel) {}

  /** A source name: its address, and the pod (whose resolver resolves the destination). */
  source(text: string): { addr: number; pod: Pod; label: string } {
    if (text.length > MAX_NAME) throw new InputError(`"src": ${showValue(text)} is too long for a pod or workload name`, 'src');
    if (!text.includes('/')) throw new InputError(`"src": ${showValue(text)} is not an address nor a pod or workload (pod/ns/name, deploy/ns/name)`, 'src');
    const pods = [...podsOf(this.model, text, '"src"')].sort((a, b) => (a.name < b.name ? -1 : 1));
    const pod = pods[0];
    return { addr: parseIPv4(pod.podIP!)!, pod, label: `${text} (pod ${pod.namespace}/${pod.name})` };
  }

  /** A destination name with its port, resolved from `client`'s namespace (no client: names must be absolute). */
  destination(text: string, proto: string, client: Pod | undefined): { addr: number; port: number; label: string; dns?: { server: number; queries: number } } {
    if (text.length > MAX_NAME) throw new InputError(`"dst": ${showValue(text)} is too long for a name with a port`, 'dst');
    const t = parseTarget(this.model, text, proto, '"dst"');
    switch (t.form) {
      case 'address': return { addr: t.addr, port: t.port, label: text };
      case 'pods': {
        const pod = [...t.pods].sort((a, b) => (a.name < b.name ? -1 : 1))[0];
        return { addr: parseIPv4(pod.podIP!)!, port: t.port, label: `${text} (pod ${pod.namespace}/${pod.name})` };
      }
      case 'service': {
        if (t.svc.clusterIP === undefined) throw new InputError(`"dst": Service ${t.svc.namespace}/${t.svc.name} has no cluster IP (a headless Service: name it by its DNS name)`, 'dst');
        return { addr: parseIPv4(t.svc.clusterIP)!, port: t.port.port, label: `${text} (Service ${t.svc.namespace}/${t.svc.name} ${t.port.port}/${t.port.protocol})` };
      }
      case 'name': {
        if (typeof t.port !== 'number') throw new InputError(`"dst": a DNS name takes a port number, got ${showValue(t.port)}`, 'dst');
        this.dns ??= new ClusterDns(this.model);
        const dnsIP = clusterDnsIP(this.model);
        // A client pod resolves through its resolv.conf; an outside source only with an absolute name.
        const conf = client ? resolvConf(client, this.model) : { nameservers: dnsIP ? [dnsIP] : [], searches: [], ndots: 1 };
        const r = resolveAsPod(this.dns, conf, t.name, 'A', dnsIP);
        const a = r.answer.find((x) => x.type === 'A');
        if (!a) throw new InputError(`"dst": ${t.name} does not resolve${client ? ` from ${client.namespace}/${client.name}` : ''} (${r.rcode}; tried ${r.tried.join(', ')})`, 'dst');
        // The queries travel as packets when the client asks the cluster DNS (the tracer sends them first).
        const served = client !== undefined && dnsIP !== undefined && conf.nameservers.includes(dnsIP);
        return { addr: parseIPv4(a.data)!, port: t.port, label: `${text} (${r.name} A ${a.data})`,
          ...(served ? { dns: { server: parseIPv4(dnsIP)!, queries: r.tried.length } } : {}) };
      }
    }
  }
}
