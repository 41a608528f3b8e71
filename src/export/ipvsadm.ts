// `dpemu export --format ipvsadm`: the virtual servers kube-proxy's IPVS mode programs on one
// node (pkg/proxy/ipvs/proxier.go), in the form `ipvsadm -Sn` prints (ipvsadm.c: -A for a virtual
// service, -a for each real server, forwarding -m (masquerading, i.e. NAT) with weight 1).
// The iptables/ipset rules the IPVS mode adds around them are not printed.
import type { ClusterModel } from '../k8s/model.js';
import { servicePorts } from './iptables.js';

const FLAG: Record<string, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };

export function exportIpvsadm(model: ClusterModel, o: { node: string; scheduler?: string }): string {
  const lines: string[] = [];
  const nodeIPs = model.nodes.find((n) => n.name === o.node)?.addresses.map((a) => a.address) ?? [];
  for (const sp of servicePorts(model, o.node)) {
    const { service: s, port: p } = sp;
    const intLocal = s.internalTrafficPolicy === 'Local', extLocal = s.externalTrafficPolicy === 'Local';
    const internal = intLocal ? sp.localEndpoints : sp.clusterEndpoints;
    const external = extLocal ? sp.localEndpoints : sp.clusterEndpoints;
    const vs: [string, number, typeof internal][] = [[s.clusterIP!, p.port, internal]];
    for (const a of [...s.externalIPs, ...s.loadBalancerIngress]) vs.push([a, p.port, external]);
    if (p.nodePort) for (const a of nodeIPs) vs.push([a, p.nodePort, external]);
    for (const [addr, port, eps] of vs) {
      const f = FLAG[sp.proto];
      const persistent = s.sessionAffinity === 'ClientIP' ? ` -p ${s.sessionAffinityTimeout}` : '';
      lines.push(`-A ${f} ${addr}:${port} -s ${o.scheduler ?? 'rr'}${persistent}`);
      for (const e of eps) lines.push(`-a ${f} ${addr}:${port} -r ${e.address}:${e.port} -m -w 1`);
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
