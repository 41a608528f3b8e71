// The scale benchmark: a cluster of 5,000 Nodes, 150,000 pods, 10,000 Services and 100,000 endpoints,
// written as the YAML a user would write (Nodes with their podCIDR in node pools of 10, Deployments
// pinned to a pool by nodeSelector, Services selecting them; the loader expands the Deployments,
// schedules and addresses the pods and derives the EndpointSlices as the controllers would), loaded
// and run in one process. (The pools spread the pods: the loader places replica i of every workload on
// its i-th feasible node, so 11,000 unpinned Deployments would all start on the same few nodes.) It reports the load time
// by phase (YAML text to objects, objects to the model, model to a plan, plan into the core), the
// memory after loading (RSS, V8 heap, the core's linear memory), and the per-packet cost at that size
// of new flows (client pod -> Service cluster IP, first SYNs: service lookup, backend selection, DNAT,
// conntrack insert) and of the fast path (ACKs of the established flows), with the conntrack's bytes
// per flow.
//
// `scaleClusterYaml` is the generator (bench/scale-yaml.ts writes its output to a file, for
// `dpemu trace` and friends); nothing of it is committed as data.

import { createDataplane } from '../node.js';
import { loadManifests, ManifestFile, yamlDocuments } from '../k8s/load.js';
import { Allocations, limitsForModel, planCluster, programPlan, resolveCompileOptions } from '../k8s/compile.js';
import { formatIPv4, ip } from '../common/ip.js';
import { Prng } from '../common/prng.js';
import { PacketBatch, PROTO, TCP, VERDICT } from '../packet.js';
import { median } from './stats.js';

export interface ScaleConfig {
  nodes?: number;
  /** Services (default 10,000), each a Deployment of `endpointsPerService` replicas. */
  services?: number;
  endpointsPerService?: number;
  /** Client pods (default 50,000: 150,000 pods in all with the defaults), in Deployments of 50. */
  clients?: number;
  /** Flows timed (default 2^18), in batches; rounds (default 3) interleave new flows and the fast path. */
  flows?: number;
  rounds?: number;
  seed?: number;
  log?: (line: string) => void;
}

export const SCALE_DEFAULTS = { nodes: 5000, services: 10_000, endpointsPerService: 10, clients: 50_000, flows: 1 << 18, rounds: 3 } as const;
export const SCALE_TARGETS = { loadMs: 10_000, rssBytes: 4 * 2 ** 30 } as const;

const NAMESPACES = 100;
const CLIENTS_PER_DEPLOYMENT = 50;
const NODES_PER_POOL = 10;
const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** The cluster as one multi-document YAML text, as a user would write it. */
export function scaleClusterYaml(cfg: Pick<ScaleConfig, 'nodes' | 'services' | 'endpointsPerService' | 'clients'> = {}): string {
  const nodes = cfg.nodes ?? SCALE_DEFAULTS.nodes, services = cfg.services ?? SCALE_DEFAULTS.services;
  const replicas = cfg.endpointsPerService ?? SCALE_DEFAULTS.endpointsPerService, clients = cfg.clients ?? SCALE_DEFAULTS.clients;
  if (nodes > 0x3fff) throw new RangeError(`nodes: at most ${0x3fff} (one /24 of 10.64.0.0/10 each)`);
  const out: string[] = [];
  for (let n = 0; n < NAMESPACES; n++) out.push(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-${pad(n, 2)}\n  labels:\n    team: t${n % 10}\n`);
  for (let i = 0; i < nodes; i++) {
    out.push(`apiVersion: v1
kind: Node
metadata:
  name: node-${pad(i, 5)}
  labels:
    kubernetes.io/hostname: node-${pad(i, 5)}
    topology.kubernetes.io/zone: zone-${i % 3}
    pool: pool-${pad(Math.floor(i / NODES_PER_POOL), 4)}
spec:
  podCIDR: 10.${64 + (i >> 8)}.${i & 255}.0/24
status:
  addresses:
  - type: InternalIP
    address: ${formatIPv4((0xac100000 + i + 1) >>> 0)}
`);
  }
  const pools = Math.max(1, Math.floor(nodes / NODES_PER_POOL));
  const deployment = (ns: string, name: string, count: number, app: string, pool: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  replicas: ${count}
  selector:
    matchLabels:
      app: ${app}
  template:
    metadata:
      labels:
        app: ${app}
    spec:
      nodeSelector:
        pool: pool-${pad(pool % pools, 4)}
      containers:
      - name: main
        image: registry.example/${app}:1.0
        ports:
        - name: http
          containerPort: 8080
`;
  for (let s = 0; s < services; s++) {
    const ns = `ns-${pad(s % NAMESPACES, 2)}`, name = `svc-${pad(s, 5)}`;
    out.push(deployment(ns, name, replicas, name, s));
    out.push(`apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  selector:
    app: ${name}
  ports:
  - name: http
    port: 80
    targetPort: http
`);
  }
  for (let c = 0; c * CLIENTS_PER_DEPLOYMENT < clients; c++) {
    const count = Math.min(CLIENTS_PER_DEPLOYMENT, clients - c * CLIENTS_PER_DEPLOYMENT);
    out.push(deployment(`ns-${pad(c % NAMESPACES, 2)}`, `client-${pad(c, 4)}`, count, `client-${pad(c, 4)}`, c));
  }
  return out.join('---\n');
}

export interface ScaleResult {
  scale: true;
  nodes: number; pods: number; services: number; endpoints: number; yaml_bytes: number;
  /** Load phases, ms: YAML text to objects; objects to the model; model to a plan; plan into the core. */
  load: {
    parse_ms: number; model_ms: number; plan_ms: number; program_ms: number; total_ms: number;
    /** CPU time (user + system) of the same phases: what they cost when the process is not descheduled. */
    cpu_ms: number;
    /** Untimed above: sizing the core from the model (limitsForModel plans again) and creating it. */
    sizing_ms: number;
    target_ms: number; pass: boolean;
  };
  /** After loading, the plan and the model still held (as a running emulator holds them). */
  memory: { rss_bytes: number; heap_used_bytes: number; core_bytes: number; target_bytes: number; pass: boolean };
  /** Per packet, ns (median of rounds) and flows per second. */
  newflow_ns: number; fastpath_ns: number; newflow_per_s: number; fastpath_per_s: number;
  flows: number;
  /** The core's memory per conntrack slot (maxFlows), measured as the difference of two cores' memory. */
  bytes_per_flow: number;
  runs: { newflow: number[]; fastpath: number[] };
  node: string;
}

export async function runScale(cfg: ScaleConfig = {}): Promise<ScaleResult> {
  const log = cfg.log ?? (() => {});
  const flows = cfg.flows ?? SCALE_DEFAULTS.flows, rounds = cfg.rounds ?? SCALE_DEFAULTS.rounds;
  const yaml = scaleClusterYaml(cfg);
  log(`scale: ${(yaml.length / 1e6).toFixed(1)} MB of YAML`);

  // Load, phase by phase (wall and CPU time: the machine may be shared).
  const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const c0 = cpu();
  const t0 = performance.now();
  const documents = yamlDocuments({ path: 'cluster.yaml', text: yaml });
  const t1 = performance.now();
  const file: ManifestFile = { path: 'cluster.yaml', text: yaml, documents };
  const { model } = loadManifests([file]);
  const t2 = performance.now();
  const alloc = new Allocations();
  const opts = resolveCompileOptions(model);
  const plan = planCluster(model, opts, alloc);
  const t3 = performance.now();
  const c3 = cpu();
  log(`parsed ${documents.length} documents in ${(t1 - t0).toFixed(0)} ms; model (${model.pods.length} pods, ${model.endpointSlices.length} EndpointSlices) in ${(t2 - t1).toFixed(0)} ms; plan in ${(t3 - t2).toFixed(0)} ms`);
  // The core is sized from the model before the clock runs again (as an agent sizes its maps first).
  const limits = limitsForModel(model, flows);
  const dp = await createDataplane('wasm', limits);
  const sizingMs = performance.now() - t3;
  const c4 = cpu();
  const t4 = performance.now();
  programPlan(dp, plan, undefined, alloc);
  const t5 = performance.now();
  const c5 = cpu();
  const endpoints = plan.backends.size;
  log(`programmed in ${(t5 - t4).toFixed(0)} ms: ${plan.services.size} service entries, ${endpoints} backends, ${plan.ipcache.size} ipcache entries`);
  if (global.gc) global.gc();
  const mem = process.memoryUsage();
  const coreBytes = (dp as unknown as { memoryBytes(): number }).memoryBytes();
  const totalMs = (t1 - t0) + (t2 - t1) + (t3 - t2) + (t5 - t4);

  // Traffic: random client pod -> random Service's cluster IP, port 80.
  const rng = new Prng(cfg.seed ?? 11);
  const nodeId = new Map(plan.nodes.map((n) => [n.name, n.id]));
  const clientPods = model.pods.filter((p) => p.labels.app?.startsWith('client-') && p.podIP);
  const vips = model.services.map((s) => ip(s.clusterIP!));
  if (clientPods.length === 0 || vips.length === 0) throw new Error('scale: no client pods or no services');
  const clientAddr = clientPods.map((p) => ip(p.podIP!)), clientNode = clientPods.map((p) => nodeId.get(p.nodeName!)!);
  const pairs = Array.from({ length: flows }, () => ({ c: rng.next() % clientPods.length, v: rng.next() % vips.length }));
  const batchSize = 1 << 14;
  const batch: PacketBatch = dp.allocBatch(batchSize);
  let now = 1000;
  const run = (round: number, flags: number): number => {
    let ns = 0;
    for (let off = 0; off < flows; off += batchSize) {
      const n = Math.min(batchSize, flows - off);
      for (let i = 0; i < n; i++) {
        const p = pairs[off + i];
        batch.set(i, { saddr: clientAddr[p.c], daddr: vips[p.v], sport: 1024 + ((off + i) % 60000), dport: 80, proto: PROTO.TCP,
          tcpFlags: flags, node: clientNode[p.c], len: 60 });
      }
      const t = process.hrtime.bigint();
      const fwd = dp.process(batch, n, now);
      ns += Number(process.hrtime.bigint() - t);
      if (fwd !== n) {
        const bad = Array.from({ length: n }, (_, i) => batch.get(i)).find((r) => r.verdict !== VERDICT.FORWARDED);
        throw new Error(`scale: round ${round}: ${n - fwd} of ${n} packets not forwarded (first: verdict ${bad?.verdict}, drop ${bad?.dropReason})`);
      }
      now += 1;
    }
    return ns / flows;
  };
  const newflow: number[] = [], fastpath: number[] = [];
  for (let r = 0; r < rounds; r++) {
    now += 21_601_000; dp.gc(now); // every flow of the last round has expired: these SYNs are new flows
    newflow.push(run(r, TCP.SYN));
    fastpath.push(run(r, TCP.ACK));
    log(`round ${r + 1}/${rounds}: new flow ${newflow[r].toFixed(0)} ns/packet, fast path ${fastpath[r].toFixed(0)} ns/packet (${dp.ctCount()} flows)`);
  }

  // Bytes per flow: two cores that differ only in maxFlows.
  const a = await createDataplane('wasm', { ...limits, maxFlows: 1 << 16 });
  const b = await createDataplane('wasm', { ...limits, maxFlows: 1 << 17 });
  const perFlow = ((b as unknown as { memoryBytes(): number }).memoryBytes() - (a as unknown as { memoryBytes(): number }).memoryBytes()) / (1 << 16);

  const nf = median(newflow), fp = median(fastpath);
  return {
    scale: true, nodes: model.nodes.length, pods: model.pods.length, services: model.services.length, endpoints, yaml_bytes: yaml.length,
    load: { parse_ms: t1 - t0, model_ms: t2 - t1, plan_ms: t3 - t2, program_ms: t5 - t4, total_ms: totalMs, cpu_ms: (c3 - c0) + (c5 - c4), sizing_ms: sizingMs, target_ms: SCALE_TARGETS.loadMs, pass: totalMs < SCALE_TARGETS.loadMs },
    memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed, core_bytes: coreBytes, target_bytes: SCALE_TARGETS.rssBytes, pass: mem.rss < SCALE_TARGETS.rssBytes },
    newflow_ns: nf, fastpath_ns: fp, newflow_per_s: 1e9 / nf, fastpath_per_s: 1e9 / fp, flows, bytes_per_flow: perFlow,
    runs: { newflow, fastpath }, node: process.version,
  };
}

export function formatScale(r: ScaleResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const ms = (x: number) => `${n(Math.round(x))} ms`;
  const gib = (x: number) => `${(x / 2 ** 30).toFixed(2)} GiB`;
  const l = r.load, m = r.memory;
  return [
    `scale: ${n(r.nodes)} Nodes, ${n(r.pods)} pods, ${n(r.services)} Services, ${n(r.endpoints)} endpoints (${(r.yaml_bytes / 1e6).toFixed(1)} MB of YAML)`,
    `  load        ${ms(l.total_ms)}: YAML ${ms(l.parse_ms)}, model ${ms(l.model_ms)}, plan ${ms(l.plan_ms)}, program ${ms(l.program_ms)}; target < ${ms(l.target_ms)}: ${l.pass ? 'met' : 'MISSED'}`,
    `              CPU time of those phases ${ms(l.cpu_ms)}; sizing and creating the core (not counted) ${ms(l.sizing_ms)}`,
    `  memory      RSS ${gib(m.rss_bytes)} (V8 heap ${gib(m.heap_used_bytes)}, core ${gib(m.core_bytes)}); target < ${gib(m.target_bytes)}: ${m.pass ? 'met' : 'MISSED'}`,
    `  new flow    ${r.newflow_ns.toFixed(0)} ns/packet (${n(Math.round(r.newflow_per_s))} flows/s), client pod -> Service cluster IP, first SYNs`,
    `  fast path   ${r.fastpath_ns.toFixed(0)} ns/packet (${n(Math.round(r.fastpath_per_s))} packets/s) over ${n(r.flows)} established flows`,
    `  conntrack   ${r.bytes_per_flow.toFixed(0)} bytes per flow slot`,
    `  runs        new flow ${r.runs.newflow.map((x) => x.toFixed(0)).join(', ')}; fast path ${r.runs.fastpath.map((x) => x.toFixed(0)).join(', ')} ns/packet`,
  ].join('\n');
}
