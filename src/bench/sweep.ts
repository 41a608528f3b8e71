// `bench --sweep`: dataplane designs side by side (issue 5). For every
// (design, scenario, services, flows, policies) point the scenario of src/bench/fastpath.ts
// runs `repeats` times (repeats outermost, so a burst of load on this shared
// machine spreads over all points rather than spoiling one); within a run, the
// points of one chart line (a design, scenario and flows value over the services,
// or over the policy counts) are set up together and their timed rounds take
// turns. The point reports the median and the 99th percentile (nearest rank) of
// the per-packet time over all rounds of all repeats. The machine limit (../shared/limit/run) runs once
// per flows value, as the ceiling. Results go to DIR/sweep.json, sweep.csv and
// sweep.html (src/bench/html.ts).
//
// Grid: every design x scenario x services x flows with no policies, plus the
// policies dimension (0..1000 synthetic ingress policies, src/bench/policies.ts)
// at one cluster size. Designs are DESIGN_NAMES of src/dataplane.ts; a design
// the build refuses (createDataplane throws) is skipped with a note, so its
// lines appear as soon as it is implemented. A point whose warm-up (opening
// every flow through the new-flow path) is projected, from the same design's
// smaller clusters, to take longer than the point budget is skipped with a
// note rather than stalling the sweep (an O(services) design at 100,000
// services and 1,000,000 flows); the packets of slow designs are capped, never
// their services.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, arch } from 'node:os';
import { join, resolve } from 'node:path';
import { runFastpath, prepareScenario, takeTurns, PreparedScenario, FastpathConfig, FastpathResult, Scenario, SCENARIOS, BenchmarkError } from './fastpath.js';
import { runLimit, defaultLimitPath, packageRoot, LimitResult } from './compare.js';
import { createDataplane } from '../node.js';
import { synthesize, limitsFor, program } from '../controlplane/synthetic.js';
import { DESIGN_NAMES, Design as DesignName } from '../dataplane.js';
import { renderSweepHtml } from './html.js';
import { median, percentile, round1, round2 } from './stats.js';

export { median, percentile } from './stats.js';

/** A dataplane design the sweep can measure. */
export interface Design {
  /** Short name used in the output (JSON, CSV, chart legends): one of DESIGN_NAMES. */
  name: DesignName;
  description: string;
  /** One measurement of one point (the config carries scenario, sizes, rounds, packets, policies). */
  run(cfg: FastpathConfig): Promise<FastpathResult>;
  /** The same, set up and warmed, its rounds for the caller to run (interleaved with other points'). */
  prepare(cfg: FastpathConfig): Promise<PreparedScenario & { rounds: number }>;
  /** Bytes of memory one service (with its backends) costs (see bytesPerService). */
  bytesPerService(services: number, backends: number, seed: number): Promise<number | undefined>;
}

const DESCRIPTIONS: Record<DesignName, string> = {
  ebpf: 'Cilium-style eBPF maps: hash frontends, LRU conntrack, per-packet pipeline (assembly/)',
  iptables: 'kube-proxy iptables mode: rule chains walked in order (KUBE-SERVICES is linear in services)',
  ipvs: 'kube-proxy IPVS mode: a hash of virtual services, ipset matches',
  nftables: 'kube-proxy nftables mode: verdict maps (hashed) per service',
};

/**
 * Bytes per service of a design: the linear memory in use after programming a cluster of `services`
 * services with no flows (conntrack at its minimum size), minus the same for a cluster of one service,
 * divided by services - 1. It covers everything a service brings: its service, frontend, backend and slot
 * entries and the ipcache entries of its backend pods.
 */
async function bytesPerService(design: DesignName, services: number, backends: number, seed: number): Promise<number | undefined> {
  if (services < 2) return undefined;
  const mem = async (s: number) => {
    const cluster = synthesize({ services: s, backends, clients: 256, design, seed });
    const dp = await createDataplane('wasm', { ...limitsFor(cluster, 0), seed, design });
    program(dp, cluster);
    return (dp as unknown as { memoryBytes(): number }).memoryBytes();
  };
  const one = await mem(1);
  return Math.round((await mem(services) - one) / (services - 1));
}

function designOf(name: DesignName): Design {
  return {
    name, description: DESCRIPTIONS[name],
    run: (cfg) => runFastpath({ ...cfg, backend: 'wasm', design: name }),
    prepare: (cfg) => prepareScenario({ ...cfg, backend: 'wasm', design: name }),
    bytesPerService: (s, b, seed) => bytesPerService(name, s, b, seed),
  };
}

/** Every design of src/dataplane.ts, in its order. */
export const DESIGNS: readonly Design[] = DESIGN_NAMES.map(designOf);

/** Why the build refuses a design (its createDataplane error), or undefined when it takes it. */
export async function designRefused(name: DesignName): Promise<string | undefined> {
  try {
    await createDataplane('wasm', { design: name, maxFlows: 1024, maxServices: 1, maxFrontends: 16, maxBackends: 1, maxSlots: 1, maxIpcache: 64, maxPolicy: 64 });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export type { SweepPoint, SkippedPoint, SweepLimit, SweepMachine, SweepDesign, SweepResult } from './sweep-result.js';
import type { SweepPoint, SkippedPoint, SweepLimit, SweepMachine, SweepDesign, SweepResult } from './sweep-result.js';

export interface SweepConfig {
  /** Design names (default: all of DESIGN_NAMES; the ones the build refuses are skipped with a note). */
  designs?: string[];
  services?: number[];
  flows?: number[];
  scenarios?: Scenario[];
  /** Policy counts of the policies dimension (default 0, 10, 100, 1000; quick 0, 10); [] for none. */
  policies?: number[];
  /** Cluster size of the policies dimension (default 1,000 services, 100,000 flows; quick: the smallest). */
  policyServices?: number;
  policyFlows?: number;
  /** Backends per service (default 10). */
  backends?: number;
  /** Runs per point (default 3, quick 1). */
  repeats?: number;
  /** Tiny sizes: services [10, 100], flows [1000, 10000], repeats 1, few packets. */
  quick?: boolean;
  /** Override the per-point plan (rounds per run, packets per round). */
  rounds?: number;
  packets?: number;
  /** Seconds one run of a point may take (projected warm-up); longer ones are skipped (default 120). */
  pointBudgetS?: number;
  /** Limit script; default ../shared/limit/run; null: no limit. */
  limitPath?: string | null;
  seed?: number;
  log?: (line: string) => void;
}

export const SWEEP_DEFAULTS = {
  services: [100, 1000, 10_000, 100_000], flows: [10_000, 100_000, 1_000_000], scenarios: ['newflow', 'fastpath'] as Scenario[],
  policies: [0, 10, 100, 1000], policyServices: 1000, policyFlows: 100_000,
  backends: 10, repeats: 3, seed: 1, pointBudgetS: 120,
} as const;
export const SWEEP_QUICK = { services: [10, 100], flows: [1000, 10_000], policies: [0, 10], repeats: 1 } as const;

/**
 * Rounds and packets of one run at one point. Setting up a point (programming the cluster, opening every
 * flow) costs more than the timed rounds, so the rounds are few and short: at ~80 ns/packet a fastpath
 * round of 2^19 packets takes ~40 ms, a newflow round of 2^16 first packets at ~1 us ~65 ms. Small
 * clusters measure fewer packets (their setup is cheap, but so is their noise floor). iptables walks its
 * service chain per new flow: its packets shrink with the services (about 2^26 rule visits per round),
 * never below 2^10.
 */
export function pointPlan(scenario: Scenario, services: number, flows: number, quick = false, design: string = 'ebpf'): { rounds: number; packets: number } {
  if (quick) return { rounds: 2, packets: scenario === 'newflow' ? 1 << 12 : 1 << 14 };
  const small = services * 10 <= 10_000 && flows <= 100_000;
  const plan = scenario === 'newflow' ? { rounds: 3, packets: small ? 1 << 15 : 1 << 16 } : { rounds: 3, packets: small ? 1 << 18 : 1 << 19 };
  if (design === 'iptables') {
    const cap = 2 ** Math.round(Math.log2(Math.max(1 << 10, (scenario === 'newflow' ? 2 ** 26 : 2 ** 28) / services)));
    plan.packets = Math.min(plan.packets, cap);
  }
  return plan;
}

/**
 * Projected seconds of one run of a point from the same design's warm-up figures at smaller clusters
 * (ns per new flow against services, extrapolated on log-log axes with the slope of the last two sizes,
 * between 0 and 1.5; with one size known, linear). Undefined when nothing is known yet.
 */
export function projectRunSeconds(known: { services: number; warmNs: number }[], services: number, flows: number, scenario: Scenario, packets: number, rounds: number): number | undefined {
  const below = [...known].filter((k) => k.services <= services).sort((a, b) => a.services - b.services);
  if (!below.length) return undefined;
  const a = below[below.length - 1];
  const b = [...below].reverse().find((k) => k.services < a.services);
  const slope = b ? Math.min(1.5, Math.max(0, Math.log(a.warmNs / b.warmNs) / Math.log(a.services / b.services))) : 1;
  const ns = a.warmNs * (services / a.services) ** slope;
  // Warm-up: every flow's SYN (and, for newflow, its ACK, a cheap hit: counted once more to be safe);
  // timed: newflow rounds are new flows, fastpath rounds hits (counted as new flows: an upper bound).
  return ((scenario === 'newflow' ? 2 : 1) * flows * ns + rounds * packets * ns) / 1e9;
}

function positiveInts(name: string, xs: readonly number[], min = 1): number[] {
  if (!xs.length) throw new BenchmarkError(`${name}: empty list`);
  for (const x of xs) if (!(Number.isInteger(x) && x >= min)) throw new BenchmarkError(`${name}: ${x} is not an integer >= ${min}`);
  return [...new Set(xs)].sort((a, b) => a - b);
}

export async function runSweep(cfg: SweepConfig = {}): Promise<SweepResult> {
  const started = performance.now();
  const loadStart = loadavg().map(round2);
  const log = cfg.log ?? (() => {});
  const quick = cfg.quick ?? false;
  const services = positiveInts('services', cfg.services ?? (quick ? SWEEP_QUICK.services : SWEEP_DEFAULTS.services));
  const flows = positiveInts('flows', cfg.flows ?? (quick ? SWEEP_QUICK.flows : SWEEP_DEFAULTS.flows));
  const policyCounts = cfg.policies && !cfg.policies.length ? [] : positiveInts('policies', cfg.policies ?? (quick ? SWEEP_QUICK.policies : SWEEP_DEFAULTS.policies), 0);
  const policyServices = cfg.policyServices ?? (quick ? services[0] : SWEEP_DEFAULTS.policyServices);
  const policyFlows = cfg.policyFlows ?? (quick ? flows[0] : SWEEP_DEFAULTS.policyFlows);
  positiveInts('policyServices', [policyServices]); positiveInts('policyFlows', [policyFlows]);
  const scenarios = cfg.scenarios ?? [...SWEEP_DEFAULTS.scenarios];
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new BenchmarkError(`unknown scenario ${JSON.stringify(s)}; known scenarios: ${SCENARIOS.join(', ')}`);
  const backends = cfg.backends ?? SWEEP_DEFAULTS.backends;
  const repeats = cfg.repeats ?? (quick ? SWEEP_QUICK.repeats : SWEEP_DEFAULTS.repeats);
  if (!(Number.isInteger(repeats) && repeats >= 1 && repeats <= 99)) throw new BenchmarkError(`repeats: ${repeats} is not in 1..99`);
  const seed = cfg.seed ?? SWEEP_DEFAULTS.seed;
  const budget = cfg.pointBudgetS ?? SWEEP_DEFAULTS.pointBudgetS;
  const requested = (cfg.designs ?? [...DESIGN_NAMES]).map((name) => {
    const d = DESIGNS.find((x) => x.name === name);
    if (!d) throw new BenchmarkError(`unknown design ${JSON.stringify(name)}; known designs: ${DESIGN_NAMES.join(', ')}`);
    return d;
  });
  const designInfo: SweepDesign[] = [];
  const designs: Design[] = [];
  for (const d of requested) {
    const refused = await designRefused(d.name);
    if (refused) log(`design ${d.name}: skipped (${refused})`);
    else designs.push(d);
    designInfo.push({ name: d.name, description: d.description, status: refused ? 'skipped' : 'measured', ...(refused ? { note: refused } : {}) });
  }

  // The ceiling first, once per flows value (it takes a few seconds each).
  const limitPath = cfg.limitPath === undefined ? defaultLimitPath() : cfg.limitPath;
  const limits: SweepLimit[] = [];
  let limitNote = limitPath === null ? 'limit: not measured (no limit script given)' : '';
  if (limitPath !== null) {
    for (const f of flows) {
      log(`limit: bash ${limitPath} ${f}`);
      const l = runLimit(limitPath, f);
      if (l.status === 'absent') { log(`limit: ${limitPath} not found, no ceiling`); limitNote = `limit: ${limitPath} not found, no ceiling`; limits.length = 0; break; }
      if (l.status === 'failed') log(`limit: failed: ${l.error}`);
      const pick = (x: LimitResult['wasm']) => (x ? { fast_mpps: x.fast_mpps, warm_mpps: x.warm_mpps } : undefined);
      limits.push({ flows: f, status: l.status, path: limitPath, wasm32: pick(l.wasm), native: pick(l.native), ...(l.error ? { error: l.error } : {}) });
    }
  }

  interface Acc {
    design: Design; scenario: Scenario; services: number; flows: number; policies: number;
    plan: { rounds: number; packets: number }; ns: number[]; runs: FastpathResult[]; skipped?: string;
  }
  const accs: Acc[] = [];
  const seen = new Set<string>();
  const add = (design: Design, scenario: Scenario, s: number, f: number, policies: number) => {
    const key = `${design.name}/${scenario}/${s}/${f}/${policies}`;
    if (seen.has(key)) return;
    seen.add(key);
    const plan = pointPlan(scenario, s, f, quick, design.name);
    accs.push({ design, scenario, services: s, flows: f, policies, plan: { rounds: cfg.rounds ?? plan.rounds, packets: cfg.packets ?? plan.packets }, ns: [], runs: [] });
  };
  for (const design of designs) for (const scenario of scenarios) {
    for (const s of services) for (const f of flows) add(design, scenario, s, f, 0);
    for (const p of policyCounts) add(design, scenario, policyServices, policyFlows, p);
  }

  // Warm-up cost per design (ns per new flow by services), for the budget projection.
  const warm = new Map<string, { services: number; warmNs: number }[]>();
  // The points of one design, scenario and flows value (the services of the grid, or the policy counts)
  // are set up together and their timed rounds take turns, each round starting at the next point: a change
  // of load on this shared machine then hits every size of a chart's line alike (separate runs of one build
  // land 30-50% apart here), and the line shows the growth rather than the drift. bench --growth does the same.
  const groups = new Map<string, Acc[]>();
  for (const a of accs) {
    const key = `${a.design.name}/${a.scenario}/${a.flows}/${a.policies > 0 ? 'policies' : 'grid'}`;
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  for (let rep = 0; rep < repeats; rep++) {
    for (const group of groups.values()) {
      const live: { a: Acc; p: PreparedScenario & { rounds: number }; what: string }[] = [];
      const fail = (a: Acc, what: string, e: unknown) => {
        const err = e as Error;
        if (!['BenchmarkError', 'DataplaneError', 'RangeError'].includes(err.name)) throw e;
        a.skipped = `failed: ${err.message}`;
        log(`${what}: ${a.skipped}`);
      };
      for (const a of group) {
        if (a.skipped) continue;
        const what = `${a.design.name} ${a.scenario}, ${a.services} services, ${a.flows} flows${a.policies ? `, ${a.policies} policies` : ''}`;
        if (rep === 0) {
          const est = projectRunSeconds(warm.get(a.design.name) ?? [], a.services, a.flows, a.scenario, a.plan.packets, a.plan.rounds);
          if (est !== undefined && est > budget) {
            a.skipped = `projected ${Math.round(est)} s per run (from the warm-up at smaller clusters) is over the point budget of ${budget} s`;
            log(`skip ${what}: ${a.skipped}`);
            continue;
          }
        }
        log(`run ${rep + 1}/${repeats}, point ${accs.indexOf(a) + 1}/${accs.length}: ${what}`);
        try {
          const p = await a.design.prepare({ scenario: a.scenario, services: a.services, backends, flows: a.flows, rounds: a.plan.rounds, packets: a.plan.packets, seed, policies: a.policies });
          live.push({ a, p, what });
          if (rep === 0 && a.policies === 0 && p.warmMpps > 0) {
            const l = warm.get(a.design.name) ?? [];
            l.push({ services: a.services, warmNs: 1e3 / p.warmMpps });
            warm.set(a.design.name, l);
          }
        } catch (e) { fail(a, what, e); }
      }
      const ms = takeTurns(live.map((x) => x.p), (i, e) => fail(live[i].a, live[i].what, e));
      for (const [i, x] of live.entries()) {
        if (x.a.skipped) continue;
        const r = x.p.finish(ms[i]);
        x.a.runs.push(r);
        for (const ms of r.round_ms) x.a.ns.push((ms * 1e6) / r.packets);
      }
    }
  }

  const bytes = new Map<string, number | undefined>();
  const points: SweepPoint[] = [];
  const skipped: SkippedPoint[] = [];
  for (const a of accs) {
    if (a.skipped || !a.runs.length) {
      skipped.push({ design: a.design.name, scenario: a.scenario, services: a.services, flows: a.flows, policies: a.policies, reason: a.skipped ?? 'not run' });
      continue;
    }
    const key = `${a.design.name}/${a.services}`;
    if (!bytes.has(key)) {
      log(`memory: ${a.design.name}, ${a.services} services with no flows`);
      bytes.set(key, await a.design.bytesPerService(a.services, backends, seed));
    }
    const ns = median(a.ns);
    const bpf = a.runs[0].bytes_per_flow;
    const bps = bytes.get(key);
    points.push({
      design: a.design.name, scenario: a.scenario, services: a.services, backends, flows: a.flows, policies: a.policies, repeats: a.runs.length,
      rounds: a.plan.rounds, packets: a.plan.packets,
      mpps: ns > 0 ? round2(1e3 / ns) : 0, ns_per_packet: round1(ns), ns_per_packet_p99: round1(percentile(a.ns, 99)),
      runs_mpps: a.runs.map((r) => r.mpps),
      ...(bpf !== undefined ? { bytes_per_flow: bpf } : {}),
      ...(bps !== undefined ? { bytes_per_service: bps } : {}),
      warm_ns_per_flow: round1(median(a.runs.map((r) => 1e3 / r.warm_mpps))),
      loadavg: median(a.runs.map((r) => r.loadavg)),
    });
  }

  const cpu = cpus();
  return {
    sweep: true, quick, designs: designInfo,
    scenarios, services, flows, policies: policyCounts, policy_grid: { services: policyServices, flows: policyFlows },
    backends, repeats, seed, points, skipped, limits,
    machine: {
      node: process.version, cpu: cpu[0]?.model.trim() ?? 'unknown', cores: cpu.length, platform: `${platform()}-${arch()}`,
      loadavg_start: loadStart, loadavg: loadavg().map(round2), date: new Date().toISOString(),
    },
    elapsed_s: Math.round((performance.now() - started) / 100) / 10,
    notes: [
      'ns_per_packet: median per-packet time over all timed rounds of all runs of the point; ns_per_packet_p99: nearest-rank 99th percentile of the same rounds (with few rounds, the slowest one); mpps = 1000 / ns_per_packet.',
      'newflow: first packets (SYN) of new flows over the established population (conntrack miss, service lookup, backend choice, policy, conntrack insert); fastpath: ACKs of established flows (conntrack hit, DNAT).',
      'policies: N synthetic ingress policies (src/bench/policies.ts): every backend pod isolated, policy p selects the backends of services s % N == p and allows the 16 client identities on TCP/8080; each new flow makes one ingress policy check. Run at policy_grid\'s cluster size.',
      'bytes_per_flow: memory of all maps (sized for 1.25 x the point\'s flows) over flows, as `bench` reports it; with few flows and many services it is dominated by the services.',
      'bytes_per_service: memory after programming the cluster with no flows (minimum conntrack) minus the same for a one-service cluster, over services - 1; it includes the backends of the service and their pods.',
      'limit: the machine-limit script (--limit) per flows value, always 10,000 services x 10 backends; fast_mpps (established flows) is the ceiling drawn; warm_mpps is its warm-up (mostly conntrack hits, some inserts).',
      ...(limitNote ? [limitNote] : []),
      ...designInfo.filter((d) => d.status === 'skipped').map((d) => `design ${d.name}: skipped, ${d.note}`),
      ...skipped.map((s) => `point ${s.design} ${s.scenario} ${s.services} services ${s.flows} flows ${s.policies} policies: skipped, ${s.reason}`),
    ],
  };
}

// ---------------------------------------------------------------- files

export const CSV_COLUMNS = [
  'design', 'scenario', 'services', 'backends', 'flows', 'policies', 'repeats', 'rounds', 'packets', 'mpps', 'ns_per_packet', 'ns_per_packet_p99',
  'bytes_per_flow', 'bytes_per_service', 'warm_ns_per_flow', 'limit_wasm32_mpps', 'limit_native_mpps', 'loadavg',
] as const;

export function sweepCsv(r: SweepResult): string {
  const lim = new Map(r.limits.map((l) => [l.flows, l]));
  const rows = r.points.map((p) => {
    const l = lim.get(p.flows);
    const row: Partial<Record<(typeof CSV_COLUMNS)[number], string | number>> = {
      ...p, limit_wasm32_mpps: l?.wasm32?.fast_mpps, limit_native_mpps: l?.native?.fast_mpps,
    };
    return CSV_COLUMNS.map((c) => String(row[c] ?? '')).join(',');
  });
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function defaultSweepDir(): string {
  return resolve(packageRoot(), 'bench', 'results');
}

/** Write sweep.json, sweep.csv and sweep.html into dir (created if needed); returns their paths. */
export function writeSweep(r: SweepResult, dir: string = defaultSweepDir()): { json: string; csv: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const out = { json: join(dir, 'sweep.json'), csv: join(dir, 'sweep.csv'), html: join(dir, 'sweep.html') };
  writeFileSync(out.json, JSON.stringify(r, null, 2) + '\n');
  writeFileSync(out.csv, sweepCsv(r));
  writeFileSync(out.html, renderSweepHtml(r));
  return out;
}

/** The short table the CLI prints. */
export function formatSweep(r: SweepResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const head = ['design', 'scenario', 'services', 'flows', 'policies', 'Mpps', 'ns/pkt', 'p99 ns', 'B/flow', 'B/svc'];
  const rows = r.points.map((p) => [p.design, p.scenario, n(p.services), n(p.flows), n(p.policies), p.mpps.toFixed(2), p.ns_per_packet.toFixed(1),
    p.ns_per_packet_p99.toFixed(1), p.bytes_per_flow === undefined ? '-' : n(p.bytes_per_flow), p.bytes_per_service === undefined ? '-' : n(p.bytes_per_service)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const out = [line(head), ...rows.map(line)];
  for (const l of r.limits) {
    out.push(l.status === 'ok'
      ? `limit at ${n(l.flows)} flows: wasm32 ${l.wasm32!.fast_mpps} Mpps (${(1e3 / l.wasm32!.fast_mpps).toFixed(1)} ns/pkt)` +
        (l.native ? `, native ${l.native.fast_mpps} Mpps (${(1e3 / l.native.fast_mpps).toFixed(1)} ns/pkt)` : '')
      : `limit at ${n(l.flows)} flows: ${l.status}${l.error ? `: ${l.error.split('\n')[0]}` : ''}`);
  }
  if (!r.limits.length) out.push('limit: not measured (no limit script)');
  out.push(`${r.points.length} points x ${r.repeats} runs in ${r.elapsed_s} s (load average ${r.machine.loadavg_start[0]} -> ${r.machine.loadavg[0]})`);
  return out.join('\n');
}
