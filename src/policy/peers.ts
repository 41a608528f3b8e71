// The identities a policy peer matches, computed from indices rather than by testing every identity:
// pod identities by namespace (a selector peer tests only the pods of the namespaces it selects),
// node identities apart, and every identity by each policy CIDR it lies in (an ipBlock or `networks`
// peer is a lookup). Each distinct peer is computed once per compile.
//
// A peer set is kept twice: identity ids (membership tests) and positions in the universe, sorted and
// without duplicates (the compiler partitions the universe by them, see compile.ts).

import { labelSelectorMatches } from '../k8s/labels.js';
import type { AdminPeer, NetworkPolicy, NetworkPolicyPeer, PolicyKnobs } from './model.js';
import { IdentityInfo, canonical } from './identity.js';

export interface PeerSet { ids: Set<number>; at: Int32Array }

export class PeerIndex {
  /** Every identity in use, in the order the compiler visits them. */
  readonly universe: [number, IdentityInfo][];
  private readonly podsByNs = new Map<string, number[]>();
  private readonly nodes: number[] = [];
  private readonly byCidr = new Map<string, number[]>();
  private readonly canonicalCidrs = new Map<string, string>();
  private readonly cache = new Map<string, PeerSet>();

  constructor(identities: Map<number, IdentityInfo>, private readonly labelsOfNs: (ns: string) => Record<string, string>,
    private readonly knobs: PolicyKnobs) {
    this.universe = [...identities];
    const push = <K>(m: Map<K, number[]>, k: K, i: number) => { const l = m.get(k); if (l) l.push(i); else m.set(k, [i]); };
    this.universe.forEach(([, info], i) => {
      if (info.kind === 'pod') push(this.podsByNs, info.namespace, i);
      else if (info.kind === 'node') this.nodes.push(i);
      for (const c of info.cidrs) push(this.byCidr, c, i);
    });
  }

  /** The canonical form of a policy CIDR (how identities list the CIDRs they lie in). */
  private canonical(c: string): string {
    let k = this.canonicalCidrs.get(c);
    if (k === undefined) this.canonicalCidrs.set(c, (k = canonical(c).cidr));
    return k;
  }

  private make(positions: number[]): PeerSet {
    const at = Int32Array.from(new Set(positions)).sort();
    const ids = new Set<number>();
    for (const i of at) ids.add(this.universe[i][0]);
    return { ids, at };
  }

  /** Labels of the pod or node identity at position i. */
  private labelsAt(i: number): Record<string, string> {
    const info = this.universe[i][1];
    return info.kind === 'cidr' ? {} : info.labels;
  }

  private podsOf(namespaces: Iterable<string>, podSelector: import('./model.js').LabelSelector | undefined): number[] {
    const out: number[] = [];
    for (const ns of namespaces) {
      for (const i of this.podsByNs.get(ns) ?? []) {
        if (!podSelector || labelSelectorMatches(podSelector, this.labelsAt(i))) out.push(i);
      }
    }
    return out;
  }

  private namespacesMatching(sel: import('./model.js').LabelSelector): string[] {
    return [...this.podsByNs.keys()].filter((ns) => labelSelectorMatches(sel, this.labelsOfNs(ns)));
  }

  /** Identities in the CIDR `c` (and, with `except`, in none of those). */
  private inCidr(c: string, except: string[] = []): number[] {
    const ex = except.map((e) => this.canonical(e));
    return (this.byCidr.get(this.canonical(c)) ?? []).filter((i) => !ex.some((e) => this.universe[i][1].cidrs.includes(e)));
  }

  /** A NetworkPolicy peer of `np` (a selector without namespaceSelector means np's namespace). */
  npPeer(np: NetworkPolicy, peer: NetworkPolicyPeer): PeerSet {
    const key = `np|${peer.kind === 'selector' && !peer.namespaceSelector ? np.namespace : ''}|${JSON.stringify(peer)}`;
    let s = this.cache.get(key);
    if (s) return s;
    if (peer.kind === 'ipBlock') {
      s = this.make(this.inCidr(peer.cidr, peer.except).filter((i) => this.universe[i][1].kind !== 'pod' || this.knobs.ipBlockMatchesPods));
    } else {
      s = this.make(this.podsOf(peer.namespaceSelector ? this.namespacesMatching(peer.namespaceSelector) : [np.namespace], peer.podSelector));
    }
    this.cache.set(key, s);
    return s;
  }

  adminPeer(peer: AdminPeer): PeerSet {
    const key = `admin|${JSON.stringify(peer)}`;
    let s = this.cache.get(key);
    if (s) return s;
    switch (peer.kind) {
      case 'namespaces': s = this.make(this.podsOf(this.namespacesMatching(peer.namespaceSelector), undefined)); break;
      case 'pods': s = this.make(this.podsOf(this.namespacesMatching(peer.namespaceSelector), peer.podSelector)); break;
      case 'nodes': s = this.make(this.nodes.filter((i) => labelSelectorMatches(peer.nodeSelector, this.labelsAt(i)))); break;
      case 'networks': s = this.make(peer.cidrs.flatMap((c) => this.inCidr(c))); break;
    }
    this.cache.set(key, s);
    return s;
  }

  union(sets: PeerSet[]): PeerSet {
    if (sets.length === 1) return sets[0];
    const positions: number[] = [];
    for (const s of sets) for (const i of s.at) positions.push(i);
    return this.make(positions);
  }
}
