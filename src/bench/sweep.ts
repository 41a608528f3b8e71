// `bench --sweep`: dataplane designs side by side (issue 5). For every
// (design, scenario, services, flows) point the scenario of src/bench/fastpath.ts
// runs `repeats` times (repeats outermost, so a burst of load on this shared
// machine spreads over all points rather than spoiling one); the point reports
// the median and the 99th percentile (nearest rank) of the per-packet time over
// all rounds of all repeats. The machine limit (../shared/limit/run) runs once
// per flows value, as the ceiling. Results go to DIR/sweep.json, sweep.csv and
// sweep.html (src/bench/html.ts).
//
// The design is a dimension of the sweep: today there is one, the WASM core
// ("ebpf": eBPF-style maps, conntrack, per-packet pipeline). Another design is
// one more entry in DESIGNS; the report code takes whatever designs it finds.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, arch } from 'node:os';
import { join, resolve } from 'node:path';
import { runFastpath, FastpathConfig, FastpathResult, Scenario, SCENARIOS, BenchmarkError } from './fastpath.js';
import { runLimit, defaultLimitPath, packageRoot, LimitResult } from './compare.js';
import { createDataplane } from '../node.js';
import { synthesize, limitsFor, program } from '../controlplane/synthetic.js';
import { renderSweepHtml } from './html.js';

/** A dataplane design the sweep can measure. */
export interface Design {
  /** Short name used in the output (JSON, CSV, chart legends). */
  name: string;
  description: string;
  /** One measurement of one point (the config carries scenario, sizes, rounds, packets). */
  run(cfg: FastpathConfig): Promise<FastpathResult>;
  /**
   * Bytes of memory one service (with its backends) costs, or undefined when the design cannot tell.
   * Measured apart from the timed runs (see ebpfBytesPerService).
   */
  bytesPerService?(services: number, backends: number, seed: number): Promise<number | undefined>;
}

/**
 * Bytes per service of the WASM core: the linear memory in use after programming a cluster of `services`
 * services with no flows (conntrack at its minimum size), minus the same for a cluster of one service,
 * divided by services - 1. It covers everything a service brings: its service, frontend, backend and slot
 * entries and the ipcache entries of its backend pods.
 */
async function ebpfBytesPerService(services: number, backends: number, seed: number): Promise<number | undefined> {
  if (services < 2) return undefined;
  const mem = async (s: number) => {
    const cluster = synthesize({ services: s, backends, clients: 256, algo: 'random', seed });
    const dp = await createDataplane('wasm', { ...limitsFor(cluster, 0), seed });
    program(dp, cluster);
    return (dp as unknown as { memoryBytes(): number }).memoryBytes();
  };
  const one = await mem(1);
  return Math.round((await mem(services) - one) / (services - 1));
}

export const DESIGNS: readonly Design[] = [
  {
    name: 'ebpf',
    description: 'the WASM core: eBPF-style hash maps, conntrack, per-packet pipeline (src/wasm.ts, assembly/)',
    run: (cfg) => runFastpath({ ...cfg, backend: 'wasm' }),
    bytesPerService: ebpfBytesPerService,
  },
];

export interface SweepPoint {
  design: string;
  scenario: Scenario;
  services: number;
  /** Backends per service. */
  backends: number;
  flows: number;
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
  /** Bytes of the maps per flow (all maps, sized for this many flows, over flows), when the design tells. */
  bytes_per_flow?: number;
  /** Bytes per service with its backends, from a separate programming with no flows, when the design tells. */
  bytes_per_service?: number;
  /** Median load average (1 min) at the end of the runs. */
  loadavg: number;
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

export interface SweepResult {
  sweep: true;
  quick: boolean;
  designs: { name: string; description: string }[];
  scenarios: Scenario[];
  services: number[];
  flows: number[];
  backends: number;
  repeats: number;
  seed: number;
  points: SweepPoint[];
  limits: SweepLimit[];
  machine: SweepMachine;
  elapsed_s: number;
  notes: string[];
}

export interface SweepConfig {
  /** Design names (default: all of DESIGNS). */
  designs?: string[];
  services?: number[];
  flows?: number[];
  scenarios?: Scenario[];
  /** Backends per service (default 10). */
  backends?: number;
  /** Runs per point (default 3, quick 1). */
  repeats?: number;
  /** Tiny sizes: services [10, 100], flows [1000, 10000], repeats 1, few packets. */
  quick?: boolean;
  /** Override the per-point plan (rounds per run, packets per round). */
  rounds?: number;
  packets?: number;
  /** Limit script; default ../shared/limit/run; null: no limit. */
  limitPath?: string | null;
  seed?: number;
  log?: (line: string) => void;
}

export const SWEEP_DEFAULTS = {
  services: [100, 1000, 10_000, 100_000], flows: [10_000, 100_000, 1_000_000], scenarios: ['newflow', 'fastpath'] as Scenario[],
  backends: 10, repeats: 3, seed: 1,
} as const;
export const SWEEP_QUICK = { services: [10, 100], flows: [1000, 10_000], repeats: 1 } as const;

/**
 * Rounds and packets of one run at one point. Setting up a point (programming the cluster, opening every
 * flow) costs more than the timed rounds, so the rounds are few and short: at ~80 ns/packet a fastpath
 * round of 2^19 packets takes ~40 ms, a newflow round of 2^16 first packets at ~1 us ~65 ms. Small
 * clusters measure fewer packets (their setup is cheap, but so is their noise floor). The default sweep
 * (24 points x 3 runs, limit included) takes two to three minutes on this 2-core machine.
 */
export function pointPlan(scenario: Scenario, services: number, flows: number, quick = false): { rounds: number; packets: number } {
  if (quick) return { rounds: 2, packets: scenario === 'newflow' ? 1 << 12 : 1 << 14 };
  const small = services * 10 <= 10_000 && flows <= 100_000;
  if (scenario === 'newflow') return { rounds: 3, packets: small ? 1 << 15 : 1 << 16 };
  return { rounds: 3, packets: small ? 1 << 18 : 1 << 19 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;

function positiveInts(name: string, xs: readonly number[]): number[] {
  if (!xs.length) throw new BenchmarkError(`${name}: empty list`);
  for (const x of xs) if (!(Number.isInteger(x) && x >= 1)) throw new BenchmarkError(`${name}: ${x} is not a positive integer`);
  return [...new Set(xs)].sort((a, b) => a - b);
}

export async function runSweep(cfg: SweepConfig = {}): Promise<SweepResult> {
  const started = performance.now();
  const loadStart = loadavg().map(r2);
  const log = cfg.log ?? (() => {});
  const quick = cfg.quick ?? false;
  const services = positiveInts('services', cfg.services ?? (quick ? SWEEP_QUICK.services : SWEEP_DEFAULTS.services));
  const flows = positiveInts('flows', cfg.flows ?? (quick ? SWEEP_QUICK.flows : SWEEP_DEFAULTS.flows));
  const scenarios = cfg.scenarios ?? [...SWEEP_DEFAULTS.scenarios];
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new BenchmarkError(`unknown scenario ${JSON.stringify(s)}; known scenarios: ${SCENARIOS.join(', ')}`);
  const backends = cfg.backends ?? SWEEP_DEFAULTS.backends;
  const repeats = cfg.repeats ?? (quick ? SWEEP_QUICK.repeats : SWEEP_DEFAULTS.repeats);
  if (!(Number.isInteger(repeats) && repeats >= 1 && repeats <= 99)) throw new BenchmarkError(`repeats: ${repeats} is not in 1..99`);
  const seed = cfg.seed ?? SWEEP_DEFAULTS.seed;
  const designs = (cfg.designs ?? DESIGNS.map((d) => d.name)).map((name) => {
    const d = DESIGNS.find((x) => x.name === name);
    if (!d) throw new BenchmarkError(`unknown design ${JSON.stringify(name)}; known designs: ${DESIGNS.map((x) => x.name).join(', ')}`);
    return d;
  });

  // The ceiling first, once per flows value (it takes a few seconds each).
  const limitPath = cfg.limitPath === undefined ? defaultLimitPath() : cfg.limitPath;
  const limits: SweepLimit[] = [];
  if (limitPath !== null) {
    for (const f of flows) {
      log(`limit: bash ${limitPath} ${f}`);
      const l = runLimit(limitPath, f);
      if (l.status === 'absent') { log(`limit: ${limitPath} not found, no ceiling`); limits.length = 0; break; }
      if (l.status === 'failed') log(`limit: failed: ${l.error}`);
      const pick = (x: LimitResult['wasm']) => (x ? { fast_mpps: x.fast_mpps, warm_mpps: x.warm_mpps } : undefined);
      limits.push({ flows: f, status: l.status, path: limitPath, wasm32: pick(l.wasm), native: pick(l.native), ...(l.error ? { error: l.error } : {}) });
    }
  }

  interface Acc { design: Design; scenario: Scenario; services: number; flows: number; plan: { rounds: number; packets: number }; ns: number[]; runs: FastpathResult[] }
  const accs: Acc[] = [];
  for (const design of designs) for (const scenario of scenarios) for (const s of services) for (const f of flows) {
    const plan = pointPlan(scenario, s, f, quick);
    accs.push({ design, scenario, services: s, flows: f, plan: { rounds: cfg.rounds ?? plan.rounds, packets: cfg.packets ?? plan.packets }, ns: [], runs: [] });
  }
  for (let rep = 0; rep < repeats; rep++) {
    for (const [i, a] of accs.entries()) {
      log(`run ${rep + 1}/${repeats}, point ${i + 1}/${accs.length}: ${a.design.name} ${a.scenario}, ${a.services} services, ${a.flows} flows`);
      const r = await a.design.run({ scenario: a.scenario, services: a.services, backends, flows: a.flows, rounds: a.plan.rounds, packets: a.plan.packets, seed });
      a.runs.push(r);
      for (const ms of r.round_ms) a.ns.push((ms * 1e6) / r.packets);
    }
  }

  const bytesPerService = new Map<string, number | undefined>();
  const points: SweepPoint[] = [];
  for (const a of accs) {
    const key = `${a.design.name}/${a.services}`;
    if (!bytesPerService.has(key)) {
      log(`memory: ${a.design.name}, ${a.services} services with no flows`);
      bytesPerService.set(key, a.design.bytesPerService ? await a.design.bytesPerService(a.services, backends, seed) : undefined);
    }
    const ns = median(a.ns);
    const bpf = a.runs[0].bytes_per_flow;
    const bps = bytesPerService.get(key);
    points.push({
      design: a.design.name, scenario: a.scenario, services: a.services, backends, flows: a.flows, repeats,
      rounds: a.plan.rounds, packets: a.plan.packets,
      mpps: ns > 0 ? r2(1e3 / ns) : 0, ns_per_packet: r1(ns), ns_per_packet_p99: r1(percentile(a.ns, 99)),
      runs_mpps: a.runs.map((r) => r.mpps),
      ...(bpf !== undefined ? { bytes_per_flow: bpf } : {}),
      ...(bps !== undefined ? { bytes_per_service: bps } : {}),
      loadavg: median(a.runs.map((r) => r.loadavg)),
    });
  }

  const cpu = cpus();
  return {
    sweep: true, quick, designs: designs.map((d) => ({ name: d.name, description: d.description })),
    scenarios, services, flows, backends, repeats, seed, points, limits,
    machine: {
      node: process.version, cpu: cpu[0]?.model.trim() ?? 'unknown', cores: cpu.length, platform: `${platform()}-${arch()}`,
      loadavg_start: loadStart, loadavg: loadavg().map(r2), date: new Date().toISOString(),
    },
    elapsed_s: Math.round((performance.now() - started) / 100) / 10,
    notes: [
      'ns_per_packet: median per-packet time over all timed rounds of all runs of the point; ns_per_packet_p99: nearest-rank 99th percentile of the same rounds (with few rounds, the slowest one); mpps = 1000 / ns_per_packet.',
      'bytes_per_flow: memory of all maps (sized for 1.25 x the point\'s flows) over flows, as `bench` reports it; with few flows and many services it is dominated by the services.',
      'bytes_per_service: memory after programming the cluster with no flows (minimum conntrack) minus the same for a one-service cluster, over services - 1; it includes the backends of the service and their pods.',
      'limit: ../shared/limit/run per flows value, always 10,000 services x 10 backends; fast_mpps (established flows) is the ceiling drawn; warm_mpps is its warm-up (mostly conntrack hits, some inserts).',
    ],
  };
}

// ---------------------------------------------------------------- files

export const CSV_COLUMNS = [
  'design', 'scenario', 'services', 'backends', 'flows', 'repeats', 'rounds', 'packets', 'mpps', 'ns_per_packet', 'ns_per_packet_p99',
  'bytes_per_flow', 'bytes_per_service', 'limit_wasm32_mpps', 'limit_native_mpps', 'loadavg',
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
  const head = ['design', 'scenario', 'services', 'flows', 'Mpps', 'ns/pkt', 'p99 ns', 'B/flow', 'B/svc'];
  const rows = r.points.map((p) => [p.design, p.scenario, n(p.services), n(p.flows), p.mpps.toFixed(2), p.ns_per_packet.toFixed(1),
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
