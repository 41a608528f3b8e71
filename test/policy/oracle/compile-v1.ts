// The policy compiler as it was before it was made fast (a frozen copy of src/policy/compile.ts at the
// commit that introduced this file): the plain algorithm, kept as the oracle the fast compiler's output
// is held to, map for map (test/policy/compile-oracle.test.ts). Not used by the product.
// The policy compiler: NetworkPolicy and the admin tiers flattened into the
// core's ipcache identities and per-subject policy entries (assembly/policy.ts
// draws the map). Every decision the tiers make is taken here, once, so the
// core only looks up a precomputed verdict:
//
// - A subject is a set of pods that share namespace, labels and named ports:
//   every policy selects them alike and resolves their named ports alike, so
//   they share one compiled policy (the ipcache `endpoint` field of their
//   addresses). A subject some policy selects in a direction (a NetworkPolicy
//   isolating it, or an admin policy with rules of that direction) gets
//   IPC_ENFORCE_<dir> and entries; the others are not looked up at all.
// - For a subject and direction, the rules that can apply become "clauses" in
//   evaluation order: Admin tier rules (priority, then rule order), the
//   NetworkPolicy rules (if isolating), Baseline rules. A clause matches a set
//   of peer identities (or all) and a set of (protocol, port range).
// - The decision D(identity, protocol, port) is computed per group of
//   identities that match the same clauses (and, for egress named ports, have
//   the same named ports), per protocol over the port segments the clauses cut,
//   by the tier procedure: first Admin match (Allow / Deny; Pass jumps to the
//   NetworkPolicy tier); isolated: a NetworkPolicy rule allows, else DENIED;
//   else the first Baseline match; else allowed.
// - Entries are written so that the core's "most specific entry" lookup gives
//   D exactly: the any-identity layer holds D of identities no clause names (a
//   catch-all (any, any protocol) entry, the subject's default verdict for the
//   direction, plus port blocks where a protocol differs); each named identity
//   holds blocks only where its D differs from what it would fall through to.
//   Port ranges become prefix-aligned blocks (as CIDRs are), so a range costs
//   entries, never probes.

import type { PolicyKey, PolicyValue } from '../../../src/dataplane.js';
import { DIR, IPC_FLAG, POLICY_VERDICT } from '../../../src/dataplane.js';
import { labelSelectorMatches } from '../../../src/k8s/parse.js';
import type { Pod, Protocol, SourceRef } from '../../../src/k8s/model.js';
import { formatSource } from '../../../src/k8s/model.js';
import { parseCidr } from '../../../src/common/ip.js';
import type { AdminPolicy, AdminPeer, ClusterPolicies, NetworkPolicy, NetworkPolicyPeer, PolicyKnobs, PortClause } from '../../../src/policy/model.js';
import { AddressEntry, IdentityInfo, IdentityPlan, NamedPort, allocateIdentities, canonical, labelsKey, namedPortsOf } from './identity-v1.js';
import { Direction, RuleInfo, adminOrder, adminRef, npOrder, npRef, ruleKey } from '../../../src/policy/explain.js';

const PROTO_NUMBER: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };
const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
const MAX_PORT = 0xffff;

/** Stable ids across recompiles (a runtime keeps one): subjects and rules. */
export class PolicyIds {
  private readonly subjects = new Map<string, number>();
  private readonly rules = new Map<string, number>();
  readonly ruleInfo = new Map<number, RuleInfo>();
  private nextSubject = 1;
  private nextRule = 1;
  subject(key: string): number {
    let id = this.subjects.get(key);
    if (id === undefined) this.subjects.set(key, (id = this.nextSubject++));
    return id;
  }
  rule(key: string, info: RuleInfo): number {
    let id = this.rules.get(key);
    if (id === undefined) this.rules.set(key, (id = this.nextRule++));
    this.ruleInfo.set(id, info);
    return id;
  }
  /** The ids as they are now; calling the result puts them back (see Allocations.checkpoint). */
  checkpoint(): () => void {
    const subjects = new Map(this.subjects), rules = new Map(this.rules), ruleInfo = new Map(this.ruleInfo);
    const { nextSubject, nextRule } = this;
    return () => {
      for (const [live, saved] of [[this.subjects, subjects], [this.rules, rules]] as const) { live.clear(); for (const [k, v] of saved) live.set(k, v); }
      this.ruleInfo.clear(); for (const [k, v] of ruleInfo) this.ruleInfo.set(k, v);
      this.nextSubject = nextSubject; this.nextRule = nextRule;
    };
  }
}

export interface SubjectInfo {
  id: number; namespace: string; labels: Record<string, string>; namedPorts: NamedPort[];
  pods: string[]; enforce: { ingress: boolean; egress: boolean };
}

export interface CompiledPolicy {
  /** The ipcache with identities, subjects and IPC_ENFORCE_* flags. */
  ipcache: Map<string, AddressEntry>;
  /** Policy map entries, by a key string. */
  entries: Map<string, { key: PolicyKey; value: PolicyValue }>;
  /** Rule id -> what it is (every id ever given by `ids`). */
  rules: Map<number, RuleInfo>;
  identities: Map<number, IdentityInfo>;
  subjects: Map<number, SubjectInfo>;
}

/** A verdict with the rule that gave it (rule 0: allowed because nothing isolates). */
interface V { verdict: number; rule: number }
const sameV = (a: V, b: V) => a.verdict === b.verdict && a.rule === b.rule;
const ALLOW_DEFAULT: V = { verdict: POLICY_VERDICT.ALLOW, rule: 0 };

/** Per protocol number, inclusive port ranges; 'all': every protocol and port. */
type PortSet = 'all' | Map<number, [number, number][]>;

interface Clause {
  tier: 'Admin' | 'NetworkPolicy' | 'Baseline';
  action: 'Allow' | 'Deny' | 'Pass';
  /** Peer identities, or every peer. */
  peers: Set<number> | 'all';
  /** null: every port and protocol. */
  ports: PortClause[] | null;
  hasNamedPort: boolean;
  rule: number;
}

interface Segment { lo: number; hi: number; v: V }

export interface PolicyInput {
  cluster: { namespaces: import('../../../src/k8s/model.js').Namespace[]; nodes: import('../../../src/k8s/model.js').Node[]; pods: Pod[] };
  policies: ClusterPolicies;
  knobs: PolicyKnobs;
  /** The cluster's ipcache (pods, nodes, pod CIDRs, cluster CIDR). */
  infra: Map<string, AddressEntry>;
  identity: (key: string) => number;
  ids: PolicyIds;
}

/** Port ranges of a clause's ports, named ports resolved against `named` (the destination pod's). */
function resolvePorts(ports: PortClause[] | null, named: NamedPort[]): PortSet {
  if (ports === null) return 'all';
  const out = new Map<number, [number, number][]>();
  const add = (proto: Protocol, lo: number, hi: number) => {
    const n = PROTO_NUMBER[proto];
    let l = out.get(n);
    if (!l) out.set(n, (l = []));
    l.push([lo, hi]);
  };
  for (const pc of ports) {
    if (typeof pc.port === 'string') {
      for (const np of named) if (np.name === pc.port && (pc.anyProtocol || np.protocol === pc.protocol)) add(np.protocol, np.port, np.port);
    } else if (pc.port === undefined) add(pc.protocol, 0, MAX_PORT);
    else add(pc.protocol, pc.port, pc.endPort ?? pc.port);
  }
  return out;
}

function portSetHas(s: PortSet, proto: number, port: number): boolean {
  if (s === 'all') return true;
  const l = s.get(proto);
  return l !== undefined && l.some(([lo, hi]) => port >= lo && port <= hi);
}

/** The aligned blocks (port, prefix length) covering [lo, hi] exactly, as a range becomes CIDRs. */
export function portBlocks(lo: number, hi: number): { port: number; plen: number }[] {
  const out: { port: number; plen: number }[] = [];
  let p = lo;
  while (p <= hi) {
    let size = p === 0 ? 0x10000 : p & -p; // largest block aligned at p
    while (p + size - 1 > hi) size >>= 1;
    out.push({ port: p, plen: 16 - Math.log2(size) });
    p += size;
  }
  return out;
}

/** The verdict `fall` gives at `port` (a constant, or segments covering every port). */
function fallAt(fall: V | Segment[], port: number): V {
  if (!Array.isArray(fall)) return fall;
  for (const s of fall) if (port >= s.lo && port <= s.hi) return s.v;
  throw new Error(`no segment covers port ${port}`);
}

/** Blocks of `segs` where they differ from `fall`. */
function diffBlocks(segs: Segment[], fall: V | Segment[]): { port: number; plen: number; v: V }[] {
  const out: { port: number; plen: number; v: V }[] = [];
  const cuts = new Set<number>();
  for (const s of segs) cuts.add(s.lo);
  if (Array.isArray(fall)) for (const s of fall) cuts.add(s.lo);
  const starts = [...cuts].sort((a, b) => a - b);
  let runLo = -1, runV: V | undefined;
  const flush = (hi: number) => { if (runV) for (const b of portBlocks(runLo, hi)) out.push({ ...b, v: runV }); runV = undefined; };
  starts.forEach((lo, k) => {
    const hi = k + 1 < starts.length ? starts[k + 1] - 1 : MAX_PORT;
    const v = fallAt(segs, lo);
    if (sameV(v, fallAt(fall, lo))) { flush(lo - 1); return; }
    if (runV && sameV(runV, v)) return;
    flush(lo - 1);
    runLo = lo; runV = v;
    void hi;
  });
  flush(MAX_PORT);
  return out;
}

/**
 * Entries of one protocol: blocks where `segs` differ from what a lookup falls through to, or, when
 * fewer, a whole-protocol entry with the verdict covering most ports plus blocks where they differ.
 */
function encodeProto(segs: Segment[], fall: V | Segment[]): { base?: V; blocks: { port: number; plen: number; v: V }[] } {
  const plain = diffBlocks(segs, fall);
  if (plain.length <= 1) return { blocks: plain };
  const cover = new Map<string, { v: V; n: number }>();
  for (const s of segs) {
    const k = `${s.v.verdict}:${s.v.rule}`;
    const c = cover.get(k) ?? { v: s.v, n: 0 };
    c.n += s.hi - s.lo + 1;
    cover.set(k, c);
  }
  let best: { v: V; n: number } | undefined;
  for (const c of cover.values()) if (!best || c.n > best.n) best = c;
  const withBase = diffBlocks(segs, best!.v);
  return withBase.length + 1 < plain.length ? { base: best!.v, blocks: withBase } : { blocks: plain };
}

export function compilePolicies(input: PolicyInput): CompiledPolicy {
  const { cluster, policies, knobs, ids } = input;
  if (!knobs.hostNetworkExempt) throw new Error('policy knob hostNetworkExempt=false is not supported: hostNetwork pods are their node');
  const nsLabels = new Map(cluster.namespaces.map((n) => [n.name, n.labels]));
  const labelsOfNs = (ns: string) => nsLabels.get(ns) ?? {};
  const nps = [...policies.networkPolicies].sort(npOrder);
  const admins = [...policies.adminPolicies].sort(adminOrder);

  // Identities: every CIDR the policies name becomes an ipcache prefix.
  // (The loader validates; a model built by hand gets the same clear refusal here, naming the field.)
  const cidrs: string[] = [];
  const addCidr = (c: string, where: string, src: SourceRef | undefined) => {
    if (!parseCidr(c)) throw new Error(`${src ? `${formatSource(src)}: ` : ''}${where}: ${JSON.stringify(c)} is not an IPv4 CIDR`);
    cidrs.push(c);
  };
  for (const np of nps) for (const dir of ['ingress', 'egress'] as const) np[dir].forEach((r, i) => r.peers.forEach((p, j) => {
    if (p.kind !== 'ipBlock') return;
    const where = `NetworkPolicy ${np.namespace}/${np.name}: spec.${dir}[${i}].${dir === 'ingress' ? 'from' : 'to'}[${j}].ipBlock`;
    addCidr(p.cidr, `${where}.cidr`, np.source);
    p.except.forEach((e, k) => addCidr(e, `${where}.except[${k}]`, np.source));
  }));
  for (const ap of admins) for (const dir of ['ingress', 'egress'] as const) ap[dir].forEach((r, i) => r.peers.forEach((p, j) => {
    if (p.kind === 'networks') p.cidrs.forEach((c, k) => addCidr(c, `${ap.kind} ${ap.name}: spec.${dir}[${i}].${dir === 'ingress' ? 'from' : 'to'}[${j}].networks[${k}]`, ap.source));
  }));
  const idPlan: IdentityPlan = allocateIdentities(cluster, input.infra, cidrs, input.identity);
  const universe = [...idPlan.identities];

  // Peer sets, computed once per distinct peer.
  const peerCache = new Map<string, Set<number>>();
  const inCidrs = (info: IdentityInfo, c: string) => info.cidrs.includes(canonical(c).cidr);
  const npPeerSet = (np: NetworkPolicy, peer: NetworkPolicyPeer): Set<number> => {
    const key = `np|${peer.kind === 'selector' && !peer.namespaceSelector ? np.namespace : ''}|${JSON.stringify(peer)}`;
    let s = peerCache.get(key);
    if (s) return s;
    s = new Set();
    for (const [id, info] of universe) {
      let m: boolean;
      if (peer.kind === 'ipBlock') {
        m = (info.kind !== 'pod' || knobs.ipBlockMatchesPods) && inCidrs(info, peer.cidr) && !peer.except.some((e) => inCidrs(info, e));
      } else {
        m = info.kind === 'pod'
          && (peer.namespaceSelector ? labelSelectorMatches(peer.namespaceSelector, labelsOfNs(info.namespace)) : info.namespace === np.namespace)
          && (!peer.podSelector || labelSelectorMatches(peer.podSelector, info.labels));
      }
      if (m) s.add(id);
    }
    peerCache.set(key, s);
    return s;
  };
  const adminPeerSet = (peer: AdminPeer): Set<number> => {
    const key = `admin|${JSON.stringify(peer)}`;
    let s = peerCache.get(key);
    if (s) return s;
    s = new Set();
    for (const [id, info] of universe) {
      let m = false;
      switch (peer.kind) {
        case 'namespaces': m = info.kind === 'pod' && labelSelectorMatches(peer.namespaceSelector, labelsOfNs(info.namespace)); break;
        case 'pods': m = info.kind === 'pod' && labelSelectorMatches(peer.namespaceSelector, labelsOfNs(info.namespace))
          && labelSelectorMatches(peer.podSelector, info.labels); break;
        case 'nodes': m = info.kind === 'node' && labelSelectorMatches(peer.nodeSelector, info.labels); break;
        case 'networks': m = peer.cidrs.some((c) => inCidrs(info, c)); break;
      }
      if (m) s.add(id);
    }
    peerCache.set(key, s);
    return s;
  };
  const union = (sets: Set<number>[]) => { const u = new Set<number>(); for (const s of sets) for (const x of s) u.add(x); return u; };
  const hasNamed = (ports: PortClause[] | null) => ports !== null && ports.some((p) => typeof p.port === 'string');

  // Clauses of the admin policies, per policy and direction, built once.
  const adminClauses = new Map<AdminPolicy, Record<Direction, Clause[]>>();
  for (const ap of admins) {
    const mk = (dir: Direction): Clause[] => (dir === 'ingress' ? ap.ingress : ap.egress).map((r, i) => {
      const ref = adminRef(ap, dir, i);
      const action = ap.tier === 'Baseline' && r.action === 'Pass' ? 'Pass' : r.action;
      return {
        tier: ap.tier, action, peers: union(r.peers.map(adminPeerSet)), ports: r.ports ?? null, hasNamedPort: hasNamed(r.ports ?? null),
        rule: action === 'Pass' ? 0 : ids.rule(ruleKey(ref), { kind: 'rule', rule: ref, action: action as 'Allow' | 'Deny' }),
      };
    });
    adminClauses.set(ap, { ingress: mk('ingress'), egress: mk('egress') });
  }
  const npClauses = new Map<NetworkPolicy, Record<Direction, Clause[]>>();
  for (const np of nps) {
    const mk = (dir: Direction): Clause[] => (dir === 'ingress' ? np.ingress : np.egress).map((r, i) => {
      const ref = npRef(np, dir, i);
      const ports = r.ports.length === 0 ? null : r.ports;
      return {
        tier: 'NetworkPolicy', action: 'Allow', peers: r.peers.length === 0 ? 'all' : union(r.peers.map((p) => npPeerSet(np, p))),
        ports, hasNamedPort: hasNamed(ports), rule: ids.rule(ruleKey(ref), { kind: 'rule', rule: ref, action: 'Allow' }),
      };
    });
    npClauses.set(np, { ingress: mk('ingress'), egress: mk('egress') });
  }

  // Subjects.
  const subjects = new Map<number, SubjectInfo>();
  const subjectOfEntry = new Map<string, number>();
  for (const [cidr, pod] of idPlan.podEntries) {
    const namedPorts = namedPortsOf(pod);
    const id = ids.subject(`${pod.namespace}|${labelsKey(pod.labels)}|${JSON.stringify(namedPorts)}`);
    let s = subjects.get(id);
    if (!s) subjects.set(id, (s = { id, namespace: pod.namespace, labels: pod.labels, namedPorts, pods: [], enforce: { ingress: false, egress: false } }));
    if (!s.pods.includes(`${pod.namespace}/${pod.name}`)) s.pods.push(`${pod.namespace}/${pod.name}`);
    subjectOfEntry.set(cidr, id);
  }

  const entries = new Map<string, { key: PolicyKey; value: PolicyValue }>();
  const put = (key: PolicyKey, v: V) => {
    const k = `${key.endpoint},${key.identity},${key.port},${key.proto},${key.dir},${key.portPrefix}`;
    entries.set(k, { key, value: { rule: v.rule, verdict: v.verdict } });
  };

  for (const s of subjects.values()) {
    for (const dir of ['ingress', 'egress'] as Direction[]) {
      const type = dir === 'ingress' ? 'Ingress' : 'Egress';
      const selectsAdmin = (ap: AdminPolicy) => labelSelectorMatches(ap.subject.namespaceSelector, labelsOfNs(s.namespace))
        && (ap.subject.kind === 'namespaces' || labelSelectorMatches(ap.subject.podSelector, s.labels));
      const admin: Clause[] = [], baseline: Clause[] = [], np: Clause[] = [];
      for (const ap of admins) if (selectsAdmin(ap)) (ap.tier === 'Admin' ? admin : baseline).push(...adminClauses.get(ap)![dir]);
      const isolating = nps.filter((p) => p.namespace === s.namespace && labelSelectorMatches(p.podSelector, s.labels) && p.policyTypes.includes(type));
      for (const p of isolating) np.push(...npClauses.get(p)![dir]);
      if (isolating.length === 0 && admin.length === 0 && baseline.length === 0) continue;
      s.enforce[dir] = true;
      const dirNum = dir === 'ingress' ? DIR.INGRESS : DIR.EGRESS;
      const denied: V = isolating.length > 0 ? {
        verdict: POLICY_VERDICT.DENIED,
        rule: ids.rule(`isolated|${dir}|${isolating.map((p) => `${p.namespace}/${p.name}`).join(',')}`,
          { kind: 'isolated', direction: dir, policies: isolating.map((p) => `${p.namespace}/${p.name}`) }),
      } : ALLOW_DEFAULT;
      const clauses = [...admin, ...np, ...baseline];

      /** D for identities matching `member` clauses, with `named` the named ports egress rules resolve against. */
      const decide = (member: boolean[], named: NamedPort[]) => {
        const sets = clauses.map((c) => resolvePorts(c.ports, dir === 'ingress' ? s.namedPorts : named));
        const at = (proto: number, port: number): V => {
          let i = 0;
          for (; i < admin.length; i++) {
            if (!member[i] || !portSetHas(sets[i], proto, port)) continue;
            const c = clauses[i];
            if (c.action === 'Pass') break;
            return { verdict: c.action === 'Allow' ? POLICY_VERDICT.ALLOW : POLICY_VERDICT.DENY, rule: c.rule };
          }
          if (isolating.length > 0) {
            for (let j = admin.length; j < admin.length + np.length; j++) {
              if (member[j] && portSetHas(sets[j], proto, port)) return { verdict: POLICY_VERDICT.ALLOW, rule: clauses[j].rule };
            }
            return denied;
          }
          for (let j = admin.length + np.length; j < clauses.length; j++) {
            if (!member[j] || !portSetHas(sets[j], proto, port)) continue;
            const c = clauses[j];
            if (c.action === 'Pass') return ALLOW_DEFAULT;
            return { verdict: c.action === 'Allow' ? POLICY_VERDICT.ALLOW : POLICY_VERDICT.DENY, rule: c.rule };
          }
          return ALLOW_DEFAULT;
        };
        const other = at(0, 0); // a protocol no port clause names (ICMP)
        const perProto = new Map<number, Segment[]>();
        for (const p of PROTOCOLS) {
          const proto = PROTO_NUMBER[p];
          const cuts = new Set<number>([0]);
          sets.forEach((set, i) => {
            if (!member[i] || set === 'all') return;
            for (const [lo, hi] of set.get(proto) ?? []) { cuts.add(lo); if (hi < MAX_PORT) cuts.add(hi + 1); }
          });
          const starts = [...cuts].sort((a, b) => a - b);
          const segs: Segment[] = [];
          starts.forEach((lo, k) => {
            const hi = k + 1 < starts.length ? starts[k + 1] - 1 : MAX_PORT;
            const v = at(proto, lo);
            const last = segs[segs.length - 1];
            if (last && sameV(last.v, v)) last.hi = hi; else segs.push({ lo, hi, v });
          });
          perProto.set(proto, segs);
        }
        return { other, perProto };
      };

      // Every identity's decision, computed once per group of identities that match the same clauses
      // (and, for egress named ports, have the same named ports).
      const egressNamed = dir === 'egress' && clauses.some((c) => c.hasNamedPort);
      const groups = new Map<string, { member: boolean[]; ports: NamedPort[]; ids: number[] }>();
      for (const [id, info] of universe) {
        let key = '';
        for (const c of clauses) key += c.peers === 'all' || c.peers.has(id) ? '1' : '0';
        const ports = egressNamed && info.kind === 'pod' ? info.namedPorts : [];
        if (egressNamed) key += `|${JSON.stringify(ports)}`;
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { member: clauses.map((c) => c.peers === 'all' || c.peers.has(id)), ports, ids: [] }));
        g.ids.push(id);
      }
      // The largest group is what the any-identity layer says (every address has an identity of the
      // universe: world for the unknown); the others get entries where they differ from it.
      let major = [...groups.values()][0];
      for (const g of groups.values()) if (g.ids.length > major.ids.length) major = g;
      const base = decide(major.member, major.ports);
      put({ endpoint: s.id, identity: 0, port: 0, proto: 0, dir: dirNum, portPrefix: 0 }, base.other);
      for (const [proto, segs] of base.perProto) {
        const enc = encodeProto(segs, base.other);
        if (enc.base) put({ endpoint: s.id, identity: 0, port: 0, proto, dir: dirNum, portPrefix: 0 }, enc.base);
        for (const b of enc.blocks) put({ endpoint: s.id, identity: 0, port: b.port, proto, dir: dirNum, portPrefix: b.plen }, b.v);
      }
      for (const g of groups.values()) {
        if (g === major) continue;
        const d = decide(g.member, g.ports);
        const ownCatchAll = !sameV(d.other, base.other);
        const encs = [...d.perProto].map(([proto, segs]) => ({ proto, enc: encodeProto(segs, ownCatchAll ? d.other : base.perProto.get(proto)!) }));
        for (const id of g.ids) {
          if (ownCatchAll) put({ endpoint: s.id, identity: id, port: 0, proto: 0, dir: dirNum, portPrefix: 0 }, d.other);
          for (const { proto, enc } of encs) {
            if (enc.base) put({ endpoint: s.id, identity: id, port: 0, proto, dir: dirNum, portPrefix: 0 }, enc.base);
            for (const b of enc.blocks) put({ endpoint: s.id, identity: id, port: b.port, proto, dir: dirNum, portPrefix: b.plen }, b.v);
          }
        }
      }
    }
  }

  // ipcache: pods carry their subject and its enforcement flags.
  const ipcache = new Map<string, AddressEntry>();
  for (const [k, e] of idPlan.ipcache) {
    const sid = subjectOfEntry.get(k);
    if (sid === undefined) { ipcache.set(k, e); continue; }
    const s = subjects.get(sid)!;
    const flags = (e.info.flags & ~(IPC_FLAG.ENFORCE_INGRESS | IPC_FLAG.ENFORCE_EGRESS))
      | (s.enforce.ingress ? IPC_FLAG.ENFORCE_INGRESS : 0) | (s.enforce.egress ? IPC_FLAG.ENFORCE_EGRESS : 0);
    ipcache.set(k, { ...e, info: { ...e.info, endpoint: sid, flags } });
  }
  return { ipcache, entries, rules: ids.ruleInfo, identities: idPlan.identities, subjects };
}
