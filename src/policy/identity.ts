// Numeric identities, as Cilium allocates them, and the ipcache that gives
// every address its identity by longest prefix match.
//
// - A pod's identity stands for everything a policy can ask about it: its
//   namespace (and so the namespace's labels), its labels, its named container
//   ports (egress rules with named ports resolve against the destination pod)
//   and the set of policy CIDRs (ipBlock cidr/except, admin `networks`) that
//   contain its address. Pods equal in all of that share one identity. The last
//   part is how an ipBlock can match pod addresses (the ipBlockMatchesPods knob)
//   exactly: two pods with the same labels, one inside 10.0.1.0/24 and one not,
//   get two identities. (Cilium gives pods only label identities and lets CIDR
//   rules miss them; the upstream e2e suite expects ipBlock to match pods.)
// - A node's identity: its labels and policy CIDRs (for admin `nodes` peers).
//   Cilium uses reserved:host / remote-node; one emulated dataplane stands for
//   every node here, so nodes are told apart by labels. The ingress exemption of
//   a pod's own node does not use identities (ipcache flags and node ids).
// - Any other prefix: a CIDR identity per set of policy CIDRs containing it;
//   none of them: reserved:world (2), or reserved:unmanaged (3) inside the pod
//   network (an address there that no known pod has).
// For a prefix P of the ipcache, the policy CIDRs containing an address that
// P is the longest match of are exactly those containing P (prefixes that share
// an address are nested), so one identity per prefix is exact.

import type { EndpointInfo } from '../dataplane.js';
import { IDENTITY, IPC_FLAG } from '../dataplane.js';
import { formatIPv4, parseCidr, prefixMask } from '../common/ip.js';
import type { Namespace, Node, Pod, Protocol } from '../k8s/model.js';
import { labelsKey } from '../k8s/labels.js';
import { byCodeUnits, sortSmall } from '../common/sort.js';

export const IDENTITY_UNMANAGED = 3; // Cilium reserved:unmanaged
const NODE_NONE = 0xffff;

export interface NamedPort { name: string; protocol: Protocol; port: number }

export type IdentityInfo =
  | { kind: 'pod'; namespace: string; labels: Record<string, string>; namedPorts: NamedPort[]; cidrs: string[] }
  | { kind: 'node'; labels: Record<string, string>; cidrs: string[] }
  | { kind: 'cidr'; cidrs: string[] };

/** An ipcache entry (the shape of src/k8s/compile.ts PlannedIpcache). */
export interface AddressEntry { cidr: string; addr: number; plen: number; info: EndpointInfo; what: string }

export interface IdentityPlan {
  /** Every identity in use, with what it stands for (world and unmanaged included). */
  identities: Map<number, IdentityInfo>;
  /** The ipcache: the given entries with their identities, plus one entry per policy CIDR. */
  ipcache: Map<string, AddressEntry>;
  /** Pod of each pod entry (by ipcache key). */
  podEntries: Map<string, Pod>;
  /** podKeys of each pod of podEntries, computed once. */
  podKeys: Map<Pod, PodKeys>;
}

export function namedPortsOf(pod: Pod): NamedPort[] {
  const out: NamedPort[] = [];
  for (const c of pod.ports) if (c.name) out.push({ name: c.name, protocol: c.protocol, port: c.containerPort });
  return sortSmall(out, (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || a.port - b.port || (a.protocol < b.protocol ? -1 : 1));
}

/** Named ports (as namedPortsOf lists them) as a key: each name with its length in front, as labelsKey. */
export function namedPortsKey(ports: NamedPort[]): string {
  let out = '';
  for (let i = 0; i < ports.length; i++) { const p = ports[i]; out += `${p.name.length}:${p.name}/${p.protocol}/${p.port};`; }
  return out;
}

/** What identities and subjects key a pod by (its namespace, labels and named ports). */
export interface PodKeys { namedPorts: NamedPort[]; key: string }
/** `shared`: named-port lists by key, so that pods with equal named ports share one list (a compile keeps them all). */
export function podKeys(pod: Pod, shared?: Map<string, NamedPort[]>): PodKeys {
  let namedPorts = namedPortsOf(pod);
  const portsKey = namedPortsKey(namedPorts);
  if (shared) {
    const known = shared.get(portsKey);
    if (known) namedPorts = known; else shared.set(portsKey, namedPorts);
  }
  return { namedPorts, key: `${pod.namespace}|${labelsKey(pod.labels)}|${portsKey}` };
}

export function canonical(cidr: string): { cidr: string; addr: number; plen: number } {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  const addr = (c.addr & prefixMask(c.plen)) >>> 0;
  return { cidr: `${formatIPv4(addr)}/${c.plen}`, addr, plen: c.plen };
}

/** Whether prefix `outer` contains prefix `inner` (equal included). */
export function prefixContains(outer: { addr: number; plen: number }, inner: { addr: number; plen: number }): boolean {
  return outer.plen <= inner.plen && ((inner.addr & prefixMask(outer.plen)) >>> 0) === outer.addr;
}

/**
 * Give every ipcache prefix its identity. `infra` is what the cluster compiler made (pod /32s
 * named "pod ns/name", node /32s named "node name", pod CIDRs, the cluster CIDR); `policyCidrs`
 * every CIDR the policies name. `identity(key)` allocates (stable across recompiles).
 */
export function allocateIdentities(
  cluster: { namespaces: Namespace[]; nodes: Node[]; pods: Pod[] },
  infra: Map<string, AddressEntry>, policyCidrs: Iterable<string>, identity: (key: string) => number,
): IdentityPlan {
  const cidrs = [...new Set([...policyCidrs].map((c) => canonical(c).cidr))].map(canonical);
  // The policy CIDRs by prefix length, so that those containing a prefix are found by one masked lookup
  // per length in use rather than a scan of every CIDR (10,000 pods x 500 CIDRs otherwise).
  const byLength = prefixIndex(cidrs, (c) => c.cidr);
  const containing = (p: { addr: number; plen: number }) => sortSmall(byLength.containing(p), byCodeUnits);
  const podByName = new Map(cluster.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  const nodeByName = new Map(cluster.nodes.map((n) => [n.name, n]));
  const infraList = [...infra.values()];

  const identities = new Map<number, IdentityInfo>([
    [IDENTITY.WORLD, { kind: 'cidr', cidrs: [] }], [IDENTITY_UNMANAGED, { kind: 'cidr', cidrs: [] }],
  ]);
  const ipcache = new Map<string, AddressEntry>();
  const podEntries = new Map<string, Pod>();
  const podKeyMap = new Map<Pod, PodKeys>();
  const sharedPorts = new Map<string, NamedPort[]>();
  // Pods alike (namespace, labels, named ports) ask for their identity once per CIDR signature.
  const podIdentities = new Map<string, Map<string, number>>();

  const cidrIdentity = (sig: string[], flags: number): number => {
    if (sig.length === 0) return (flags & IPC_FLAG.POD) !== 0 ? IDENTITY_UNMANAGED : IDENTITY.WORLD;
    const id = identity(`cidr|${sig.join(',')}`);
    identities.set(id, { kind: 'cidr', cidrs: sig });
    return id;
  };

  for (const e of infraList) {
    const sig = containing(e);
    let id: number;
    const pod = e.what.startsWith('pod ') ? podByName.get(e.what.slice(4)) : undefined;
    const node = e.what.startsWith('node ') ? nodeByName.get(e.what.slice(5)) : undefined;
    if (pod) {
      let keys = podKeyMap.get(pod);
      if (!keys) podKeyMap.set(pod, (keys = podKeys(pod, sharedPorts)));
      const { namedPorts, key } = keys;
      const sigKey = sig.length === 0 ? '' : sig.join(',');
      let bySig = podIdentities.get(key);
      if (!bySig) podIdentities.set(key, (bySig = new Map()));
      const known = bySig.get(sigKey);
      if (known === undefined) bySig.set(sigKey, (id = identity(`pod|${key}|${sigKey}`))); else id = known;
      if (!identities.has(id)) identities.set(id, { kind: 'pod', namespace: pod.namespace, labels: pod.labels, namedPorts, cidrs: sig });
      podEntries.set(e.cidr, pod);
    } else if (node) {
      id = identity(`node|${labelsKey(node.labels)}|${sig.join(',')}`);
      identities.set(id, { kind: 'node', labels: node.labels, cidrs: sig });
    } else {
      id = cidrIdentity(sig, e.info.flags);
    }
    ipcache.set(e.cidr, { cidr: e.cidr, addr: e.addr, plen: e.plen, what: e.what, info: { identity: id, endpoint: e.info.endpoint, node: e.info.node, flags: e.info.flags } });
  }
  // Policy CIDRs that are not already a prefix of the ipcache: node and POD/HOST flags of the
  // longest cluster prefix containing them (an address keeps being in the pod network).
  const infraByLength = prefixIndex(infraList, (e) => e);
  for (const c of cidrs) {
    if (ipcache.has(c.cidr)) continue;
    const outer = infraByLength.longest(c);
    const flags = outer && outer.plen < 32 ? outer.info.flags & (IPC_FLAG.POD | IPC_FLAG.HOST) : 0;
    const node = outer && outer.plen < 32 ? outer.info.node : NODE_NONE;
    const sig = containing(c);
    ipcache.set(c.cidr, { cidr: c.cidr, addr: c.addr, plen: c.plen, what: `policy CIDR ${c.cidr}`,
      info: { identity: cidrIdentity(sig, flags), endpoint: 0, node, flags } });
  }
  return { identities, ipcache, podEntries, podKeys: podKeyMap };
}

/**
 * Prefixes indexed by length: `containing(p)` lists the values of the prefixes that contain p (equal
 * included) and `longest(p)` the value of the longest of them, with one masked lookup per length in use.
 * Prefixes are compared as prefixContains does (a prefix whose address has host bits set contains nothing).
 */
export function prefixIndex<P extends { addr: number; plen: number }, T>(prefixes: Iterable<P>, value: (p: P) => T):
  { containing(p: { addr: number; plen: number }): T[]; longest(p: { addr: number; plen: number }): T | undefined } {
  const byLength = new Map<number, Map<number, T>>();
  for (const p of prefixes) {
    let m = byLength.get(p.plen);
    if (!m) byLength.set(p.plen, (m = new Map()));
    if (!m.has(p.addr)) m.set(p.addr, value(p));
  }
  const lengths = [...byLength.keys()].sort((a, b) => b - a).map((plen) => ({ plen, mask: prefixMask(plen), m: byLength.get(plen)! }));
  return {
    containing(p) {
      const out: T[] = [];
      for (const l of lengths) {
        if (l.plen > p.plen) continue;
        const v = l.m.get((p.addr & l.mask) >>> 0);
        if (v !== undefined) out.push(v);
      }
      return out;
    },
    longest(p) {
      for (const l of lengths) {
        if (l.plen > p.plen) continue;
        const v = l.m.get((p.addr & l.mask) >>> 0);
        if (v !== undefined) return v;
      }
      return undefined;
    },
  };
}
