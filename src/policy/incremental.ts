// Policy changes applied without compiling everything again: a NetworkPolicy added, replaced or
// deleted, and a pod's labels changed, each re-plan only the subjects they touch and give the map
// entries that differ, as the EndpointSlice path does for services (src/k8s/compile.ts
// replanServiceEndpoints). The result is what a full compile of the changed cluster with the same id
// allocations gives (test/policy/incremental.test.ts holds it to that); a change whose effect reaches
// further is declined (undefined) and the caller compiles everything:
//
// - a NetworkPolicy change that adds or removes a policy CIDR (every identity's CIDR signature, and so
//   the identity set, can change);
// - a pod relabelled into a label set no identity has yet, or out of the last pod of its identity,
//   or one that changes the order in which identities first appear (the order breaks ties between
//   equally large identity groups, see compile.ts), since each changes what every subject compiles to.
//
// The ids a change allocates (identities, subjects, rules) are asked for in the order a full compile
// asks, so declining after allocating still leaves the full compile the same ids.

import type { Dataplane } from '../dataplane.js';
import type { Pod } from '../k8s/model.js';
import { labelSelectorMatches, labelsKey } from '../k8s/labels.js';
import type { NetworkPolicy } from './model.js';
import { PolicyState, SubjectInfo, compileSubject, npClausesOf, policyCidrs, subjectEntry } from './compile.js';
import { AddressEntry, canonical, podKeys } from './identity.js';
import { npOrder } from './explain.js';
import { PolicyEntry, diffSubject } from './entries.js';

/** What a change did to the compiled maps: entries written, entries removed, ipcache entries rewritten (by key). */
export interface PolicyDelta {
  upserted: PolicyEntry[];
  deleted: PolicyEntry[];
  ipcache: string[];
}

/** Positions (in ipcache order) of each identity's entries, and of each pod's. */
interface Positions {
  ofIdentity: Map<number, number[]>;
  /** Every identity by its first position, in that order (the compile's universe order). */
  firsts: number[];
  /** Each pod's addresses and their positions. */
  ofPod: Map<string, { at: number; cidrs: string[]; ats: number[] }>;
}

export class PolicyUpdater {
  private positions?: Positions;

  constructor(readonly state: PolicyState) {}

  private index(): Positions {
    if (this.positions) return this.positions;
    const ofIdentity = new Map<number, number[]>(), ofPod: Positions['ofPod'] = new Map();
    let at = 0;
    for (const [k, e] of this.state.idPlan.ipcache) {
      const l = ofIdentity.get(e.info.identity);
      if (l) l.push(at); else ofIdentity.set(e.info.identity, [at]);
      const pod = this.state.idPlan.podEntries.get(k);
      if (pod) {
        const name = `${pod.namespace}/${pod.name}`;
        const p = ofPod.get(name);
        if (p) { p.cidrs.push(k); p.ats.push(at); } else ofPod.set(name, { at, cidrs: [k], ats: [at] });
      }
      at++;
    }
    const firsts = [...ofIdentity.values()].map((l) => l[0]).sort((a, b) => a - b);
    return (this.positions = { ofIdentity, firsts, ofPod });
  }

  /** Set the labels of pod namespace/name; undefined: the change reaches every subject (compile everything). */
  podLabels(namespace: string, name: string, labels: Record<string, string>): PolicyDelta | undefined {
    const st = this.state, idx = this.index();
    const where = idx.ofPod.get(`${namespace}/${name}`);
    if (!where) throw new Error(`pod ${namespace}/${name} has no address the policy maps know`);
    const oldPod = st.idPlan.podEntries.get(where.cidrs[0])!;
    const pod: Pod = { ...oldPod, labels };
    // The ids a full compile would ask for, in its order: the cluster compiler's pod identity
    // (src/k8s/compile.ts planCluster keys it by namespace and labels), then the policy identity of each
    // address, then the subject.
    st.input.identity(`${pod.namespace}|${labelsKey(pod.labels)}`);
    const keys = podKeys(pod);
    const moves = where.cidrs.map((cidr) => {
      const e = st.idPlan.ipcache.get(cidr)!;
      const info = st.compiled.identities.get(e.info.identity)!;
      return { cidr, from: e.info.identity, to: st.input.identity(`pod|${keys.key}|${info.cidrs.join(',')}`) };
    });
    const subjectId = st.input.ids.subject(keys.key);
    if (moves.every((m) => m.from === m.to) && st.subjectOfEntry.get(where.cidrs[0]) === subjectId) {
      for (const c of where.cidrs) st.idPlan.podEntries.set(c, pod);
      return { upserted: [], deleted: [], ipcache: [] };
    }
    // The identity set and its order must stay as they are.
    const positionsOf = new Map(where.cidrs.map((c, i) => [c, where.ats[i]]));
    const after = new Map<number, number[]>();
    const listOf = (id: number) => after.get(id) ?? [...(idx.ofIdentity.get(id) ?? [])];
    for (const m of moves) {
      if (!st.compiled.identities.has(m.to)) return undefined;
      if (m.from === m.to) continue;
      const p = positionsOf.get(m.cidr)!;
      after.set(m.from, listOf(m.from).filter((x) => x !== p));
      after.set(m.to, insertSorted(listOf(m.to), p));
    }
    for (const [id, l] of after) {
      if (l.length === 0) return undefined;
      const was = idx.ofIdentity.get(id)![0], now = l[0];
      if (was !== now && idx.firsts.some((f) => f !== was && f > Math.min(was, now) && f < Math.max(was, now))) return undefined;
    }
    // Commit: positions, the pod's entries, its subjects.
    for (const [id, l] of after) {
      const was = idx.ofIdentity.get(id)![0];
      idx.ofIdentity.set(id, l);
      if (was !== l[0]) idx.firsts = insertSorted(idx.firsts.filter((f) => f !== was), l[0]);
    }
    st.idPlan.podKeys.set(pod, keys);
    const delta: PolicyDelta = { upserted: [], deleted: [], ipcache: [] };
    const podName = `${namespace}/${name}`;
    const oldSubject = st.subjectOfEntry.get(where.cidrs[0])!;
    for (const m of moves) {
      st.idPlan.podEntries.set(m.cidr, pod);
      const e = st.idPlan.ipcache.get(m.cidr)!;
      st.idPlan.ipcache.set(m.cidr, { ...e, info: { ...e.info, identity: m.to } });
      st.subjectOfEntry.set(m.cidr, subjectId);
    }
    let subject = st.compiled.subjects.get(subjectId);
    if (oldSubject !== subjectId) {
      const old = st.compiled.subjects.get(oldSubject)!;
      old.pods = old.pods.filter((p) => p !== podName);
      if (old.pods.length === 0) {
        st.compiled.subjects.delete(oldSubject);
        delta.deleted.push(...st.compiled.entries.entriesOf(oldSubject));
        st.compiled.entries.delete(oldSubject);
      }
      if (subject) {
        // Pods of a subject are listed in the order of their addresses in the ipcache.
        subject.pods.push(podName);
        subject.pods.sort((a, b) => idx.ofPod.get(a)!.at - idx.ofPod.get(b)!.at);
      } else {
        subject = { id: subjectId, namespace: pod.namespace, labels: pod.labels, namedPorts: keys.namedPorts, pods: [podName], enforce: { ingress: false, egress: false } };
        st.compiled.subjects.set(subjectId, subject);
        compileSubject(st, subject);
        delta.upserted.push(...st.compiled.entries.entriesOf(subjectId));
      }
    }
    for (const c of where.cidrs) { st.compiled.ipcache.set(c, subjectEntry(st, c, st.idPlan.ipcache.get(c)!)); delta.ipcache.push(c); }
    return delta;
  }

  /**
   * Add (prev undefined), replace or delete (next undefined) a NetworkPolicy of the same namespace and
   * name. Undefined: it adds or removes a policy CIDR (compile everything).
   */
  networkPolicy(prev: NetworkPolicy | undefined, next: NetworkPolicy | undefined): PolicyDelta | undefined {
    const st = this.state;
    const p = prev ?? next;
    if (!p) return { upserted: [], deleted: [], ipcache: [] };
    if (prev && next && (prev.namespace !== next.namespace || prev.name !== next.name)) throw new Error('networkPolicy: prev and next must be the same object (namespace and name)');
    const cidrsOf = (np: NetworkPolicy | undefined) => [...new Set(np ? policyCidrs([np], []).map((c) => canonical(c).cidr) : [])].sort().join(' ');
    if (cidrsOf(prev) !== cidrsOf(next)) return undefined;
    const at = prev ? st.nps.indexOf(prev) : -1;
    if (prev && at < 0) throw new Error(`networkPolicy: NetworkPolicy ${prev.namespace}/${prev.name} is not the compiled one`);
    // Policies, in their order; the clauses of the new one (its new rules get ids here, as in a full compile).
    if (at >= 0) st.nps.splice(at, 1);
    if (prev) st.npClauses.delete(prev);
    if (next) {
      let i = 0;
      while (i < st.nps.length && npOrder(st.nps[i], next) < 0) i++;
      st.nps.splice(i, 0, next);
      st.npClauses.set(next, npClausesOf(next, st.peers, st.input.ids));
    }
    st.npsByNs.set(p.namespace, st.nps.filter((x) => x.namespace === p.namespace));
    // The subjects either version selects, in the order a full compile visits them.
    const selects = (np: NetworkPolicy | undefined, s: SubjectInfo) => np !== undefined && labelSelectorMatches(np.podSelector, s.labels);
    const idx = this.index();
    const firstPod = (s: SubjectInfo) => Math.min(...s.pods.map((n) => idx.ofPod.get(n)!.at));
    const touched = [...st.compiled.subjects.values()].filter((s) => s.namespace === p.namespace && (selects(prev, s) || selects(next, s)))
      .sort((a, b) => firstPod(a) - firstPod(b));
    const delta: PolicyDelta = { upserted: [], deleted: [], ipcache: [] };
    for (const s of touched) {
      const before = st.compiled.entries.of(s.id);
      const enforce = { ...s.enforce };
      compileSubject(st, s);
      const d = diffSubject(s.id, before, st.compiled.entries.of(s.id));
      delta.upserted.push(...d.upserted);
      delta.deleted.push(...d.deleted);
      if (enforce.ingress !== s.enforce.ingress || enforce.egress !== s.enforce.egress) {
        for (const n of s.pods) for (const c of idx.ofPod.get(n)!.cidrs) {
          st.compiled.ipcache.set(c, subjectEntry(st, c, st.idPlan.ipcache.get(c)!));
          delta.ipcache.push(c);
        }
      }
    }
    return delta;
  }
}

function insertSorted(l: number[], x: number): number[] {
  let i = 0;
  while (i < l.length && l[i] < x) i++;
  l.splice(i, 0, x);
  return l;
}

/** Write a delta into `dp` (deletions first); the core then judges established flows again. */
export function programPolicyDelta(dp: Dataplane, state: PolicyState, delta: PolicyDelta): { upserted: number; deleted: number; ipcache: number } {
  for (const e of delta.deleted) dp.deletePolicy(e.key);
  for (const e of delta.upserted) dp.upsertPolicy(e.key, e.value);
  for (const k of delta.ipcache) { const e: AddressEntry = state.compiled.ipcache.get(k)!; dp.upsertIpcache(e.addr, e.plen, e.info); }
  if (delta.upserted.length + delta.deleted.length + delta.ipcache.length > 0) dp.policyChanged();
  return { upserted: delta.upserted.length, deleted: delta.deleted.length, ipcache: delta.ipcache.length };
}
