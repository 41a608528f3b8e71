// A cluster that changes: the objects of the manifests applied so far, the
// model loaded from them, and what is programmed into the dataplane. apply()
// and delete() change the object set (as `kubectl apply` / `kubectl delete`
// would, by kind, namespace and name), load it again, and program only the
// difference (compile.ts programPlan): established flows keep their backend
// while it exists in the dataplane (TCP flows are never flushed, as kube-proxy
// leaves them), UDP flows of endpoints that stopped serving are flushed
// (pkg/proxy/conntrack/cleanup.go), and Maglev tables keep their size so a
// removed endpoint only gives up its own cells.

import type { Dataplane } from '../dataplane.js';
import { InputError } from '../errors.js';
import { isClusterScoped } from './kinds.js';
import { labelKeyError, labelValueError } from './validate.js';
import { ClusterModel, Diagnostic } from './model.js';
import { LoadOptions, LoadResult, ManifestFile, cmpNsName, jsonDocuments, yamlDocuments, loadEndpointSliceObject, loadManifests, loadNetworkPolicyObject } from './load.js';
import { policyStateOf } from '../policy/compile.js';
import { PolicyUpdater, programPolicyDelta } from '../policy/incremental.js';
import type { NetworkPolicy } from '../policy/model.js';
import {
  Allocations, CompileOptions, CompiledCluster, Plan, ProgramReport, planCluster, programPlan, resolveCompileOptions, checkCapacity,
  replanServiceEndpoints, programEndpointsDelta, undoEndpointsDelta,
} from './compile.js';
import type { EndpointSlice, Service } from './model.js';

/** An object to delete: kind, namespace (default "default" for namespaced kinds) and name. */
export interface ObjectRef { kind: string; namespace?: string; name: string }

export interface RuntimeOptions extends CompileOptions {
  /** Loader options (service CIDR, node port range, cluster CIDR, ...). */
  load?: LoadOptions;
  /**
   * Apply a change of one EndpointSlice by re-planning only its service, and of one NetworkPolicy by
   * re-planning only the pods it selects (default true); false: every change reloads and replans the whole
   * cluster (the reference the tests hold the fast paths to).
   */
  incremental?: boolean;
}

export interface ApplyReport extends ProgramReport {
  /** Loader warnings of the new model. */
  warnings: Diagnostic[];
  /** Objects added, replaced and removed (as "Kind ns/name"). */
  objects: { added: string[]; replaced: string[]; removed: string[] };
  /** A node event (failNode, restartNode): the node, what happened, and the conntrack entries its state lost. */
  node?: { name: string; event: 'fail' | 'restart' | 'agent-restart'; conntrackEntriesLost: number };
}

/**
 * A change of the cluster, as the library API logs it (snapshots replay the log) and trace's control lines
 * give it: objects applied or deleted, a node failing, a node (or only its agent) restarting.
 */
export type ClusterChange =
  | { op: 'apply'; files: ManifestFile[] }
  | { op: 'delete'; targets: (ObjectRef | ManifestFile)[] }
  | { op: 'fail'; node: string }
  | { op: 'restart'; node: string; agent?: boolean };


/** A service's EndpointSlices in the current model (service undefined: no such Service). */
interface ServiceSlices { service: Service | undefined; slices: EndpointSlice[] }

interface StoredObject { path: string; obj: Record<string, unknown>; key: string; /** Position in its file (document, List item). */ seq: number }

function refKey(kind: string, namespace: string | undefined, name: string): string {
  return isClusterScoped(kind) ? `${kind} ${name}` : `${kind} ${namespace ?? 'default'}/${name}`;
}

/** The objects of a manifest file, List items spread out; each with its "Kind ns/name" key. */
function objectsOf(file: ManifestFile): StoredObject[] {
  const out: StoredObject[] = [];
  let anon = 0;
  const add = (obj: Record<string, unknown>) => {
    const meta = (typeof obj.metadata === 'object' && obj.metadata !== null ? obj.metadata : {}) as Record<string, unknown>;
    const kind = typeof obj.kind === 'string' ? obj.kind : undefined;
    const name = typeof meta.name === 'string' ? meta.name : undefined;
    const ns = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    // Objects without kind or name cannot be keyed: kept as they are, so that the loader reports them.
    const key = kind && name ? refKey(kind, ns, name) : `unkeyed ${file.path} ${anon++}`;
    out.push({ path: file.path, obj, key, seq: out.length });
  };
  // Decoded documents (ManifestFile.documents, taken as they are) need no parsing; JSON (what filesOf writes
  // back, and `kubectl get -o json`) is read by JSON.parse: far faster than the YAML parser.
  const values = file.documents ?? jsonDocuments(file.text) ?? yamlDocuments(file);
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (typeof v !== 'object' || Array.isArray(v)) { out.push({ path: file.path, obj: v as Record<string, unknown>, key: `unkeyed ${file.path} ${anon++}`, seq: out.length }); continue; }
    const o = v as Record<string, unknown>;
    if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) {
      // kind: List, or a typed list (PodList) whose items carry no kind.
      const itemKind = o.kind === 'List' ? undefined : o.kind.slice(0, -4);
      for (const it of o.items) {
        if (typeof it === 'object' && it !== null && !Array.isArray(it)) {
          const item = { ...(it as Record<string, unknown>) };
          if (item.kind === undefined && itemKind) item.kind = itemKind;
          if (item.apiVersion === undefined && o.apiVersion !== undefined) item.apiVersion = o.apiVersion;
          add(item);
        } else {
          out.push({ path: file.path, obj: it as Record<string, unknown>, key: `unkeyed ${file.path} ${anon++}`, seq: out.length });
        }
      }
      continue;
    }
    add(o);
  }
  return out;
}

/**
 * The stored objects as manifest files: one per path they came from, one document per object, in
 * their order there (so loader messages name the file an object was applied from).
 */
function filesOf(objects: Iterable<StoredObject>): ManifestFile[] {
  const byPath = new Map<string, StoredObject[]>();
  for (const o of objects) {
    let l = byPath.get(o.path);
    if (!l) byPath.set(o.path, (l = []));
    l.push(o);
  }
  return [...byPath].map(([path, l]) => ({ path, text: l.sort((a, b) => a.seq - b.seq).map((o) => JSON.stringify(o.obj)).join('\n---\n') }));
}

/** A copy of a stored object with its spec copied too (stored objects may be the caller's own documents). */
function withSpec(o: StoredObject, spec: Record<string, unknown>): StoredObject {
  return { ...o, obj: { ...o.obj, spec } };
}

const specOf = (o: StoredObject | undefined) =>
  (o && typeof o.obj.spec === 'object' && o.obj.spec !== null && !Array.isArray(o.obj.spec) ? o.obj.spec : undefined) as Record<string, unknown> | undefined;

/**
 * After a load: the cluster IPs and node ports the loader allocated are written into the stored Services,
 * as the API server persists them, so that a later change (which loads every object again) cannot move
 * them: an allocated address never changes while its Service exists.
 */
function persistAllocations(objects: Map<string, StoredObject>, model: ClusterModel): void {
  for (const svc of model.services) {
    const key = refKey('Service', svc.namespace, svc.name);
    const stored = objects.get(key);
    const spec = specOf(stored);
    if (!stored || !spec) continue;
    const out: Record<string, unknown> = { ...spec };
    let changed = false;
    if (svc.clusterIPAllocated && svc.clusterIP && spec.clusterIP === undefined) {
      out.clusterIP = svc.clusterIP; out.clusterIPs = [...svc.clusterIPs]; changed = true;
    }
    if (Array.isArray(spec.ports)) {
      const ports = spec.ports.map((p: unknown, i: number) => {
        const nodePort = svc.ports[i]?.nodePort;
        if (nodePort === undefined || typeof p !== 'object' || p === null || (p as Record<string, unknown>).nodePort !== undefined) return p;
        changed = true;
        return { ...(p as Record<string, unknown>), nodePort };
      });
      if (changed) out.ports = ports;
    }
    if (svc.healthCheckNodePort !== undefined && spec.healthCheckNodePort === undefined) { out.healthCheckNodePort = svc.healthCheckNodePort; changed = true; }
    let next = changed ? withSpec(stored, out) : stored;
    // An address from the load-balancer pool is written where a load-balancer controller writes it.
    if (svc.loadBalancerAllocated && svc.loadBalancerIngress.length) {
      next = { ...next, obj: { ...next.obj, status: { ...(next.obj.status as Record<string, unknown> | undefined), loadBalancer: { ingress: svc.loadBalancerIngress.map((ip) => ({ ip })) } } } };
      changed = true;
    }
    if (changed) objects.set(key, next);
  }
}

/**
 * A Service applied again without its cluster IP or node ports keeps those it has (the API server keeps
 * allocated fields on update): carried over from the stored object it replaces.
 */
function keepAllocations(next: Map<string, StoredObject>, current: Map<string, StoredObject>): void {
  for (const [key, o] of next) {
    if (o.obj.kind !== 'Service') continue;
    const old = current.get(key);
    if (!old || old === o) continue;
    const spec = specOf(o), before = specOf(old);
    if (!spec || !before) continue;
    const out: Record<string, unknown> = { ...spec };
    let changed = false;
    if (spec.clusterIP === undefined && spec.clusterIPs === undefined && typeof before.clusterIP === 'string' && before.clusterIP !== 'None' && spec.type !== 'ExternalName') {
      out.clusterIP = before.clusterIP;
      if (Array.isArray(before.clusterIPs)) out.clusterIPs = [...before.clusterIPs];
      changed = true;
    }
    if (Array.isArray(spec.ports) && Array.isArray(before.ports)) {
      const oldPorts = before.ports as Record<string, unknown>[];
      const ports = spec.ports.map((p: unknown) => {
        if (typeof p !== 'object' || p === null) return p;
        const q = p as Record<string, unknown>;
        if (q.nodePort !== undefined) return p;
        const same = oldPorts.find((x) => typeof x === 'object' && x !== null && x.port === q.port && (x.protocol ?? 'TCP') === (q.protocol ?? 'TCP'));
        if (!same || same.nodePort === undefined) return p;
        changed = true;
        return { ...q, nodePort: same.nodePort };
      });
      if (changed) out.ports = ports;
    }
    let kept = changed ? withSpec(o, out) : o;
    // A pool address stays with its Service while it remains a LoadBalancer (as the controller keeps status).
    const lbOf = (x: StoredObject) => ((x.obj.status as Record<string, unknown> | undefined)?.loadBalancer as Record<string, unknown> | undefined)?.ingress;
    if (spec.type === 'LoadBalancer' && before.type === 'LoadBalancer' && lbOf(o) === undefined && Array.isArray(lbOf(old))) {
      kept = { ...kept, obj: { ...kept.obj, status: { ...(kept.obj.status as Record<string, unknown> | undefined), loadBalancer: { ingress: lbOf(old) } } } };
      changed = true;
    }
    if (changed) next.set(key, kept);
  }
}

/** Where the pods dpemu placed are (node and address), for the next load to keep them there. */
function placedPods(model: ClusterModel): Map<string, { node: string; ip: string }> {
  const out = new Map<string, { node: string; ip: string }>();
  for (const p of model.pods) if (p.simulated && p.nodeName && p.podIP) out.set(`${p.namespace}/${p.name}`, { node: p.nodeName, ip: p.podIP });
  return out;
}

/**
 * A first apply() worked out before the runtime (and its dataplane) exists: its objects and their load, whose
 * model sizes the dataplane's maps (the library API's createEmulator). apply(files, prepared) on an empty
 * runtime then uses that load instead of loading the same objects again; it is exactly the load the apply
 * would do (the same object set, options, no pods placed before, no failed nodes).
 */
export interface PreparedApply {
  readonly files: ManifestFile[];
  readonly loaded: LoadResult;
  /** @internal */ readonly incoming: { file: ManifestFile; objects: StoredObject[] }[];
  /** @internal */ readonly next: Map<string, StoredObject>;
  /** @internal */ readonly objects: ApplyReport['objects'];
}

/** The object set after applying `incoming` over `current`, and what was added or replaced. */
function objectsAfter(current: Map<string, StoredObject>, incoming: { objects: StoredObject[] }[]) {
  const next = new Map(current);
  const added: string[] = [], replaced: string[] = [];
  for (const { objects } of incoming) {
    for (const o of objects) {
      (next.has(o.key) ? replaced : added).push(o.key);
      next.delete(o.key); // the object now comes from this file
      next.set(o.key, o);
    }
  }
  return { next, objects: { added, replaced, removed: [] as string[] } };
}

export class ClusterRuntime {
  private objects = new Map<string, StoredObject>();
  private current: CompiledCluster;
  private plan: Plan;
  private lastWarnings: Diagnostic[];
  private readonly alloc = new Allocations();
  private readonly options: RuntimeOptions;
  /** How many apply() calls took the single-EndpointSlice fast path, and how many reloaded everything. */
  readonly applied = { incremental: 0, full: 0 };
  /** The policy updater over the current plan's compiled policies (made on first use after each full commit). */
  private policyUpdater?: PolicyUpdater;
  /** Nodes that have failed and not restarted (failNode). */
  private readonly failedNodes = new Set<string>();

  private constructor(readonly dp: Dataplane, files: ManifestFile[], options: RuntimeOptions) {
    this.options = options;
    for (const f of files) for (const o of objectsOf(f)) this.objects.set(o.key, o);
    const { model, warnings } = loadManifests(filesOf(this.objects.values()), options.load);
    persistAllocations(this.objects, model);
    this.plan = planCluster(model, resolveCompileOptions(model, options, dp.options.design), this.alloc, dp.options.limits.maxServices);
    programPlan(dp, this.plan, undefined, this.alloc);
    this.plan.backends.index(); // what single-slice changes look backends up by: made now, not by the first change
    this.current = new CompiledCluster(model, this.plan, this.alloc);
    this.lastWarnings = warnings;
  }

  /** Load `files` and program them into `dp` (which should be fresh). */
  static create(dp: Dataplane, files: ManifestFile[] = [], options: RuntimeOptions = {}): ClusterRuntime {
    return new ClusterRuntime(dp, files, options);
  }

  get model(): ClusterModel { return this.current.model; }
  get compiled(): CompiledCluster { return this.current; }
  /** Loader warnings of the current model. */
  get warnings(): Diagnostic[] { return this.lastWarnings; }

  /** One change, whichever it is. */
  change(c: ClusterChange): ApplyReport {
    switch (c.op) {
      case 'apply': return this.apply(c.files);
      case 'delete': return this.delete(c.targets);
      case 'fail': return this.failNode(c.node);
      case 'restart': return this.restartNode(c.node, { agent: c.agent });
    }
  }

  /**
   * Node `name` fails (powered off, cut from the network): its conntrack and ClientIP affinity are lost with
   * its kernel, packets entering it or crossing to it are lost (NODE_DOWN), and, as the node lifecycle
   * controller and the EndpointSlice controller would write it, its pods' endpoints go not ready, so Services
   * stop choosing them. It stays down until restartNode.
   */
  failNode(name: string): ApplyReport {
    const id = this.nodeId('fail', name);
    if (this.failedNodes.has(name)) throw new InputError(`fail: node ${name} has already failed (restart it first)`);
    this.failedNodes.add(name);
    let report: ApplyReport;
    try {
      report = this.commit(new Map(this.objects), { added: [], replaced: [], removed: [] });
    } catch (e) {
      this.failedNodes.delete(name);
      throw e;
    }
    return { ...report, node: { name, event: 'fail', conntrackEntriesLost: this.dp.flushNode(id) } };
  }

  /**
   * Node `name` boots again (a failed one comes back, a running one reboots): its kernel starts with empty
   * conntrack and affinity, and its pods are ready again (they keep their addresses). With `agent`, only the
   * node's proxy agent (kube-proxy, cilium-agent) restarts: conntrack lives in the kernel and survives it, so
   * nothing changes (Cilium's agent restores its maps; kube-proxy resyncs its rules to the same result).
   */
  restartNode(name: string, options: { agent?: boolean } = {}): ApplyReport {
    const id = this.nodeId('restart', name);
    const none = { added: [], replaced: [], removed: [] };
    if (options.agent) {
      if (this.failedNodes.has(name)) throw new InputError(`restart: node ${name} is down; restart the node, not its agent`);
      return { ...programPlan(this.dp, this.plan, this.plan, this.alloc), warnings: this.lastWarnings, objects: none,
        node: { name, event: 'agent-restart', conntrackEntriesLost: 0 } };
    }
    const lost = this.dp.flushNode(id);
    if (!this.failedNodes.has(name)) {
      return { ...programPlan(this.dp, this.plan, this.plan, this.alloc), warnings: this.lastWarnings, objects: none,
        node: { name, event: 'restart', conntrackEntriesLost: lost } };
    }
    this.failedNodes.delete(name);
    let report: ApplyReport;
    try {
      report = this.commit(new Map(this.objects), none);
    } catch (e) {
      this.failedNodes.add(name);
      throw e;
    }
    return { ...report, node: { name, event: 'restart', conntrackEntriesLost: lost } };
  }

  /** The dataplane id of node `name`, or an error naming the nodes there are. */
  private nodeId(op: string, name: string): number {
    const id = this.current.nodeIdByName.get(name);
    if (id === undefined) {
      const names = this.current.model.nodes.map((n) => n.name);
      throw new InputError(`${op}: no node named ${JSON.stringify(name)} (nodes: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''})`);
    }
    return id;
  }

  /** The first apply of `files`, loaded now (PreparedApply). Throws what the apply would (ManifestError). */
  static prepare(files: ManifestFile[], options: RuntimeOptions = {}): PreparedApply {
    const incoming = files.map((f) => ({ file: f, objects: objectsOf(f) }));
    const { next, objects } = objectsAfter(new Map(), incoming);
    let loaded: LoadResult;
    try {
      loaded = loadManifests(filesOf(next.values()), { ...options.load, previousPods: new Map(), failedNodes: new Set() });
    } catch (e) {
      loadManifests(files, options.load); // the same error, naming the places in the files as given
      throw e;
    }
    return { files, loaded, incoming, next, objects };
  }

  /**
   * Add the objects of `files`, replacing those with the same kind, namespace and name. `prepared`: the same
   * files prepared (ClusterRuntime.prepare) with this runtime's options; its load is used while the runtime
   * holds no objects yet.
   */
  apply(files: ManifestFile[], prepared?: PreparedApply): ApplyReport {
    const usable = prepared !== undefined && prepared.files === files && this.objects.size === 0 && this.failedNodes.size === 0;
    const incoming = usable ? prepared.incoming : files.map((f) => ({ file: f, objects: objectsOf(f) }));
    // While a node is down, an EndpointSlice goes through the full load (which marks its endpoints on that node).
    if (this.options.incremental !== false) {
      const fast = (this.failedNodes.size ? undefined : this.applyEndpointSlice(incoming)) ?? this.applyNetworkPolicy(incoming)
        ?? this.applyPodLabels(incoming);
      if (fast) { this.applied.incremental++; return fast; }
    }
    this.applied.full++;
    if (usable) return this.commit(prepared.next, prepared.objects, prepared.loaded);
    const { next, objects } = objectsAfter(this.objects, incoming);
    return this.commit(next, objects);
  }

  /** Remove objects: those of manifest files, or named ones. Unknown ones are an error (nothing changes). */
  delete(targets: (ManifestFile | ObjectRef)[]): ApplyReport {
    if (this.options.incremental !== false && targets.length === 1 && !('text' in targets[0]) && targets[0].kind === 'NetworkPolicy') {
      const fast = this.deleteNetworkPolicy(refKey(targets[0].kind, targets[0].namespace, targets[0].name));
      if (fast) { this.applied.incremental++; return fast; }
    }
    const next = new Map(this.objects);
    const removed: string[] = [];
    for (const t of targets) {
      const keys = 'text' in t ? objectsOf(t).map((o) => o.key) : [refKey(t.kind, t.namespace, t.name)];
      for (const k of keys) {
        if (k.startsWith('unkeyed ')) throw new InputError(`delete: an object of ${'text' in t ? t.path : 'the input'} has no kind and name to find it by`);
        if (!next.delete(k)) throw new InputError(`delete: ${k} is not in the cluster`);
        removed.push(k);
      }
    }
    return this.commit(next, { added: [], replaced: [], removed });
  }

  // Indices of the current model for applyEndpointSlice, built on first use after each full commit.
  // One lookup per change finds the slice, its position in the model and its service's group (each string-keyed
  // lookup in maps of 10,000 entries costs a microsecond or so, a good part of a change).
  private index?: {
    /**
     * By object key ("EndpointSlice ns/name", as refKey writes it: the string the change's lookup in `objects`
     * has hashed already): the slice's position in model.endpointSlices and the slices of its service.
     */
    slices: Map<string, { at: number; group: ServiceSlices }>;
    /** Objects per source path (paths without objects are dropped). */
    paths: Map<string, number>;
    /** Objects ("Kind ns/name") the current loader warnings are about. */
    warned: Set<string>;
  };

  private modelIndex(): NonNullable<ClusterRuntime['index']> {
    if (this.index) return this.index;
    const m = this.current.model;
    const services = new Map(m.services.map((sv) => [`${sv.namespace}/${sv.name}`, sv]));
    const groups = new Map<string, ServiceSlices>();
    const slices: NonNullable<ClusterRuntime['index']>['slices'] = new Map(), paths = new Map<string, number>();
    m.endpointSlices.forEach((sl, at) => {
      const k = `${sl.namespace}/${sl.serviceName}`;
      let group = groups.get(k);
      if (!group) groups.set(k, (group = { service: services.get(k), slices: [] }));
      group.slices.push(sl);
      slices.set(refKey('EndpointSlice', sl.namespace, sl.name), { at, group });
    });
    for (const o of this.objects.values()) paths.set(o.path, (paths.get(o.path) ?? 0) + 1);
    const warned = new Set<string>();
    for (const w of this.lastWarnings) if (w.object !== undefined) warned.add(w.object);
    this.index = { slices, paths, warned };
    return this.index;
  }

  /**
   * The fast path of apply(): a change that replaces one EndpointSlice (same name, same service) is loaded
   * alone and only its service is re-planned and re-programmed (compile.ts replanServiceEndpoints), instead
   * of reloading every object. Undefined when the change is anything else, or when the result could differ
   * from the full reload's (loader warnings about the slice, other objects in its file, the conditions of
   * replanServiceEndpoints): apply() then takes the full path. One difference is kept on purpose: the
   * objects that stay in the file the old slice came from keep their document numbers in later messages.
   */
  private applyEndpointSlice(incoming: { file: ManifestFile; objects: StoredObject[] }[]): ApplyReport | undefined {
    if (incoming.length !== 1 || incoming[0].objects.length !== 1) return undefined;
    const { file, objects: [o] } = incoming[0];
    if (o.obj.kind !== 'EndpointSlice') return undefined;
    const stored = this.objects.get(o.key);
    if (!stored) return undefined;
    const idx = this.modelIndex();
    // The file must hold nothing else (so that the object's document number is the full reload's).
    if ((idx.paths.get(file.path) ?? 0) !== (stored.path === file.path ? 1 : 0)) return undefined;
    const { slice, warnings } = loadEndpointSliceObject(o.obj, { file: file.path, document: o.seq + 1 });
    if (!slice || warnings.length) return undefined;
    const found = idx.slices.get(o.key);
    if (!found) return undefined;
    const { at, group } = found;
    const model = this.current.model;
    const old = model.endpointSlices[at];
    // (The same object: o.key names the loaded slice unless metadata.namespace was "", which the loader reads as "default".)
    if (old.namespace !== slice.namespace || old.name !== slice.name) return undefined;
    if (old.derived || old.serviceName !== slice.serviceName) return undefined;
    if (idx.warned.size > 0 && idx.warned.has(`EndpointSlice ${slice.namespace}/${slice.name}`)) return undefined;
    const svc = group.service;
    if (!svc) return undefined;
    const slices = group.slices.map((x) => (x === old ? slice : x));
    const delta = replanServiceEndpoints(this.plan, model, svc, slices, this.alloc, this.dp.options.limits, { before: old, after: slice });
    if (!delta) return undefined;
    let report: ProgramReport;
    try {
      report = programEndpointsDelta(this.dp, this.plan, delta, this.alloc);
    } catch (e) {
      undoEndpointsDelta(this.plan, delta);
      throw e;
    }
    model.endpointSlices[at] = slice;
    group.slices = slices;
    this.current.noteEndpointsDelta(delta);
    this.storeObject(o.key, stored, o);
    // The report made into the apply report (not copied: it is this change's own).
    const out = report as ApplyReport;
    out.warnings = this.lastWarnings;
    out.objects = { added: [], replaced: [o.key], removed: [] };
    return out;
  }

  /**
   * The fast path of apply() for one NetworkPolicy added or replaced (alone in its file, in a namespace the
   * cluster has): src/policy/incremental.ts re-plans only the pods either version selects and the map entries
   * that differ are written, as a full reload would write them (test/k8s/runtime-policy.test.ts holds the two
   * equal). Undefined when the change is anything else or could differ from the full reload (a warning reading
   * it, a policy CIDR added or removed, which renumbers identities): apply() then takes the full path.
   */
  private applyNetworkPolicy(incoming: { file: ManifestFile; objects: StoredObject[] }[]): ApplyReport | undefined {
    if (incoming.length !== 1 || incoming[0].objects.length !== 1) return undefined;
    const { file, objects: [o] } = incoming[0];
    if (o.obj.kind !== 'NetworkPolicy') return undefined;
    const model = this.current.model;
    if (!this.plan.policy || !model.policies) return undefined;
    const stored = this.objects.get(o.key);
    const idx = this.modelIndex();
    if ((idx.paths.get(file.path) ?? 0) !== (stored?.path === file.path ? 1 : 0)) return undefined;
    let next: NetworkPolicy;
    try {
      const loaded = loadNetworkPolicyObject(o.obj, { file: file.path, document: o.seq + 1 });
      if (loaded.warnings.length) return undefined;
      next = loaded.policy;
    } catch { return undefined; } // the full path reports it
    if (!model.namespaces.some((n) => n.name === next.namespace)) return undefined; // a new namespace: the model grows
    const list = model.policies.networkPolicies;
    const at = list.findIndex((p) => p.namespace === next.namespace && p.name === next.name);
    const prev = at >= 0 ? list[at] : undefined;
    if ((prev !== undefined) !== (stored !== undefined)) return undefined;
    if (prev && idx.warned.size > 0 && idx.warned.has(`NetworkPolicy ${prev.namespace}/${prev.name}`)) return undefined;
    const written = this.changeNetworkPolicy(prev, next, at);
    if (!written) return undefined;
    this.storeObject(o.key, stored, o);
    return this.policyReport(written, stored ? { added: [], replaced: [o.key], removed: [] } : { added: [o.key], replaced: [], removed: [] });
  }

  /**
   * apply()'s fast path for a Pod manifest whose labels alone changed (a pod relabelled, `kubectl label pod`):
   * the policy updater moves the pod between identities and subjects (PolicyUpdater.podLabels), and only the
   * entries that differ are written. Undefined (the full path) wherever the result could differ from a full
   * reload: anything else of the pod changed, a label the loader would refuse, a Service whose selector matches
   * the pod differently now (its endpoints change), no policies (the pod's identity then comes from the cluster
   * compiler), a file holding other objects, or the updater declining.
   */
  private applyPodLabels(incoming: { file: ManifestFile; objects: StoredObject[] }[]): ApplyReport | undefined {
    if (incoming.length !== 1 || incoming[0].objects.length !== 1) return undefined;
    const { file, objects: [o] } = incoming[0];
    if (o.obj.kind !== 'Pod' || !this.plan.policy) return undefined;
    const stored = this.objects.get(o.key);
    const idx = this.modelIndex();
    if (!stored || stored.path !== file.path || (idx.paths.get(file.path) ?? 0) !== 1 || idx.warned.has(o.key)) return undefined;
    const withoutLabels = (obj: Record<string, unknown>): string | undefined => {
      const md = obj.metadata;
      if (typeof md !== 'object' || md === null || Array.isArray(md)) return undefined;
      const { labels: _labels, ...rest } = md as Record<string, unknown>;
      return JSON.stringify({ ...obj, metadata: rest });
    };
    const before = withoutLabels(stored.obj);
    if (before === undefined || before !== withoutLabels(o.obj)) return undefined;
    const raw = (o.obj.metadata as Record<string, unknown>).labels ?? {};
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string' || labelKeyError(k) !== undefined || labelValueError(v) !== undefined) return undefined;
      labels[k] = v;
    }
    const md = o.obj.metadata as Record<string, unknown>;
    const namespace = typeof md.namespace === 'string' && md.namespace ? md.namespace : 'default';
    const pod = this.current.model.pods.find((p) => p.namespace === namespace && p.name === md.name);
    if (!pod || !pod.podIP) return undefined;
    // Services choosing their endpoints by this pod's labels would change: the full path re-plans them.
    const selects = (sel: Record<string, string> | undefined, l: Record<string, string>) =>
      sel !== undefined && Object.entries(sel).every(([k, v]) => l[k] === v);
    if (this.current.model.services.some((sv) => sv.namespace === namespace && selects(sv.selector, pod.labels) !== selects(sv.selector, labels))) return undefined;
    const state = policyStateOf(this.plan.policy)!;
    const updater = (this.policyUpdater ??= new PolicyUpdater(state));
    let delta;
    try { delta = updater.podLabels(namespace, pod.name, labels); } catch { return undefined; }
    if (!delta) return undefined;
    const written = programPolicyDelta(this.dp, state, delta);
    pod.labels = labels; // the model's pod (what the API lists and records name) carries its new labels
    this.current.notePoliciesChanged();
    this.storeObject(o.key, stored, o);
    return this.policyReport(written, { added: [], replaced: [o.key], removed: [] });
  }

  /** delete()'s fast path for one NetworkPolicy named by reference (see applyNetworkPolicy). */
  private deleteNetworkPolicy(key: string): ApplyReport | undefined {
    const stored = this.objects.get(key);
    const model = this.current.model;
    if (!stored || !model.policies || !this.plan.policy) return undefined;
    const list = model.policies.networkPolicies;
    const md = (stored.obj.metadata ?? {}) as Record<string, unknown>;
    const at = list.findIndex((p) => p.namespace === (typeof md.namespace === 'string' && md.namespace ? md.namespace : 'default') && p.name === md.name);
    if (at < 0) return undefined;
    // The full reload would drop the policies altogether (the last one gone), or a namespace only this policy names.
    if (list.length === 1 && model.policies.adminPolicies.length === 0) return undefined;
    const ns = list[at].namespace;
    if (!model.pods.some((p) => p.namespace === ns) && !model.services.some((sv) => sv.namespace === ns)) return undefined;
    const idx = this.modelIndex();
    if (idx.warned.size > 0 && idx.warned.has(`NetworkPolicy ${list[at].namespace}/${list[at].name}`)) return undefined;
    // Its file's other objects keep their document numbers in later messages, as with apply's fast paths.
    const written = this.changeNetworkPolicy(list[at], undefined, at);
    if (!written) return undefined;
    this.storeObject(key, stored, undefined);
    return this.policyReport(written, { added: [], replaced: [], removed: [key] });
  }

  /**
   * Replace NetworkPolicy `prev` (at `at` in the model's list; undefined: add) by `next` (undefined: delete)
   * through the policy updater, checking capacity first and writing the map entries that differ. Undefined
   * when the updater declines: nothing changed.
   */
  private changeNetworkPolicy(prev: NetworkPolicy | undefined, next: NetworkPolicy | undefined, at: number) {
    const state = policyStateOf(this.plan.policy!)!;
    const updater = (this.policyUpdater ??= new PolicyUpdater(state));
    let delta;
    try { delta = updater.networkPolicy(prev, next); } catch { return undefined; } // not the compiled object: the full path
    if (!delta) return undefined;
    try {
      checkCapacity(this.plan, this.dp.options.limits); // as the full path would refuse it, before anything is written
    } catch (e) {
      updater.networkPolicy(next, prev); // back to the policies as they were
      throw e;
    }
    const written = programPolicyDelta(this.dp, state, delta);
    const list = this.current.model.policies!.networkPolicies;
    if (!next) list.splice(at, 1);
    else if (at >= 0) list[at] = next;
    else {
      let i = 0;
      while (i < list.length && cmpNsName(list[i], next) < 0) i++;
      list.splice(i, 0, next);
    }
    this.current.notePoliciesChanged();
    return written;
  }

  /**
   * A fast path's object change in the runtime's books: object `key` (`stored` before, undefined when new) now
   * comes from `o`'s file (undefined: deleted); it goes to the end of the object order, as in apply's full path,
   * and the per-path object counts of the model index follow.
   */
  private storeObject(key: string, stored: StoredObject | undefined, o: StoredObject | undefined): void {
    const paths = this.modelIndex().paths;
    if (stored) this.objects.delete(key);
    if (o) this.objects.set(key, o);
    if (stored?.path === o?.path) return;
    if (stored) { const left = (paths.get(stored.path) ?? 1) - 1; if (left > 0) paths.set(stored.path, left); else paths.delete(stored.path); }
    if (o) paths.set(o.path, (paths.get(o.path) ?? 0) + 1);
  }

  private policyReport(written: { upserted: number; deleted: number; ipcache: number }, objects: ApplyReport['objects']): ApplyReport {
    return {
      nodes: 0, ipcache: { upserted: written.ipcache, deleted: 0 }, backends: { set: 0 }, services: { set: 0, removed: 0 },
      frontends: { upserted: 0, deleted: 0 }, sourceRanges: { upserted: 0, deleted: 0 }, policy: { upserted: written.upserted, deleted: written.deleted },
      flushed: [], warnings: this.lastWarnings, objects,
    };
  }

  /**
   * Load the new object set; if it loads and fits the maps, program the difference and make it current.
   * Atomic: a change that fails (a bad manifest, a map it would overfill) throws and leaves the runtime, its
   * ids and the dataplane as they were.
   */
  private commit(next: Map<string, StoredObject>, objects: ApplyReport['objects'], loaded?: LoadResult): ApplyReport {
    keepAllocations(next, this.objects);
    const { model, warnings } = loaded ?? loadManifests(filesOf(next.values()), {
      ...this.options.load, previousPods: placedPods(this.current.model), failedNodes: this.failedNodes,
    }); // throws: nothing changed
    const resolved = resolveCompileOptions(model, this.options, this.dp.options.design);
    const restoreIds = this.alloc.checkpoint();
    let plan: Plan;
    try {
      plan = planCluster(model, resolved, this.alloc, this.dp.options.limits.maxServices);
      checkCapacity(plan, this.dp.options.limits);
    } catch (e) {
      restoreIds();
      throw e;
    }
    let report: ProgramReport;
    try {
      report = programPlan(this.dp, plan, this.plan, this.alloc);
    } catch (e) {
      // What checkCapacity cannot see (a fragmented slot region): write the previous plan back over it.
      restoreIds();
      try { programPlan(this.dp, this.plan, plan, this.alloc); } catch { /* the first error says what went wrong */ }
      throw e;
    }
    persistAllocations(next, model);
    // A node that left the cluster is forgotten with its failure (a node of that name joining later is new).
    if (this.failedNodes.size) for (const n of [...this.failedNodes]) if (!model.nodes.some((x) => x.name === n)) this.failedNodes.delete(n);
    plan.backends.index();
    this.objects = next;
    this.index = undefined;
    this.policyUpdater = undefined;
    this.plan = plan;
    this.current = new CompiledCluster(model, plan, this.alloc, this.current);
    this.lastWarnings = warnings;
    return { ...report, warnings, objects };
  }
}
