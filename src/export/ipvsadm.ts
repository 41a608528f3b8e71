// `dpemu export --format ipvsadm`: the virtual servers kube-proxy's IPVS mode programs on one
// node (pkg/proxy/ipvs/proxier.go), in the form `ipvsadm -Sn` prints (ipvsadm.c: -A for a virtual
// service, -a for each real server, forwarding -m (masquerading, i.e. NAT) with weight 1).
// The iptables/ipset rules the IPVS mode adds around them are not printed.
import type { NodeRules } from './node-rules.js';

const FLAG: Record<string, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };

export function ipvsadmSave(rules: NodeRules, o: { scheduler?: string } = {}): string {
  const lines: string[] = [];
  for (const sp of rules.ports) {
    const internal = sp.intLocal ? sp.localEndpoints : sp.clusterEndpoints;
    const external = sp.extLocal ? sp.localEndpoints : sp.clusterEndpoints;
    const vs: [string, number, typeof internal][] = [[sp.clusterIP, sp.port.port, internal]];
    for (const a of [...sp.externalIPs, ...sp.loadBalancerIPs]) vs.push([a, sp.port.port, external]);
    if (sp.nodePort) for (const a of rules.nodePortIPs) vs.push([a, sp.nodePort, external]);
    for (const [addr, port, eps] of vs) {
      const f = FLAG[sp.proto];
      const persistent = sp.affinityTimeout > 0 ? ` -p ${sp.affinityTimeout}` : '';
      lines.push(`-A ${f} ${addr}:${port} -s ${o.scheduler ?? 'rr'}${persistent}`);
      for (const e of eps) lines.push(`-a ${f} ${addr}:${port} -r ${e.address}:${e.port} -m -w 1`);
    }
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
