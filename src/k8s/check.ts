// Consistency checks over a loaded cluster: the mistakes that make a Service
// silently drop or reject traffic in a real cluster, each with a message that
// says what is wrong and where to look. Policy checks live in check-policy.ts.

import { ClusterModel, Diagnostic, Pod, Service, formatSource, slicesForService } from './model.js';
import { EXCLUSION_TEXT, eligibleEndpoints, findPort, selectedPods } from './endpoints.js';
import { formatLabels } from './parse.js';
import { checkPolicies } from './check-policy.js';
import { checkNorthSouth } from '../gateway/check.js';

export interface CheckOptions {
  /** The node port range to check against; default the model's (config.nodePortRange). */
  nodePortRange?: [number, number];
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}

const svcName = (s: Service) => `Service ${s.namespace}/${s.name}`;

function diag(out: Diagnostic[], severity: Diagnostic['severity'], code: Diagnostic['code'], s: Service | undefined, message: string) {
  const d: Diagnostic = { severity, code, message };
  if (s) {
    d.object = svcName(s);
    if (s.source) d.source = s.source;
  }
  out.push(d);
}

function list(names: string[], max = 5): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

const where = (s: Service) => (s.source ? ` (${formatSource(s.source)})` : '');

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Pods of the namespace whose labels are closest to the selector, grouped by label set. */
function nearestLabelSets(selector: Record<string, string>, pods: Pod[]): string[] {
  const entries = Object.entries(selector);
  // Most selector values matched first, then most selector keys present, then the
  // smallest edit distance between the wanted and the actual values (typos).
  const scored = pods.map((p) => ({
    p,
    values: entries.filter(([k, v]) => p.labels[k] === v).length,
    keys: entries.filter(([k]) => k in p.labels).length,
    distance: entries.reduce((d, [k, v]) => d + (k in p.labels ? editDistance(p.labels[k], v) : 0), 0),
  })).filter((x) => x.keys > 0);
  scored.sort((a, b) => b.values - a.values || b.keys - a.keys || a.distance - b.distance || (a.p.name < b.p.name ? -1 : 1));
  const groups = new Map<string, { pods: string[]; diff: string[] }>();
  for (const { p } of scored) {
    const key = formatLabels(p.labels);
    let g = groups.get(key);
    if (!g) {
      const diff = entries.filter(([k, v]) => p.labels[k] !== v)
        .map(([k, v]) => (k in p.labels ? `${k}=${p.labels[k]} (selector wants ${v})` : `no ${k} label (selector wants ${v})`));
      groups.set(key, (g = { pods: [], diff }));
    }
    g.pods.push(p.name);
  }
  return [...groups].slice(0, 3).map(([labels, g]) => `{${labels}} on ${list(g.pods, 3)}: ${g.diff.join(', ')}`);
}

function whyNoEndpoint(pod: Pod, nodes: Set<string>, svc: Service): string {
  if (pod.phase === 'Succeeded' || pod.phase === 'Failed') return `${pod.name}: ${pod.phase}`;
  if (pod.podIP === undefined) return `${pod.name}: no IPv4 address (${pod.phase}${pod.nodeName ? ` on ${pod.nodeName}` : ', not scheduled'})`;
  if (!svc.publishNotReadyAddresses && (pod.nodeName === undefined || !nodes.has(pod.nodeName))) {
    return `${pod.name}: its node ${pod.nodeName ? JSON.stringify(pod.nodeName) : '(none)'} is unknown, so the EndpointSlice controller skips it`;
  }
  return `${pod.name}: an endpoint`;
}

export function checkCluster(model: ClusterModel, opts: CheckOptions = {}): Diagnostic[] {
  const out: Diagnostic[] = [];
  const [lo, hi] = opts.nodePortRange ?? model.config.nodePortRange;
  const nodeNames = new Set(model.nodes.map((n) => n.name));

  for (const s of model.services) {
    if (s.type === 'ExternalName') continue;
    const slices = slicesForService(model, s);
    let explained = false;

    if (s.selector) {
      const sel = selectedPods(s, model.pods);
      const selText = formatLabels(s.selector);
      if (sel.length === 0) {
        explained = true;
        const inNs = model.pods.filter((p) => p.namespace === s.namespace);
        const elsewhere = model.pods.filter((p) => p.namespace !== s.namespace && Object.entries(s.selector!).every(([k, v]) => p.labels[k] === v));
        let msg = `${svcName(s)}${where(s)}: selector ${selText} matches no pod in namespace ${s.namespace}`;
        const near = nearestLabelSets(s.selector, inNs);
        if (near.length) msg += `; closest label sets: ${near.join('; ')}`;
        else if (inNs.length) msg += `; no pod there has any of the selector's labels (pods: ${list(inNs.map((p) => `${p.name} {${formatLabels(p.labels)}}`), 3)})`;
        else msg += '; the namespace has no pods';
        if (elsewhere.length) msg += `; matching pods exist in other namespaces (${list(elsewhere.map((p) => `${p.namespace}/${p.name}`), 3)}), but a Service only selects pods in its own namespace`;
        // A dump of Services and EndpointSlices (what kube-proxy watches) has no pods: the slices are
        // authoritative, so the selector finding nothing is only a note.
        const given = slices.filter((sl) => !sl.derived);
        if (given.length) diag(out, 'info', 'selector-matches-nothing', s, `${msg}; its EndpointSlices in the input (${given.length}) are used as they are`);
        else diag(out, 'error', 'selector-matches-nothing', s, msg);
      } else {
        const candidates = sel.filter((p) => p.phase !== 'Succeeded' && p.phase !== 'Failed');
        for (const sp of s.ports) {
          if (typeof sp.targetPort !== 'string' || candidates.length === 0) continue;
          const failing = candidates.filter((p) => findPort(p, sp) === undefined);
          if (failing.length === 0) continue;
          const portLabel = `port ${sp.name ? `${sp.name} (${sp.port}/${sp.protocol})` : `${sp.port}/${sp.protocol}`}`;
          const exposed = [...new Set(failing.flatMap((p) => p.ports.filter((cp) => cp.name).map((cp) => `${cp.name}=${cp.containerPort}/${cp.protocol}`)))];
          const otherProto = failing.some((p) => p.ports.some((cp) => cp.name === sp.targetPort && cp.protocol !== sp.protocol));
          let detail = `targetPort ${JSON.stringify(sp.targetPort)} (${sp.protocol}) is not a named container port of ${failing.length === candidates.length ? 'any selected pod' : `${failing.length} of ${candidates.length} selected pods`}: ${list(failing.map((p) => p.name))}`;
          detail += exposed.length ? `; they expose ${list(exposed, 8)}` : '; they expose no named ports';
          if (otherProto) detail += `; a port named ${JSON.stringify(sp.targetPort)} exists but with another protocol (the name must match with the protocol ${sp.protocol})`;
          if (failing.length === candidates.length) {
            explained = true;
            diag(out, 'error', 'target-port-unresolved', s, `${svcName(s)}${where(s)}: ${portLabel}: ${detail}; the port gets no endpoints`);
          } else {
            diag(out, 'warning', 'target-port-unresolved', s, `${svcName(s)}${where(s)}: ${portLabel}: ${detail}; those pods are left out of this port's endpoints`);
          }
        }
      }
    }

    // Endpoints as kube-proxy sees them, per service port.
    if (s.ports.length === 0) continue; // headless without ports: nothing to proxy
    const results = s.ports.map((sp) => ({ sp, r: eligibleEndpoints(slices, sp) }));
    const candidates = new Map<string, { ready: boolean; serving: boolean; terminating: boolean; ref: string }>();
    for (const { r } of results) {
      for (const e of r.endpoints) candidates.set(`${e.address}:${e.port}`, { ...e, ref: e.targetRef?.name ?? e.address });
      for (const x of r.excluded) {
        if ('port' in x.endpoint) candidates.set(`${x.endpoint.address}:${x.endpoint.port}`, { ...x.endpoint, ref: x.endpoint.targetRef?.name ?? x.endpoint.address });
      }
    }
    if (candidates.size === 0) {
      if (explained) continue;
      let msg: string;
      if (!s.selector) {
        msg = slices.length === 0
          ? `${svcName(s)}${where(s)}: has ports but no selector and no EndpointSlice (label kubernetes.io/service-name=${s.name}): it has no endpoints, traffic to it is rejected`
          : `${svcName(s)}${where(s)}: its EndpointSlices (${list(slices.map((x) => x.name))}) have no endpoint for its ports (${s.ports.map((p) => `${p.name || '<unnamed>'}/${p.protocol}`).join(', ')}): traffic to it is rejected`;
      } else {
        const sel = selectedPods(s, model.pods);
        const reasons = sel.map((p) => whyNoEndpoint(p, nodeNames, s)).filter((t) => !t.endsWith(': an endpoint'));
        msg = `${svcName(s)}${where(s)}: has no endpoints although its selector matches ${sel.length} pod(s)`;
        if (reasons.length) msg += `: ${list(reasons)}`;
        else if (slices.some((x) => !x.derived)) msg += `; its EndpointSlices (${list(slices.map((x) => x.name))}) come from the manifests and list none of them`;
        msg += '; traffic to it is rejected';
      }
      diag(out, 'warning', 'no-endpoints', s, msg);
      continue;
    }
    const all = [...candidates.values()];
    if (!all.some((e) => e.ready)) {
      const fallback = all.filter((e) => e.serving && e.terminating);
      const why = all.map((e) => `${e.ref}: ${e.terminating ? (e.serving ? 'terminating (still serving)' : 'terminating') : 'not ready'}`);
      const tail = fallback.length
        ? `kube-proxy falls back to the ${fallback.length} serving terminating endpoint(s)`
        : 'traffic to it is rejected';
      diag(out, 'warning', 'all-endpoints-unready', s, `${svcName(s)}${where(s)}: none of its ${all.length} endpoint(s) is ready (${list(why)}); ${tail}`);
    }
    for (const { sp, r } of results) {
      const dups = r.excluded.filter((x) => x.reason === 'duplicate');
      if (dups.length) {
        diag(out, 'warning', 'duplicate-endpoints', s, `${svcName(s)}: port ${sp.name || sp.port}: ${dups.length} endpoint(s) appear in more than one EndpointSlice (${EXCLUSION_TEXT.duplicate}); kube-proxy uses each address:port once`);
      }
    }
  }

  // nodePorts: inside the range, and each used by one Service only.
  const byNodePort = new Map<number, { s: Service; what: string; port: number }[]>();
  for (const s of model.services) {
    const uses: { n: number; what: string; port: number }[] = s.ports
      .filter((p) => p.nodePort !== undefined)
      .map((p) => ({ n: p.nodePort!, what: `port ${p.name || p.port}/${p.protocol}`, port: p.port }));
    if (s.healthCheckNodePort !== undefined) uses.push({ n: s.healthCheckNodePort, what: 'healthCheckNodePort', port: -1 });
    for (const u of uses) {
      if (u.n < lo || u.n > hi) {
        diag(out, 'error', 'node-port-out-of-range', s, `${svcName(s)}${where(s)}: ${u.what}: nodePort ${u.n} is outside the node port range ${lo}-${hi} (kube-apiserver --service-node-port-range)`);
      }
      let l = byNodePort.get(u.n);
      if (!l) byNodePort.set(u.n, (l = []));
      l.push({ s, what: u.what, port: u.port });
    }
  }
  for (const [n, uses] of [...byNodePort].sort((a, b) => a[0] - b[0])) {
    // Within one Service, ports with the same number (53/TCP, 53/UDP) share a nodePort legitimately.
    const distinct = new Map<string, (typeof uses)[number]>();
    for (const u of uses) distinct.set(`${u.s.namespace}/${u.s.name}/${u.port}`, u);
    if (distinct.size < 2) continue;
    const users = [...distinct.values()];
    const first = users[0];
    diag(out, 'error', 'node-port-conflict', first.s,
      `nodePort ${n} is used by ${users.map((u) => `${svcName(u.s)} (${u.what})${where(u.s)}`).join(' and ')}: a nodePort can belong to one Service only (kube-apiserver: "provided port is already allocated")`);
  }

  // cluster IPs: each used by one Service only.
  const byIP = new Map<string, Service[]>();
  for (const s of model.services) {
    for (const ip of s.clusterIPs) {
      let l = byIP.get(ip);
      if (!l) byIP.set(ip, (l = []));
      l.push(s);
    }
  }
  for (const [ip, ss] of byIP) {
    if (ss.length < 2) continue;
    diag(out, 'error', 'cluster-ip-conflict', ss[0], `cluster IP ${ip} is used by ${ss.map((s) => `${svcName(s)}${where(s)}`).join(' and ')}: kube-apiserver allocates each cluster IP once ("provided IP is already allocated")`);
  }

  // pods on nodes that are not in the model
  const unknown = new Map<string, string[]>();
  for (const p of model.pods) {
    if (p.nodeName === undefined || nodeNames.has(p.nodeName)) continue;
    let l = unknown.get(p.nodeName);
    if (!l) unknown.set(p.nodeName, (l = []));
    l.push(`${p.namespace}/${p.name}`);
  }
  for (const [node, pods] of unknown) {
    out.push({
      severity: 'warning', code: 'pod-on-unknown-node', object: `Node ${node}`,
      message: `node ${JSON.stringify(node)} is not in the manifests, but pods run on it: ${list(pods)}; the EndpointSlice controller leaves such pods out of every Service (unless publishNotReadyAddresses)`,
    });
  }

  // EndpointSlices of Services that do not exist
  const svcKeys = new Set(model.services.map((s) => `${s.namespace}/${s.name}`));
  for (const sl of model.endpointSlices) {
    if (svcKeys.has(`${sl.namespace}/${sl.serviceName}`)) continue;
    const d: Diagnostic = {
      severity: 'warning', code: 'slice-without-service', object: `EndpointSlice ${sl.namespace}/${sl.name}`,
      message: `EndpointSlice ${sl.namespace}/${sl.name}${sl.source ? ` (${formatSource(sl.source)})` : ''}: its Service ${sl.namespace}/${sl.serviceName} (label kubernetes.io/service-name) does not exist; kube-proxy ignores it`,
    };
    if (sl.source) d.source = sl.source;
    out.push(d);
  }

  // NetworkPolicy and admin policies (check-policy.ts)
  checkPolicies(model, out);
  checkNorthSouth(model, out);

  return out;
}
