// `bench --control-plane`: what the control plane costs (issue 5).
//
// 1. compile: a cluster of `services` ClusterIP Services with `endpoints` endpoints in all (one
//    EndpointSlice per Service, as the EndpointSlice controller writes them, on `nodes` Nodes) given as
//    Kubernetes objects (a JSON List, as `kubectl get -o json` prints it); timed from the decoded objects (as
//    an agent holds them from its API watch) to a programmed dataplane: loading (validation, cluster IP
//    allocation), planning (src/k8s/compile.ts) and writing the maps; JSON.parse of the text is timed apart. The dataplane is created (sized) before the clock starts, as an agent allocates
//    its BPF maps before it syncs. Target: under 1 s for 10,000 Services and 100,000 endpoints.
// 2. endpoint change: one EndpointSlice applied through src/k8s/runtime.ts with one endpoint removed (and, the
//    next time, added back), timed until apply() returns (the maps are written synchronously inside it); every
//    change is checked to have reprogrammed exactly that service. As many changes again (at most 1,000) run
//    first untimed, while V8 compiles the path. Target: under 100 us (median).
// Maglev table build per service size is in the micro benchmarks (src/bench/micro.ts).

import { createDataplane } from '../node.js';
import { loadManifests, ManifestFile } from '../k8s/load.js';
import { compileCluster, limitsForModel } from '../k8s/compile.js';
import { ClusterRuntime } from '../k8s/runtime.js';
import { formatIPv4 } from '../common/ip.js';
import { median, percentile, round1, round2 } from './stats.js';
import { BenchmarkError } from './fastpath.js';

export interface ControlPlaneConfig {
  /** Services (default 10,000). */
  services?: number;
  /** Endpoints in all, spread evenly over the services (default 100,000). */
  endpoints?: number;
  /** Nodes (default 100). */
  nodes?: number;
  /** Timed compiles (default 3; median reported). */
  compiles?: number;
  /** Endpoint changes timed (default 1,000; median and p99 reported). */
  changes?: number;
  log?: (line: string) => void;
}

export interface ControlPlaneResult {
  control_plane: true;
  services: number; endpoints: number; nodes: number; objects: number;
  /** Bytes of the JSON List the cluster is given as. */
  input_bytes: number;
  compile: {
    runs: number;
    /** Median of each phase over the runs, ms: JSON text to objects; objects to the model; model to programmed maps. */
    parse_ms: number; load_ms: number; compile_ms: number;
    /** Median of runs from objects (decoded, as an agent receives them from the API server) to programmed maps, ms: the target's figure. */
    objects_to_maps_ms: number;
    /** Median of runs from the JSON text to programmed maps, ms. */
    total_ms: number;
    /** Each run, objects to maps, ms. */
    runs_ms: number[];
    target_ms: number; pass: boolean;
  };
  endpoint_change: {
    changes: number;
    /** Median / p99 (nearest rank) of one change, microseconds of wall time. */
    median_us: number; p99_us: number; min_us: number; max_us: number;
    /**
     * Median of the CPU time (user + system, process.cpuUsage) each change took, microseconds: what the
     * change costs when the process is not descheduled (this machine is shared; the wall time includes waits).
     */
    cpu_median_us: number;
    /** Setting up the runtime (ClusterRuntime.create of the same objects), ms, untimed in the figures above. */
    runtime_create_ms: number;
    target_us: number; pass: boolean;
  };
  node: string;
}

import { CONTROL_PLANE_DEFAULTS } from './defaults.js';
export { CONTROL_PLANE_DEFAULTS };
export const CONTROL_PLANE_TARGETS = { compileMs: 1000, changeUs: 100 } as const;

const NS = 'bench';
/** Names sort as numbers do (svc-000042), so the list is in the order `kubectl get` prints (by name). */
const serviceName = (s: number) => `svc-${String(s).padStart(6, '0')}`;
const podAddr = (i: number) => (0x0a800000 + i + 2) >>> 0; // 10.128.0.2 upward (inside no node's pod CIDR: fine for kube-proxy)

/** The cluster as Kubernetes objects: Nodes, Services, one EndpointSlice per Service. */
export function controlPlaneObjects(services: number, endpoints: number, nodes: number): { nodes: object[]; services: object[]; slices: object[] } {
  const per = Math.floor(endpoints / services), extra = endpoints % services;
  const nodeObjs = Array.from({ length: nodes }, (_, i) => ({
    apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${String(i).padStart(4, '0')}` },
    spec: { podCIDR: `10.${64 + (i >> 8)}.${i & 255}.0/24` },
    status: { addresses: [{ type: 'InternalIP', address: formatIPv4((0xc0a80000 + i + 1) >>> 0) }] },
  }));
  const svcObjs: object[] = [], sliceObjs: object[] = [];
  let ep = 0;
  for (let s = 0; s < services; s++) {
    const name = serviceName(s);
    svcObjs.push({
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    const n = per + (s < extra ? 1 : 0);
    const eps = [];
    for (let j = 0; j < n; j++, ep++) eps.push(sliceEndpoint(name, ep, j, nodes));
    sliceObjs.push(sliceObject(name, eps));
  }
  return { nodes: nodeObjs, services: svcObjs, slices: sliceObjs };
}

function sliceEndpoint(svc: string, ep: number, j: number, nodes: number) {
  return {
    addresses: [formatIPv4(podAddr(ep))], conditions: { ready: true, serving: true, terminating: false },
    nodeName: `node-${String(ep % nodes).padStart(4, '0')}`, targetRef: { kind: 'Pod', namespace: NS, name: `${svc}-${j}` },
  };
}

function sliceObject(svc: string, endpoints: object[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${svc}-abcde`, namespace: NS, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
    addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints,
  };
}

export async function runControlPlane(cfg: ControlPlaneConfig = {}): Promise<ControlPlaneResult> {
  const services = cfg.services ?? CONTROL_PLANE_DEFAULTS.services;
  const endpoints = cfg.endpoints ?? CONTROL_PLANE_DEFAULTS.endpoints;
  const nodes = cfg.nodes ?? CONTROL_PLANE_DEFAULTS.nodes;
  const compiles = cfg.compiles ?? CONTROL_PLANE_DEFAULTS.compiles;
  const changes = cfg.changes ?? CONTROL_PLANE_DEFAULTS.changes;
  const log = cfg.log ?? (() => {});
  const int = (name: string, v: number, min: number, max: number) => {
    if (!(Number.isInteger(v) && v >= min && v <= max)) throw new BenchmarkError(`${name}: ${v} is not an integer in ${min}..${max}`);
  };
  int('services', services, 1, 500_000); int('endpoints', endpoints, services * 2, 4_000_000); int('nodes', nodes, 1, 4096);
  int('compiles', compiles, 1, 100); int('changes', changes, 1, 1_000_000);

  const objs = controlPlaneObjects(services, endpoints, nodes);
  const list = { apiVersion: 'v1', kind: 'List', items: [...objs.nodes, ...objs.services, ...objs.slices] };
  const text = JSON.stringify(list);
  const file: ManifestFile = { path: 'cluster.json', text };
  log(`control plane: ${services} services, ${endpoints} endpoints, ${nodes} nodes: ${(text.length / 1e6).toFixed(1)} MB of JSON`);

  // Size the dataplane once from the model (untimed), then time objects -> programmed maps.
  const sizing = loadManifests([file]).model;
  const limits = limitsForModel(sizing, 1024);
  const phases: { parse: number; load: number; compile: number; objects: number; total: number }[] = [];
  for (let r = 0; r < compiles; r++) {
    const dp = await createDataplane('wasm', limits);
    const t0 = performance.now();
    const parsed: ManifestFile[] = [{ path: file.path, text: file.text, documents: [JSON.parse(file.text)] }];
    const t1 = performance.now();
    const { model } = loadManifests(parsed);
    const t2 = performance.now();
    const compiled = compileCluster(dp, model);
    const t3 = performance.now();
    if (compiled.plan.services.size !== services) throw new BenchmarkError(`compile: ${compiled.plan.services.size} service entries, expected ${services}`);
    if (compiled.plan.backends.size !== endpoints) throw new BenchmarkError(`compile: ${compiled.plan.backends.size} backends, expected ${endpoints}`);
    phases.push({ parse: t1 - t0, load: t2 - t1, compile: t3 - t2, objects: t3 - t1, total: t3 - t0 });
    log(`compile ${r + 1}/${compiles}: ${(t3 - t1).toFixed(0)} ms from objects (load ${(t2 - t1).toFixed(0)}, plan+program ${(t3 - t2).toFixed(0)}); JSON.parse ${(t1 - t0).toFixed(0)} ms before`);
  }

  // Endpoint changes through the runtime.
  let t = performance.now();
  const dp = await createDataplane('wasm', limits);
  const rt = ClusterRuntime.create(dp, [file]);
  const createMs = performance.now() - t;
  log(`runtime: created in ${createMs.toFixed(0)} ms; ${changes} endpoint changes`);
  const per = Math.floor(endpoints / services);
  const us: number[] = [], cpuUs: number[] = [];
  const removed = new Map<number, boolean>();
  // The first changes are not timed: V8 compiles the path meanwhile (the figure is the steady state).
  const warmup = Math.min(1000, changes);
  for (let c = -warmup; c < changes; c++) {
    // Spread over the services (a prime stride), alternating removal and re-addition per service.
    const s = (((c + warmup) * 7919) % services + services) % services;
    const gone = !removed.get(s);
    const firstEp = s * per + Math.min(s, endpoints % services);
    const n = per + (s < endpoints % services ? 1 : 0);
    const eps = [];
    for (let j = 0; j < n; j++) if (!(gone && j === n - 1)) eps.push(sliceEndpoint(serviceName(s), firstEp + j, j, nodes));
    // The change as the agent's API watch delivers it: a decoded object (its JSON text kept for messages).
    const obj = sliceObject(serviceName(s), eps);
    const change: ManifestFile = { path: `change-${c + warmup}.json`, text: JSON.stringify(obj), documents: [obj] };
    const cpu0 = process.cpuUsage();
    t = performance.now();
    const rep = rt.apply([change]);
    const dt = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    if (rep.services.set !== 1) throw new BenchmarkError(`endpoint change ${c} (${serviceName(s)}): ${rep.services.set} service entries reprogrammed, expected 1`);
    removed.set(s, gone);
    if (c < 0) continue;
    us.push(dt * 1000);
    cpuUs.push(cpu.user + cpu.system);
    if (c === 0 || (c + 1) % Math.max(1, Math.floor(changes / 4)) === 0) log(`change ${c + 1}/${changes}: ${(dt * 1000).toFixed(1)} us`);
  }

  const med = (f: (p: typeof phases[number]) => number) => round1(median(phases.map(f)));
  const objectsMs = med((p) => p.objects);
  const medUs = round1(median(us));
  return {
    control_plane: true, services, endpoints, nodes, objects: list.items.length, input_bytes: text.length,
    compile: {
      runs: compiles, parse_ms: med((p) => p.parse), load_ms: med((p) => p.load), compile_ms: med((p) => p.compile),
      objects_to_maps_ms: objectsMs, total_ms: med((p) => p.total),
      runs_ms: phases.map((p) => round1(p.objects)), target_ms: CONTROL_PLANE_TARGETS.compileMs, pass: objectsMs < CONTROL_PLANE_TARGETS.compileMs,
    },
    endpoint_change: {
      changes, median_us: medUs, p99_us: round1(percentile(us, 99)), min_us: round2(Math.min(...us)), max_us: round1(Math.max(...us)),
      cpu_median_us: round1(median(cpuUs)),
      runtime_create_ms: round1(createMs), target_us: CONTROL_PLANE_TARGETS.changeUs, pass: medUs < CONTROL_PLANE_TARGETS.changeUs,
    },
    node: process.version,
  };
}

export function formatControlPlane(r: ControlPlaneResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const c = r.compile, e = r.endpoint_change;
  return [
    `control plane: ${n(r.services)} Services, ${n(r.endpoints)} endpoints (EndpointSlices), ${n(r.nodes)} Nodes; ${(r.input_bytes / 1e6).toFixed(1)} MB of JSON, ${n(r.objects)} objects`,
    `compile, objects -> programmed maps: ${c.objects_to_maps_ms} ms median of ${c.runs} (load ${c.load_ms} ms, plan + program ${c.compile_ms} ms); runs ${c.runs_ms.join(', ')} ms; target < ${c.target_ms} ms: ${c.pass ? 'met' : 'MISSED'}`,
    `  from the JSON text: ${c.total_ms} ms (JSON.parse of ${(r.input_bytes / 1e6).toFixed(1)} MB: ${c.parse_ms} ms)`,
    `one endpoint change (EndpointSlice apply through the runtime): median ${e.median_us} us, p99 ${e.p99_us} us (min ${e.min_us}, max ${e.max_us}) over ${n(e.changes)} changes; target < ${e.target_us} us: ${e.pass ? 'met' : 'MISSED'}`,
    `  CPU time per change: median ${e.cpu_median_us} us`,
  ].join('\n');
}
