// `dpemu bench --scaling`: the same scenario on one worker and on several, in one run, rounds taking turns (the
// machine is shared and noisy: a change of load hits both alike). Flows are spread over the cluster's nodes, so
// the workers share the nodes' work; a packet crossing to a node another worker owns is handed over through the
// batch (src/workers.ts). Reports the medians and their ratio per scenario, and for the fast path what the machine
// gives two cores at the time: one dataplane's rate while an independent one keeps the other core busy (side-by-side.ts).
import { loadavg, availableParallelism } from 'node:os';
import { prepareScenario, turns, type FastpathResult } from './fastpath.js';
import { prepareSideBySide } from './side-by-side.js';
import type { Scenario } from './defaults.js';
import { median, round2 } from './stats.js';
import { startCoreProbe } from './core-latency.js';

/** Rounds of each scenario on each side unless told (short rounds: see runScaling). */
export const SCALING_ROUNDS = 31;

export interface ScalingConfig {
  /** Worker threads compared with one (default 2). */
  workers?: number;
  /** Nodes the pods are spread over (default 2: half the flows cross to the other node). */
  nodes?: number;
  services?: number; backends?: number; flows?: number; rounds?: number; packets?: number; batch?: number; seed?: number;
  scenarios?: Scenario[];
  log?: (line: string) => void;
}

export interface ScalingRow {
  scenario: Scenario;
  /** Median Mpps with one worker, and with `workers`. */
  one: FastpathResult;
  many: FastpathResult;
  /** many.mpps / one.mpps. */
  speedup: number;
  /**
   * The fast path's only: one dataplane's median Mpps while an independent one in another process keeps the other
   * core busy, two such dataplanes (twice that), and that over `one`: the most two workers could reach on the
   * machine as it was. `uncovered`: rounds that outlasted the partner's busy stretch (expected none).
   */
  sideBySide?: { mpps: number; twoMpps: number; speedup: number; uncovered: number };
  /**
   * The cores' distance while it ran: a cache line's round trip between two threads, measured before every round
   * of the workers' side (ns; median, min, max). The ratio follows it (core-latency.ts).
   */
  coreRoundTripNs: { median: number; min: number; max: number };
}

export interface ScalingResult {
  workers: number; nodes: number; shards: number; cores: number; rows: ScalingRow[]; loadavg: number;
}

export async function runScaling(cfg: ScalingConfig = {}): Promise<ScalingResult> {
  const workers = cfg.workers ?? 2;
  const nodes = cfg.nodes ?? 2;
  const shards = 2 ** Math.ceil(Math.log2(Math.max(2, workers)));
  const rows: ScalingRow[] = [];
  const probe = await startCoreProbe();
  try {
    for (const scenario of cfg.scenarios ?? ['fastpath', 'newflow'] as Scenario[]) {
      // Short rounds, many of them: the machine's noise comes and goes over seconds, so rounds of a tenth of a second
      // taking turns see it alike (rounds of a second gave ratios from 0.9x to 1.9x; these 1.3x-1.5x).
      const base = { scenario, nodes, shards, services: cfg.services, backends: cfg.backends, flows: cfg.flows,
        rounds: cfg.rounds ?? SCALING_ROUNDS, packets: cfg.packets ?? (scenario === 'fastpath' ? 1 << 18 : 1 << 16),
        batch: cfg.batch, seed: cfg.seed, log: cfg.log };
      const one = await prepareScenario({ ...base, workers: 1 });
      const many = await prepareScenario({ ...base, workers });
      const { log: _log, scenario: _scenario, ...partnerConfig } = base;
      const pair = scenario === 'fastpath' ? await prepareSideBySide(partnerConfig) : undefined;
      try {
        const trips: number[] = [];
        const sides: { rounds: number; round(r: number): number | Promise<number> }[] = [
          one, { rounds: many.rounds, round: (r: number) => { trips.push(probe.roundTripNs()); return many.round(r); } }];
        if (pair) sides.push(pair);
        const ms: number[][] = sides.map(() => []);
        for (const [i, r] of turns(sides)) ms[i].push(await sides[i].round(r)); // as takeTurns, the side-by-side rounds awaited
        const r1 = one.finish(ms[0]), r2 = many.finish(ms[1]);
        const seen = trips.filter((t) => !Number.isNaN(t));
        const coreRoundTripNs = seen.length === 0 ? { median: NaN, min: NaN, max: NaN }
          : { median: Math.round(median(seen)), min: Math.round(Math.min(...seen)), max: Math.round(Math.max(...seen)) };
        const row: ScalingRow = { scenario, one: r1, many: r2, speedup: round2(r2.mpps / r1.mpps), coreRoundTripNs };
        if (pair) {
          const busy = pair.finish(ms[2]).mpps;
          row.sideBySide = { mpps: busy, twoMpps: round2(2 * busy), speedup: round2((2 * busy) / r1.mpps), uncovered: pair.uncovered };
        }
        rows.push(row);
        cfg.log?.(`${scenario}: ${r1.mpps} Mpps on 1 worker, ${r2.mpps} on ${r2.workers}: ${row.speedup}x (core round trip ${coreRoundTripNs.median} ns)`
          + (row.sideBySide ? `; one with the other core busy ${row.sideBySide.mpps}, two such ${row.sideBySide.twoMpps}: ${row.sideBySide.speedup}x` : ''));
      } finally {
        await one.close(); await many.close(); await pair?.close();
      }
    }
  } finally {
    await probe.close();
  }
  return { workers, nodes, shards, cores: availableParallelism(), rows, loadavg: Math.round(loadavg()[0] * 100) / 100 };
}

export function formatScaling(r: ScalingResult): string {
  const lines = [`${r.nodes} nodes, per-node state in ${r.shards} shards, ${r.cores} cores; medians of interleaved rounds (load ${r.loadavg})`];
  for (const row of r.rows) {
    const rt = row.coreRoundTripNs;
    lines.push(`  ${row.scenario.padEnd(9)} 1 worker ${String(row.one.mpps).padStart(6)} Mpps   ${row.many.workers} workers ${String(row.many.mpps).padStart(6)} Mpps   ${row.speedup}x   core round trip ${rt.median} ns (${rt.min}-${rt.max})`);
    const s = row.sideBySide;
    if (s) lines.push(`  ${''.padEnd(9)} what the machine gave two cores: 1 worker with the other core busy ${s.mpps} Mpps, two such ${s.twoMpps} Mpps   ${s.speedup}x`);
  }
  return lines.join('\n');
}
