// A synthetic cluster: nodes, backend pods, client pods and ClusterIP services
// laid out deterministically from a few numbers, and its compilation into a
// Dataplane. The built-in example, the benchmarks and the differential tests
// all use it; real manifests come in through the Kubernetes loader.
//
// Addressing: node i is 192.168.(i>>8).(i&255 + 1) with pod CIDR 10.(i+1).0.0/16
// (so at most 64 nodes, clear of the service range); services take
// 10.96.0.0/12 from 10.96.0.10 up; clients are pods too.

import { Dataplane, Algorithm, Design, DESIGN_ALGOS, DEFAULT_ALGO, IPC_FLAG, SVC_FLAG } from '../dataplane.js';
import { maglevTable, maglevTableSize } from './maglev.js';
import { formatIPv4 } from '../common/ip.js';
import { Prng } from '../common/prng.js';
import { PROTO } from '../packet.js';

export interface SyntheticSpec {
  nodes?: number;
  services: number;
  /** Backends per service. */
  backends: number;
  /** Client pods (sources of traffic); default 256. */
  clients?: number;
  /** One algorithm for every service, or 'mix' to cycle through all of the design's; default the design's own. */
  algo?: Algorithm | 'mix';
  /** The dataplane design the cluster is for (default ebpf): it decides the default and 'mix' algorithms. */
  design?: Design;
  /** Fraction of services with ClientIP affinity (timeout 10800 s). */
  affinityFraction?: number;
  /** Fraction of services that masquerade external sources. */
  masqueradeFraction?: number;
  /** Services with no endpoints (traffic to them is REJECTED). */
  emptyFraction?: number;
  /** Mix of protocols; default TCP only. */
  protocols?: number[];
  seed?: number;
}

export interface SyntheticNode { id: number; name: string; addr: number; podCidr: number }
export interface SyntheticPod { addr: number; node: number; identity: number; endpoint: number }
export interface SyntheticBackend { id: number; addr: number; port: number; node: number; weight: number }
export interface SyntheticService {
  index: number; name: string; vip: number; port: number; proto: number; algo: Algorithm;
  affinityTimeout: number; flags: number; backends: number[];
}
export interface SyntheticCluster {
  nodes: SyntheticNode[]; clients: SyntheticPod[]; backends: SyntheticBackend[]; services: SyntheticService[];
  backendPods: SyntheticPod[];
}

const SERVICE_BASE = 0x0a60000a; // 10.96.0.10
/** Algorithms that read weights: their services' backends get weights 1, 2, 3, 1, ... */
const WEIGHTED = new Set<Algorithm>(['weighted', 'wrr', 'wlc', 'sed', 'nq', 'sh']);

export function synthesize(spec: SyntheticSpec): SyntheticCluster {
  // Each node's pod CIDR holds 65,533 pods: by default, as many nodes as the pods need (at least 3). A cluster
  // of one node numbers its pods on from 10.1.0.2 up to 10.95.255.254 (clear of the service range).
  const pods = (spec.clients ?? 256) + spec.services * spec.backends;
  const nodeCount = spec.nodes ?? Math.max(3, Math.ceil(pods / 65000));
  if (!(nodeCount >= 1 && nodeCount <= 64)) throw new RangeError(`nodes: ${nodeCount} not in 1..64 (${pods} pods need ${Math.ceil(pods / 65000)} nodes)`);
  const hostLimit = nodeCount === 1 ? 0x5efffe : 0xfffe;
  if (!(spec.services >= 0 && spec.services <= 1_000_000)) throw new RangeError(`services: ${spec.services} not in 0..1000000`);
  if (!(spec.backends >= 0 && spec.backends <= 1000)) throw new RangeError(`backends: ${spec.backends} not in 0..1000`);
  const rng = new Prng(spec.seed ?? 7);
  const frac = (f: number | undefined) => f !== undefined && rng.next() / 2 ** 32 < f;
  const nodes: SyntheticNode[] = [];
  for (let i = 0; i < nodeCount; i++) {
    nodes.push({ id: i, name: `node-${i}`, addr: (0xc0a80000 + ((i >> 8) << 8) + (i & 255) + 1) >>> 0, podCidr: (0x0a000000 + ((i + 1) << 16)) >>> 0 });
  }
  const nextHost = new Array<number>(nodeCount).fill(2);
  let endpointId = 1;
  const pod = (node: number, identity: number): SyntheticPod => {
    if (nextHost[node] >= hostLimit) throw new RangeError(`node-${node}: no address left for a pod (${hostLimit - 2} pods)`);
    return { addr: (nodes[node].podCidr + nextHost[node]++) >>> 0, node, identity, endpoint: endpointId++ };
  };
  const clients: SyntheticPod[] = [];
  for (let c = 0; c < (spec.clients ?? 256); c++) clients.push(pod(c % nodeCount, 5000 + (c % 16)));
  const backends: SyntheticBackend[] = [];
  const backendPods: SyntheticPod[] = [];
  const services: SyntheticService[] = [];
  const protocols = spec.protocols ?? [PROTO.TCP];
  for (let s = 0; s < spec.services; s++) {
    const design = spec.design ?? 'ebpf';
    const algo: Algorithm = spec.algo === 'mix' ? DESIGN_ALGOS[design][s % DESIGN_ALGOS[design].length]
      : spec.algo ?? DEFAULT_ALGO[design];
    const ids: number[] = [];
    const n = frac(spec.emptyFraction) ? 0 : spec.backends;
    for (let j = 0; j < n; j++) {
      const p = pod((s * spec.backends + j) % nodeCount, 1000 + (s % 64));
      backendPods.push(p);
      const id = backends.length;
      backends.push({ id, addr: p.addr, port: 8080, node: p.node, weight: WEIGHTED.has(algo) ? 1 + (j % 3) : 1 });
      ids.push(id);
    }
    services.push({
      index: s, name: `default/svc-${s}`, vip: (SERVICE_BASE + s) >>> 0, port: 80,
      proto: protocols[s % protocols.length], algo,
      affinityTimeout: frac(spec.affinityFraction) ? 10800 : 0,
      flags: frac(spec.masqueradeFraction) ? SVC_FLAG.MASQ_EXTERNAL : 0, backends: ids,
    });
  }
  return { nodes, clients, backends, services, backendPods };
}

/** Limits that fit a cluster (and `flows` live flows). */
export function limitsFor(c: SyntheticCluster, flows: number) {
  const cells = c.services.reduce((a, s) => a + (s.algo === 'maglev' && s.backends.length ? maglevTableSize(s.backends.length) : 0), 0);
  return {
    // A flow to a backend on another node is tracked on both nodes (per-node conntrack): up to two entries.
    maxFlows: Math.max(1024, Math.ceil(flows * 1.25 * (c.nodes.length > 1 ? 2 : 1))), maxServices: Math.max(1, c.services.length),
    maxFrontends: Math.max(16, c.services.length), maxBackends: Math.max(1, c.backends.length),
    maxSlots: Math.max(1, c.backends.length), maxMaglevCells: Math.max(1, cells),
    // ClientIP affinity keeps one entry per (client, service), however many flows.
    maxAffinity: Math.max(1024, Math.min(Math.ceil(flows * 1.25), c.clients.length * c.services.filter((s) => s.affinityTimeout > 0).length)),
    maxIpcache: Math.max(64, c.clients.length + c.backendPods.length + c.nodes.length * 2),
    maxPolicy: 1024, maxNodes: Math.max(1, c.nodes.length),
  };
}

/** Compile the cluster into a dataplane's maps, as an agent would. */
export function program(dp: Dataplane, c: SyntheticCluster): void {
  for (const n of c.nodes) {
    dp.setNode(n.id, n.addr);
    dp.upsertIpcache(n.addr, 32, { identity: 1, endpoint: 0, node: n.id, flags: IPC_FLAG.HOST });
  }
  for (const p of [...c.clients, ...c.backendPods]) {
    dp.upsertIpcache(p.addr, 32, { identity: p.identity, endpoint: p.endpoint, node: p.node, flags: IPC_FLAG.POD });
  }
  for (const b of c.backends) dp.setBackend(b.id, { addr: b.addr, port: b.port, node: b.node, weight: b.weight });
  for (const s of c.services) {
    const maglev = s.algo === 'maglev' && s.backends.length
      ? maglevTable(s.backends.map((id) => ({ key: `${formatIPv4(c.backends[id].addr)}:${c.backends[id].port}`, weight: c.backends[id].weight })), maglevTableSize(s.backends.length))
      : undefined;
    dp.setService(s.index, { algo: s.algo, flags: s.flags, affinityTimeout: s.affinityTimeout, backends: s.backends, maglev });
    dp.upsertFrontend({ addr: s.vip, port: s.port, proto: s.proto }, s.index);
  }
}
