// Which addresses of a node answer NodePorts, as kube-proxy decides it.
//
// - `--nodeport-addresses` (nodePortAddresses) given: the node's addresses inside those CIDRs
//   (pkg/proxy/util/nodeport_addresses.go GetNodeIPs).
// - unset, iptables and ipvs modes: every local address ("If unset, NodePort connections will be
//   accepted on all local IPs": kube-proxy --nodeport-addresses help; iptables matches
//   `-m addrtype --dst-type LOCAL`). dpemu knows a node's addresses from status.addresses.
// - unset, nftables mode: the node's primary IP only (cmd/kube-proxy/app/server_linux.go
//   platformApplyDefaults: `if config.Mode == ProxyModeNFTables && len(config.NodePortAddresses) == 0
//   { config.NodePortAddresses = []string{NodePortAddressesPrimary} }`, KEP-3866); the primary IP is
//   the node's InternalIP (kube-proxy's nodeIP).
// - 127.0.0.1 in iptables mode when localhostNodePorts is on (default true) and the addresses include
//   loopback (unset, or a CIDR holding 127.0.0.1): proxier.go writes `-d 127.0.0.0/8` NodePort rules
//   and sets route_localnet; the nftables and ipvs modes never serve localhost NodePorts.
import { parseCidr, prefixMask } from '../common/ip.js';
import type { Node } from './model.js';

export type NodePortMode = 'all' | 'primary';
export const LOCALHOST = 0x7f000001;

const inCidr = (c: { addr: number; plen: number }, v: number) => ((v & prefixMask(c.plen)) >>> 0) === ((c.addr & prefixMask(c.plen)) >>> 0);
const num = (s: string) => { const [a, b, c, d] = s.split('.').map(Number); return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0; };

/** The node's own addresses that serve NodePorts (loopback excluded). */
export function nodePortIPs(n: Node, cidrs: string[] | null, mode: NodePortMode): number[] {
  const own = mode === 'primary' && cidrs === null
    ? (n.internalIP ? [n.internalIP] : [])
    : n.addresses.map((a) => a.address);
  const parsed = cidrs?.map((c) => parseCidr(c)!);
  const out: number[] = [];
  for (const a of own) {
    const v = num(a);
    if (out.includes(v) || (v >>> 24) === 127) continue;
    if (parsed && !parsed.some((c) => inCidr(c, v))) continue;
    out.push(v);
  }
  return out;
}

/** Whether NodePorts also answer on 127.0.0.1 (iptables mode's localhostNodePorts). */
export function servesLocalhost(cidrs: string[] | null, mode: NodePortMode, localhostNodePorts: boolean): boolean {
  if (!localhostNodePorts || mode === 'primary') return false;
  // nodeport_addresses.go ContainsIPv4Loopback: unset (match all) or a CIDR holding 127.0.0.1.
  return cidrs === null || cidrs.some((c) => inCidr(parseCidr(c)!, LOCALHOST));
}

/** "all" unless nodePortAddresses is unset in nftables mode. */
export function nodePortMode(design: string | undefined): NodePortMode {
  return design === 'nftables' ? 'primary' : 'all';
}
