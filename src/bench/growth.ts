// `bench --growth`: how the new-flow cost of each design grows with the number of services (issue 5's
// target: the hash designs within 1.5x between 100 and 100,000 services; iptables visibly linear).
//
// Measured so that the machine's drift cannot pass for growth: this machine is shared, and separate runs
// of the same build land 30-50% apart depending on what else runs at the time. So both cluster sizes are
// built in one process and their timed rounds alternate (small, large, large, small, ...): a change of
// load hits both sizes alike, and the ratio of their medians is what is left. Each size is the newflow
// scenario of src/bench/fastpath.ts (the same cluster, flows and checks as `--scenario newflow`).

import { loadavg } from 'node:os';
import { Design, DESIGN_NAMES } from '../dataplane.js';
import { prepareScenario, BenchmarkError, FastpathResult } from './fastpath.js';
import { median, round2 } from './stats.js';

export const GROWTH_TARGET = 1.5;
/** Designs whose new-flow lookup is a hash (the target applies); iptables walks KUBE-SERVICES. */
export const HASH_DESIGNS: readonly Design[] = ['ebpf', 'ipvs', 'nftables'];

export interface GrowthConfig {
  designs?: Design[];
  /** Services of the small and the large cluster (default 100 and 100,000). */
  from?: number; to?: number;
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
  from: FastpathResult; to: FastpathResult;
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
  const from = cfg.from ?? 100, to = cfg.to ?? 100_000;
  if (!(from < to)) throw new BenchmarkError(`--growth compares a smaller cluster with a larger one: ${from} services is not below ${to}`);
  const backends = cfg.backends ?? 10, flows = cfg.flows ?? 100_000, rounds = cfg.rounds ?? 15;
  const log = cfg.log ?? (() => {});
  const rows: GrowthRow[] = [];
  for (const design of designs) {
    const packets = cfg.packets ?? (design === 'iptables' ? 1024 : 16_384);
    const common = { scenario: 'newflow' as const, design, backends, flows, packets, rounds, seed: cfg.seed, log };
    const small = await prepareScenario({ ...common, services: from });
    const large = await prepareScenario({ ...common, services: to });
    const smallMs: number[] = [], largeMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate which size goes first, so neither always runs right after the other.
      if (r % 2 === 0) { smallMs.push(small.round(r)); largeMs.push(large.round(r)); }
      else { largeMs.push(large.round(r)); smallMs.push(small.round(r)); }
    }
    const a = small.finish(smallMs), b = large.finish(largeMs);
    const pairs = smallMs.map((s, i) => round2(largeMs[i] / s));
    const ratio = round2(b.ns_per_packet / a.ns_per_packet);
    const hash = HASH_DESIGNS.includes(design);
    rows.push({
      design, from_services: from, to_services: to, packets, rounds,
      from_ns: a.ns_per_packet, to_ns: b.ns_per_packet, ratio, pair_ratios: pairs, pair_ratio_median: round2(median(pairs)),
      target: hash ? GROWTH_TARGET : null, pass: hash ? ratio <= GROWTH_TARGET : null, from: a, to: b,
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
    `new-flow growth, ${r.backends} backends per service, ${n(r.flows)} established flows; both sizes in one process, rounds alternating`,
    'design     services        ns/new flow         ratio  (pairs: median)  target',
  ];
  for (const x of r.rows) {
    lines.push(`${x.design.padEnd(10)} ${`${n(x.from_services)} -> ${n(x.to_services)}`.padEnd(15)} ${`${n(x.from_ns)} -> ${n(x.to_ns)}`.padEnd(19)} ${`${x.ratio}x`.padStart(7)}  ${`(${x.pair_ratio_median}x)`.padEnd(16)} ${x.target === null ? 'linear expected' : `<= ${x.target}x: ${x.pass ? 'met' : 'NOT met'}`}`);
  }
  return lines.join('\n');
}
