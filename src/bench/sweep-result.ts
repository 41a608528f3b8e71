// The sweep's result: what sweep.ts measures and html.ts draws (kept apart so the page renderer depends on the
// shape of a result, not on the code that measures it).

import type { Scenario } from './fastpath.js';
import type { LimitResult } from './compare.js';

export interface SweepPoint {
  design: string;
  scenario: Scenario;
  services: number;
  /** Backends per service. */
  backends: number;
  flows: number;
  /** Synthetic ingress policies (0: no endpoint isolated, no policy lookups). */
  policies: number;
  /** Runs of the point; the figures below are over all their rounds. */
  repeats: number;
  /** Timed rounds per run, packets per round. */
  rounds: number;
  packets: number;
  /** Millions of packets per second at the median per-packet time. */
  mpps: number;
  /** Median per-packet time over all rounds of all runs, ns. */
  ns_per_packet: number;
  /** 99th percentile (nearest rank) of the per-packet time over all rounds; with few rounds, the slowest. */
  ns_per_packet_p99: number;
  /** Each run's own median, Mpps. */
  runs_mpps: number[];
  /** Bytes of the maps per flow (all maps, sized for this many flows, over flows). */
  bytes_per_flow?: number;
  /** Bytes per service with its backends, from a separate programming with no flows. */
  bytes_per_service?: number;
  /** Median new-flow time while opening the flows (warm-up), ns per flow. */
  warm_ns_per_flow: number;
  /** Median load average (1 min) at the end of the runs. */
  loadavg: number;
}

/** A point not measured, and why (projected over the budget, or the run failed). */
export interface SkippedPoint {
  design: string; scenario: Scenario; services: number; flows: number; policies: number;
  reason: string;
}

/** The limit's figures for one flows value (always 10,000 services x 10 backends in limit.c). */
export interface SweepLimit {
  flows: number;
  status: LimitResult['status'];
  path: string;
  wasm32?: { fast_mpps: number; warm_mpps: number };
  native?: { fast_mpps: number; warm_mpps: number };
  error?: string;
}

export interface SweepMachine {
  node: string; cpu: string; cores: number; platform: string;
  /** os.loadavg() when the sweep started and when it ended (1, 5, 15 min). */
  loadavg_start: number[]; loadavg: number[];
  date: string;
}

export interface SweepDesign {
  name: string; description: string;
  /** measured: the build takes it; skipped: createDataplane refused it (note: its message). */
  status: 'measured' | 'skipped';
  note?: string;
}

export interface SweepResult {
  sweep: true;
  quick: boolean;
  designs: SweepDesign[];
  scenarios: Scenario[];
  services: number[];
  flows: number[];
  /** The policies dimension: these counts at policy_grid's size. */
  policies: number[];
  policy_grid: { services: number; flows: number };
  backends: number;
  repeats: number;
  seed: number;
  points: SweepPoint[];
  skipped: SkippedPoint[];
  limits: SweepLimit[];
  machine: SweepMachine;
  elapsed_s: number;
  notes: string[];
}
