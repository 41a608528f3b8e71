// Per-kind parsing and validation of Kubernetes objects into the model's
// types (plus the intermediate workload form). Validation follows
// pkg/apis/core/validation (ValidateService, validateServicePort, ...) and
// pkg/apis/apps/validation where a user can plausibly get it wrong; defaulting
// follows pkg/apis/core/v1/defaults.go (SetDefaults_Service, SetDefaults_ServicePort, ...).

import {
  ContainerPort, DNSPolicy, Diagnostic, Endpoint, EndpointConditions, EndpointPort, EndpointSlice, IP, Namespace, Node, OwnerRef, Pod, PodDNSConfig, PodPhase,
  Service, ServicePort, ServiceType, SourceRef, Taint, TaintEffect, Toleration, TrafficPolicy, formatSource,
} from './model.js';
import {
  Obj, Reader, describeObject, dns1035LabelError, dns1123LabelError, dns1123SubdomainError, isObj,
  labelKeyError, labelValueError, portNameError, show, specialIPError,
} from './validate.js';
import { dottedQuad } from '../common/ip.js';
import { canonicalIP } from '../dns/ip6.js';

export const LABEL_ZONE = 'topology.kubernetes.io/zone';
export const LABEL_REGION = 'topology.kubernetes.io/region';
/** Legacy annotation read by GetLoadBalancerSourceRanges when the spec field is empty. */
export const ANNOTATION_LB_SOURCE_RANGES = 'service.beta.kubernetes.io/load-balancer-source-ranges';
/** MaxClientIPServiceAffinitySeconds / DefaultClientIPServiceAffinitySeconds. */
export const MAX_AFFINITY_TIMEOUT = 86400;
export const DEFAULT_AFFINITY_TIMEOUT = 10800;

export class ParseContext {
  constructor(readonly warnings: Diagnostic[]) {}
  warn(r: Reader, code: Diagnostic['code'], path: string | undefined, detail: string) {
    this.warnings.push({
      severity: 'warning', code, object: describeObject(r.ctx), source: r.ctx.source,
      message: `${formatSource(r.ctx.source)} (${describeObject(r.ctx)}): ${path ? `${path}: ` : ''}${detail}`,
    });
  }
}

// ---- metadata ------------------------------------------------------------------

export interface Meta {
  name: string;
  namespace: string | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  deletionTimestamp?: string;
  owner?: OwnerRef;
}

export function parseMeta(r: Reader, o: Obj, namespaced: boolean, nameCheck: (s: string) => string | undefined): Meta {
  const md = r.obj(o.metadata, 'metadata') ?? {};
  const name = r.str(md.name, 'metadata.name');
  let namespace: string | undefined;
  if (namespaced) {
    namespace = r.str(md.namespace, 'metadata.namespace') || 'default';
    r.ctx.namespace = namespace;
  }
  if (name) r.ctx.name = name;
  if (!name) r.fail('metadata.name', md.generateName !== undefined ? 'required (generateName is not supported: give the object a name)' : 'required');
  r.nameCheck(name, 'metadata.name', nameCheck);
  if (namespace !== undefined) r.nameCheck(namespace, 'metadata.namespace', dns1123LabelError);
  const labels = r.labels(md.labels, 'metadata.labels');
  const annotations = r.stringMap(md.annotations, 'metadata.annotations');
  const meta: Meta = { name, namespace, labels, annotations };
  const del = md.deletionTimestamp;
  if (del !== undefined && del !== null) {
    if (typeof del !== 'string' || del === '') r.fail('metadata.deletionTimestamp', `must be a timestamp string, got ${show(del)}`);
    meta.deletionTimestamp = del;
  }
  const owners = r.arr(md.ownerReferences, 'metadata.ownerReferences').map((v, i) => {
    const p = `metadata.ownerReferences[${i}]`;
    const ref = r.reqObj(v, p);
    return { kind: r.reqStr(ref.kind, `${p}.kind`), name: r.reqStr(ref.name, `${p}.name`), controller: r.bool(ref.controller, `${p}.controller`) };
  });
  const ctl = owners.find((x) => x.controller) ?? owners[0];
  if (ctl) meta.owner = { kind: ctl.kind, name: ctl.name };
  return meta;
}

// ---- Namespace, Node -------------------------------------------------------------

export function parseNamespace(r: Reader, o: Obj): Namespace {
  const m = parseMeta(r, o, false, dns1123LabelError);
  return { name: m.name, labels: m.labels, implicit: false, source: r.ctx.source };
}

const TAINT_EFFECTS: readonly TaintEffect[] = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
const DNS_POLICIES: readonly DNSPolicy[] = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];

export function parseNode(r: Reader, o: Obj, pc: ParseContext): Node {
  const m = parseMeta(r, o, false, dns1123SubdomainError);
  const spec = r.obj(o.spec, 'spec') ?? {};
  const status = r.obj(o.status, 'status') ?? {};
  const podCIDRs: string[] = [];
  let sawV6 = false;
  const addCidr = (v: unknown, path: string) => {
    const c = r.cidr(v, path);
    if (c === 'ipv6') sawV6 = true;
    else if (c !== undefined && !podCIDRs.includes(c)) podCIDRs.push(c);
  };
  const list = r.arr(spec.podCIDRs, 'spec.podCIDRs');
  list.forEach((v, i) => addCidr(v, `spec.podCIDRs[${i}]`));
  if (spec.podCIDR !== undefined && spec.podCIDR !== '') {
    const first = r.cidr(spec.podCIDR, 'spec.podCIDR');
    const firstOfList = list.length ? r.cidr(list[0], 'spec.podCIDRs[0]') : undefined;
    if (firstOfList !== undefined && first !== firstOfList) r.fail('spec.podCIDR', `must equal spec.podCIDRs[0] (${show(list[0])}), got ${show(spec.podCIDR)}`);
    addCidr(spec.podCIDR, 'spec.podCIDR');
  }
  if (sawV6 && podCIDRs.length === 0) pc.warn(r, 'ipv6-ignored', 'spec.podCIDRs', 'only IPv6 pod CIDRs: ignored (dpemu is IPv4-only)');
  const taints: Taint[] = r.arr(spec.taints, 'spec.taints').map((v, i) => {
    const p = `spec.taints[${i}]`;
    const t = r.reqObj(v, p);
    const key = r.reqStr(t.key, `${p}.key`);
    const ek = labelKeyError(key);
    if (ek) r.fail(`${p}.key`, `${ek}, got ${show(key)}`);
    const effect = r.oneOf(t.effect, `${p}.effect`, TAINT_EFFECTS);
    if (!effect) r.fail(`${p}.effect`, 'required');
    return { key, value: r.str(t.value, `${p}.value`) ?? '', effect };
  });
  const addresses: { type: string; address: IP }[] = [];
  r.arr(status.addresses, 'status.addresses').forEach((v, i) => {
    const p = `status.addresses[${i}]`;
    const a = r.reqObj(v, p);
    const type = r.reqStr(a.type, `${p}.type`);
    if (type === 'InternalIP' || type === 'ExternalIP') {
      const ip = r.ip(a.address, `${p}.address`);
      if (ip === undefined) r.fail(`${p}.address`, 'required');
      if (ip !== 'ipv6') addresses.push({ type, address: ip });
    }
  });
  let ready = true;
  r.arr(status.conditions, 'status.conditions').forEach((v, i) => {
    const c = r.reqObj(v, `status.conditions[${i}]`);
    if (c.type === 'Ready') ready = r.str(c.status, `status.conditions[${i}].status`) === 'True';
  });
  const node: Node = {
    name: m.name, labels: m.labels, addresses, podCIDRs, podCIDRAllocated: false,
    unschedulable: r.bool(spec.unschedulable, 'spec.unschedulable') ?? false, taints, ready, source: r.ctx.source,
  };
  if (m.labels[LABEL_ZONE]) node.zone = m.labels[LABEL_ZONE];
  if (m.labels[LABEL_REGION]) node.region = m.labels[LABEL_REGION];
  const internal = addresses.find((a) => a.type === 'InternalIP');
  const external = addresses.find((a) => a.type === 'ExternalIP');
  if (internal) node.internalIP = internal.address;
  if (external) node.externalIP = external.address;
  return node;
}

// ---- Pods and pod templates --------------------------------------------------------

export interface PodSpecInfo {
  nodeName?: string;
  hostNetwork: boolean;
  hostname?: string;
  subdomain?: string;
  dnsPolicy?: DNSPolicy;
  dnsConfig?: PodDNSConfig;
  ports: ContainerPort[];
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
}

function parseContainers(r: Reader, list: unknown, path: string, init: boolean, out: ContainerPort[]) {
  r.arr(list, path).forEach((v, i) => {
    const cp = `${path}[${i}]`;
    const c = r.reqObj(v, cp);
    const name = r.reqStr(c.name, `${cp}.name`);
    r.nameCheck(name, `${cp}.name`, dns1123LabelError);
    const sidecar = init && r.str(c.restartPolicy, `${cp}.restartPolicy`) === 'Always';
    const names = new Set<string>();
    r.arr(c.ports, `${cp}.ports`).forEach((pv, j) => {
      const pp = `${cp}.ports[${j}]`;
      const p = r.reqObj(pv, pp);
      const port: ContainerPort = {
        container: name,
        containerPort: r.reqInt(p.containerPort, `${pp}.containerPort`, 1, 65535),
        protocol: r.protocol(p.protocol, `${pp}.protocol`),
      };
      const pname = r.str(p.name, `${pp}.name`);
      if (pname) {
        r.nameCheck(pname, `${pp}.name`, portNameError);
        if (names.has(pname)) r.fail(`${pp}.name`, `duplicate port name ${show(pname)} in container ${show(name)}`);
        names.add(pname);
        port.name = pname;
      }
      const hostPort = r.int(p.hostPort, `${pp}.hostPort`, 0, 65535);
      if (hostPort) port.hostPort = hostPort;
      if (sidecar) port.sidecar = true;
      if (!init || sidecar) out.push(port);
    });
  });
}

export function parsePodSpec(r: Reader, specV: unknown, path: string): PodSpecInfo {
  const spec = r.reqObj(specV, path);
  const ports: ContainerPort[] = [];
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    if (spec.containers !== undefined && !Array.isArray(spec.containers)) r.arr(spec.containers, `${path}.containers`);
    r.fail(`${path}.containers`, 'required (at least one container)');
  }
  parseContainers(r, spec.containers, `${path}.containers`, false, ports);
  parseContainers(r, spec.initContainers, `${path}.initContainers`, true, ports);
  const info: PodSpecInfo = {
    hostNetwork: r.bool(spec.hostNetwork, `${path}.hostNetwork`) ?? false,
    ports,
    nodeSelector: r.stringMap(spec.nodeSelector, `${path}.nodeSelector`),
    tolerations: r.arr(spec.tolerations, `${path}.tolerations`).map((v, i) => {
      const p = `${path}.tolerations[${i}]`;
      const t = r.reqObj(v, p);
      const tol: Toleration = { operator: r.oneOf(t.operator, `${p}.operator`, ['Exists', 'Equal'] as const) ?? 'Equal' };
      const key = r.str(t.key, `${p}.key`);
      if (key) tol.key = key;
      const value = r.str(t.value, `${p}.value`);
      if (value !== undefined) tol.value = value;
      if (tol.operator === 'Exists' && value) r.fail(`${p}.value`, 'must be empty when operator is "Exists"');
      if (!key && tol.operator !== 'Exists') r.fail(`${p}.operator`, 'must be "Exists" when key is empty');
      const effect = r.oneOf(t.effect, `${p}.effect`, TAINT_EFFECTS);
      if (effect) tol.effect = effect;
      return tol;
    }),
  };
  const nodeName = r.str(spec.nodeName, `${path}.nodeName`);
  if (nodeName) {
    r.nameCheck(nodeName, `${path}.nodeName`, dns1123SubdomainError);
    info.nodeName = nodeName;
  }
  const hostname = r.str(spec.hostname, `${path}.hostname`);
  if (hostname) {
    r.nameCheck(hostname, `${path}.hostname`, dns1123LabelError);
    info.hostname = hostname;
  }
  const subdomain = r.str(spec.subdomain, `${path}.subdomain`);
  if (subdomain) {
    r.nameCheck(subdomain, `${path}.subdomain`, dns1123LabelError);
    info.subdomain = subdomain;
  }
  const dnsPolicy = r.oneOf(spec.dnsPolicy, `${path}.dnsPolicy`, DNS_POLICIES);
  if (dnsPolicy) info.dnsPolicy = dnsPolicy;
  const dc = r.obj(spec.dnsConfig, `${path}.dnsConfig`);
  if (dc) {
    info.dnsConfig = {
      nameservers: r.arr(dc.nameservers, `${path}.dnsConfig.nameservers`).map((v, i) => r.reqStr(v, `${path}.dnsConfig.nameservers[${i}]`)),
      searches: r.arr(dc.searches, `${path}.dnsConfig.searches`).map((v, i) => r.reqStr(v, `${path}.dnsConfig.searches[${i}]`)),
      options: r.arr(dc.options, `${path}.dnsConfig.options`).map((v, i) => {
        const o = r.reqObj(v, `${path}.dnsConfig.options[${i}]`);
        const value = r.str(o.value, `${path}.dnsConfig.options[${i}].value`);
        return { name: r.reqStr(o.name, `${path}.dnsConfig.options[${i}].name`), ...(value !== undefined ? { value } : {}) };
      }),
    };
  }
  // Validation (pkg/apis/core/validation validateDNSPolicy): dnsPolicy None requires dnsConfig.
  if (dnsPolicy === 'None' && !dc) r.fail(`${path}.dnsConfig`, 'is required when dnsPolicy is "None"');
  return info;
}

const PHASES: readonly PodPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

export interface ParsedPod {
  pod: Pod;
  spec: PodSpecInfo;
  /** False when the manifest has no status: the loader schedules the pod, gives it an IP and makes it Running and Ready. */
  hasStatus: boolean;
}

export function parsePod(r: Reader, o: Obj, pc: ParseContext): ParsedPod {
  const m = parseMeta(r, o, true, dns1123SubdomainError);
  const spec = parsePodSpec(r, o.spec, 'spec');
  const hasStatus = isObj(o.status);
  const status = r.obj(o.status, 'status') ?? {};
  const pod: Pod = {
    namespace: m.namespace!, name: m.name, labels: m.labels, hostNetwork: spec.hostNetwork, ports: spec.ports,
    podIPs: [], phase: 'Pending', ready: false, terminating: m.deletionTimestamp !== undefined,
    simulated: !hasStatus, source: r.ctx.source,
  };
  if (spec.nodeName) pod.nodeName = spec.nodeName;
  if (spec.hostname) pod.hostname = spec.hostname;
  if (spec.subdomain) pod.subdomain = spec.subdomain;
  if (spec.dnsPolicy) pod.dnsPolicy = spec.dnsPolicy;
  if (spec.dnsConfig) pod.dnsConfig = spec.dnsConfig;
  if (m.owner) pod.owner = m.owner;
  if (hasStatus) {
    pod.phase = r.oneOf(status.phase, 'status.phase', PHASES) ?? 'Pending';
    const podIP = r.ip(status.podIP, 'status.podIP');
    const ips = r.arr(status.podIPs, 'status.podIPs').map((v, i) => {
      const e = r.reqObj(v, `status.podIPs[${i}]`);
      const ip = r.ip(e.ip, `status.podIPs[${i}].ip`);
      if (ip === undefined) r.fail(`status.podIPs[${i}].ip`, 'required');
      return ip;
    });
    if (podIP !== undefined && ips.length > 0 && ips[0] !== podIP) {
      r.fail('status.podIP', `must equal status.podIPs[0].ip (${show(ips[0])}), got ${show(podIP)}`);
    }
    const all = ips.length ? ips : podIP !== undefined ? [podIP] : [];
    pod.podIPs = all.filter((ip): ip is IP => ip !== 'ipv6');
    if (all.length > 0 && pod.podIPs.length === 0) pc.warn(r, 'ipv6-ignored', 'status.podIPs', 'only IPv6 pod IPs: the pod is left without an address (dpemu is IPv4-only)');
    if (pod.podIPs.length) pod.podIP = pod.podIPs[0];
    const hostIP = r.ip(status.hostIP, 'status.hostIP');
    if (hostIP !== undefined && hostIP !== 'ipv6') pod.hostIP = hostIP;
    r.arr(status.conditions, 'status.conditions').forEach((v, i) => {
      const c = r.reqObj(v, `status.conditions[${i}]`);
      // podutil.IsPodReady: the Ready condition has status "True".
      if (c.type === 'Ready') pod.ready = r.str(c.status, `status.conditions[${i}].status`) === 'True';
    });
  }
  return { pod, spec, hasStatus };
}

export { labelSelectorMatches, formatSelector, formatLabels } from './labels.js';
export type { LabelSelector } from './labels.js';
import { LabelSelector, labelSelectorMatches, formatSelector, formatLabels } from './labels.js';

// ---- label selectors ----------------------------------------------------------------

export interface LabelSelectorOptions {
  /**
   * Accept {} (no labels, no expressions). Policies need it: there an empty
   * selector selects everything. Services and workloads refuse it.
   */
  allowEmpty?: boolean;
}

export function parseLabelSelector(r: Reader, v: unknown, path: string, opts: LabelSelectorOptions = {}): LabelSelector {
  const o = r.reqObj(v, path);
  const sel: LabelSelector = {
    matchLabels: r.labels(o.matchLabels, `${path}.matchLabels`),
    matchExpressions: r.arr(o.matchExpressions, `${path}.matchExpressions`).map((ev, i) => {
      const p = `${path}.matchExpressions[${i}]`;
      const e = r.reqObj(ev, p);
      const key = r.reqStr(e.key, `${p}.key`);
      const ek = labelKeyError(key);
      if (ek) r.fail(`${p}.key`, `${ek}, got ${show(key)}`);
      const operator = r.oneOf(e.operator, `${p}.operator`, ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
      if (!operator) r.fail(`${p}.operator`, 'required');
      const values = r.arr(e.values, `${p}.values`).map((x, j) => {
        const val = r.str(x, `${p}.values[${j}]`) ?? '';
        // ValidateLabelSelectorRequirement: each value must be a valid label value.
        const ev = labelValueError(val);
        if (ev) r.fail(`${p}.values[${j}]`, `${ev}, got ${show(val)}`);
        return val;
      });
      if ((operator === 'In' || operator === 'NotIn') && values.length === 0) r.fail(`${p}.values`, `must be non-empty when operator is ${operator}`);
      if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) r.fail(`${p}.values`, `must be empty when operator is ${operator}`);
      return { key, operator, values };
    }),
  };
  if (!opts.allowEmpty && Object.keys(sel.matchLabels).length === 0 && sel.matchExpressions.length === 0) r.fail(path, 'empty selector is invalid (it would select every pod)');
  return sel;
}

// ---- workloads ----------------------------------------------------------------------

export type WorkloadKind = 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet' | 'ReplicationController';

export interface Workload {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  replicas: number;
  selector: LabelSelector;
  templateLabels: Record<string, string>;
  template: PodSpecInfo;
  /** The template as written, for the pod-template-hash. */
  rawTemplate: unknown;
  serviceName?: string;
  owner?: OwnerRef;
  source: SourceRef;
  object: string;
}

export function parseWorkload(r: Reader, o: Obj, kind: WorkloadKind): Workload {
  const m = parseMeta(r, o, true, dns1123SubdomainError);
  const spec = r.reqObj(o.spec, 'spec');
  const replicas = kind === 'DaemonSet' ? 0 : r.int(spec.replicas, 'spec.replicas', 0, 100000) ?? 1;
  const tpl = r.reqObj(spec.template, 'spec.template');
  const tmd = r.obj(tpl.metadata, 'spec.template.metadata') ?? {};
  const templateLabels = r.labels(tmd.labels, 'spec.template.metadata.labels');
  // A ReplicationController's selector is a plain label map, defaulted to the template's labels
  // (core/v1 defaults: SetDefaults_ReplicationController).
  const selector: LabelSelector = kind === 'ReplicationController'
    ? { matchLabels: spec.selector === undefined || spec.selector === null ? { ...templateLabels } : r.labels(spec.selector, 'spec.selector'), matchExpressions: [] }
    : parseLabelSelector(r, spec.selector, 'spec.selector');
  // apps validation: "`selector` does not match template `labels`".
  if (!labelSelectorMatches(selector, templateLabels)) {
    r.fail('spec.template.metadata.labels', `must match spec.selector (selector ${formatSelector(selector)}, labels ${formatLabels(templateLabels)})`);
  }
  const template = parsePodSpec(r, tpl.spec, 'spec.template.spec');
  const w: Workload = {
    kind, namespace: m.namespace!, name: m.name, replicas, selector, templateLabels, template,
    rawTemplate: tpl, source: r.ctx.source, object: describeObject(r.ctx),
  };
  if (kind === 'StatefulSet') {
    const sn = r.str(spec.serviceName, 'spec.serviceName');
    if (sn) {
      r.nameCheck(sn, 'spec.serviceName', dns1123LabelError);
      w.serviceName = sn;
    }
  }
  if (m.owner) w.owner = m.owner;
  return w;
}

// ---- Service ------------------------------------------------------------------------

const SERVICE_TYPES: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const POLICIES: readonly TrafficPolicy[] = ['Cluster', 'Local'];

export interface ParsedService {
  svc: Service;
  /** True when spec.clusterIP is empty and one must be allocated. */
  wantsClusterIP: boolean;
  /** Explicit nodePorts per port index (validated against the range by the loader). */
  explicitNodePorts: (number | undefined)[];
  explicitHealthCheckNodePort?: number;
  /** Only IPv6 cluster IPs: the loader skips the service. */
  ipv6Only: boolean;
}

export function parseService(r: Reader, o: Obj, pc: ParseContext): ParsedService {
  const m = parseMeta(r, o, true, dns1035LabelError);
  const spec = r.obj(o.spec, 'spec') ?? {};
  const status = r.obj(o.status, 'status') ?? {};
  const type = r.oneOf(spec.type, 'spec.type', SERVICE_TYPES) ?? 'ClusterIP';

  // clusterIP / clusterIPs
  const clusterIPRaw = r.str(spec.clusterIP, 'spec.clusterIP') ?? '';
  const clusterIPsRaw = r.arr(spec.clusterIPs, 'spec.clusterIPs').map((v, i) => r.str(v, `spec.clusterIPs[${i}]`) ?? '');
  if (clusterIPRaw && clusterIPsRaw.length && clusterIPsRaw[0] !== clusterIPRaw) {
    r.fail('spec.clusterIPs[0]', `must equal spec.clusterIP (${show(clusterIPRaw)}), got ${show(clusterIPsRaw[0])}`);
  }
  const first = clusterIPRaw || clusterIPsRaw[0] || '';
  const headless = first === 'None';
  if (headless && type !== 'ClusterIP') r.fail('spec.clusterIP', `may not be set to 'None' for ${type} services`);
  if (type === 'ExternalName' && first !== '') r.fail('spec.clusterIP', 'must be empty for ExternalName services');
  const clusterIPs: IP[] = [];
  const ipv6ClusterIPs: IP[] = [];
  let sawV6 = false;
  if (!headless && first) {
    const list = clusterIPsRaw.length ? clusterIPsRaw : [clusterIPRaw];
    list.forEach((s, i) => {
      const path = clusterIPsRaw.length ? `spec.clusterIPs[${i}]` : 'spec.clusterIP';
      if (s === 'None') r.fail(path, "'None' must be the only cluster IP");
      const ip = r.ip(s, path);
      if (ip === undefined) r.fail(path, "must be empty, 'None', or a valid IP address");
      if (ip === 'ipv6') { sawV6 = true; const v6 = canonicalIP(s); if (v6) ipv6ClusterIPs.push(v6); }
      else clusterIPs.push(ip);
    });
  }

  // ports
  const portsRaw = r.arr(spec.ports, 'spec.ports');
  if (portsRaw.length === 0 && !headless && type !== 'ExternalName') r.fail('spec.ports', 'required (at least one port, unless the Service is headless or ExternalName)');
  const names = new Set<string>();
  const seen = new Map<string, number>();
  const explicitNodePorts: (number | undefined)[] = [];
  const ports: ServicePort[] = portsRaw.map((v, i) => {
    const p = `spec.ports[${i}]`;
    const sp = r.reqObj(v, p);
    const name = r.str(sp.name, `${p}.name`) ?? '';
    if (portsRaw.length > 1 && !name) r.fail(`${p}.name`, 'required when the Service has more than one port');
    if (name) {
      r.nameCheck(name, `${p}.name`, dns1123LabelError);
      if (names.has(name)) r.fail(`${p}.name`, `duplicate port name ${show(name)}`);
      names.add(name);
    }
    const port = r.reqInt(sp.port, `${p}.port`, 1, 65535);
    const protocol = r.protocol(sp.protocol, `${p}.protocol`);
    const key = `${protocol}/${port}`;
    if (seen.has(key)) r.fail(p, `duplicate port ${port}/${protocol} (also spec.ports[${seen.get(key)}])`);
    seen.set(key, i);
    let targetPort: number | string = port; // SetDefaults_ServicePort: targetPort defaults to port
    const tp = sp.targetPort;
    if (typeof tp === 'number') {
      if (tp !== 0) targetPort = r.reqInt(tp, `${p}.targetPort`, 1, 65535);
    } else if (typeof tp === 'string') {
      if (tp !== '') {
        r.nameCheck(tp, `${p}.targetPort`, portNameError);
        targetPort = tp;
      }
    } else if (tp !== undefined && tp !== null) {
      r.fail(`${p}.targetPort`, `must be a port number or a port name, got ${show(tp)}`);
    }
    const nodePort = r.int(sp.nodePort, `${p}.nodePort`, 0, 65535) || undefined;
    if (nodePort !== undefined && type === 'ClusterIP') r.fail(`${p}.nodePort`, "may not be used when `type` is 'ClusterIP'");
    explicitNodePorts.push(type === 'NodePort' || type === 'LoadBalancer' ? nodePort : undefined);
    const out: ServicePort = { name, protocol, port, targetPort };
    const ap = r.str(sp.appProtocol, `${p}.appProtocol`);
    if (ap) out.appProtocol = ap;
    return out;
  });
  // Duplicate nodePorts within a service count per (protocol, nodePort).
  const np = new Map<string, number>();
  explicitNodePorts.forEach((n, i) => {
    if (n === undefined) return;
    const key = `${ports[i].protocol}/${n}`;
    if (np.has(key)) r.fail(`spec.ports[${i}].nodePort`, `duplicate nodePort ${n}/${ports[i].protocol} (also spec.ports[${np.get(key)}])`);
    np.set(key, i);
  });

  // selector
  const selectorMap = r.labels(spec.selector, 'spec.selector');
  const hasSelector = Object.keys(selectorMap).length > 0;
  if (isObj(spec.selector) && !hasSelector) {
    pc.warn(r, 'empty-selector', 'spec.selector', 'empty selector: treated as no selector (the API server does not keep empty maps), so no endpoints are derived');
  }

  // externally accessible: apiservice.ExternallyAccessible
  const externalIPs: IP[] = [];
  r.arr(spec.externalIPs, 'spec.externalIPs').forEach((v, i) => {
    const path = `spec.externalIPs[${i}]`;
    const ip = r.ip(v, path);
    if (ip === undefined) r.fail(path, 'must be a valid IP address');
    if (ip === 'ipv6') return;
    const e = specialIPError(ip);
    if (e) r.fail(path, `${e}, got ${show(v)}`);
    externalIPs.push(ip);
  });
  const externallyAccessible = type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && externalIPs.length > 0);
  const etp = r.oneOf(spec.externalTrafficPolicy, 'spec.externalTrafficPolicy', POLICIES);
  if (etp !== undefined && !externallyAccessible) r.fail('spec.externalTrafficPolicy', `may only be set for externally-accessible services (NodePort, LoadBalancer, or with externalIPs), got ${show(etp)}`);
  const itp = r.oneOf(spec.internalTrafficPolicy, 'spec.internalTrafficPolicy', POLICIES);

  // session affinity
  const affinity = r.oneOf(spec.sessionAffinity, 'spec.sessionAffinity', ['None', 'ClientIP'] as const) ?? 'None';
  const sac = r.obj(spec.sessionAffinityConfig, 'spec.sessionAffinityConfig');
  let timeout = DEFAULT_AFFINITY_TIMEOUT;
  if (sac) {
    if (affinity === 'None') r.fail('spec.sessionAffinityConfig', 'must not be set when sessionAffinity is None');
    const cip = r.obj(sac.clientIP, 'spec.sessionAffinityConfig.clientIP');
    const t = cip ? r.int(cip.timeoutSeconds, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', 1, MAX_AFFINITY_TIMEOUT) : undefined;
    if (t !== undefined) timeout = t;
  }

  // load balancer
  const lbsrPath = 'spec.loadBalancerSourceRanges';
  let lbsr = r.arr(spec.loadBalancerSourceRanges, lbsrPath).map((v, i) => ({ v, path: `${lbsrPath}[${i}]` }));
  const ann = m.annotations[ANNOTATION_LB_SOURCE_RANGES];
  if (lbsr.length === 0 && ann !== undefined && ann.trim() !== '') {
    lbsr = ann.split(',').map((v) => ({ v: v.trim(), path: `metadata.annotations[${ANNOTATION_LB_SOURCE_RANGES}]` }));
  }
  if (lbsr.length > 0 && type !== 'LoadBalancer') r.fail(lbsr[0].path.replace(/\[\d+\]$/, ''), "may only be used when `type` is 'LoadBalancer'");
  const sourceRanges: string[] = [];
  for (const { v, path } of lbsr) {
    const c = r.cidr(typeof v === 'string' ? v.trim() : v, path);
    if (c === undefined) r.fail(path, 'must be a CIDR (e.g. 10.0.0.0/8)');
    if (c !== 'ipv6' && !sourceRanges.includes(c)) sourceRanges.push(c);
  }
  const alloc = r.bool(spec.allocateLoadBalancerNodePorts, 'spec.allocateLoadBalancerNodePorts');
  if (alloc !== undefined && type !== 'LoadBalancer') r.fail('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'");
  const hcnp = r.int(spec.healthCheckNodePort, 'spec.healthCheckNodePort', 0, 65535) || undefined;
  const needsHealthCheck = type === 'LoadBalancer' && etp === 'Local';
  if (hcnp !== undefined && !needsHealthCheck) r.fail('spec.healthCheckNodePort', 'may only be set when `type` is LoadBalancer and externalTrafficPolicy is Local');

  const lbStatus = r.obj(status.loadBalancer, 'status.loadBalancer') ?? {};
  const ingressIPs: IP[] = [];
  const ingressHostnames: string[] = [];
  r.arr(lbStatus.ingress, 'status.loadBalancer.ingress').forEach((v, i) => {
    const p = `status.loadBalancer.ingress[${i}]`;
    const ing = r.reqObj(v, p);
    const ip = r.ip(ing.ip, `${p}.ip`);
    const ipMode = r.str(ing.ipMode, `${p}.ipMode`);
    if (ipMode !== undefined && ipMode !== 'VIP' && ipMode !== 'Proxy') r.fail(`${p}.ipMode`, `must be one of "VIP", "Proxy", got ${JSON.stringify(ipMode)}`);
    if (ipMode !== undefined && ip === undefined) r.fail(`${p}.ipMode`, 'may only be set when ip is set');
    // ipMode Proxy: the load balancer proxies to the nodes itself, so kube-proxy programs no rule for
    // that address (pkg/proxy/serviceport.go: only ingress IPs whose IPMode is nil or VIP are VIPs).
    if (ip !== undefined && ip !== 'ipv6' && ipMode !== 'Proxy') ingressIPs.push(ip);
    const host = r.str(ing.hostname, `${p}.hostname`);
    if (host) {
      r.nameCheck(host, `${p}.hostname`, dns1123SubdomainError);
      ingressHostnames.push(host);
    }
  });
  if ((ingressIPs.length || ingressHostnames.length) && type !== 'LoadBalancer') {
    pc.warn(r, 'ingress-on-non-lb', 'status.loadBalancer.ingress', `set on a ${type} service: ignored by kube-proxy`);
  }

  const svc: Service = {
    namespace: m.namespace!, name: m.name, labels: m.labels, type, clusterIPs, headless, clusterIPAllocated: false,
    ports, externalIPs, loadBalancerIngress: ingressIPs, loadBalancerHostnames: ingressHostnames,
    externalTrafficPolicy: etp ?? 'Cluster', internalTrafficPolicy: itp ?? 'Cluster',
    sessionAffinity: affinity, sessionAffinityTimeout: timeout, loadBalancerSourceRanges: sourceRanges,
    allocateLoadBalancerNodePorts: type === 'LoadBalancer' ? alloc ?? true : true,
    publishNotReadyAddresses: r.bool(spec.publishNotReadyAddresses, 'spec.publishNotReadyAddresses') ?? false,
    source: r.ctx.source,
  };
  if (hasSelector) svc.selector = selectorMap;
  const td = r.str(spec.trafficDistribution, 'spec.trafficDistribution');
  if (td) svc.trafficDistribution = td;
  if (clusterIPs.length) svc.clusterIP = clusterIPs[0];
  if (ipv6ClusterIPs.length) svc.ipv6ClusterIPs = ipv6ClusterIPs;
  if (type === 'ExternalName') {
    const en = r.reqStr(spec.externalName, 'spec.externalName');
    r.nameCheck(en.endsWith('.') ? en.slice(0, -1) : en, 'spec.externalName', dns1123SubdomainError);
    svc.externalName = en;
  }
  const lbip = r.ip(spec.loadBalancerIP, 'spec.loadBalancerIP');
  if (lbip !== undefined && lbip !== 'ipv6') svc.loadBalancerIP = lbip;
  const wantsClusterIP = type !== 'ExternalName' && !headless && first === '';
  if (sawV6 && clusterIPs.length === 0) {
    // Returned with no cluster IP; the loader drops IPv6-only services.
    pc.warn(r, 'ipv6-ignored', 'spec.clusterIPs', 'IPv6-only service: skipped (dpemu is IPv4-only)');
  }
  const parsed: ParsedService = { svc, wantsClusterIP, explicitNodePorts, ipv6Only: sawV6 && clusterIPs.length === 0 };
  if (hcnp !== undefined) parsed.explicitHealthCheckNodePort = hcnp;
  return parsed;
}

// ---- EndpointSlice ----------------------------------------------------------------

/**
 * Endpoint conditions: one frozen object per combination, shared by every endpoint that has it (there are
 * eight, and an endpoint per pod of every service: an object each was a good part of the loader's garbage).
 */
const CONDITIONS: readonly EndpointConditions[] = Array.from({ length: 8 }, (_, k) =>
  Object.freeze({ ready: (k & 4) !== 0, serving: (k & 2) !== 0, terminating: (k & 1) !== 0 }));
const endpointConditions = (ready: boolean, serving: boolean, terminating: boolean): EndpointConditions =>
  CONDITIONS[(ready ? 4 : 0) | (serving ? 2 : 0) | (terminating ? 1 : 0)];

/** The path of a field of endpoint i (`rest` starts with '.' or is empty), for a message. */
const epPath = (i: number, rest: string) => `endpoints[${i}]${rest}`;
// Reader.str / bool / obj of a field of endpoint i, with the path built only when the Reader is needed.
const epStr = (r: Reader, v: unknown, i: number, rest: string): string | undefined =>
  v === undefined || typeof v === 'string' ? v : r.str(v, epPath(i, rest));
const epBool = (r: Reader, v: unknown, i: number, rest: string): boolean | undefined =>
  v === undefined || typeof v === 'boolean' ? v : r.bool(v, epPath(i, rest));
const epObj = (r: Reader, v: unknown, i: number, rest: string): Obj | undefined =>
  v === undefined ? undefined : isObj(v) ? v : r.obj(v, epPath(i, rest));

export function parseEndpointSlice(r: Reader, o: Obj, pc: ParseContext): EndpointSlice | undefined {
  const m = parseMeta(r, o, true, dns1123SubdomainError);
  const addressType = r.oneOf(o.addressType, 'addressType', ['IPv4', 'IPv6', 'FQDN'] as const);
  if (!addressType) r.fail('addressType', 'required (IPv4, IPv6 or FQDN)');
  const serviceName = m.labels['kubernetes.io/service-name'];
  // The endpoints are most of a cluster's objects (100,000 in the control-plane benchmark), so their
  // fields are type-checked inline and the path of a field (for the message) is only built when the
  // Reader is called on a value that is not of the plain type: it then fails, or reads a null as absent.
  const list = r.arr(o.endpoints, 'endpoints');
  const endpoints: Endpoint[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    const e = isObj(v) ? v : r.reqObj(v, epPath(i, ''));
    const addrs = Array.isArray(e.addresses) ? e.addresses : r.arr(e.addresses, epPath(i, '.addresses'));
    if (addrs.length === 0 || addrs.length > 100) r.fail(epPath(i, '.addresses'), `must contain 1..100 addresses, got ${addrs.length}`);
    const addresses: IP[] = [];
    for (let j = 0; j < addrs.length; j++) {
      const a = addrs[j];
      // A canonical dotted quad in an IPv4 slice is what checkIP would return as it is.
      if (addressType === 'IPv4' && typeof a === 'string' && dottedQuad(a, false) !== undefined) { addresses.push(a); continue; }
      const ap = epPath(i, `.addresses[${j}]`);
      if (addressType === 'FQDN') {
        r.nameCheck(r.reqStr(a, ap), ap, dns1123SubdomainError);
        continue;
      }
      const ip = r.ip(a, ap);
      if (ip === undefined) r.fail(ap, 'required');
      if ((ip === 'ipv6') !== (addressType === 'IPv6')) r.fail(ap, `must be an ${addressType} address (addressType), got ${show(a)}`);
      if (ip !== 'ipv6') addresses.push(ip);
      else addresses.push(canonicalIP(a as string) ?? (a as string));
    }
    const c = epObj(r, e.conditions, i, '.conditions') ?? {};
    // Nil rules from the EndpointConditions API docs (and kube-proxy's endpointslicecache.go).
    const conditions = endpointConditions(
      epBool(r, c.ready, i, '.conditions.ready') ?? true,
      epBool(r, c.serving, i, '.conditions.serving') ?? true,
      epBool(r, c.terminating, i, '.conditions.terminating') ?? false,
    );
    const nodeName = epStr(r, e.nodeName, i, '.nodeName');
    const zone = epStr(r, e.zone, i, '.zone');
    const hostname = epStr(r, e.hostname, i, '.hostname');
    if (hostname) r.nameCheck(hostname, epPath(i, '.hostname'), dns1123LabelError);
    const hints = epObj(r, e.hints, i, '.hints');
    let hintsForZones: string[] | undefined, hintsForNodes: string[] | undefined;
    if (hints) {
      const p = epPath(i, '');
      hintsForZones = r.arr(hints.forZones, `${p}.hints.forZones`).map((z, j) => r.reqStr(r.reqObj(z, `${p}.hints.forZones[${j}]`).name, `${p}.hints.forZones[${j}].name`));
      hintsForNodes = r.arr(hints.forNodes, `${p}.hints.forNodes`).map((z, j) => r.reqStr(r.reqObj(z, `${p}.hints.forNodes[${j}]`).name, `${p}.hints.forNodes[${j}].name`));
    }
    const tr = epObj(r, e.targetRef, i, '.targetRef');
    let targetRef: Endpoint['targetRef'];
    if (tr) {
      const kind = epStr(r, tr.kind, i, '.targetRef.kind') ?? '', name = epStr(r, tr.name, i, '.targetRef.name') ?? '';
      const ns = epStr(r, tr.namespace, i, '.targetRef.namespace');
      targetRef = ns ? { kind, name, namespace: ns } : { kind, name };
    }
    // The usual endpoint (node and pod, no zone, hostname or hints) is made whole at once: fields given
    // after an object is made need a second allocation, and there is one endpoint per pod of every service.
    let ep: Endpoint;
    if (nodeName && !zone && !hostname && !hints && targetRef) {
      ep = { addresses, conditions, nodeName, targetRef };
    } else {
      ep = { addresses, conditions };
      if (nodeName) ep.nodeName = nodeName;
      if (zone) ep.zone = zone;
      if (hostname) ep.hostname = hostname;
      if (hintsForZones) ep.hintsForZones = hintsForZones;
      if (hintsForNodes?.length) ep.hintsForNodes = hintsForNodes;
      if (targetRef) ep.targetRef = targetRef;
    }
    endpoints[i] = ep;
  }
  const portNames = new Set<string>();
  const ports: EndpointPort[] = r.arr(o.ports, 'ports').map((v, i) => {
    const p = `ports[${i}]`;
    const e = r.reqObj(v, p);
    const name = r.str(e.name, `${p}.name`) ?? '';
    if (name) r.nameCheck(name, `${p}.name`, dns1123LabelError);
    if (portNames.has(name)) r.fail(`${p}.name`, `duplicate port name ${show(name)}`);
    portNames.add(name);
    const ep: EndpointPort = { name, protocol: r.protocol(e.protocol, `${p}.protocol`) };
    const port = r.int(e.port, `${p}.port`, 1, 65535);
    if (port !== undefined) ep.port = port;
    const ap = r.str(e.appProtocol, `${p}.appProtocol`);
    if (ap) ep.appProtocol = ap;
    return ep;
  });
  if (addressType === 'FQDN') {
    pc.warn(r, 'address-type-ignored', 'addressType', `${addressType} EndpointSlice skipped (dpemu is IPv4-only)`);
    return undefined;
  }
  if (!serviceName) {
    pc.warn(r, 'slice-without-service', 'metadata.labels', 'no kubernetes.io/service-name label: kube-proxy ignores this EndpointSlice; skipped');
    return undefined;
  }
  const lv = labelValueError(serviceName);
  if (lv) r.fail('metadata.labels.kubernetes.io/service-name', `${lv}, got ${show(serviceName)}`);
  return {
    namespace: m.namespace!, name: m.name, serviceName, addressType, endpoints, ports,
    labels: m.labels, derived: false, source: r.ctx.source,
  };
}
