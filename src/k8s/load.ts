// Loading Kubernetes manifests into the normalized cluster model (model.ts).
// Browser-safe: no Node built-ins here (files.ts reads files from disk).
//
// Input: YAML (multi-document) or JSON, as written by hand or printed by
// `kubectl get ... -o yaml|json` (kind: List, or typed lists such as PodList
// whose items carry no kind). Kinds: Namespace, Node, Pod, Service,
// EndpointSlice (discovery.k8s.io/v1), Deployment, ReplicaSet, StatefulSet,
// DaemonSet (apps/v1), NetworkPolicy (networking.k8s.io/v1), AdminNetworkPolicy
// and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1),
// ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2; parse-policy.ts).
// Anything else gives a warning and is skipped.
//
// What the loader does besides parsing, in order:
// 1. validation (parse.ts; the first problem throws a ManifestError naming
//    file, document, object and field) and duplicate detection;
// 2. node IPAM for nodes without podCIDR;
// 3. workload expansion into pods, unless the input already holds the
//    workload's pods (a dump of a live cluster), scheduling, and addresses for
//    those pods and for Pod manifests without status (workloads.ts);
// 4. cluster IPs and nodePorts for Services that have none, the way
//    kube-apiserver allocates them, but deterministically: cluster IPs upward
//    from the service CIDR's .10, nodePorts upward from the range start, in
//    namespace/name order, never reusing an explicit one;
// 5. EndpointSlices derived from pods (endpoints.ts) for selector Services
//    without any EndpointSlice in the input;
// 6. every namespace gets the label kubernetes.io/metadata.name=<name>, as
//    kube-apiserver sets it (immutably) since 1.21: policies select
//    namespaces by it;
// 7. policies: NetworkPolicies sorted by namespace/name, admin policies in
//    evaluation order (tier, priority, kind, name), with a warning for
//    policies of one tier sharing a priority.

import { KINDS, isClusterScoped } from './kinds.js';
import { parseAllDocuments } from 'yaml';
import { fastYamlDocuments } from './yaml-fast.js';
import { formatIPv4, parseIPv4 } from '../common/ip.js';
import {
  ClusterConfig, ClusterModel, Diagnostic, EndpointSlice, Namespace, Node, Pod, SourceRef, formatSource,
} from './model.js';
import { PodIndex, deriveEndpointSlices } from './endpoints.js';
import {
  ParseContext, ParsedPod, ParsedService, Workload, WorkloadKind, labelSelectorMatches, parseEndpointSlice,
  parseNamespace, parseNode, parsePod, parseService, parseWorkload,
} from './parse.js';
import { ManifestError, Obj, Reader, checkCIDR, cidrContains, cidrRange, describeObject, isObj, show } from './validate.js';
import {
  parseAdminNetworkPolicy, parseBaselineAdminNetworkPolicy, parseClusterNetworkPolicy, parseNetworkPolicy, sortAdminPolicies,
} from './parse-policy.js';
import type { AdminPolicy, NetworkPolicy } from '../policy/model.js';
import { emptyNorthSouth } from '../gateway/model.js';
import { hasNorthSouth, parseNorthSouthObject } from '../gateway/load.js';
import { DEFAULT_NODE_COUNT, defaultNodes } from './default-nodes.js';
import { PodPlan, assignPodCIDRs, expandWorkloads, placePods, planBarePod } from './workloads.js';

export { ManifestError } from './validate.js';

export interface ManifestFile {
  path: string;
  text: string;
  /**
   * The file's documents already decoded (as an API client holds objects it received), one value per
   * document; when given, `text` is not parsed again (it is kept for messages and for the runtime).
   */
  documents?: unknown[];
}

export interface LoadOptions {
  /** kube-apiserver --service-cluster-ip-range; default 10.96.0.0/12. */
  serviceCIDR?: string;
  /** kube-apiserver --service-node-port-range, inclusive; default 30000-32767. */
  nodePortRange?: [number, number] | string;
  /** kube-controller-manager --cluster-cidr, for nodes without podCIDR; default 10.244.0.0/16. */
  clusterCIDR?: string;
  /** kube-controller-manager --node-cidr-mask-size; default 24. */
  nodeCIDRMaskSize?: number;
  /** kube-controller-manager --max-endpoints-per-slice; default 100. */
  maxEndpointsPerSlice?: number;
  /**
   * Nodes of the default cluster that stands in when the input has no Node objects (default-nodes.ts);
   * default 3, 0 for none (pods then stay Pending).
   */
  defaultNodes?: number;
  /**
   * Addresses for LoadBalancer Services that have none in status.loadBalancer.ingress, as MetalLB or
   * cloud-provider-kind would give them: an IPv4 CIDR (default 172.18.255.0/24), or 'none'.
   */
  lbPool?: string;
  /**
   * Where the pods dpemu placed were in the cluster this one replaces ("namespace/name" -> node and address):
   * a pod that still exists keeps its node and address, as a running pod does (the runtime passes its
   * current model's, so that a change never moves pods it does not touch).
   */
  previousPods?: ReadonlyMap<string, { node: string; ip: string }>;
  /** Nodes that have failed (the runtime's failNode): NotReady, their pods not ready (markFailedNodes). */
  failedNodes?: ReadonlySet<string>;
}

/** Where LoadBalancer Services without an address get one (a MetalLB pool on kind's docker network). */
export const DEFAULT_LB_POOL = '172.18.255.0/24';

/** `warnings`: problems in the input; `notes`: what the loader assumed (defaults it applied; severity info). */
export interface LoadResult { model: ClusterModel; warnings: Diagnostic[]; notes: Diagnostic[] }

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
export const DEFAULT_NODE_PORT_RANGE: [number, number] = [30000, 32767];
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';
/** Dynamic cluster IPs start here (the first addresses go to kubernetes and kube-dns by convention). */
export const FIRST_ALLOCATED_SERVICE_HOST = 10;

/** Where each kind is served (src/k8s/kinds.ts). */
const API_VERSIONS: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, Object.fromEntries(Object.entries(KINDS).map(([k, v]) => [k, v.apiVersion])));
/** The label kube-apiserver puts on every namespace (NamespaceDefaultLabelName). */
export const LABEL_NAMESPACE_NAME = 'kubernetes.io/metadata.name';
const groupOf = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '');

interface RawObject { obj: Obj; source: SourceRef }

export function parseNodePortRange(v: [number, number] | string | undefined): [number, number] {
  if (v === undefined) return [...DEFAULT_NODE_PORT_RANGE];
  let lo: number, hi: number;
  if (typeof v === 'string') {
    const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(v);
    if (!m) throw new RangeError(`nodePortRange: expected "low-high", got ${JSON.stringify(v)}`);
    lo = Number(m[1]);
    hi = Number(m[2]);
  } else [lo, hi] = v;
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && hi <= 65535 && lo <= hi)) {
    throw new RangeError(`nodePortRange: ${lo}-${hi} is not a port range within 1-65535`);
  }
  return [lo, hi];
}

function resolveConfig(opts: LoadOptions): ClusterConfig {
  const cidr = (v: string | undefined, dflt: string, what: string) => {
    const c = checkCIDR(v ?? dflt);
    if (typeof c === 'object' || c === 'ipv6') throw new RangeError(`${what}: ${typeof c === 'object' ? c.error : 'must be an IPv4 CIDR'}, got ${JSON.stringify(v)}`);
    return c;
  };
  const serviceCIDR = cidr(opts.serviceCIDR, DEFAULT_SERVICE_CIDR, 'serviceCIDR');
  if (cidrRange(serviceCIDR).plen > 28) throw new RangeError(`serviceCIDR: ${serviceCIDR} is too small (at most /28)`);
  const dn = opts.defaultNodes;
  if (dn !== undefined && !(Number.isInteger(dn) && dn >= 0 && dn <= 5000)) throw new RangeError(`defaultNodes: ${dn} not in 0..5000`);
  const max = opts.maxEndpointsPerSlice ?? 100;
  if (!(Number.isInteger(max) && max >= 1 && max <= 1000)) throw new RangeError(`maxEndpointsPerSlice: ${max} not in 1..1000`);
  const clusterCIDR = cidr(opts.clusterCIDR, DEFAULT_CLUSTER_CIDR, 'clusterCIDR');
  const mask = opts.nodeCIDRMaskSize ?? 24;
  const clusterLen = cidrRange(clusterCIDR).plen;
  if (!(Number.isInteger(mask) && mask >= clusterLen && mask <= 30)) {
    throw new RangeError(`nodeCIDRMaskSize: ${mask} must be in ${clusterLen}..30 for cluster CIDR ${clusterCIDR}`);
  }
  return {
    serviceCIDR,
    nodePortRange: parseNodePortRange(opts.nodePortRange),
    clusterCIDR,
    nodeCIDRMaskSize: mask,
    maxEndpointsPerSlice: max,
  };
}

// ---- reading documents ----------------------------------------------------------

/**
 * The documents of a file that is JSON (one object, or several separated by `---` lines, as the runtime
 * writes them back), parsed with JSON.parse: an order of magnitude faster than the YAML parser on the
 * multi-megabyte dumps of large clusters (`kubectl get -o json`). A line of only `---` cannot occur inside
 * a JSON value, so the split is exact. Undefined when the text is not such JSON (the YAML parser then
 * reads it, and reports any syntax error). JSON.parse keeps the last of duplicate keys, as the API
 * server's JSON decoder does outside strict validation.
 */
export function jsonDocuments(text: string): unknown[] | undefined {
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) <= 0x20 || text.charCodeAt(i) === 0xfeff)) i++;
  const c = text.charCodeAt(i);
  if (c !== 0x7b && c !== 0x5b) return undefined; // { or [
  const parts = text.includes('\n---') ? text.split(/^---[ \t]*\r?$/m) : [text];
  const out: unknown[] = [];
  for (const part of parts) {
    if (!/\S/.test(part)) { out.push(null); continue; }
    try { out.push(JSON.parse(part)); } catch { return undefined; }
  }
  return out;
}

function readDocuments(file: ManifestFile): RawObject[] {
  const out: RawObject[] = [];
  const json = file.documents ?? jsonDocuments(file.text);
  if (json) {
    json.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const source: SourceRef = { file: file.path, document: i + 1 };
      if (!isObj(v)) throw new ManifestError(source, undefined, undefined, `expected a Kubernetes object (a mapping with apiVersion and kind), got ${show(v)}`);
      flattenLists(v, source, out);
    });
    return out;
  }
  yamlDocuments(file).forEach((v, i) => {
    const source: SourceRef = { file: file.path, document: i + 1 };
    if (v === null || v === undefined) return;
    if (!isObj(v)) throw new ManifestError(source, undefined, undefined, `expected a Kubernetes object (a mapping with apiVersion and kind), got ${show(v)}`);
    flattenLists(v, source, out);
  });
  return out;
}

/**
 * The documents of a YAML (or JSON) text, decoded; undefined for an empty one. Merge keys (<<) are accepted,
 * as by Kubernetes' YAML decoder (go-yaml). Aliases are limited as the yaml library does by default (an
 * alias bomb, a "billion laughs" document, is refused, not expanded): every failure is a ManifestError
 * naming the file and document.
 */
export function yamlDocuments(file: { path: string; text: string }): unknown[] {
  return fastYamlDocuments(file.text) ?? yamlDocumentsFully(file);
}

/** yamlDocuments through the `yaml` package alone (what yaml-fast.ts leaves to it, and its errors). */
export function yamlDocumentsFully(file: { path: string; text: string }): unknown[] {
  return parseAllDocuments(file.text, { merge: true }).map((doc, i) => {
    const source: SourceRef = { file: file.path, document: i + 1 };
    const err = doc.errors[0];
    if (err) {
      const msg = err.message.split('\n')[0].replace(/:$/, '');
      throw new ManifestError(source, undefined, undefined, /Maximum call stack/.test(msg)
        ? `nested too deeply for the YAML parser (${msg.replace(/^.*?exceeded ?/, '')})` : `YAML/JSON syntax error: ${msg}`);
    }
    if (doc.contents === null) return undefined; // empty document (e.g. a trailing ---)
    try {
      return doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      const msg = (e as Error).message;
      if (/alias/i.test(msg)) throw new ManifestError(source, undefined, undefined, 'too many aliases: the document expands exponentially (a YAML alias bomb); it is refused');
      throw new ManifestError(source, undefined, undefined, `YAML: ${msg}`);
    }
  });
}

/** `kind: List` and typed lists (PodList, ...): their items, with the item index in the source. */
function flattenLists(v: Obj, source: SourceRef, out: RawObject[]) {
  const kind = v.kind;
  if (typeof kind === 'string' && kind.endsWith('List') && (Array.isArray(v.items) || kind === 'List')) {
    if (!Array.isArray(v.items)) throw new ManifestError(source, kind, 'items', `must be a list, got ${show(v.items)}`);
    const items: unknown[] = v.items;
    const itemKind = kind === 'List' ? undefined : kind.slice(0, -'List'.length);
    items.forEach((item, j) => {
      const src: SourceRef = { ...source, item: j };
      if (!isObj(item)) throw new ManifestError(src, undefined, undefined, `expected a Kubernetes object, got ${show(item)}`);
      // Typed lists from the API (PodList, ...) omit kind and apiVersion on their items.
      // (Copied only when something is filled in: the parsed items are this loader's own.)
      const filled: Obj = (item.kind === undefined && itemKind) || (item.apiVersion === undefined && itemKind && typeof v.apiVersion === 'string') ? { ...item } : item;
      if (filled.kind === undefined && itemKind) filled.kind = itemKind;
      if (filled.apiVersion === undefined && itemKind && typeof v.apiVersion === 'string') filled.apiVersion = v.apiVersion;
      if (typeof filled.kind === 'string' && filled.kind.endsWith('List') && Array.isArray(filled.items)) {
        throw new ManifestError(src, undefined, 'kind', 'a List inside a List is not supported');
      }
      out.push({ obj: filled, source: src });
    });
    return;
  }
  out.push({ obj: v, source });
}

// ---- the loader -----------------------------------------------------------------

interface Defined { source: SourceRef }

export function loadManifests(files: ManifestFile[], opts: LoadOptions = {}): LoadResult {
  const config = resolveConfig(opts);
  const warnings: Diagnostic[] = [];
  const pc = new ParseContext(warnings);

  const namespaces: Namespace[] = [];
  const nodes: Node[] = [];
  const pods: ParsedPod[] = [];
  const workloads: Workload[] = [];
  const services: ParsedService[] = [];
  const slices: EndpointSlice[] = [];
  const networkPolicies: NetworkPolicy[] = [];
  const adminPolicies: AdminPolicy[] = [];
  const defined = new Map<string, Defined>();
  const northSouth = emptyNorthSouth();

  // kubectl apply: a later definition of the same object updates it. Every definition but the last is
  // skipped, with a warning naming both places.
  const raws = files.flatMap(readDocuments);
  const lastOf = new Map<string, number>();
  const keyOfRaw = (o: Obj): string | undefined => {
    const md = isObj(o.metadata) ? o.metadata : undefined;
    if (typeof o.kind !== 'string' || API_VERSIONS[o.kind] === undefined || !md || typeof md.name !== 'string' || !md.name) return undefined;
    const ns = isClusterScoped(o.kind) ? '' : typeof md.namespace === 'string' && md.namespace ? md.namespace : 'default';
    return `${o.kind}/${ns}/${md.name}`;
  };
  const keys = raws.map((r) => keyOfRaw(r.obj));
  keys.forEach((k, i) => { if (k !== undefined) lastOf.set(k, i); });
  for (let i = 0; i < raws.length; i++) {
    const k = keys[i];
    if (k === undefined || lastOf.get(k) === i) continue;
    const [kind, ns, name] = k.split('/');
    const what = `${kind} ${ns ? `${ns}/` : ''}${name}`;
    warnings.push({ severity: 'warning', code: 'duplicate-object', object: what, source: raws[i].source,
      message: `${formatSource(raws[i].source)} (${what}): defined again in ${formatSource(raws[lastOf.get(k)!].source)}; the later definition is used, as kubectl apply would update the object` });
  }

  // Kinds dpemu does not read (ConfigMap, ServiceAccount, ...): one warning for all of them, not one each.
  const unused: { r: Reader; kind: string; what: string }[] = [];
  for (let ri = 0; ri < raws.length; ri++) {
    {
      if (keys[ri] !== undefined && lastOf.get(keys[ri]!) !== ri) continue;
      const raw = raws[ri];
      const { obj, source } = raw;
      const kindV = obj.kind;
      const md = isObj(obj.metadata) ? obj.metadata : {};
      const r: Reader = new Reader({ source, kind: typeof kindV === 'string' && kindV ? kindV : '<no kind>' });
      if (typeof md.name === 'string' && md.name) r.ctx.name = md.name;
      if (typeof kindV !== 'string' || kindV === '') r.fail('kind', `required, got ${show(kindV)}`);
      const kind = kindV;
      const expected = API_VERSIONS[kind];
      if (!isClusterScoped(kind)) {
        // Known namespaced kinds default to "default"; for unknown kinds the scope is unknown.
        if (typeof md.namespace === 'string' && md.namespace) r.ctx.namespace = md.namespace;
        else if (expected !== undefined || kind === 'Endpoints') r.ctx.namespace = 'default';
      }
      if (expected === undefined) {
        const what = kind === 'Endpoints'
          ? 'legacy Endpoints object: kube-proxy reads EndpointSlices only; skipped'
          : `kind ${JSON.stringify(kind)}${typeof obj.apiVersion === 'string' ? ` (${obj.apiVersion})` : ''} is not used by dpemu; skipped`;
        if (kind === 'Endpoints') pc.warn(r, 'legacy-endpoints', undefined, what);
        else unused.push({ r, kind, what });
        continue;
      }
      checkApiVersion(r, pc, kind, obj);

      let key: string;
      switch (kind) {
        case 'Namespace': {
          const ns = parseNamespace(r, obj);
          key = `Namespace//${ns.name}`;
          namespaces.push(ns);
          break;
        }
        case 'Node': {
          const n = parseNode(r, obj, pc);
          key = `Node//${n.name}`;
          nodes.push(n);
          break;
        }
        case 'Pod': {
          const p = parsePod(r, obj, pc);
          key = `Pod/${p.pod.namespace}/${p.pod.name}`;
          pods.push(p);
          break;
        }
        case 'Service': {
          const s = parseService(r, obj, pc);
          key = `Service/${s.svc.namespace}/${s.svc.name}`;
          services.push(s);
          break;
        }
        case 'EndpointSlice': {
          const s = parseEndpointSlice(r, obj, pc);
          key = `EndpointSlice/${r.ctx.namespace}/${r.ctx.name}`;
          if (s) slices.push(s);
          break;
        }
        case 'NetworkPolicy': {
          const p = parseNetworkPolicy(r, obj, pc);
          key = `NetworkPolicy/${p.namespace}/${p.name}`;
          networkPolicies.push(p);
          break;
        }
        case 'AdminNetworkPolicy':
        case 'BaselineAdminNetworkPolicy':
        case 'ClusterNetworkPolicy': {
          const parse = kind === 'AdminNetworkPolicy' ? parseAdminNetworkPolicy
            : kind === 'BaselineAdminNetworkPolicy' ? parseBaselineAdminNetworkPolicy : parseClusterNetworkPolicy;
          const p = parse(r, obj, pc);
          key = `${kind}//${p.name}`;
          adminPolicies.push(p);
          break;
        }
        case 'GatewayClass': case 'Gateway': case 'HTTPRoute': case 'ReferenceGrant': case 'Ingress': case 'IngressClass': {
          key = parseNorthSouthObject(r, obj, pc, northSouth);
          break;
        }
        default: {
          const w = parseWorkload(r, obj, kind as WorkloadKind);
          key = `${kind}/${w.namespace}/${w.name}`;
          workloads.push(w);
        }
      }
      const prev = defined.get(key);
      if (prev) r.fail('metadata.name', `duplicate ${describeObject(r.ctx)}: already defined in ${formatSource(prev.source)}`);
      defined.set(key, { source });
    }
  }

  // 1b. a cluster without Node objects gets the nodes kind or minikube would give it
  if (nodes.length === 0) {
    const podIPs = new Set<number>();
    for (const p of pods) for (const ip of p.pod.podIPs) podIPs.add(parseIPv4(ip)!);
    nodes.push(...defaultNodes(pods, slices, opts.defaultNodes ?? DEFAULT_NODE_COUNT, podIPs, warnings));
  }

  if (unused.length === 1) pc.warn(unused[0].r, 'unknown-kind', undefined, unused[0].what);
  else if (unused.length > 1) {
    const counts = new Map<string, number>();
    for (const u of unused) counts.set(u.kind, (counts.get(u.kind) ?? 0) + 1);
    warnings.push({ severity: 'warning', code: 'unknown-kind', source: unused[0].r.ctx.source,
      message: `${unused.length} objects of kinds dpemu does not use were skipped: ${[...counts].map(([k, n]) => `${k} (${n})`).join(', ')}; the first in ${formatSource(unused[0].r.ctx.source)}` });
  }

  // 2. node IPAM
  assignPodCIDRs(nodes, config.clusterCIDR, config.nodeCIDRMaskSize, warnings);
  // A failed node is NotReady before anything is scheduled: new pods avoid it, running ones stay bound to it.
  if (opts.failedNodes?.size) for (const n of nodes) if (opts.failedNodes.has(n.name)) { n.ready = false; n.failed = true; }

  // 3. pods: explicit, then workload replicas and status-less Pod manifests
  const used = new Set<number>();
  for (const p of pods) for (const ip of p.pod.podIPs) used.add(parseIPv4(ip)!);
  for (const n of nodes) for (const a of n.addresses) used.add(parseIPv4(a.address)!);
  const taken = new Set(pods.map((p) => `${p.pod.namespace}/${p.pod.name}`));
  // A workload whose pods (or, for a Deployment, ReplicaSets) are in the input came from a live
  // cluster: its pods are taken as they are, not created again.
  const owned = new Set<string>();
  for (const p of pods) if (p.pod.owner) owned.add(`${p.pod.namespace}/${p.pod.owner.kind}/${p.pod.owner.name}`);
  for (const w of workloads) if (w.owner) owned.add(`${w.namespace}/${w.owner.kind}/${w.owner.name}`);
  const toExpand = workloads.filter((w) => {
    if (owned.has(`${w.namespace}/${w.kind}/${w.name}`)) return false;
    if (w.kind === 'Deployment') {
      // Pods of the Deployment's ReplicaSets ("<deployment>-<hash>") without those ReplicaSets.
      return !pods.some((p) => p.pod.namespace === w.namespace && p.pod.owner?.kind === 'ReplicaSet'
        && p.pod.owner.name.startsWith(`${w.name}-`) && labelSelectorMatches(w.selector, p.pod.labels));
    }
    return true;
  });
  const workloadPlans: PodPlan[] = expandWorkloads(toExpand, nodes, taken, warnings);
  const barePlans = pods.filter((p) => !p.hasStatus).map((p) => planBarePod(p, nodes, `Pod ${p.pod.namespace}/${p.pod.name}`));
  placePods([...workloadPlans, ...barePlans], nodes, used, warnings, opts.previousPods);
  const allPods: Pod[] = [...pods.map((p) => p.pod), ...workloadPlans.map((p) => p.pod)];
  if (opts.failedNodes?.size) markFailedNodes(allPods, slices, opts.failedNodes);

  // 4. services: cluster IPs and nodePorts
  const svcList = sortedBy(services.filter((s) => !s.ipv6Only), (a, b) => cmpNsName(a.svc, b.svc));
  allocateClusterIPs(svcList, config, pc);
  allocateNodePorts(svcList, config);
  allocateLoadBalancerIPs(svcList, opts.lbPool ?? DEFAULT_LB_POOL, warnings);

  // namespaces: the given ones plus every namespace referred to (and "default")
  const nsNames = new Set<string>(['default']);
  for (const x of [...allPods, ...svcList.map((s) => s.svc), ...slices, ...workloads, ...networkPolicies]) nsNames.add(x.namespace);
  for (const ns of namespaces) nsNames.delete(ns.name);
  for (const name of nsNames) namespaces.push({ name, labels: {}, implicit: true });
  // 6. The API server sets this label on every namespace, overriding any value written.
  for (const ns of namespaces) ns.labels = { ...ns.labels, [LABEL_NAMESPACE_NAME]: ns.name };

  // 5. EndpointSlices
  const finalServices = svcList.map((s) => s.svc);
  // IPv6 slices serve the cluster DNS only; the dataplane (and slice derivation) sees the IPv4 ones.
  const ipv6Slices = slices.filter((s) => s.addressType === 'IPv6');
  const endpointSlices = ipv6Slices.length ? slices.filter((s) => s.addressType === 'IPv4') : [...slices];
  // Services with slices, by namespace then name (no "ns/name" string to build and hash per object).
  const servedBySlices = new Map<string, Set<string>>();
  for (const s of slices) {
    const names = servedBySlices.get(s.namespace);
    if (names) names.add(s.serviceName); else servedBySlices.set(s.namespace, new Set([s.serviceName]));
  }
  const derive = { maxEndpointsPerSlice: config.maxEndpointsPerSlice, podIndex: new PodIndex(allPods), nodeByName: new Map(nodes.map((n) => [n.name, n])) };
  for (const svc of finalServices) {
    if (!svc.selector) continue;
    if (servedBySlices.get(svc.namespace)?.has(svc.name)) continue;
    endpointSlices.push(...deriveEndpointSlices(svc, allPods, nodes, derive));
  }

  const model: ClusterModel = {
    config,
    namespaces: sortedBy(namespaces, (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    nodes: sortedBy(nodes, (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    pods: sortedBy(allPods, cmpNsName),
    services: finalServices,
    endpointSlices: sortedBy(endpointSlices, cmpNsName),
  };
  if (ipv6Slices.length) model.ipv6EndpointSlices = sortedBy(ipv6Slices, cmpNsName);
  // 7. policies (only when the input has any: "absent = none" keeps policy-free models unchanged)
  if (networkPolicies.length || adminPolicies.length) {
    sortAdminPolicies(adminPolicies, pc);
    model.policies = { networkPolicies: networkPolicies.sort(cmpNsName), adminPolicies };
  }
  if (hasNorthSouth(northSouth)) model.northSouth = northSouth;
  return { model, warnings: warnings.filter((w) => w.severity !== 'info'), notes: warnings.filter((w) => w.severity === 'info') };
}

/**
 * One EndpointSlice object read exactly as loadManifests reads it (namespace default, apiVersion checks,
 * validation), for the runtime's single-slice updates: the slice (undefined when the loader would skip it)
 * and the warnings the loader would give. Throws the loader's ManifestError on bad input.
 */
export function loadEndpointSliceObject(obj: Obj, source: SourceRef): { slice?: EndpointSlice; warnings: Diagnostic[] } {
  const { r, pc, warnings } = namespacedObject(obj, source, 'EndpointSlice');
  const slice = parseEndpointSlice(r, obj, pc);
  // The runtime programs the dataplane, which is IPv4-only: an IPv6 slice applied mid-stream is skipped.
  if (slice?.addressType === 'IPv6') {
    warnings.push({ severity: 'warning', code: 'address-type-ignored', message: `EndpointSlice ${slice.namespace}/${slice.name}: IPv6 EndpointSlice skipped by the dataplane (IPv4-only)`, source });
    return { warnings };
  }
  return { ...(slice ? { slice } : {}), warnings };
}

/**
 * One NetworkPolicy object as loadManifests would read it, for the runtime's single-policy change
 * (runtime.ts applyNetworkPolicy): the policy and the warnings reading it gave. Throws as the loader would.
 */
export function loadNetworkPolicyObject(obj: Obj, source: SourceRef): { policy: NetworkPolicy; warnings: Diagnostic[] } {
  const { r, pc, warnings } = namespacedObject(obj, source, 'NetworkPolicy');
  return { policy: parseNetworkPolicy(r, obj, pc), warnings };
}

/** The loader's apiVersion rule: required; another version of the kind's group is read as the served one, with a warning. */
function checkApiVersion(r: Reader, pc: ParseContext, kind: string, obj: Obj): void {
  const expected = API_VERSIONS[kind];
  const apiVersion = r.str(obj.apiVersion, 'apiVersion');
  if (!apiVersion) r.fail('apiVersion', `required (${kind} is ${expected})`);
  if (apiVersion !== expected && groupOf(apiVersion) !== groupOf(expected)) r.fail('apiVersion', `${kind} is served as ${expected}, got ${show(apiVersion)}`);
  if (apiVersion !== expected) pc.warn(r, 'api-version', 'apiVersion', `${apiVersion} read as ${expected}`);
}

/** A reader over one object of a namespaced kind as loadManifests sets it up (namespace "default" when unset), its apiVersion checked. */
function namespacedObject(obj: Obj, source: SourceRef, kind: string): { r: Reader; pc: ParseContext; warnings: Diagnostic[] } {
  const warnings: Diagnostic[] = [];
  const pc = new ParseContext(warnings);
  const md = isObj(obj.metadata) ? obj.metadata : {};
  const r: Reader = new Reader({ source, kind });
  if (typeof md.name === 'string' && md.name) r.ctx.name = md.name;
  r.ctx.namespace = typeof md.namespace === 'string' && md.namespace ? md.namespace : 'default';
  checkApiVersion(r, pc, kind, obj);
  return { r, pc, warnings };
}

/** `xs` sorted in place by `cmp`; a list already in order (a `kubectl get` dump is) is only checked. */
function sortedBy<T>(xs: T[], cmp: (a: T, b: T) => number): T[] {
  for (let i = 1; i < xs.length; i++) if (cmp(xs[i - 1], xs[i]) > 0) return xs.sort(cmp);
  return xs;
}

/** The order of the model's lists: by namespace, then name. */
export function cmpNsName(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function serviceReader(s: ParsedService): Reader {
  return new Reader({ source: s.svc.source!, kind: 'Service', namespace: s.svc.namespace, name: s.svc.name });
}

function allocateClusterIPs(services: ParsedService[], config: ClusterConfig, pc: ParseContext) {
  const { base, size } = cidrRange(config.serviceCIDR);
  const used = new Set<number>();
  for (const s of services) {
    for (const ip of s.svc.clusterIPs) {
      used.add(parseIPv4(ip)!);
      if (!cidrContains(config.serviceCIDR, ip)) {
        pc.warn(serviceReader(s), 'cluster-ip-outside-range', 'spec.clusterIP', `${ip} is outside the service CIDR ${config.serviceCIDR} (kube-apiserver would reject it; pass serviceCIDR to match the cluster)`);
      }
    }
  }
  let next = base + FIRST_ALLOCATED_SERVICE_HOST;
  for (const s of services) {
    if (!s.wantsClusterIP) continue;
    while (next < base + size - 1 && used.has(next)) next++;
    if (next >= base + size - 1) serviceReader(s).fail('spec.clusterIP', `no free cluster IP left in the service CIDR ${config.serviceCIDR}`);
    used.add(next);
    const ip = formatIPv4(next);
    s.svc.clusterIP = ip;
    s.svc.clusterIPs = [ip];
    s.svc.clusterIPAllocated = true;
  }
}

function allocateNodePorts(services: ParsedService[], config: ClusterConfig) {
  const [lo, hi] = config.nodePortRange;
  const used = new Set<number>();
  const inRange = (s: ParsedService, n: number, path: string) => {
    // portallocator: "provided port is not in the valid range. The range of valid ports is 30000-32767"
    if (n < lo || n > hi) serviceReader(s).fail(path, `provided port is not in the valid range. The range of valid ports is ${lo}-${hi}, got ${n}`);
    used.add(n);
  };
  for (const s of services) {
    s.explicitNodePorts.forEach((n, i) => n !== undefined && inRange(s, n, `spec.ports[${i}].nodePort`));
    if (s.explicitHealthCheckNodePort !== undefined) inRange(s, s.explicitHealthCheckNodePort, 'spec.healthCheckNodePort');
  }
  let next = lo;
  const allocate = (s: ParsedService, path: string): number => {
    while (next <= hi && used.has(next)) next++;
    if (next > hi) serviceReader(s).fail(path, `no free nodePort left in the range ${lo}-${hi}`);
    used.add(next);
    return next;
  };
  for (const s of services) {
    const { svc } = s;
    if (svc.type !== 'NodePort' && svc.type !== 'LoadBalancer') continue;
    const allocateNew = svc.type === 'NodePort' || svc.allocateLoadBalancerNodePorts;
    // initNodePorts: ports with the same port number (e.g. 53/TCP and 53/UDP) share one nodePort.
    const byPort = new Map<number, number>();
    svc.ports.forEach((p, i) => {
      const explicit = s.explicitNodePorts[i];
      if (explicit === undefined && !allocateNew) return;
      const shared = byPort.get(p.port);
      if (explicit !== undefined) {
        p.nodePort = explicit;
        if (shared === undefined) byPort.set(p.port, explicit);
        return;
      }
      if (shared !== undefined) {
        p.nodePort = shared;
        return;
      }
      const requested = s.explicitNodePorts.find((n, j) => n !== undefined && svc.ports[j].port === p.port);
      p.nodePort = requested ?? allocate(s, `spec.ports[${i}].nodePort`);
      byPort.set(p.port, p.nodePort);
    });
    // NeedsHealthCheck: LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort.
    if (svc.type === 'LoadBalancer' && svc.externalTrafficPolicy === 'Local') {
      svc.healthCheckNodePort = s.explicitHealthCheckNodePort ?? allocate(s, 'spec.healthCheckNodePort');
    }
  }
}


/**
 * LoadBalancer Services without an ingress address get one from the pool, in namespace/name order, never one
 * already in use; spec.loadBalancerIP, when set, is honoured (as MetalLB does). A load-balancer controller
 * would write it into status.loadBalancer.ingress: kube-proxy reads it from there.
 */
function allocateLoadBalancerIPs(services: ParsedService[], pool: string, warnings: Diagnostic[]) {
  if (pool === 'none') return;
  const c = checkCIDR(pool);
  if (typeof c === 'object' || c === 'ipv6') throw new RangeError(`lbPool: ${typeof c === 'object' ? c.error : 'must be an IPv4 CIDR'}, got ${JSON.stringify(pool)}`);
  const { base, size } = cidrRange(c);
  const used = new Set<number>();
  for (const s of services) for (const ip of s.svc.loadBalancerIngress) used.add(parseIPv4(ip)!);
  let next = size > 2 ? base + 1 : base;
  const given: string[] = [];
  for (const s of services) {
    const svc = s.svc;
    if (svc.type !== 'LoadBalancer' || svc.loadBalancerIngress.length > 0 || svc.loadBalancerHostnames.length > 0) continue;
    let ip: string | undefined = svc.loadBalancerIP;
    if (ip === undefined) {
      const last = size > 2 ? base + size - 2 : base + size - 1;
      while (next <= last && used.has(next)) next++;
      if (next > last) {
        warnings.push({ severity: 'warning', code: 'lb-pool-full', object: `Service ${svc.namespace}/${svc.name}`, source: svc.source,
          message: `Service ${svc.namespace}/${svc.name}: the load-balancer pool ${c} has no free address left; the Service stays without an external address` });
        continue;
      }
      ip = formatIPv4(next);
    }
    used.add(parseIPv4(ip)!);
    svc.loadBalancerIngress = [ip];
    svc.loadBalancerAllocated = true;
    given.push(`${svc.namespace}/${svc.name} ${ip}`);
  }
  if (given.length) {
    warnings.push({ severity: 'info', code: 'lb-addresses',
      message: `${given.length} LoadBalancer Service${given.length === 1 ? '' : 's'} without an address got one from the pool ${c}, as MetalLB or cloud-provider-kind would (${given.slice(0, 5).join(', ')}${given.length > 5 ? ', ...' : ''}); --lb-pool changes the pool` });
  }
}

/** The EndpointSlice controller's mark on the slices it manages (discovery.k8s.io/v1 LabelManagedBy). */
const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
const ENDPOINTSLICE_CONTROLLER = 'endpointslice-controller.k8s.io';

/**
 * What follows a node failure before anything is rescheduled: the node lifecycle controller marks every pod
 * on the node not ready (MarkPodsNotReady, pkg/controller/nodelifecycle/node_lifecycle_controller.go), and
 * the EndpointSlice controller then writes their endpoints not ready and not serving (endpointslice's
 * podToEndpoint takes both from the pod's Ready condition). Slices of the input are rewritten the same way
 * when that controller manages them (or they name no manager, as hand-written ones mostly do); a slice of
 * another manager says what its manager wrote. Pods are not evicted: eviction after the not-ready
 * toleration (300 s) is not modelled, so they stay bound to the failed node until it restarts.
 */
function markFailedNodes(pods: Pod[], slices: EndpointSlice[], failed: ReadonlySet<string>): void {
  for (const p of pods) if (p.nodeName !== undefined && failed.has(p.nodeName)) p.ready = false;
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i];
    const manager = s.labels[MANAGED_BY];
    if (manager !== undefined && manager !== ENDPOINTSLICE_CONTROLLER) continue;
    if (!s.endpoints.some((e) => e.nodeName !== undefined && failed.has(e.nodeName))) continue;
    slices[i] = {
      ...s,
      endpoints: s.endpoints.map((e) => (e.nodeName !== undefined && failed.has(e.nodeName)
        ? { ...e, conditions: { ready: false, serving: false, terminating: e.conditions.terminating } } : e)),
    };
  }
}
