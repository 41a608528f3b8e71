// Programming: writing a plan into a dataplane. The full path (programPlan) writes the difference between
// two plans; the incremental one (programEndpointsDelta) what replanServiceEndpoints (replan.ts) changed.
// Both write a service entry with writeServiceEntry and flush stale UDP flows with flushStaleUdp, so that
// they cannot disagree on either.

import { Dataplane, Algorithm, EndpointInfo, Limits } from '../dataplane.js';
import { maglevTable } from '../controlplane/maglev.js';
import { formatIPv4, parseCidr } from '../common/ip.js';
import { CapacityError } from '../errors.js';
import { PROTO } from '../packet.js';
import { programPolicy } from '../policy/compile.js';
import { Allocations, BackendMap } from './ids.js';
import { NODE_NONE, PROTOCOL_NUMBER, Plan, PlannedFrontend, PlannedService } from './plan.js';
import type { EndpointsDelta } from './replan.js';

/**
 * Whether `plan` fits the dataplane's maps; a CapacityError naming the first that would overfill. Checked
 * before anything is written, so that a change too big for the maps changes nothing.
 */
export function checkCapacity(plan: Plan, limits: Limits): void {
  const over = (map: string, need: number, max: number, option: string) => {
    if (need > max) throw new CapacityError(`${map}: this change needs ${need} entries, the map holds ${max}; raise ${option}`, map, max);
  };
  let maxIndex = -1, ranges = 0, slots = 0;
  for (const s of plan.services.values()) {
    if (s.index > maxIndex) maxIndex = s.index;
    ranges += s.sourceRanges.length;
    slots += s.backends.length;
  }
  over('services', maxIndex + 1, limits.maxServices, 'maxServices');
  let maxBackend = -1;
  for (const b of plan.backends.values()) if (b.id > maxBackend) maxBackend = b.id;
  over('backends', maxBackend + 1, limits.maxBackends, 'maxBackends');
  let maxNode = -1;
  for (const n of plan.nodes) if (n.id > maxNode) maxNode = n.id;
  over('nodes', maxNode + 1, limits.maxNodes, 'maxNodes');
  over('frontends', plan.frontends.size, limits.maxFrontends, 'maxFrontends');
  over('source ranges', ranges, limits.maxFrontends, 'maxFrontends');
  over('backendSlots', slots, limits.maxSlots, 'maxSlots');
  over('ipcache', plan.ipcache.size, limits.maxIpcache, 'maxIpcache');
  over('policy', plan.policy?.entries.size ?? 0, limits.maxPolicy, 'maxPolicy');
}

export interface ProgramReport {
  nodes: number;
  ipcache: { upserted: number; deleted: number };
  backends: { set: number };
  services: { set: number; removed: number };
  frontends: { upserted: number; deleted: number };
  sourceRanges: { upserted: number; deleted: number };
  policy: { upserted: number; deleted: number };
  /** UDP flows removed per backend ("ip:port/UDP") whose endpoint stopped serving. */
  flushed: { backend: string; flows: number }[];
}

const sameInfo = (a: EndpointInfo, b: EndpointInfo) =>
  a.identity === b.identity && a.endpoint === b.endpoint && a.node === b.node && a.flags === b.flags;

function sameService(a: PlannedService, b: PlannedService, algo: Algorithm, prevAlgo: Algorithm): boolean {
  return algo === prevAlgo && a.index === b.index && a.flags === b.flags && a.affinityTimeout === b.affinityTimeout && a.affinityGroup === b.affinityGroup && a.maglevM === b.maglevM
    && a.backends.length === b.backends.length && a.backends.every((x, i) => x === b.backends[i]);
}

const toFrontend = (fe: PlannedFrontend, nodeIds: Map<string, number>) => {
  const out: { addr: number; port: number; proto: number; scope?: 'any' | 'internal' | 'external'; node?: number } =
    { addr: fe.addr, port: fe.port, proto: PROTOCOL_NUMBER[fe.protocol] };
  if (fe.scope !== 'any') { out.scope = fe.scope; out.node = nodeIds.get(fe.node!); }
  return out;
};

/** A report with nothing in it. */
function emptyReport(): ProgramReport {
  return {
    nodes: 0, ipcache: { upserted: 0, deleted: 0 }, backends: { set: 0 }, services: { set: 0, removed: 0 },
    frontends: { upserted: 0, deleted: 0 }, sourceRanges: { upserted: 0, deleted: 0 }, policy: { upserted: 0, deleted: 0 }, flushed: [],
  };
}

/** The node id of a backend's node (NODE_NONE when it has none, or one the plan does not know). */
const nodeIdOf = (nodeIds: Map<string, number>, node: string | undefined) =>
  node !== undefined ? nodeIds.get(node) ?? NODE_NONE : NODE_NONE;

/** The Maglev key of a backend by id ("ip:port", as Cilium's table hashes it), each formatted once per programming. */
function maglevKeys(backends: BackendMap): (id: number) => string {
  const keys = new Map<number, string>();
  return (id) => {
    let k = keys.get(id);
    if (k === undefined) {
      const b = backends.getById(id)!;
      keys.set(id, (k = `${formatIPv4(b.addr)}:${b.port}`));
    }
    return k;
  };
}

/** Write one service entry (its slots, and under maglev its table) as planned. */
function writeServiceEntry(dp: Dataplane, s: PlannedService, algo: Algorithm, keyOf: (id: number) => string): void {
  const maglev = algo === 'maglev' && s.backends.length > 0
    ? maglevTable(s.backends.map((id) => ({ key: keyOf(id) })), s.maglevM) : undefined;
  dp.setService(s.index, { algo, flags: s.flags, affinityTimeout: s.affinityTimeout, affinityGroup: s.affinityGroup, backends: s.backends, maglev });
}

/**
 * conntrack/cleanup.go CleanStaleEntries: UDP flows of a (still existing) UDP service port to an endpoint that
 * no longer serves it are removed. A backend id is per endpoint ip:port/UDP, so it is flushed only when it
 * serves no UDP service port any more. `before`: the serving sets of the ports to look at, as they were;
 * `now`: every port's serving set now. A deleted port's flows are not cleaned up (CleanStaleEntries only
 * visits live services).
 */
function flushStaleUdp(dp: Dataplane, alloc: Allocations, before: Map<string, Set<string> | undefined>,
  now: Map<string, Set<string>>, report: ProgramReport): void {
  const stale = new Set<string>();
  for (const [portKey, was] of before) {
    const is = now.get(portKey);
    if (!was || !is) continue;
    for (const b of was) if (!is.has(b)) stale.add(b);
  }
  if (stale.size === 0) return;
  const stillServing = new Set<string>();
  for (const set of now.values()) for (const b of set) stillServing.add(b);
  for (const b of [...stale].sort()) {
    if (stillServing.has(b)) continue;
    const id = alloc.backendId(b);
    if (id === undefined) continue;
    report.flushed.push({ backend: b, flows: dp.flushBackend(id, PROTO.UDP) });
  }
}

/**
 * Write `next` into `dp`, given that `prev` (or nothing) is what it holds: only the differences.
 * Order: nodes, ipcache, backends, services (and their source ranges), frontends; then entries
 * that went away are emptied and their indices freed; last, UDP flows to endpoints that stopped
 * serving are flushed (TCP flows are left alone, as kube-proxy leaves them).
 */
export function programPlan(dp: Dataplane, next: Plan, prev: Plan | undefined, alloc: Allocations): ProgramReport {
  const report = emptyReport();
  const algo = next.options.algo, prevAlgo = prev?.options.algo ?? algo;

  // Nodes (a node that left is given address 0: packets can no longer enter on it).
  const prevNodes = new Map(prev?.nodes.map((n) => [n.name, n]) ?? []);
  for (const n of next.nodes) {
    const p = prevNodes.get(n.name);
    if (!p || p.addr !== n.addr || p.id !== n.id || !p.failed !== !n.failed) { dp.setNode(n.id, n.addr, !n.failed); report.nodes++; }
    prevNodes.delete(n.name);
  }
  for (const n of prevNodes.values()) { dp.setNode(n.id, 0); report.nodes++; }
  const nodeIds = new Map<string, number>();
  for (const n of next.nodes) nodeIds.set(n.name, n.id);
  // Frontends of nodes that left still need their ids to be deleted.
  for (const n of prev?.nodes ?? []) if (!nodeIds.has(n.name)) nodeIds.set(n.name, n.id);

  // ipcache (entries that went away first: a full map has room for the new ones)
  for (const [k, e] of prev?.ipcache ?? []) {
    if (!next.ipcache.has(k)) { dp.deleteIpcache(e.addr, e.plen); report.ipcache.deleted++; }
  }
  for (const [k, e] of next.ipcache) {
    const p = prev?.ipcache.get(k);
    if (!p || !sameInfo(p.info, e.info)) { dp.upsertIpcache(e.addr, e.plen, e.info); report.ipcache.upserted++; }
  }
  report.policy = programPolicy(dp, next.policy, prev?.policy);
  if ((next.policy || prev?.policy) && report.policy.upserted + report.policy.deleted + report.ipcache.upserted + report.ipcache.deleted > 0) {
    dp.policyChanged(); // established flows are judged again (Options.policyRecheckEstablished)
  }

  // Backends (never deleted: a backend id keeps naming its endpoint, for flows still using it).
  for (const b of next.backends.values()) {
    // The same endpoint in the previous plan has the same id (both plans take their ids from `alloc`).
    const q = prev?.backends.getById(b.id);
    const p = q && q.addr === b.addr && q.port === b.port && q.protocol === b.protocol ? q : undefined;
    const node = nodeIdOf(nodeIds, b.node);
    if (!p || nodeIdOf(nodeIds, p.node) !== node) { dp.setBackend(b.id, { addr: b.addr, port: b.port, node }); report.backends.set++; }
  }

  // Services and their source ranges.
  const keyOf = maglevKeys(next.backends);
  for (const [k, s] of next.services) {
    const p = prev?.services.get(k);
    if (!p || !sameService(p, s, algo, prevAlgo)) { writeServiceEntry(dp, s, algo, keyOf); report.services.set++; }
    const had = p && p.index === s.index ? p.sourceRanges : [];
    if (had.length === 0 && s.sourceRanges.length === 0) continue; // most entries: no ranges, no Set to make
    const before = new Set(had);
    for (const c of s.sourceRanges) {
      if (before.delete(c)) continue;
      const r = parseCidr(c)!;
      dp.upsertSourceRange(s.index, r.addr, r.plen);
      report.sourceRanges.upserted++;
    }
    for (const c of before) {
      const r = parseCidr(c)!;
      dp.deleteSourceRange(s.index, r.addr, r.plen);
      report.sourceRanges.deleted++;
    }
  }

  // Frontends (those that went away first: a full map has room for the new ones)
  for (const [k, fe] of prev?.frontends ?? []) {
    if (!next.frontends.has(k)) { dp.deleteFrontend(toFrontend(fe, nodeIds)); report.frontends.deleted++; }
  }
  for (const [k, fe] of next.frontends) {
    const p = prev?.frontends.get(k);
    const index = next.services.get(fe.service)!.index;
    if (!p || prev!.services.get(p.service)?.index !== index) { dp.upsertFrontend(toFrontend(fe, nodeIds), index); report.frontends.upserted++; }
  }

  // Entries that went away: empty them (frees their slots and cells), drop their ranges, free the index.
  const liveIndices = prev ? new Set([...next.services.values()].map((s) => s.index)) : undefined;
  for (const [k, s] of prev?.services ?? []) {
    if (next.services.has(k)) continue;
    if (!liveIndices!.has(s.index)) {
      dp.setService(s.index, { algo, backends: [] }); // the plan's algorithm: the only kind the design may have
      for (const c of s.sourceRanges) { const r = parseCidr(c)!; dp.deleteSourceRange(s.index, r.addr, r.plen); report.sourceRanges.deleted++; }
    }
    alloc.releaseService(k);
    report.services.removed++;
  }

  // conntrack/cleanup.go: UDP flows of endpoints that stopped serving (TCP flows are left alone).
  if (prev) flushStaleUdp(dp, alloc, prev.udpServing, next.udpServing, report);
  return report;
}

/** Write what replanServiceEndpoints changed into `dp`, as programPlan would write the whole difference. */
export function programEndpointsDelta(dp: Dataplane, plan: Plan, delta: EndpointsDelta, alloc: Allocations): ProgramReport {
  const report = emptyReport();
  let nodeIds: Map<string, number> | undefined;
  for (const k of delta.backendsAdded) {
    const b = plan.backends.get(k)!;
    nodeIds ??= new Map(plan.nodes.map((n) => [n.name, n.id]));
    dp.setBackend(b.id, { addr: b.addr, port: b.port, node: nodeIdOf(nodeIds, b.node) });
    report.backends.set++;
  }
  const algo = plan.options.algo;
  const keyOf = maglevKeys(plan.backends);
  for (const [k, before] of delta.entriesBefore) {
    const s = plan.services.get(k)!;
    if (sameService(before, s, algo, algo)) continue;
    writeServiceEntry(dp, s, algo, keyOf);
    report.services.set++;
  }
  flushStaleUdp(dp, alloc, delta.udpBefore, plan.udpServing, report);
  return report;
}
