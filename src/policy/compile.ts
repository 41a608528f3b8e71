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

import { DIR, IPC_FLAG, POLICY_VERDICT } from '../dataplane.js';
import { labelSelectorMatches } from '../k8s/labels.js';
import type { Pod, SourceRef } from '../k8s/model.js';
import { formatSource } from '../k8s/basics.js';
import { parseCidr } from '../common/ip.js';
import { sortSmall } from '../common/sort.js';
import type { AdminPolicy, ClusterPolicies, NetworkPolicy, PolicyKnobs, PortClause } from './model.js';
import { AddressEntry, IdentityInfo, IdentityPlan, NamedPort, allocateIdentities, namedPortsKey } from './identity.js';
import { ALLOW_DEFAULT, MAX_PORT, PROTOCOLS, PROTO_NUMBER, PortSet, Segment, V, encodeProto, portSetHas, resolvePorts, sameV } from './encode.js';
import { PeerIndex, PeerSet } from './peers.js';
import { DirectionList, DirectionListBuilder, PolicyEntries, diffSubject } from './entries.js';
import { Direction, RuleInfo, adminOrder, adminRef, npOrder, npRef, ruleKey } from './explain.js';

export { portBlocks } from './encode.js';

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
  /** Policy map entries: each subject's direction lists (entries.ts). */
  entries: PolicyEntries;
  /** Rule id -> what it is (every id ever given by `ids`). */
  rules: Map<number, RuleInfo>;
  identities: Map<number, IdentityInfo>;
  subjects: Map<number, SubjectInfo>;
}

export interface Clause {
  tier: 'Admin' | 'NetworkPolicy' | 'Baseline';
  action: 'Allow' | 'Deny' | 'Pass';
  /** Peer identities, or every peer. */
  peers: PeerSet | 'all';
  /** null: every port and protocol. */
  ports: PortClause[] | null;
  hasNamedPort: boolean;
  rule: number;
}

export interface PolicyInput {
  cluster: { namespaces: import('../k8s/model.js').Namespace[]; nodes: import('../k8s/model.js').Node[]; pods: Pod[] };
  policies: ClusterPolicies;
  knobs: PolicyKnobs;
  /** The cluster's ipcache (pods, nodes, pod CIDRs, cluster CIDR). */
  infra: Map<string, AddressEntry>;
  identity: (key: string) => number;
  ids: PolicyIds;
}

export function compilePolicies(input: PolicyInput): CompiledPolicy {
  const state = compilePolicyState(input);
  states.set(state.compiled, state);
  return state.compiled;
}

const states = new WeakMap<CompiledPolicy, PolicyState>();
/** The state a compiled policy was made with (for incremental changes: incremental.ts). */
export function policyStateOf(compiled: CompiledPolicy): PolicyState | undefined {
  return states.get(compiled);
}

/**
 * What a compile knows beyond its result: the sorted policies, their clauses, the peer index and each
 * subject's entries, which an incremental change (incremental.ts) reuses and updates.
 */
export interface PolicyState {
  input: PolicyInput;
  compiled: CompiledPolicy;
  idPlan: IdentityPlan;
  peers: PeerIndex;
  nps: NetworkPolicy[];
  admins: AdminPolicy[];
  npsByNs: Map<string, NetworkPolicy[]>;
  adminClauses: Map<AdminPolicy, Record<Direction, Clause[]>>;
  npClauses: Map<NetworkPolicy, Record<Direction, Clause[]>>;
  labelsOfNs: (ns: string) => Record<string, string>;
  /** Subject id of each pod ipcache entry (by ipcache key). */
  subjectOfEntry: Map<string, number>;
  /** Direction lists by what decides the direction (see compileSubject). */
  lists: Map<string, DirectionList>;
}

const hasNamed = (ports: PortClause[] | null) => ports !== null && ports.some((p) => typeof p.port === 'string');

/** The clauses of a NetworkPolicy, per direction (rule ids are allocated here, in rule order). */
export function npClausesOf(np: NetworkPolicy, peers: PeerIndex, ids: PolicyIds): Record<Direction, Clause[]> {
  const mk = (dir: Direction): Clause[] => (dir === 'ingress' ? np.ingress : np.egress).map((r, i) => {
    const ref = npRef(np, dir, i);
    const ports = r.ports.length === 0 ? null : r.ports;
    return {
      tier: 'NetworkPolicy', action: 'Allow', peers: r.peers.length === 0 ? 'all' : peers.union(r.peers.map((p) => peers.npPeer(np, p))),
      ports, hasNamedPort: hasNamed(ports), rule: ids.rule(ruleKey(ref), { kind: 'rule', rule: ref, action: 'Allow' }),
    };
  });
  return { ingress: mk('ingress'), egress: mk('egress') };
}

/** Every CIDR the policies name, validated (the loader validates; a model built by hand gets the same clear refusal here, naming the field). */
export function policyCidrs(nps: NetworkPolicy[], admins: AdminPolicy[]): string[] {
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
  return cidrs;
}

export function compilePolicyState(input: PolicyInput): PolicyState {
  const { cluster, policies, knobs, ids } = input;
  if (!knobs.hostNetworkExempt) throw new Error('policy knob hostNetworkExempt=false is not supported: hostNetwork pods are their node');
  const nsLabels = new Map(cluster.namespaces.map((n) => [n.name, n.labels]));
  const labelsOfNs = (ns: string) => nsLabels.get(ns) ?? {};
  const nps = [...policies.networkPolicies].sort(npOrder);
  const admins = [...policies.adminPolicies].sort(adminOrder);

  // Identities: every CIDR the policies name becomes an ipcache prefix.
  const idPlan: IdentityPlan = allocateIdentities(cluster, input.infra, policyCidrs(nps, admins), input.identity);
  const peers = new PeerIndex(idPlan.identities, labelsOfNs, knobs);

  // Clauses of the policies, per policy and direction, built once (admin policies first: rule ids in that order).
  const adminClauses = new Map<AdminPolicy, Record<Direction, Clause[]>>();
  for (const ap of admins) {
    const mk = (dir: Direction): Clause[] => (dir === 'ingress' ? ap.ingress : ap.egress).map((r, i) => {
      const ref = adminRef(ap, dir, i);
      const action = ap.tier === 'Baseline' && r.action === 'Pass' ? 'Pass' : r.action;
      return {
        tier: ap.tier, action, peers: peers.union(r.peers.map((p) => peers.adminPeer(p))), ports: r.ports ?? null, hasNamedPort: hasNamed(r.ports ?? null),
        rule: action === 'Pass' ? 0 : ids.rule(ruleKey(ref), { kind: 'rule', rule: ref, action: action as 'Allow' | 'Deny' }),
      };
    });
    adminClauses.set(ap, { ingress: mk('ingress'), egress: mk('egress') });
  }
  const npClauses = new Map<NetworkPolicy, Record<Direction, Clause[]>>();
  const npsByNs = new Map<string, NetworkPolicy[]>();
  for (const np of nps) {
    npClauses.set(np, npClausesOf(np, peers, ids));
    const l = npsByNs.get(np.namespace);
    if (l) l.push(np); else npsByNs.set(np.namespace, [np]);
  }

  // Subjects.
  const subjects = new Map<number, SubjectInfo>();
  const subjectOfEntry = new Map<string, number>();
  const podsOf = new Map<number, Set<string>>();
  for (const [cidr, pod] of idPlan.podEntries) {
    const { namedPorts, key } = idPlan.podKeys.get(pod)!;
    const id = ids.subject(key);
    let s = subjects.get(id);
    if (!s) {
      subjects.set(id, (s = { id, namespace: pod.namespace, labels: pod.labels, namedPorts, pods: [], enforce: { ingress: false, egress: false } }));
      podsOf.set(id, new Set());
    }
    const name = `${pod.namespace}/${pod.name}`;
    const names = podsOf.get(id)!;
    if (!names.has(name)) { names.add(name); s.pods.push(name); }
    subjectOfEntry.set(cidr, id);
  }

  const compiled: CompiledPolicy = { ipcache: new Map(), entries: new PolicyEntries(), rules: ids.ruleInfo, identities: idPlan.identities, subjects };
  const state: PolicyState = { input, compiled, idPlan, peers, nps, admins, npsByNs, adminClauses, npClauses, labelsOfNs, subjectOfEntry, lists: new Map() };
  for (const s of subjects.values()) compileSubject(state, s);

  // ipcache: pods carry their subject and its enforcement flags.
  for (const [k, e] of idPlan.ipcache) compiled.ipcache.set(k, subjectEntry(state, k, e));
  return state;
}

/** An ipcache entry as the policy compiler writes it: a pod's carries its subject and enforcement flags. */
export function subjectEntry(state: PolicyState, k: string, e: AddressEntry): AddressEntry {
  const sid = state.subjectOfEntry.get(k);
  if (sid === undefined) return e;
  const s = state.compiled.subjects.get(sid)!;
  const flags = (e.info.flags & ~(IPC_FLAG.ENFORCE_INGRESS | IPC_FLAG.ENFORCE_EGRESS))
    | (s.enforce.ingress ? IPC_FLAG.ENFORCE_INGRESS : 0) | (s.enforce.egress ? IPC_FLAG.ENFORCE_EGRESS : 0);
  return { cidr: e.cidr, addr: e.addr, plen: e.plen, what: e.what, info: { identity: e.info.identity, endpoint: sid, node: e.info.node, flags } };
}

/** Compile one subject's entries (both directions) into state.compiled.entries; its enforce flags are set. */
export function compileSubject(state: PolicyState, s: SubjectInfo): void {
  // The admin policies and NetworkPolicies that select the subject.
  const nsLabels = state.labelsOfNs(s.namespace);
  const sel = {
    admins: state.admins.filter((ap) => labelSelectorMatches(ap.subject.namespaceSelector, nsLabels)
      && (ap.subject.kind === 'namespaces' || labelSelectorMatches(ap.subject.podSelector, s.labels))),
    nps: (state.npsByNs.get(s.namespace) ?? []).filter((p) => labelSelectorMatches(p.podSelector, s.labels)),
  };
  // Subjects whose direction the same policies decide get the same entries but for their endpoint id:
  // one direction list (entries.ts), computed for the first and shared by the others (rule ids are
  // asked for in the same order either way). What decides a direction: the admin policies with rules
  // of it, the NetworkPolicies isolating it (the others' rules do not apply: NetworkPolicy
  // policyTypes), and, for ingress rules naming a port, the subject's own named ports (egress ones
  // resolve against the peer's).
  const lists: DirectionList[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    const type = dir === 'ingress' ? 'Ingress' : 'Egress';
    let memoKey = `${dir}|`, named = false;
    for (const ap of sel.admins) {
      const clauses = state.adminClauses.get(ap)![dir];
      if (clauses.length === 0) continue;
      memoKey += `${serial(ap)},`;
      named ||= clauses.some((c) => c.hasNamedPort);
    }
    memoKey += '|';
    for (const np of sel.nps) {
      if (!np.policyTypes.includes(type)) continue;
      memoKey += `${serial(np)},`;
      named ||= state.npClauses.get(np)![dir].some((c) => c.hasNamedPort);
    }
    if (dir === 'ingress' && named) memoKey += `|${namedPortsKey(s.namedPorts)}`;
    let list = state.lists.get(memoKey);
    if (list) {
      if (list.isolated) state.input.ids.rule(list.isolated[0], list.isolated[1]);
    } else {
      const b = new DirectionListBuilder(dir === 'ingress' ? DIR.INGRESS : DIR.EGRESS);
      b.list.enforced = compileSubjectDirection(state, s, dir, sel, b);
      state.lists.set(memoKey, (list = b.list));
    }
    lists.push(list);
    s.enforce[dir] = list.enforced;
  }
  state.compiled.entries.set(s.id, lists);
}

const serials = new WeakMap<object, number>();
/** A number naming a policy object (for memo keys). */
function serial(o: object): number {
  let n = serials.get(o);
  if (n === undefined) serials.set(o, (n = nextSerial++));
  return n;
}
let nextSerial = 1;

/** Scratch arrays of the universe partition, grown as needed (one compile runs at a time). */
let scratch = { groupOf: new Int32Array(0), stamp: new Int32Array(0), splitTo: new Int32Array(0), stampNow: 0 };

/**
 * The universe split into groups of identities that are members of the same clauses (and, when
 * `portsClass` is given, have the same class): partition refinement over each clause's members, then
 * the groups in order of their first identity, each with its identities in universe order, and which
 * group is the largest (the first of them on a tie).
 */
function partition(universe: [number, IdentityInfo][], clauses: Clause[], portsClass: Int32Array | undefined): { groups: Group[]; major: number } {
  const U = universe.length;
  let cap = 1;
  for (const c of clauses) if (c.peers !== 'all') cap += c.peers.at.length;
  if (portsClass) cap += U;
  if (scratch.groupOf.length < U) scratch.groupOf = new Int32Array(U);
  if (scratch.stamp.length < cap) { scratch.stamp = new Int32Array(cap * 2); scratch.splitTo = new Int32Array(cap * 2); scratch.stampNow = 0; }
  const { groupOf, stamp, splitTo } = scratch;
  groupOf.fill(0, 0, U);
  let n = 1;
  for (const c of clauses) {
    if (c.peers === 'all') continue;
    const st = ++scratch.stampNow;
    const at = c.peers.at;
    for (let k = 0; k < at.length; k++) {
      const i = at[k], g = groupOf[i];
      if (stamp[g] !== st) { stamp[g] = st; splitTo[g] = n++; }
      groupOf[i] = splitTo[g];
    }
  }
  if (portsClass) {
    const to = new Map<number, number>();
    for (let i = 0; i < U; i++) {
      const k = groupOf[i] * U + portsClass[i];
      let t = to.get(k);
      if (t === undefined) to.set(k, (t = to.size));
      groupOf[i] = t;
    }
    n = to.size;
  }
  // Groups in order of their first identity; identities are listed for every group but the largest
  // (the first of the largest: what the any-identity layer says), whose members get no entries.
  const order = new Int32Array(n).fill(-1);
  const sizes: number[] = [];
  for (let i = 0; i < U; i++) {
    const g = groupOf[i];
    let o = order[g];
    if (o < 0) { o = order[g] = sizes.length; sizes.push(0); }
    sizes[o]++;
  }
  let major = 0;
  for (let o = 1; o < sizes.length; o++) if (sizes[o] > sizes[major]) major = o;
  const groups: Group[] = sizes.map(() => ({ rep: -1, ids: [] }));
  for (let i = 0; i < U; i++) {
    const o = order[groupOf[i]];
    const g = groups[o];
    if (g.rep < 0) g.rep = universe[i][0];
    if (o !== major) g.ids.push(universe[i][0]);
  }
  return { groups, major };
}

/** Identities that match the same clauses: one of them, and all of them (empty for the largest group). */
interface Group { rep: number; ids: number[] }

const portsClasses = new WeakMap<PeerIndex, Int32Array>();
/** Per universe position, a class of the named ports egress rules resolve against (equal ports, equal class). */
function portsClassOf(peers: PeerIndex): Int32Array {
  let c = portsClasses.get(peers);
  if (c) return c;
  const byKey = new Map<string, number>();
  c = new Int32Array(peers.universe.length);
  peers.universe.forEach(([, info], i) => {
    const k = info.kind === 'pod' ? namedPortsKey(info.namedPorts) : '';
    let v = byKey.get(k);
    if (v === undefined) byKey.set(k, (v = byKey.size));
    c![i] = v;
  });
  portsClasses.set(peers, c);
  return c;
}

/** One subject and direction: its entries, through `put`; whether it is enforced. */
function compileSubjectDirection(state: PolicyState, s: SubjectInfo, dir: Direction, sel: { admins: AdminPolicy[]; nps: NetworkPolicy[] },
  out: DirectionListBuilder): boolean {
  const rec = out.list;
  const ids = state.input.ids;
  const type = dir === 'ingress' ? 'Ingress' : 'Egress';
  const admin: Clause[] = [], baseline: Clause[] = [], np: Clause[] = [];
  for (const ap of sel.admins) (ap.tier === 'Admin' ? admin : baseline).push(...state.adminClauses.get(ap)![dir]);
  const isolating = sel.nps.filter((p) => p.policyTypes.includes(type));
  for (const p of isolating) np.push(...state.npClauses.get(p)![dir]);
  if (isolating.length === 0 && admin.length === 0 && baseline.length === 0) return false;
  let denied = ALLOW_DEFAULT;
  if (isolating.length > 0) {
    const names = isolating.map((p) => `${p.namespace}/${p.name}`);
    rec.isolated = [`isolated|${dir}|${names.join(',')}`, { kind: 'isolated', direction: dir, policies: names }];
    denied = { verdict: POLICY_VERDICT.DENIED, rule: ids.rule(rec.isolated[0], rec.isolated[1]) };
  }
  const clauses = [...admin, ...np, ...baseline];

  /** D for identities matching `member` clauses, with `named` the named ports egress rules resolve against. */
  const portSets = new Map<NamedPort[], PortSet[]>();
  const decide = (member: boolean[], named: NamedPort[]) => {
    const against = dir === 'ingress' ? s.namedPorts : named;
    let sets = portSets.get(against);
    if (!sets) portSets.set(against, (sets = clauses.map((c) => resolvePorts(c.ports, against))));
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
      // The ports where some member clause's ranges start or end: the segments' starts, ascending.
      const starts: number[] = [0];
      for (let i = 0; i < sets!.length; i++) {
        const set = sets![i];
        if (!member[i] || set === 'all') continue;
        const ranges = set.get(proto);
        if (ranges) for (const r of ranges) { starts.push(r[0]); if (r[1] < MAX_PORT) starts.push(r[1] + 1); }
      }
      sortSmall(starts, (a, b) => a - b);
      const segs: Segment[] = [];
      for (let k = 0; k < starts.length; k++) {
        const lo = starts[k];
        if (k > 0 && lo === starts[k - 1]) continue;
        let next = k + 1;
        while (next < starts.length && starts[next] === lo) next++;
        const hi = next < starts.length ? starts[next] - 1 : MAX_PORT;
        const v = at(proto, lo);
        const last = segs[segs.length - 1];
        if (last && sameV(last.v, v)) last.hi = hi; else segs.push({ lo, hi, v });
      }
      perProto.set(proto, segs);
    }
    return { other, perProto };
  };

  // Every identity's decision, computed once per group of identities that match the same clauses
  // (and, for egress named ports, have the same named ports).
  const egressNamed = dir === 'egress' && clauses.some((c) => c.hasNamedPort);
  const { universe } = state.peers;
  const infoOf = state.compiled.identities;
  const parts = partition(universe, clauses, egressNamed ? portsClassOf(state.peers) : undefined);
  const groups = parts.groups.map((g) => {
    const info = infoOf.get(g.rep)!;
    return { ids: g.ids, member: clauses.map((c) => c.peers === 'all' || c.peers.ids.has(g.rep)), ports: egressNamed && info.kind === 'pod' ? info.namedPorts : [] };
  });
  // The largest group is what the any-identity layer says (every address has an identity of the
  // universe: world for the unknown); the others get entries where they differ from it.
  const major = groups[parts.major];
  const base = decide(major.member, major.ports);
  out.put(0, 0, 0, 0, base.other);
  for (const [proto, segs] of base.perProto) {
    const enc = encodeProto(segs, base.other);
    if (enc.base) out.put(0, 0, proto, 0, enc.base);
    for (const b of enc.blocks) out.put(0, b.port, proto, b.plen, b.v);
  }
  // (Indexed loops: tens of thousands of entries, and no iterator object per step in unoptimized code.)
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi];
    if (g === major) continue;
    const d = decide(g.member, g.ports);
    const ownCatchAll = !sameV(d.other, base.other);
    const encs: { proto: number; enc: ReturnType<typeof encodeProto> }[] = [];
    d.perProto.forEach((segs, proto) => encs.push({ proto, enc: encodeProto(segs, ownCatchAll ? d.other : base.perProto.get(proto)!) }));
    const ids = g.ids;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (ownCatchAll) out.put(id, 0, 0, 0, d.other);
      for (let e = 0; e < encs.length; e++) {
        const { proto, enc } = encs[e];
        if (enc.base) out.put(id, 0, proto, 0, enc.base);
        const blocks = enc.blocks;
        for (let b = 0; b < blocks.length; b++) out.put(id, blocks[b].port, proto, blocks[b].plen, blocks[b].v);
      }
    }
  }
  return true;
}

/** Write `next` into `dp` where it differs from `prev` (deletions first, so a full map has room). */
export function programPolicy(dp: import('../dataplane.js').Dataplane, next: CompiledPolicy | undefined, prev: CompiledPolicy | undefined): { upserted: number; deleted: number } {
  const out = { upserted: 0, deleted: 0 };
  // Subject by subject (a subject's lists shared with the previous compile differ in nothing).
  if (prev) for (const [endpoint, lists] of prev.entries.bySubject()) {
    for (const e of diffSubject(endpoint, lists, next?.entries.of(endpoint)).deleted) { dp.deletePolicy(e.key); out.deleted++; }
  }
  if (next) for (const [endpoint, lists] of next.entries.bySubject()) {
    for (const e of diffSubject(endpoint, prev?.entries.of(endpoint), lists).upserted) { dp.upsertPolicy(e.key, e.value); out.upserted++; }
  }
  return out;
}

/** The dataplane options that carry the knobs the core applies itself. */
export function dataplanePolicyOptions(knobs: PolicyKnobs): { policyAllowSelf: boolean; policyEgressToOwnNode: boolean } {
  return { policyAllowSelf: knobs.allowSelf, policyEgressToOwnNode: knobs.allowEgressToOwnNode };
}
