// `bench --micro`: tinybench micro benchmarks of single stages (issue 5). The per-packet stages run inside
// the core (assembly/bench.ts): one timed call runs `ops` operations of a stage, so the JS<->WASM call is
// amortised and the figure is the stage's own cost. The stages run over the core's own maps, programmed
// for a synthetic cluster as for traffic (services x backends, flows opened through process(), synthetic
// ingress policies on part of the cluster). Maglev table builds are host-side (src/controlplane/maglev.ts),
// one build per call. Every call's result is checked (all found / hit / allowed / given a port).
//
// Figures: ns per operation, median and 99th percentile (nearest rank) over tinybench's samples (one
// sample per call, so the p99 is of calls of `ops` operations, i.e. of their mean cost).

import { Bench } from 'tinybench';
import { cpus } from 'node:os';
import { createDataplane } from '../node.js';
import { synthesize, limitsFor, program, SyntheticCluster } from '../controlplane/synthetic.js';
import { maglevTable } from '../controlplane/maglev.js';
import { flowPacket, fillBatch } from '../traffic.js';
import { TCP } from '../packet.js';
import { formatIPv4 } from '../common/ip.js';
import { programSyntheticPolicies, syntheticPolicyLimits } from './policies.js';
import { median, percentile, round1, round2 } from './stats.js';
import { BenchmarkError } from './fastpath.js';
import type { WasmDataplane } from '../wasm.js';

/** The exports of assembly/bench.ts (u32 results arrive as i32). */
interface BenchExports {
  memory: WebAssembly.Memory;
  scratchAlloc(size: number): number;
  benchHashCreate(entries: number): number;
  benchHashLookup(m: number, entries: number, n: number, seed: number): number;
  benchCtLookup(tuples: number, count: number, n: number, seed: number, now: number): number;
  benchServiceLookup(tuples: number, count: number, n: number, seed: number): number;
  benchPolicyCheck(pairs: number, count: number, n: number, seed: number): number;
  benchNatRewrite(tuples: number, count: number, n: number, seed: number, natSaddr: number, batch: number, slots: number, now: number): number;
}

export interface MicroConfig {
  /** Tiny sizes and short times (for tests and a first look). */
  quick?: boolean;
  /** Milliseconds tinybench measures each task (default 500; quick 20). */
  timeMs?: number;
  /** Operations per timed call for the in-core stages (default 16,384; quick 1,024). */
  ops?: number;
  /** Cluster of the in-core stages (default 10,000 services x 10 backends, 1,000,000 flows). */
  services?: number;
  backends?: number;
  flows?: number;
  /** Entries of the hot and cold hash maps (default 1,024 and 2^20). */
  hotEntries?: number;
  coldEntries?: number;
  /** Only tasks whose name contains this. */
  filter?: string;
  log?: (line: string) => void;
}

export interface MicroRow {
  name: string;
  /** What one operation is. */
  what: string;
  /** Operations per timed call. */
  ops_per_call: number;
  samples: number;
  ns_per_op: number;
  ns_per_op_p99: number;
  /** Operations per second at the median. */
  ops_per_s: number;
}

export interface MicroResult {
  micro: true;
  quick: boolean;
  cluster: { services: number; backends: number; flows: number; policy_services: number; policy_entries: number };
  rows: MicroRow[];
  node: string; cpu: string; date: string;
}

// Table sizes: Cilium's 16381 (its default) and 65521 (the prime of its list nearest 65537).
const MAGLEV_POINTS = [
  { m: 16381, n: 10 }, { m: 16381, n: 100 }, { m: 16381, n: 1000 },
  { m: 65521, n: 10 }, { m: 65521, n: 100 }, { m: 65521, n: 1000 },
];

/** 16-byte tuple records (assembly/bench.ts layout) of flows 0..count-1 in core memory. */
function writeTuples(core: BenchExports, c: SyntheticCluster, count: number): number {
  const ptr = core.scratchAlloc(count * 16) >>> 0;
  if (ptr === 0) throw new BenchmarkError(`micro: no memory for ${count} tuples`);
  const dv = new DataView(core.memory.buffer);
  for (let f = 0; f < count; f++) {
    const p = flowPacket(c, f), o = ptr + f * 16;
    dv.setUint32(o, p.saddr, true); dv.setUint32(o + 4, p.daddr, true);
    dv.setUint16(o + 8, p.sport, true); dv.setUint16(o + 10, p.dport, true);
    dv.setUint32(o + 12, (p.proto | (p.node << 16)) >>> 0, true); // protocol, then the node (the conntrack key's layout)
  }
  return ptr;
}

export async function runMicro(cfg: MicroConfig = {}): Promise<MicroResult> {
  const quick = cfg.quick ?? false;
  const timeMs = cfg.timeMs ?? (quick ? 20 : 500);
  const ops = cfg.ops ?? (quick ? 1024 : 1 << 14);
  const services = cfg.services ?? (quick ? 100 : 10_000);
  const backends = cfg.backends ?? 10;
  const flows = cfg.flows ?? (quick ? 10_000 : 1_000_000);
  const hot = cfg.hotEntries ?? 1024;
  const cold = cfg.coldEntries ?? (quick ? 1 << 14 : 1 << 20);
  const log = cfg.log ?? (() => {});
  for (const [name, v, max] of [['ops', ops, 1 << 24], ['services', services, 1_000_000], ['flows', flows, 16_000_000], ['hotEntries', hot, 1 << 26], ['coldEntries', cold, 1 << 26]] as const) {
    if (!(Number.isInteger(v) && v >= 1 && v <= max)) throw new BenchmarkError(`micro: ${name} ${v} is not an integer in 1..${max}`);
  }

  // The cluster, its flows, and policies on the backends of the first tenth of the services.
  const cluster = synthesize({ services, backends, clients: 256, algo: 'random', seed: 1 });
  const policyServices = Math.max(1, Math.floor(services / 10));
  const sub: SyntheticCluster = { ...cluster, services: cluster.services.slice(0, policyServices), backendPods: cluster.backendPods.slice(0, policyServices * backends) };
  const dp = await createDataplane('wasm', { ...limitsFor(cluster, flows), ...syntheticPolicyLimits(sub, 1), seed: 1 }) as WasmDataplane;
  program(dp, cluster);
  const policyEntries = programSyntheticPolicies(dp, sub, Math.min(100, policyServices));
  log(`micro: ${services} services x ${backends} backends, opening ${flows} flows`);
  const batch = dp.allocBatch(1 << 16);
  for (let start = 0; start < flows; start += batch.capacity) {
    const n = Math.min(batch.capacity, flows - start);
    fillBatch(batch, cluster, n, (k) => start + k, TCP.SYN);
    if (dp.process(batch, n, 1000) !== n) throw new BenchmarkError(`micro: opening flows ${start}..${start + n - 1}: not all forwarded`);
  }
  const core = dp.core as unknown as BenchExports;
  const tuples = writeTuples(core, cluster, flows);
  // Policy pairs: (backend endpoint of an isolated pod, client identity, its port, TCP).
  const identities = [...new Set(cluster.clients.map((c) => c.identity))];
  const pairCount = sub.backendPods.length * identities.length;
  const pairs = core.scratchAlloc(pairCount * 16) >>> 0;
  {
    const dv = new DataView(core.memory.buffer);
    let o = pairs;
    for (const p of sub.backendPods) for (const id of identities) {
      dv.setUint32(o, p.endpoint, true); dv.setUint32(o + 4, id, true); dv.setUint16(o + 8, 8080, true); dv.setUint32(o + 10, 6, true);
      o += 16;
    }
  }
  log(`micro: hash maps of ${hot} and ${cold} entries`);
  const hotMap = core.benchHashCreate(hot) >>> 0, coldMap = core.benchHashCreate(cold) >>> 0;
  if (!hotMap || !coldMap) throw new BenchmarkError('micro: the benchmark hash maps do not fit in memory');
  const natSaddr = cluster.nodes[0].addr;
  const now = 2000;

  // One task per stage; each call draws a new seed so the cold set stays cold.
  let calls = 0;
  const seed = () => (Math.imul(++calls, 0x9e3779b9) >>> 0) | 1;
  const expectAll = (name: string, got: number) => {
    if ((got >>> 0) !== ops) throw new BenchmarkError(`micro ${name}: ${got >>> 0} of ${ops} operations succeeded`);
  };
  const tasks: { name: string; what: string; ops: number; fn: () => void }[] = [
    { name: 'hash lookup, hot set', what: `hash map lookup, ${hot} entries (fits in cache)`, ops, fn: () => expectAll('hash hot', core.benchHashLookup(hotMap, hot, ops, seed())) },
    { name: 'hash lookup, cold set', what: `hash map lookup, ${cold} entries (${((2 * cold * 32) / 2 ** 20).toFixed(0)} MiB of slots, beyond cache)`, ops, fn: () => expectAll('hash cold', core.benchHashLookup(coldMap, cold, ops, seed())) },
    { name: 'conntrack hit', what: `conntrack lookup of an established flow, ${flows} flows`, ops, fn: () => expectAll('conntrack', core.benchCtLookup(tuples, flows, ops, seed(), now)) },
    { name: 'service lookup', what: `frontend (vip, port, proto) -> service, ${services} services`, ops, fn: () => expectAll('service', core.benchServiceLookup(tuples, flows, ops, seed())) },
    { name: 'policy lookup', what: `ingress policy check (most specific of the port-block lengths in use), ${policyEntries} policy entries`, ops, fn: () => expectAll('policy', core.benchPolicyCheck(pairs, pairCount, ops, seed())) },
    { name: 'NAT rewrite', what: 'masquerade source-port allocation (reply-table probe) and descriptor rewrite', ops, fn: () => expectAll('nat', core.benchNatRewrite(tuples, flows, ops, seed(), natSaddr, batch.ptr, batch.capacity, now)) },
  ];
  for (const { m, n } of MAGLEV_POINTS) {
    const keys = Array.from({ length: n }, (_, i) => ({ key: `${formatIPv4((0x0a000000 + i + 2) >>> 0)}:8080` }));
    tasks.push({
      name: `maglev build M=${m} N=${n}`, what: `Maglev table of ${m} cells for ${n} backends (host, one table)`, ops: 1,
      fn: () => { if (maglevTable(keys, m).length !== m) throw new BenchmarkError('maglev: wrong table size'); },
    });
  }

  const selected = cfg.filter ? tasks.filter((t) => t.name.includes(cfg.filter!)) : tasks;
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(100, timeMs), retainSamples: true, throws: true });
  for (const t of selected) bench.add(t.name, t.fn);
  log(`micro: ${selected.length} tasks, ${timeMs} ms each`);
  await bench.run();
  const rows: MicroRow[] = [];
  for (const t of selected) {
    const task = bench.getTask(t.name)!;
    const r = task.result;
    if (r.state !== 'completed') throw new BenchmarkError(`micro ${t.name}: ${r.state}${'error' in r ? `: ${r.error.message}` : ''}`);
    const samples = (r.latency.samples ?? []).map((ms) => (ms * 1e6) / t.ops);
    const med = median(samples);
    rows.push({
      name: t.name, what: t.what, ops_per_call: t.ops, samples: samples.length,
      ns_per_op: med >= 100 ? Math.round(med) : round2(med), ns_per_op_p99: round1(percentile(samples, 99)),
      ops_per_s: med > 0 ? Math.round(1e9 / med) : 0,
    });
  }
  return {
    micro: true, quick,
    cluster: { services, backends, flows, policy_services: policyServices, policy_entries: policyEntries },
    rows, node: process.version, cpu: cpus()[0]?.model.trim() ?? 'unknown', date: new Date().toISOString(),
  };
}

export function formatMicro(r: MicroResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const head = ['stage', 'per op (median)', 'p99', 'Mops/s', 'ops/call', 'samples'];
  const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e4 ? `${(ns / 1e3).toFixed(1)} us` : `${ns} ns`);
  const rows = r.rows.map((x) => [x.name, fmt(x.ns_per_op), fmt(x.ns_per_op_p99), (x.ops_per_s / 1e6).toFixed(x.ops_per_s >= 1e6 ? 1 : 4), n(x.ops_per_call), n(x.samples)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const c = r.cluster;
  return [
    `micro benchmarks (tinybench; in-core stages loop ${n(r.rows[0]?.ops_per_call ?? 0)} times per call over ${n(c.services)} services x ${n(c.backends)} backends, ${n(c.flows)} flows, ${n(c.policy_entries)} policy entries)`,
    line(head), ...rows.map(line),
  ].join('\n');
}
