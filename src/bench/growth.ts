// `bench --growth`: how the new-flow cost of each design grows with the number of services (issue 5's
// target: the hash designs within 1.5x between 100 and 100,000 services; iptables visibly linear).
//
// Measured so that the machine's drift cannot pass for growth: this machine is shared, and separate runs
// of the same build land 30-50% apart depending on what else runs at the time. So every cluster size
// (100, 1,000, 10,000 and 100,000 services by default) is built in one process and their timed rounds
// take turns, each round starting the rotation at the next size: a change of load hits every size alike,
// and the ratio of their medians is what is left. Each size is the newflow scenario of
// src/bench/fastpath.ts (the same cluster, flows and checks as `--scenario newflow`).

import { loadavg } from 'node:os';
import { Design, DESIGN_NAMES } from '../dataplane.js';
import { prepareScenario, takeTurns, BenchmarkError, FastpathResult } from './fastpath.js';
import { median, round2 } from './stats.js';

export const GROWTH_TARGET = 1.5;
/** Designs whose new-flow lookup is a hash (the target applies); iptables walks KUBE-SERVICES. */
export const HASH_DESIGNS: readonly Design[] = ['ebpf', 'ipvs', 'nftables'];

export interface GrowthConfig {
  designs?: Design[];
  /** Cluster sizes in services, ascending (default 100, 1,000, 10,000, 100,000); growth is last / first. */
  sizes?: number[];
  backends?: number; flows?: number;
  /** New flows per timed round (default 16,384; iptables 1,024: at 100,000 services each costs ~0.1 ms). */
  packets?: number;
  /** Timed rounds of each size (default 15). */
  rounds?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface GrowthRow {
  design: Design;
  /** The sizes measured and the median ns per new flow at each. */
  sizes: number[]; ns: number[];
  from_services: number; to_services: number;
  packets: number; rounds: number;
  /** Median ns per new flow over the rounds of each size. */
  from_ns: number; to_ns: number;
  /** to_ns / from_ns. */
  ratio: number;
  /** The ratio of each alternating pair of rounds, and their median. */
  pair_ratios: number[]; pair_ratio_median: number;
  /** The issue's target for hash designs (null for iptables, expected to grow linearly). */
  target: number | null; pass: boolean | null;
  /** The scenario result at each size. */
  results: FastpathResult[];
}

export interface GrowthResult {
  growth: true;
  backends: number; flows: number;
  rows: GrowthRow[];
  /** Every hash design measured within the target. */
  pass: boolean;
  node: string; loadavg: number;
}

export async function runGrowth(cfg: GrowthConfig = {}): Promise<GrowthResult> {
  const designs = cfg.designs ?? [...DESIGN_NAMES];
  for (const d of designs) if (!DESIGN_NAMES.includes(d)) throw new BenchmarkError(`unknown design ${JSON.stringify(d)}; known designs: ${DESIGN_NAMES.join(', ')}`);
  const sizes = cfg.sizes ?? [100, 1000, 10_000, 100_000];
  for (let i = 1; i < sizes.length; i++) {
    if (!(sizes[i - 1] < sizes[i])) throw new BenchmarkError(`--growth takes ascending cluster sizes: ${sizes[i - 1]} services is not below ${sizes[i]}`);
  }
  if (sizes.length < 2) throw new BenchmarkError('--growth compares at least two cluster sizes');
  const from = sizes[0], to = sizes[sizes.length - 1];
  const backends = cfg.backends ?? 10, flows = cfg.flows ?? 100_000, rounds = cfg.rounds ?? 15;
  const log = cfg.log ?? (() => {});
  const rows: GrowthRow[] = [];
  for (const design of designs) {
    const packets = cfg.packets ?? (design === 'iptables' ? 1024 : 16_384);
    const common = { scenario: 'newflow' as const, design, backends, flows, packets, rounds, seed: cfg.seed, log };
    const prepared = [];
    for (const services of sizes) prepared.push(await prepareScenario({ ...common, services }));
    const ms = takeTurns(prepared);
    const results = prepared.map((p, i) => p.finish(ms[i]));
    const a = results[0], b = results[results.length - 1];
    const smallMs = ms[0], largeMs = ms[ms.length - 1];
    const pairs = smallMs.map((s, i) => round2(largeMs[i] / s));
    const ratio = round2(b.ns_per_packet / a.ns_per_packet);
    const hash = HASH_DESIGNS.includes(design);
    rows.push({
      design, sizes, ns: results.map((x) => x.ns_per_packet), from_services: from, to_services: to, packets, rounds,
      from_ns: a.ns_per_packet, to_ns: b.ns_per_packet, ratio, pair_ratios: pairs, pair_ratio_median: round2(median(pairs)),
      target: hash ? GROWTH_TARGET : null, pass: hash ? ratio <= GROWTH_TARGET : null, results,
    });
    log(`${design}: ${a.ns_per_packet} ns at ${from} services, ${b.ns_per_packet} ns at ${to}: ${ratio}x`);
  }
  return {
    growth: true, backends, flows, rows,
    pass: rows.every((r) => r.pass !== false),
    node: process.version, loadavg: Math.round(loadavg()[0] * 100) / 100,
  };
}

export function formatGrowth(r: GrowthResult): string {
  const n = (x: number) => x.toLocaleString('en-US', { maximumFractionDigits: 1 });
  const lines = [
    `new-flow growth, ${r.backends} backends per service, ${n(r.flows)} established flows; every size in one process, rounds taking turns`,
    `design     ns per new flow at ${(r.rows[0]?.sizes ?? []).map(n).join(' / ')} services`.padEnd(60) + '  growth (pairs)    target',
  ];
  for (const x of r.rows) {
    lines.push(`${x.design.padEnd(10)} ${x.ns.map(n).join(' / ')}`.padEnd(60) + `  ${`${x.ratio}x`.padStart(7)} ${`(${x.pair_ratio_median}x)`.padEnd(10)} ${x.target === null ? 'linear expected' : `<= ${x.target}x: ${x.pass ? 'met' : 'NOT met'}`}`);
  }
  return lines.join('\n');
}
