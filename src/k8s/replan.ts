// Re-planning one service whose EndpointSlices changed, in place in the last plan, when the result is certain
// to equal a full replan's (kube-proxy's endpointslicecache likewise rebuilds only the changed service's
// endpoints); program.ts programEndpointsDelta writes what changed.

import { hasTopologyHint } from './topology.js';
import { Limits } from '../dataplane.js';
import { ClusterModel, Endpoint, EndpointSlice, Protocol, Service } from './model.js';
import { ProxyEndpoint } from './endpoints.js';
import { Allocations, PlannedBackend, backendNumber } from './ids.js';
import { Plan, PlannedService, PlannedServicePort } from './plan.js';
import { LiveNode, backendAllocator, ipNum, planServicePort } from './plan-service.js';

/** What replanServiceEndpoints changed: the entries and UDP serving sets as they were, the backends it added. */
export interface EndpointsDelta {
  portKeys: string[];
  portsBefore: Map<string, PlannedServicePort>;
  entriesBefore: Map<string, PlannedService>;
  udpBefore: Map<string, Set<string> | undefined>;
  backendsAdded: string[];
  /** Backends no entry uses any more, taken out of the plan. */
  backendsDropped: PlannedBackend[];
}

/** The plan's nodes with their model objects, kept between single-service replans (nodes do not change there). */
const liveNodesOf = new WeakMap<Plan, { model: ClusterModel; nodes: LiveNode[] }>();

/** How many service entries of a plan use each backend id, and each id's key, kept between single-service replans. */
const backendRefsOf = new WeakMap<Plan, IdCounts>();

/** Counts by backend id (ids are dense from 0), in a typed array that grows: no hashing per count. */
class IdCounts {
  private a = new Int32Array(1024);
  get(id: number): number { return id < this.a.length ? this.a[id] : 0; }
  add(id: number, d: number): void {
    if (id >= this.a.length) {
      const b = new Int32Array(Math.max(id + 1, 2 * this.a.length));
      b.set(this.a);
      this.a = b;
    }
    this.a[id] += d;
  }
}

const hasHints = (eps: Iterable<{ hintsForZones?: string[]; hintsForNodes?: string[] }>) => {
  for (const e of eps) if (hasTopologyHint(e)) return true;
  return false;
};

/**
 * Only the EndpointSlices of `svc` changed (now `slices`; `changed`: the one slice that did, before and
 * after, when that is what happened): plan its ports again, in `plan`, as planCluster
 * would, and return what was there before, for programEndpointsDelta. This is what makes one endpoint change
 * cost microseconds instead of a replan of the whole cluster (kube-proxy's endpointslicecache also rebuilds
 * only the changed service's endpoints).
 *
 * It applies only where the result is certain to equal planCluster's; otherwise it returns undefined and
 * changes nothing (the caller then replans everything): the service is proxied and its ports are planned;
 * no endpoint, old or new, carries topology hints (with hints the set of per-node entries and frontends can
 * change); no plan warning concerns the service (frontend conflicts); and every endpoint already known as a
 * backend keeps its node and target (a backend is shared by every service port that uses it).
 */
export function replanServiceEndpoints(plan: Plan, model: ClusterModel, svc: Service, slices: EndpointSlice[],
  alloc: Allocations, limits: Pick<Limits, 'maxServices' | 'maxBackends'>,
  changed?: { before: EndpointSlice; after: EndpointSlice }): EndpointsDelta | undefined {
  const serviceLimit = limits.maxServices;
  if (svc.type === 'ExternalName' || svc.headless || svc.clusterIP === undefined) return undefined;
  // With loadBalancerSourceRanges, whether there are endpoints decides the entries (proxier.go usesFWChain).
  if (svc.loadBalancerSourceRanges.length > 0) return undefined;
  const prefix = `${svc.namespace}/${svc.name}:`;
  const ports = svc.ports.map((sp) => {
    const label = `${prefix}${sp.name || String(sp.port)}`;
    return { sp, key: `${label}/${sp.protocol}`, label };
  });
  const old = ports.map((p) => plan.servicePorts.get(p.key));
  if (old.some((o) => o === undefined || o.service !== svc && (o.service.namespace !== svc.namespace || o.service.name !== svc.name))) return undefined;
  for (const o of old) {
    if (hasHints(o!.eligible.endpoints)) return undefined;
    for (const x of o!.eligible.excluded) if ('port' in x.endpoint && hasHints([x.endpoint])) return undefined;
  }
  for (const sl of slices) if (hasHints(sl.endpoints)) return undefined;
  if (plan.warnings.some((w) => w.includes(prefix))) return undefined;
  // Known backends keep their node and target, and new ones fit in the backend map (else the full path
  // reports it). Only the changed slice can bring a different endpoint: each of its endpoints x numbered
  // ports (a superset of the eligible ones, which is enough to be sure) is compared with the same address in
  // the slice it replaces when the ports are the same (cheap), else looked up in the plan's backend map.
  const targetOf = (t: { namespace?: string; name: string } | undefined) => (t ? `${t.namespace ? `${t.namespace}/` : ''}${t.name}` : undefined);
  let fresh = 0;
  const samePorts = changed !== undefined && changed.before.ports.length === changed.after.ports.length
    && changed.before.ports.every((p, i) => p.name === changed.after.ports[i].name && p.port === changed.after.ports[i].port && p.protocol === changed.after.ports[i].protocol);
  // The endpoint with the same address in the slice replaced: usually at the same place, or one further on
  // (endpoints are listed in order, and a change adds or removes a few); else found by a map built then.
  const before = samePorts ? changed!.before.endpoints : undefined;
  let oldByAddr: Map<string, Endpoint> | undefined;
  let cursor = 0;
  const previous = (addr: string): Endpoint | undefined => {
    if (!before) return undefined;
    for (let k = cursor; k < before.length && k <= cursor + 1; k++) {
      if (before[k].addresses[0] === addr) { cursor = k + 1; return before[k]; }
    }
    oldByAddr ??= new Map(before.filter((e) => e.addresses.length).map((e) => [e.addresses[0], e]));
    return oldByAddr.get(addr);
  };
  for (const sl of changed ? [changed.after] : slices) {
    for (const e of sl.endpoints) {
      if (!e.addresses.length) continue;
      const prev = previous(e.addresses[0]);
      if (prev && prev.nodeName === e.nodeName && prev.targetRef?.name === e.targetRef?.name
        && (prev.targetRef?.namespace || undefined) === (e.targetRef?.namespace || undefined)) continue;
      const addr = ipNum(e.addresses[0]);
      for (const p of sl.ports) {
        if (p.port === undefined || p.port === 0) continue;
        const num = backendNumber(addr, p.port, p.protocol);
        const b = plan.backends.getByNumber(num);
        if (!b) { if (!alloc.hasBackend(num)) fresh++; continue; }
        if (b.node !== e.nodeName || b.target !== targetOf(e.targetRef)) return undefined;
      }
    }
  }
  if (alloc.backendCount + fresh > limits.maxBackends) return undefined;
  const delta: EndpointsDelta = { portKeys: ports.map((p) => p.key), portsBefore: new Map(), entriesBefore: new Map(), udpBefore: new Map(), backendsAdded: [], backendsDropped: [] };
  const entryKeys = new Set<string>();
  for (const o of old) {
    for (const k of o!.entries) { delta.entriesBefore.set(k, plan.services.get(k)!); entryKeys.add(k); }
    delta.udpBefore.set(o!.key, plan.udpServing.get(o!.key));
    delta.portsBefore.set(o!.key, o!);
  }
  let liveNodes = liveNodesOf.get(plan);
  if (!liveNodes || liveNodes.model !== model) {
    const nodeByName = new Map(model.nodes.map((n) => [n.name, n]));
    liveNodes = { model, nodes: plan.nodes.map((pn) => ({ pn, node: nodeByName.get(pn.name)! })) };
    liveNodesOf.set(plan, liveNodes);
  }
  const allocate = backendAllocator(plan, alloc);
  const backendOf = (e: ProxyEndpoint, p: Protocol) => {
    const before = plan.backends.size;
    const id = allocate(e, p);
    if (plan.backends.size !== before) delta.backendsAdded.push(`${e.address}:${e.port}/${p}`);
    return id;
  };
  // Backends referenced by no entry leave the plan, as planCluster would never have added them.
  let refs = backendRefsOf.get(plan);
  if (!refs) {
    refs = new IdCounts();
    for (const e of plan.services.values()) for (const id of e.backends) refs.add(id, 1);
    backendRefsOf.set(plan, refs);
  }
  for (const e of delta.entriesBefore.values()) for (const id of e.backends) refs.add(id, -1);
  const warnings = plan.warnings.length;
  const after: string[] = [];
  for (const p of ports) after.push(...planServicePort(plan, alloc, serviceLimit, plan.options, svc, p.sp, slices, liveNodes.nodes, backendOf, p));
  // Without hints the entries are keyed by port, role and node only: the same keys as before.
  if (plan.warnings.length !== warnings || after.length !== entryKeys.size || after.some((k) => !entryKeys.has(k))) {
    throw new Error(`internal: re-planning ${prefix} changed its entries (${after.length} vs ${entryKeys.size}) or warnings`);
  }
  for (const k of after) for (const id of plan.services.get(k)!.backends) refs.add(id, 1);
  let unused: Set<number> | undefined;
  for (const e of delta.entriesBefore.values()) for (const id of e.backends) if (refs.get(id) === 0) (unused ??= new Set()).add(id);
  if (unused) {
    for (const id of unused) {
      const b = plan.backends.getById(id)!;
      delta.backendsDropped.push(b);
      plan.backends.deleteByNumber(backendNumber(b.addr, b.port, b.protocol));
    }
  }
  return delta;
}

/**
 * Put the plan back as it was before replanServiceEndpoints (when programming it failed: the plan then
 * says what the full path's would, the last one programmed; the maps may hold part of the change, as
 * after a failed programPlan).
 */
export function undoEndpointsDelta(plan: Plan, delta: EndpointsDelta): void {
  for (const [k, s] of delta.entriesBefore) plan.services.set(k, s);
  for (const [k, p] of delta.portsBefore) plan.servicePorts.set(k, p);
  for (const [k, u] of delta.udpBefore) { if (u) plan.udpServing.set(k, u); else plan.udpServing.delete(k); }
  for (const k of delta.backendsAdded) plan.backends.delete(k);
  for (const b of delta.backendsDropped) plan.backends.add(b);
  backendRefsOf.delete(plan); // rebuilt from the entries on next use
}

